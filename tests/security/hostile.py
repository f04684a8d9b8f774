"""Pieces of a hostile workspace: programs that leave a marker file when something runs them,
and the CLI run as a real process from inside the workspace (where a user runs it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI_ENV = {**os.environ, "PYTHONPATH": str(ROOT / "server")}
CLI_TIMEOUT_S = 300


def marker_program(folder: Path, name: str, marks: Path) -> Path:
    """An executable that records it ran (``marks/<name>``) and then passes its input on, as a
    filter or textconv program would (a file argument is printed, else stdin is copied)."""
    folder.mkdir(parents=True, exist_ok=True)
    program = folder / name
    program.write_text(
        f'#!/bin/sh\necho "$@" > "{marks / name}"\n[ -f "$1" ] && exec cat "$1"\nexec cat\n'
    )
    program.chmod(0o755)
    return program


def ran(marks: Path) -> list[str]:
    """The names of the planted programs that ran."""
    return sorted(p.name for p in marks.iterdir()) if marks.exists() else []


def riskhints(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m riskhints <args>`` run in ``cwd``, as a separate process."""
    return subprocess.run(
        [sys.executable, "-m", "riskhints", *args],
        cwd=cwd,
        env=CLI_ENV,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
