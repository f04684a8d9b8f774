"""The failure log: the record schema, atomic appends from many processes, corrupt lines, git
commits, and resolutions."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from riskhints.analysis import (
    AnalysisOptions,
    Finding,
    Provenance,
    Severity,
    Span,
    analyze_source,
)
from riskhints.config import ConfigError, parse_settings
from riskhints.failures import (
    FailureLog,
    FailureRecord,
    NoFinding,
    WorkspaceError,
    git_commit,
    log_finding,
    log_path,
    pick_finding,
    resolutions,
)
from riskhints.failures.record import finding_fingerprint, open_record

from .samples import LOCK_LINE, PRICES_BAD, PRICES_FIXED, SLEEP_LINE

ROOT = Path(__file__).resolve().parents[2]
PATH = "app/prices.py"


def _finding(text: str = PRICES_BAD, line: int = LOCK_LINE) -> Finding:
    return pick_finding(analyze_source(text, PATH), line)


def _enabled(rule: str) -> bool:
    return True


# -- schema ---------------------------------------------------------------------------------------


def test_open_record_has_the_schema() -> None:
    finding = replace(_finding(), provenance=Provenance.AI)
    record = open_record(finding, PRICES_BAD, PATH, note="asked for a cached quote", commit="ab12")
    data = json.loads(json.dumps(record.to_json()))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["time"])
    assert re.fullmatch(r"[0-9a-f]{32}", data["id"])
    assert data["status"] == "open"
    assert data["path"] == PATH
    assert data["function"] == "refresh_price"
    assert data["rule"] == "RH202"
    assert data["severity"] == "error"
    assert data["line"] == LOCK_LINE
    assert "_prices_lock" in data["message"]
    assert data["provenance"] == "ai"
    assert data["commit"] == "ab12"
    assert data["note"] == "asked for a cached quote"
    assert re.fullmatch(r"[0-9a-f]{20}", data["fingerprint"])
    # The code as it was: the whole function, nothing of its neighbours.
    assert data["code"].startswith("async def refresh_price(")
    assert "with _prices_lock:" in data["code"] and "poll_prices" not in data["code"]
    assert "resolves" not in data and "original_code" not in data
    assert FailureRecord.from_json(data) == record


def test_unknown_provenance_is_recorded_as_absent() -> None:
    assert open_record(_finding(), PRICES_BAD, PATH).provenance is None


def test_module_level_code_is_the_statement_with_context() -> None:
    text = textwrap.dedent(
        """\
        import asyncio
        import time

        CONFIG = {"retries": 3}


        async def main() -> None:
            await asyncio.sleep(1)

        loop = asyncio.new_event_loop()
        loop.run_until_complete(main())
        time.sleep(1)
        """
    )
    finding = Finding("RH102", Severity.ERROR, PATH, Span(11, 0, 11, 31), "loop re-entered")
    code = open_record(finding, text, PATH).code
    assert code.splitlines() == text.splitlines()[7:14]  # line 11, three lines either side
    assert "loop.run_until_complete(main())" in code and "CONFIG" not in code


def test_fingerprint_survives_moves_comments_and_formatting() -> None:
    moved = "# prices service\n\n\n" + PRICES_BAD.replace(
        'response = await client.get(f"https://quotes.example.com/{symbol}")',
        "response = await client.get(  # the quote\n"
        '                f"https://quotes.example.com/{symbol}"\n'
        "            )",
    )
    [original] = [f for f in analyze_source(PRICES_BAD, PATH) if f.rule == "RH202"]
    [after] = [f for f in analyze_source(moved, PATH) if f.rule == "RH202"]
    assert after.span.line != original.span.line
    assert finding_fingerprint(after, moved) == finding_fingerprint(original, PRICES_BAD)
    sleep = _finding(line=SLEEP_LINE)
    assert finding_fingerprint(sleep, PRICES_BAD) != finding_fingerprint(original, PRICES_BAD)


def test_pick_finding_explains_what_is_there() -> None:
    findings = analyze_source(PRICES_BAD, PATH)
    assert pick_finding(findings, SLEEP_LINE).rule == "RH101"
    assert pick_finding(findings, SLEEP_LINE, "RH101").rule == "RH101"
    with pytest.raises(NoFinding, match=r"no finding at line 9; a finding on line 12\b"):
        pick_finding(findings, 9)
    with pytest.raises(NoFinding, match=r"no RH301 finding at line 21 \(findings there: RH101\)"):
        pick_finding(findings, SLEEP_LINE, "RH301")


# -- appends and reads ----------------------------------------------------------------------------


def test_append_and_read_back(tmp_path: Path) -> None:
    failure_log = FailureLog(tmp_path / ".riskhints" / "failures.jsonl")
    assert failure_log.read().records == ()  # absent: empty, not an error
    first = open_record(_finding(), PRICES_BAD, PATH)
    second = open_record(_finding(line=SLEEP_LINE), PRICES_BAD, PATH)
    failure_log.append([first, second])
    contents = failure_log.read()
    assert contents.records == (first, second) and contents.problems == ()
    assert [r.id for r in contents.open_records(PATH)] == [first.id, second.id]
    assert contents.open_records("app/other.py") == []


def test_logging_the_same_open_failure_twice_keeps_one_record(tmp_path: Path) -> None:
    failure_log = FailureLog(tmp_path / "failures.jsonl")
    first = log_finding(failure_log, _finding(), PRICES_BAD, PATH, note="first")
    moved = "\n\n" + PRICES_BAD  # the same failure, two lines further down
    again = log_finding(failure_log, _finding(moved, LOCK_LINE + 2), moved, PATH, note="again")
    assert first.created and not again.created
    assert again.record.id == first.record.id
    assert len(failure_log.path.read_text().splitlines()) == 1


_APPENDER = """
import sys
from pathlib import Path
from riskhints.failures import FailureLog, FailureRecord

