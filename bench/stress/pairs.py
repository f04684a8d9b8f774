"""Bug/fix pairs for stress tests, and running one: generate the test from the buggy version
(as ``riskhints stress FILE:LINE`` does, at the line of the finding the pair names), run it
with pytest against the buggy and the fixed version in a fresh temporary workspace, and
classify the outcome.

A pair is a folder with ``bad/`` and ``good/`` trees of the same files (a module or a package).
The first line of the module under test in ``bad/`` says what to generate:

    # stress: target=<function, Class.method or rule id@line> expect=<text of the failure>

``caught``: fails on bad (with ``expect`` in the report), passes on good. ``false-fail``: fails
on good. ``false-pass``: passes on bad. ``skipped``: a skip on either. ``hung``: the run hit
its hard limit. Used by ``bench/stress/run.py`` (the whole corpus) and by the tests (a subset).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPORA = (ROOT / "fixtures" / "stress", ROOT / "bench" / "stress" / "corpus")
SPEC = re.compile(r"^# stress: target=(?P<target>\S+) expect=(?P<expect>.+)$", re.MULTILINE)
RUN_LIMIT_S = 60.0
# Run with sockets and process spawning patched to fail and record: nothing may try either.
GUARD = """
import os, socket, subprocess, sys
_LOG = os.environ["RISKHINTS_STRESS_GUARD_LOG"]
def _tried(what):
    with open(_LOG, "a") as log:
        log.write(what + "\\n")
    raise OSError("stress guard: " + what)
def _connect(self, *a, **k): _tried(f"socket connect {a!r}")
def _getaddrinfo(*a, **k): _tried(f"getaddrinfo {a!r}")
socket.socket.connect = _connect
socket.socket.connect_ex = _connect
socket.getaddrinfo = _getaddrinfo
_Popen_init = subprocess.Popen.__init__
def _popen(self, *a, **k): _tried(f"process {a!r}")
subprocess.Popen.__init__ = _popen
"""


@dataclass(frozen=True)
class Pair:
    corpus: str
    name: str
    folder: Path
    module: str  # path of the module under test, relative to bad/
    target: str
    expect: str

    @property
    def id(self) -> str:
        return f"{self.corpus}/{self.name}"


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str
    seconds: float
    hung: bool
    test_seconds: float


@dataclass(frozen=True)
class Result:
    pair: Pair
    outcome: str
    bad: Run | None
    good: Run | None
    note: str = ""
    network: tuple[str, ...] = ()
    stray_files: tuple[str, ...] = ()


def pairs() -> list[Pair]:
    found = []
    for corpus in CORPORA:
        if not corpus.is_dir():
            continue
        for bad in sorted(corpus.glob("*/bad")):
            for module in sorted(bad.rglob("*.py")):
                spec = SPEC.search(module.read_text(encoding="utf-8"))
                if spec is None:
                    continue
                found.append(
                    Pair(
                        corpus.name if corpus.name == "corpus" else "fixtures",
                        bad.parent.name,
                        bad.parent,
                        module.relative_to(bad).as_posix(),
                        spec["target"],
                        spec["expect"].strip(),
                    )
                )
    return found


def _target(pair: Pair, text: str, findings: list) -> str | int:
    if "@" not in pair.target:
        return pair.target
    rule, _, line = pair.target.partition("@")
    if line:
        return int(line)
    for finding in findings:
        if finding.rule == rule:
            return finding.span.line
    raise ValueError(f"{pair.id}: no {rule} finding in the bad module")


def _pytest(workspace: Path, guard_log: Path) -> Run:
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTHONPATH", None)
    env.pop("RISKHINTS_STRESS_SEED", None)
    env["RISKHINTS_STRESS_GUARD_LOG"] = str(guard_log)
    code = GUARD + "\nimport pytest\nsys.exit(pytest.main(sys.argv[1:]))\n"
    started = time.monotonic()
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                code,
                "-q",
                "-p",
                "no:cacheprovider",
                "--durations=0",
                "-vv",
                "tests/stress",
            ],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_LIMIT_S,
        )
    except subprocess.TimeoutExpired as expired:
        output = (expired.stdout or b"").decode() if isinstance(expired.stdout, bytes) else ""
        return Run(-1, output, time.monotonic() - started, True, 0.0)
    output = done.stdout + done.stderr
    durations = [float(m) for m in re.findall(r"^([\d.]+)s call ", output, re.MULTILINE)]
    return Run(done.returncode, output, time.monotonic() - started, False, max(durations or [0]))


def _snapshot(folder: Path) -> set[str]:
    return {
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if "__pycache__" not in p.parts
    }


def run_pair(pair: Pair) -> Result:
    from riskhints.actions.stress import project_findings, write_stress_test
    from riskhints.analysis import AnalysisOptions

    with tempfile.TemporaryDirectory(prefix=f"stress-{pair.name}-") as temp:
        workspace = Path(temp) / "ws"
        shutil.copytree(pair.folder / "bad", workspace)
        (workspace / "pyproject.toml").write_text("[project]\nname = 'ws'\n", encoding="utf-8")
        module = workspace / pair.module
        text = module.read_text(encoding="utf-8")
        findings = project_findings(module, text, workspace, AnalysisOptions())
        try:
            target = _target(pair, text, findings)
            write_stress_test(module, text, target, findings, workspace, "tests/stress")
        except Exception as error:  # noqa: BLE001 - a generation failure is an outcome
            return Result(pair, "skipped", None, None, f"not generated: {error}")
        guard_log = Path(temp) / "guard.log"
        before = _snapshot(workspace)
        bad = _pytest(workspace, guard_log)
        for source in (pair.folder / "good").rglob("*.py"):
            destination = workspace / source.relative_to(pair.folder / "good")
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
        good = _pytest(workspace, guard_log)
        after = _snapshot(workspace)
        network = tuple(guard_log.read_text().splitlines()) if guard_log.exists() else ()
        stray = tuple(sorted(after - before))
    return Result(pair, classify(pair, bad, good), bad, good, network=network, stray_files=stray)


def classify(pair: Pair, bad: Run, good: Run) -> str:
    if bad.hung or good.hung:
        return "hung"
    if " skipped" in bad.output or " skipped" in good.output:
        return "skipped"
    if good.returncode != 0:
        return "false-fail"
    if bad.returncode == 0:
        return "false-pass"
    if bad.returncode == 1 and pair.expect in bad.output:
        return "caught"
    return "false-pass"  # failed, but not for the hazard the pair is about
