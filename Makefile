# One task runner: these targets are exactly what CI calls (.ci/run -> make test).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint typecheck unit dogfood docs dist bench bench-lsp bench-workspace bench-stress bench-real bench-fuzz clean install vscode vscode-e2e-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The demo needs the package and its runtime dependencies only; the test extras (frameworks,
# Neovim, linters) come with `make install`/`make test`, which also satisfy the demo.
RUNTIME_STAMP := $(VENV)/.runtime-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-* $(VENV)/.runtime-*
	@touch $(STAMP) $(RUNTIME_STAMP)

$(RUNTIME_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@rm -f $(VENV)/.runtime-*
	@touch $(RUNTIME_STAMP)

install: $(STAMP)

# A short tour: the bookshop project's findings with their evidence, then the counts by rule.
# `make demo FULL=1` lists every finding of every fixture instead (a few hundred).
demo: $(RUNTIME_STAMP)
ifdef FULL
	$(BIN)/riskhints check fixtures/ --exit-zero
else
	@$(BIN)/riskhints check fixtures/projects/bookshop --exit-zero
	@echo "By rule:"
	@$(BIN)/riskhints check fixtures/projects/bookshop --exit-zero --statistics --quiet
	@echo "More: make demo FULL=1 (every fixture), riskhints rule RH203, riskhints check --help"
endif

lint: install
	$(BIN)/ruff check server tests bench
	$(BIN)/ruff format --check server tests bench

typecheck: install
	$(BIN)/mypy

dogfood: install
	$(BIN)/riskhints check server/ --no-cache

# --durations: the slowest tests, so a test that grows slow is seen before it becomes a hang.
unit: install
	$(BIN)/python -m pytest -q --durations=15

# vscode before unit: tests/e2e/test_vscode.py installs the .vsix it builds.
test: lint typecheck dogfood vscode unit

# docs/rules.md, docs/settings.md, docs/cli.md and the rule examples of `riskhints rule`
# (server/riskhints/rule_examples.json, from fixtures/rules); tests/test_docs.py keeps them current.
docs: install
	$(BIN)/python -m riskhints.docs .

bench: install
	$(BIN)/python bench/check_speed.py

bench-lsp: install
	$(BIN)/python bench/lsp_latency.py

bench-workspace: install
	$(BIN)/python bench/workspace_speed.py

# A seeded 2,000-edit session (incremental edits, whole-document replacements, 20k-line pastes)
# against the server: crashes, stale publishes, bad ranges, slowest request, memory (not in test).
bench-fuzz: install
	PYTHONPATH=server $(BIN)/python bench/fuzz_session.py --edits 2000

# Stress tests generated from each buggy version of the corpus, run against it and its fix, five
# times over (bench/stress/run.py prints the outcomes, times and whether the bar is met).
bench-stress: install
	$(BIN)/python bench/stress/run.py --repeat 5

# Real code (network: PyPI through pip; not part of `make test`): the real bug-fix corpus
# (bench/realbugs/README.md) and the real-project precision loop (bench/realworld/README.md).
bench-real: install
	$(BIN)/python bench/realbugs/run.py
	$(BIN)/python bench/realworld/run.py

# The harness of tests/e2e/test_vscode.py: code-server 4.100.3 + playwright-core, from the committed
# lock. Needs the Debian packages .ci/run installs (ripgrep, libkrb5-dev, build-essential,
# pkg-config); each variable below fixes one install failure (see ../shared/E2E-CLIENTS.md): root
# postinstalls, node-pty's `npx node-gyp` without a TTY, node-gyp's headers from the running node's
# own include/node (/usr/include/node for Debian's or NodeSource's; offline, no download), no
# browser download. @vscode/ripgrep would fetch rg from GitHub: Debian's rg seeds the cache it
# reads first.
E2E := client-vscode/e2e
E2E_STAMP := $(E2E)/node_modules/.installed-$(shell cat $(E2E)/package-lock.json | cksum | cut -d' ' -f1)
RG_CACHE := $${TMPDIR:-/tmp}/vscode-ripgrep-cache-1.15.11

vscode-e2e-deps: $(E2E_STAMP)

$(E2E_STAMP): $(E2E)/package-lock.json $(E2E)/package.json
	@command -v rg >/dev/null || { echo "ripgrep missing: apt-get install ripgrep (.ci/run does)"; exit 1; }
	mkdir -p $(RG_CACHE)
	tar czf $(RG_CACHE)/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz -C "$$(dirname "$$(command -v rg)")" rg
	cd $(E2E) && npm_config_unsafe_perm=true npm_config_yes=true \
		npm_config_nodedir="$$(node -p 'require("path").resolve(process.execPath, "../..")')" \
		PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
	@rm -f $(E2E)/node_modules/.installed-*
	@touch $@

# The VS Code extension (client-vscode/): eslint, tsc, its unit tests (one checks package.json's
# settings against the server's model, hence the venv's Python), then the .vsix with the server
# bundled by pip from this checkout, and the checks on its contents and on the bundled server.
VSCODE := client-vscode
VSCODE_STAMP := $(VSCODE)/node_modules/.installed-$(shell cat $(VSCODE)/package-lock.json | cksum | cut -d' ' -f1)

$(VSCODE_STAMP): $(VSCODE)/package-lock.json $(VSCODE)/package.json
	cd $(VSCODE) && npm ci --no-audit --no-fund
	@rm -f $(VSCODE)/node_modules/.installed-*
	@touch $@

vscode: install $(VSCODE_STAMP)
	cd $(VSCODE) && npm run lint && npm run typecheck
	cd $(VSCODE) && RISKHINTS_PYTHON=$(CURDIR)/$(BIN)/python npm test
	cd $(VSCODE) && RISKHINTS_PYTHON=$(CURDIR)/$(BIN)/python npm run package
	cd $(VSCODE) && npm run test:vsix

# What to install elsewhere (riskhints is not on PyPI): dist/riskhints-<v>.tar.gz (sdist),
# dist/riskhints-<v>-py3-none-any.whl and dist/riskhints-<v>.vsix (the VS Code extension with
# the server bundled). tests/test_dist.py installs the wheel into a clean virtualenv.
dist: install $(VSCODE_STAMP)
	rm -rf dist && mkdir -p dist
	$(BIN)/python -m build --outdir dist .
	cd $(VSCODE) && RISKHINTS_PYTHON=$(CURDIR)/$(BIN)/python npm run package
	cp $(VSCODE)/riskhints-*.vsix dist/
	@ls -1 dist

clean:
	rm -rf $(VENV) .riskhints build dist *.egg-info
