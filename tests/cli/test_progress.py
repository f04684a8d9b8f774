"""A long first run says what it is doing: the engine reports its phases (reading the cache,
parsing and inferring types, applying the rules) to the progress display, and on a terminal
`riskhints check` shows them (on a pseudo-terminal here) instead of sitting at 0%."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

from riskhints.analysis.options import AnalysisOptions
from riskhints.checking import CheckJob, check_files

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "import time\n\n\nasync def sync_orders(client):\n    time.sleep(1)\n"


def _project(folder: Path, files: int) -> list[tuple[str, str]]:
    (folder / "pyproject.toml").write_text("[project]\nname = 'orders'\n")
    names = []
    for n in range(files):
        (folder / f"orders_{n}.py").write_text(SERVICE)
        names.append((str(folder / f"orders_{n}.py"), f"orders_{n}.py"))
    return names


def test_the_engine_reports_its_phases_then_only_the_cache_on_a_warm_run(tmp_path: Path) -> None:
    files = _project(tmp_path, 3)
    job = CheckJob(tmp_path, tuple(files), AnalysisOptions(), tmp_path / ".riskhints" / "cache")
    phases: list[str] = []
    done: list[int] = []
    findings = check_files(job, files, 1, done.append, phases.append)
    assert len(findings) == 3 and sum(done) == 3
    assert phases == [
        "reading the cache",
        "parsing and inferring types (jedi)",
        "applying the rules",
    ]
    phases.clear()
    assert len(check_files(job, files, 1, lambda _n: None, phases.append)) == 3
    assert phases == ["reading the cache"]  # every file answered from the cache


def test_check_on_a_terminal_shows_the_phase_and_the_files(tmp_path: Path) -> None:
    _project(tmp_path, 40)
    leader, follower = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "server"), "COLUMNS": "120", "TERM": "xterm"}
    with subprocess.Popen(
        [sys.executable, "-m", "riskhints", "check", "--no-cache", "--exit-zero", "."],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env=env,
    ) as process:
        os.close(follower)
        shown = b""
        while True:
            ready, _, _ = select.select([leader], [], [], 120)
            if not ready:
                break
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: the run is over
                break
            if not chunk:
                break
            shown += chunk
        assert process.wait(timeout=120) == 0
    os.close(leader)
    text = shown.decode(errors="replace")
    assert "/40" in text  # the bar counts the files
    assert any(phase in text for phase in ("walking the files", "parsing", "applying the rules"))
