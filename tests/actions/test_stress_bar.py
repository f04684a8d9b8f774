"""The bar for generated stress tests: for every fixture pair under ``fixtures/stress``, the test
generated from the bad module fails with the report the hazard calls for (its own watchdog
reports a deadlock: the run never relies on an outer timeout), and the same test passes once the
module is replaced by the corrected one. No wall-clock assertion: how long a run takes belongs in
bench/, and a busy machine must not fail the bar.

Each pair is copied into a temporary workspace, the test is written by the real writer (as
``riskhints stress`` does), and run with ``python -m pytest -q`` from the workspace root in a
subprocess with plugin autoloading off: the generated file needs only pytest and the standard
library. The pairs run in parallel (the bad runs mostly wait out their timeout).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from riskhints.actions.stress_write import write_stress_test
from riskhints.analysis import analyze_source

ROOT = Path(__file__).resolve().parents[2]
PAIRS = ROOT / "fixtures" / "stress"
_SPEC = re.compile(r"^# stress: target=(?P<target>\S+) expect=(?P<expect>.+)$", re.MULTILINE)
# A hang guard only (a generated test that hung would hit it and fail the bar), generous for a
# loaded 2-core machine running the pairs in parallel.
RUN_LIMIT_S = 300


@dataclass(frozen=True)
class Pair:
    name: str
    module: str
    target: str
    expect: str

    @property
    def bad(self) -> Path:
        return PAIRS / self.name / "bad" / self.module

    @property
    def good(self) -> Path:
        return PAIRS / self.name / "good" / self.module


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str


def _pairs() -> list[Pair]:
    pairs = []
    for bad in sorted(PAIRS.glob("*/bad/*.py")):
        spec = _SPEC.search(bad.read_text(encoding="utf-8"))
        assert spec is not None, f"{bad} has no '# stress: target=... expect=...' line"
        pairs.append(Pair(bad.parent.parent.name, bad.name, spec["target"], spec["expect"]))
    return pairs


PAIR_LIST = _pairs()


def _run_pytest(workspace: Path) -> Run:
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTHONPATH", None)
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/stress"],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT_S,
    )
    return Run(completed.returncode, completed.stdout + completed.stderr)


def _bad_then_good(pair: Pair, workspace: Path) -> tuple[Run, Run]:
    module = workspace / pair.module
    text = pair.bad.read_text(encoding="utf-8")
    module.write_text(text, encoding="utf-8")
    findings = analyze_source(text, pair.module)
    write_stress_test(module, text, pair.target, findings, workspace, "tests/stress")
    bad = _run_pytest(workspace)
    module.write_text(pair.good.read_text(encoding="utf-8"), encoding="utf-8")
    good = _run_pytest(workspace)
    return bad, good


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Run, Run]]:
    workspaces = {pair.name: tmp_path_factory.mktemp(pair.name) for pair in PAIR_LIST}
    with ThreadPoolExecutor(max_workers=max(4, os.cpu_count() or 1)) as pool:
        futures = {
            pair.name: pool.submit(_bad_then_good, pair, workspaces[pair.name])
            for pair in PAIR_LIST
        }
        return {name: future.result() for name, future in futures.items()}


def test_the_bar_covers_every_family() -> None:
    assert len(PAIR_LIST) >= 10
    rules: set[str] = set()
    for pair in PAIR_LIST:
        text = pair.bad.read_text(encoding="utf-8")
        rules |= {f.rule for f in analyze_source(text, pair.module)}
        good = pair.good.read_text(encoding="utf-8")
        assert not {f.rule for f in analyze_source(good, pair.module)} & {
            "RH102",
            "RH103",
            "RH202",
            "RH203",
            "RH204",
            "RH401",
        }, f"{pair.name}: the corrected module still has the hazard"
    assert {"RH101", "RH102", "RH103", "RH202", "RH203", "RH204", "RH401"} <= rules


@pytest.mark.parametrize("pair", PAIR_LIST, ids=[pair.name for pair in PAIR_LIST])
def test_generated_test_fails_on_bad_and_passes_on_good(
    pair: Pair, runs: dict[str, tuple[Run, Run]]
) -> None:
    bad, good = runs[pair.name]
    assert bad.returncode == 1, bad.output
    assert "1 failed" in bad.output, bad.output
    assert pair.expect in bad.output, bad.output
    assert good.returncode == 0, good.output
    assert "1 passed" in good.output, good.output


@pytest.mark.parametrize(
    "pair",
    [p for p in PAIR_LIST if p.expect == "possible deadlock"],
    ids=lambda p: p.name,
)
def test_deadlock_report_shows_where_each_call_waits(
    pair: Pair, runs: dict[str, tuple[Run, Run]]
) -> None:
    bad, _ = runs[pair.name]
    assert re.search(r"possible deadlock: \d+ of \d+ calls unfinished after 3 s", bad.output)
    assert "Stacks of the tasks and threads:" in bad.output
    # The stacks reach into the module under test, down to the line that waits.
    assert f'{pair.module}", line' in bad.output
