# One task runner: these targets are exactly what CI calls (.ci/run -> make test).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint typecheck unit dogfood docs bench bench-lsp clean install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/riskhints check fixtures/ --exit-zero

lint: install
	$(BIN)/ruff check server tests bench
	$(BIN)/ruff format --check server tests bench

typecheck: install
	$(BIN)/mypy

dogfood: install
	$(BIN)/riskhints check server/ --no-cache

unit: install
	$(BIN)/python -m pytest -q

test: lint typecheck dogfood unit

docs: install
	$(BIN)/riskhints rules --format markdown > docs/rules.md
	$(BIN)/riskhints settings > docs/settings.md

bench: install
	$(BIN)/python bench/check_speed.py

bench-lsp: install
	$(BIN)/python bench/lsp_latency.py

clean:
	rm -rf $(VENV) .riskhints build *.egg-info