log = FailureLog(Path(sys.argv[1]))
worker = sys.argv[2]
for index in range(int(sys.argv[3])):
    log.append([FailureRecord(
        id=f"{worker}-{index}", status="open", time="2025-03-04T09:15:02Z", path="app/x.py",
        rule="RH202", fingerprint="f" * 20, code="x = 1\\n" * 40, note="n" * 3000,
    )])
"""


def test_concurrent_appends_from_many_processes_lose_nothing(tmp_path: Path, spawn) -> None:
    target = tmp_path / ".riskhints" / "failures.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "server")}
    workers = [
        spawn(
            [sys.executable, "-c", _APPENDER, str(target), f"w{n}", "50"],
            env=env,
            stderr=subprocess.PIPE,
        )
        for n in range(8)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err.decode()
    lines = target.read_bytes().split(b"\n")
    assert lines[-1] == b""  # ends with a newline
    records = [json.loads(line) for line in lines[:-1]]
    assert len(records) == 400
    assert {r["id"] for r in records} == {f"w{n}-{i}" for n in range(8) for i in range(50)}
    assert all(len(r["note"]) == 3000 for r in records)  # no record cut or interleaved
    for n in range(8):  # each process's records stay in its own order
        mine = [r["id"] for r in records if r["id"].startswith(f"w{n}-")]
        assert mine == [f"w{n}-{i}" for i in range(50)]
    assert len(FailureLog(target).read().records) == 400


_LOGGER = """
import sys, time
from pathlib import Path
from riskhints.analysis import analyze_source
from riskhints.failures import FailureLog, log_finding, pick_finding

text = Path(sys.argv[2]).read_text()
finding = pick_finding(analyze_source(text, "app/prices.py"), int(sys.argv[3]))
go = Path(sys.argv[4])
while not go.exists():
    time.sleep(0.001)
