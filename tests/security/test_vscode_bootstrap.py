"""The VS Code extension's Python programs (the CLI bootstrap behind "Show Failure Report" and
the interpreter probe, both run with ``-c`` in a workspace folder) import nothing from it: they
are read from ``client-vscode/src/launch.ts`` as the extension builds them and run by a real
interpreter in a project that ships ``runpy.py``, ``json.py`` and ``importlib`` shadows."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .hostile import CLI_ENV, ROOT, plant_modules, ran

LAUNCH = ROOT / "client-vscode" / "src" / "launch.ts"
_CONSTANT = re.compile(r"export const (\w+) =\s*(.*?);\n", re.DOTALL)
_TOKEN = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|(\w+))\s*(\+|$)', re.DOTALL)


def launch_constants() -> dict[str, str]:
    """The string constants of launch.ts (literals joined with ``+``, and earlier constants)."""
    found: dict[str, str] = {}
    for name, expression in _CONSTANT.findall(LAUNCH.read_text(encoding="utf-8")):
        parts, position = [], 0
        while position < len(expression):
            token = _TOKEN.match(expression, position)
            if token is None:
                break
            literal, identifier, _ = token.groups()
            parts.append(json.loads(f'"{literal}"') if literal is not None else found[identifier])
            position = token.end()
        else:
            found[name] = "".join(parts)
    return found


@pytest.mark.parametrize("program", ["BOOTSTRAP", "PROBE"])
def test_extension_programs_run_in_a_workspace_import_nothing_from_it(
    tmp_path: Path, program: str
) -> None:
    code = launch_constants()[program]
    workspace, marks = tmp_path / "reports", tmp_path / "marks"
    workspace.mkdir()
    marks.mkdir()
    plant_modules(workspace, marks, ("runpy", "json", "importlib", "sitecustomize"))
    args = ["rules"] if program == "BOOTSTRAP" else []
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=workspace,
        env=CLI_ENV,  # the bundled server on PYTHONPATH, as the extension sets it
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran(marks) == []
    assert done.returncode == 0, done.stderr
    assert "RH203" in done.stdout if program == "BOOTSTRAP" else '"version"' in done.stdout
