"""`make demo`, the README's first command: it installs the package with its runtime
dependencies only (never the test extras), and prints a short, readable tour — a few findings
with their evidence, source and advice, then the counts by rule — while `FULL=1` lists every
fixture. Run through make itself, with this checkout's environment standing in for the install
step (`-o` tells make the install is done), and dry-run (`-n`) for what it would install."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _make(*args: str, timeout: int = 300) -> str:
    done = subprocess.run(
        ["make", "-s", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_demo_installs_the_runtime_dependencies_only(tmp_path: Path) -> None:
    commands = _make("-n", "demo", f"VENV={tmp_path / 'venv'}").splitlines()
    installs = [c for c in commands if "pip install" in c]
    assert installs == [
        f"{tmp_path / 'venv'}/bin/python -m pip install --quiet --disable-pip-version-check -e ."
    ]
    test_install = _make("-n", "install", f"VENV={tmp_path / 'venv'}")
    assert "-e '.[test]'" in test_install  # make test keeps installing the test extras


def test_demo_prints_a_short_tour_with_evidence_and_counts_by_rule() -> None:
    out = _make("demo", f"BIN={BIN}", "RUNTIME_STAMP=installed", "-o", "installed")
    lines = out.splitlines()
    assert len(lines) < 60
    heads = [line for line in lines if re.match(r"^\S+:\d+:\d+: RH\d{3} \[", line)]
    assert len(heads) == 4
    assert (
        "    fixtures/projects/bookshop/bookshop/currency.py:9:16: requests.get() does network I/O"
        in lines
    )
    assert any(line.startswith("  Instead: ") for line in lines)
    counts = lines[lines.index("By rule:") + 1 : lines.index("By rule:") + 5]
    assert [row.split()[:2] for row in counts] == [
        ["1", "RH102"],
        ["1", "RH202"],
        ["1", "RH203"],
        ["1", "RH301"],
    ]
    assert "make demo FULL=1" in lines[-1]
    assert [line for line in lines if line.startswith("Found ")] == [
        "Found 4 findings (2 error, 2 warning) in 4 files."
    ]


def test_demo_full_lists_every_fixture() -> None:
    commands = _make(
        "-n", "demo", "FULL=1", f"BIN={BIN}", "RUNTIME_STAMP=installed", "-o", "installed"
    )
    assert commands.strip().endswith("riskhints check fixtures/ --exit-zero")