logged = log_finding(FailureLog(Path(sys.argv[1])), finding, text, "app/prices.py")
print("created" if logged.created else "existing")
"""


def test_the_same_failure_logged_by_many_processes_at_once_is_logged_once(
    tmp_path: Path, spawn
) -> None:
    target, source, go = tmp_path / "failures.jsonl", tmp_path / "prices.py", tmp_path / "go"
    source.write_text(PRICES_BAD)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "server")}
    command = [sys.executable, "-c", _LOGGER, str(target), str(source), str(LOCK_LINE), str(go)]
    workers = [
        spawn(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(8)
    ]
    go.touch()
    outcomes = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err.decode()
        outcomes.append(out.decode().strip())
    assert sorted(outcomes) == ["created"] + ["existing"] * 7
    assert len(target.read_text().splitlines()) == 1


def test_a_corrupt_line_is_reported_and_skipped_never_rewritten(tmp_path: Path) -> None:
    target = tmp_path / "failures.jsonl"
    warnings: list[str] = []
    failure_log = FailureLog(target, on_problem=warnings.append)
    failure_log.append([open_record(_finding(), PRICES_BAD, PATH)])
    with target.open("ab") as stream:
        stream.write(b'{"id": "half a record", "status": \n')  # a merge gone wrong
        stream.write(b'{"id": "x", "status": "closed", "time": "2025-01-01T00:00:00Z"}\n')
    failure_log.append([open_record(_finding(line=SLEEP_LINE), PRICES_BAD, PATH)])
    before = target.read_bytes()

    failure_log.append([open_record(_finding(), PRICES_FIXED + "\n# v2\n", "app/v2.py")])
    after = target.read_bytes()
    assert after.startswith(before) and len(after) > len(before)
    contents = failure_log.read()
    assert len(contents.records) == 3
    assert [(p.line, p.message.split(":")[0]) for p in contents.problems] == [
        (2, "invalid JSON"),
        (3, "missing or non-string path, rule, fingerprint"),
    ]
    assert len(warnings) == 2 and warnings[0].startswith(f"{target}:2: skipped a line")
    failure_log.read()
    assert len(warnings) == 2  # reported once, not on every read


def test_an_append_after_a_line_without_newline_starts_a_new_line(tmp_path: Path) -> None:
    target = tmp_path / "failures.jsonl"
    target.write_bytes(b'{"truncated": tr')
    failure_log = FailureLog(target, on_problem=lambda _message: None)
    record = open_record(_finding(), PRICES_BAD, PATH)
    failure_log.append([record])
    data = target.read_bytes()
    assert data.startswith(b'{"truncated": tr\n')
    contents = failure_log.read()
    assert contents.records == (record,)
    assert [p.line for p in contents.problems] == [1]


# -- git ------------------------------------------------------------------------------------------


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def test_git_commit_in_a_repository_and_outside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    repo = tmp_path / "shop"
    (repo / "app").mkdir(parents=True)
    _git(repo, "init", "-q")
    assert git_commit(repo / "app") is None  # no commit yet
    (repo / "app" / "prices.py").write_text(PRICES_BAD)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "prices")
    assert git_commit(repo / "app") == _git(repo, "rev-parse", "HEAD")
    assert git_commit(repo / "app" / "prices.py") == _git(repo, "rev-parse", "HEAD")

    elsewhere = tmp_path / "scratch"
    elsewhere.mkdir()
    assert git_commit(elsewhere) is None
    monkeypatch.setenv("PATH", str(tmp_path / "no-binaries-here"))
    assert git_commit(repo) is None  # git not installed


# -- resolutions ----------------------------------------------------------------------------------


def _logged(*lines: int) -> list[FailureRecord]:
    return [open_record(_finding(line=line), PRICES_BAD, PATH, note="n") for line in lines]


def test_a_fixed_failure_gets_a_resolved_record_with_both_versions() -> None:
    logged = _logged(LOCK_LINE, SLEEP_LINE)
    findings = analyze_source(PRICES_FIXED, PATH)
    resolved = resolutions(PRICES_FIXED, findings, logged, _enabled, commit="cd34")
    assert [(r.status, r.rule, r.resolution) for r in resolved] == [
        ("resolved", "RH202", "fixed"),
        ("resolved", "RH101", "fixed"),
    ]
    lock = resolved[0]
    assert lock.resolves == logged[0].id and lock.fingerprint == logged[0].fingerprint
    assert lock.original_code == logged[0].code and "    with _prices_lock:" in lock.original_code
    assert lock.code.startswith("async def refresh_price(") and "async with" in lock.code
    assert lock.commit == "cd34" and lock.note == "n"
    assert FailureRecord.from_json(json.loads(json.dumps(lock.to_json()))) == lock


def test_nothing_resolves_while_the_finding_is_still_there() -> None:
    moved = "\n\n# moved down\n" + PRICES_BAD
    assert resolutions(moved, analyze_source(moved, PATH), _logged(LOCK_LINE), _enabled) == []


def test_a_syntax_error_while_typing_resolves_nothing() -> None:
    typing = PRICES_FIXED.replace("await asyncio.sleep(30)", "await asyncio.sleep(30")
    findings = analyze_source(typing, PATH)
    assert resolutions(typing, findings, _logged(LOCK_LINE, SLEEP_LINE), _enabled) == []


def test_turning_a_rule_off_fixes_nothing() -> None:
    options = AnalysisOptions(ignore=("RH202",))
    findings = analyze_source(PRICES_BAD, PATH, options)
    assert resolutions(PRICES_BAD, findings, _logged(LOCK_LINE), options.enabled) == []


def test_suppressed_and_removed_are_told_apart_from_fixed() -> None:
    suppressed = PRICES_BAD.replace(
        '/{symbol}")', '/{symbol}")  # riskhints: ignore[RH202] -- single-threaded tool'
    )
    [record] = resolutions(
        suppressed, analyze_source(suppressed, PATH), _logged(LOCK_LINE), _enabled
    )
    assert record.resolution == "suppressed"
    removed = PRICES_BAD.split("async def refresh_price")[0]
    [record] = resolutions(removed, analyze_source(removed, PATH), _logged(LOCK_LINE), _enabled)
    assert (record.resolution, record.code) == ("removed", "")


# -- the failure-log setting ----------------------------------------------------------------------


def test_failure_log_setting_is_validated() -> None:
    assert parse_settings({"failure-log": "docs/ai-failures.jsonl"}, "t").failure_log == (
        "docs/ai-failures.jsonl"
    )
    assert parse_settings({"failureLog": "log.jsonl"}, "t").failure_log == "log.jsonl"
    for bad, reason in [
        ("/var/log/f.jsonl", "relative"),
        ("../shared/f.jsonl", "inside the workspace"),
        ("", "non-empty"),
        (3, "must be a path"),
    ]:
        with pytest.raises(ConfigError, match=f"'failure-log'.*{reason}"):
            parse_settings({"failure-log": bad}, "pyproject.toml [tool.riskhints]")


def test_log_path_refuses_a_symlink_out_of_the_workspace(tmp_path: Path) -> None:
    workspace, outside = tmp_path / "shop", tmp_path / "outside"
    workspace.mkdir()
    outside.mkdir()
    (workspace / ".riskhints").symlink_to(outside)
    with pytest.raises(WorkspaceError, match="outside the workspace"):
        log_path(workspace)
    assert log_path(workspace, "logs/f.jsonl") == (workspace / "logs" / "f.jsonl").resolve()
