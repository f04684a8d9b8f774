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
# Run under an audit hook (it sees what C code does too, and cannot be undone by the test):
# network and processes are refused and logged; a write outside pytest's temporary folder
# (where every test's tmp_path is) is logged. Nothing may be logged.
GUARD = """
import os, sys
_LOG = open(os.environ["RISKHINTS_STRESS_GUARD_LOG"], "a", buffering=1)
_ALLOWED = os.path.realpath(os.environ["RISKHINTS_STRESS_ALLOWED_WRITES"]) + os.sep
_REFUSED = {"socket.connect", "socket.bind", "socket.getaddrinfo", "socket.gethostbyname",
            "socket.gethostbyaddr", "subprocess.Popen", "os.system", "os.exec",
            "os.posix_spawn", "os.fork", "os.forkpty", "pty.spawn"}
_WRITES = {"os.mkdir", "os.remove", "os.rmdir", "os.rename", "os.symlink", "os.link",
           "os.truncate", "shutil.copyfile", "shutil.rmtree", "shutil.move"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
def _outside(path):
    if isinstance(path, int) or path is None:
        return False
    try:
        where = os.path.realpath(os.fsdecode(path))
    except (TypeError, ValueError):
        return False
    return not (where + os.sep).startswith(_ALLOWED) and where != os.devnull
def _hook(event, args):
    if event in _REFUSED:
        _LOG.write(f"network or process: {event} {args!r}"[:300] + "\\n")
        raise PermissionError(f"stress guard: {event} is not allowed")
    written = None
    if event == "open" and len(args) >= 3:
        mode, flags = args[1], args[2] or 0
        if (isinstance(mode, str) and any(c in mode for c in "wax+")) or flags & _WRITE_FLAGS:
            written = args[0]
    elif event in _WRITES and args:
        written = args[0]
    if written is not None and _outside(written):
        _LOG.write(f"write outside tmp_path: {event} {written!r}"[:300] + "\\n")
sys.addaudithook(_hook)
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
    network: tuple[str, ...] = ()  # network connections, look-ups or processes tried
    stray_files: tuple[str, ...] = ()  # files left in the workspace
    writes: tuple[str, ...] = ()  # files written outside pytest's temporary folder


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


def _pytest(workspace: Path, guard_log: Path, scratch: Path) -> Run:
    """pytest on the workspace's stress folder, under the guard; every tmp_path (pytest's
    ``--basetemp``) and every temporary file (TMPDIR) is below ``scratch``, the one place
    writes are allowed."""
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    env.pop("RISKHINTS_STRESS_SEED", None)
    env["RISKHINTS_STRESS_GUARD_LOG"] = str(guard_log)
    env["RISKHINTS_STRESS_ALLOWED_WRITES"] = str(scratch)
    shutil.rmtree(scratch, ignore_errors=True)
    (scratch / "tmp").mkdir(parents=True)
    env["TMPDIR"] = str(scratch / "tmp")
    basetemp = scratch / "pytest"
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
                f"--basetemp={basetemp}",
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
        scratch = Path(temp) / "scratch"
        before = _snapshot(workspace)
        bad = _pytest(workspace, guard_log, scratch)
        for source in (pair.folder / "good").rglob("*.py"):
            destination = workspace / source.relative_to(pair.folder / "good")
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
        good = _pytest(workspace, guard_log, scratch)
        after = _snapshot(workspace)
        logged = guard_log.read_text().splitlines() if guard_log.exists() else []
        stray = tuple(sorted(after - before))
    return Result(
        pair,
        classify(pair, bad, good),
        bad,
        good,
        network=tuple(line for line in logged if line.startswith("network or process")),
        stray_files=stray,
        writes=tuple(line for line in logged if line.startswith("write outside")),
    )


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
