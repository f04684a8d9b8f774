"""``riskhints failures report``: counts by rule, file and week, open vs resolved, ``--since``,
and the worst examples with the code as written beside the code as fixed."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from riskhints.analysis import analyze_source
from riskhints.failures import FailureLog, FailureRecord, LogContents, pick_finding, resolutions
from riskhints.failures.record import open_record
from riskhints.failures.report import (
    build_report,
    iso_week,
    parse_since,
    render_json,
    render_markdown,
)

from .samples import LOCK_LINE, PRICES_BAD, PRICES_FIXED, SLEEP_LINE

NOW = datetime(2025, 3, 14, 12, 0, tzinfo=timezone.utc)  # a Friday, ISO week 11


def _open(line: int, path: str, time: str, note: str | None = None) -> FailureRecord:
    finding = pick_finding(analyze_source(PRICES_BAD, path), line)
    return open_record(finding, PRICES_BAD, path, note=note, time=time)


def _fix(record: FailureRecord, time: str) -> FailureRecord:
    [resolved] = resolutions(
        PRICES_FIXED, analyze_source(PRICES_FIXED, record.path), [record], lambda _rule: True
    )
    return replace(resolved, time=time)


@pytest.fixture
def contents(tmp_path: Path) -> LogContents:
    """Five failures over three weeks in two files; two of them fixed since."""
    lock_old = _open(LOCK_LINE, "app/prices.py", "2025-02-25T10:00:00Z")  # week 9
    lock_new = _open(LOCK_LINE, "app/quotes.py", "2025-03-11T09:00:00Z", note="asked for a cache")
    sleep_a = _open(SLEEP_LINE, "app/prices.py", "2025-03-05T16:30:00Z")  # week 10
    sleep_b = _open(SLEEP_LINE, "app/quotes.py", "2025-03-12T08:00:00Z")  # week 11
    sleep_c = _open(SLEEP_LINE, "app/poller.py", "2025-03-13T08:00:00Z")  # week 11
    failure_log = FailureLog(tmp_path / "failures.jsonl")
    failure_log.append([lock_old, sleep_a, lock_new, sleep_b, sleep_c])
    failure_log.append([_fix(lock_new, "2025-03-12T10:00:00Z"), _fix(sleep_a, "2025-03-06T09:00Z")])
    with failure_log.path.open("ab") as stream:
        stream.write(b"<<<<<<< HEAD\n")
    return FailureLog(failure_log.path, on_problem=lambda _message: None).read()


def test_counts_by_rule_file_and_week(contents: LogContents) -> None:
    report = build_report(contents, now=NOW)
    assert report["totals"] == {
        "logged": 5,
        "open": 3,
        "resolved": 2,
        "fixed": 2,
        "suppressed": 0,
        "removed": 0,
    }
    assert [(r["rule"], r["logged"], r["open"], r["resolved"]) for r in report["by_rule"]] == [
        ("RH101", 3, 2, 1),
        ("RH202", 2, 1, 1),
    ]
    assert report["by_rule"][0]["summary"]  # the rule's one-line description
    assert [(r["path"], r["logged"], r["open"], r["resolved"]) for r in report["by_file"]] == [
        ("app/prices.py", 2, 1, 1),
        ("app/quotes.py", 2, 1, 1),
        ("app/poller.py", 1, 1, 0),
    ]
    assert report["by_week"] == [
        {"week": "2025-W09", "logged": 1, "resolved": 0},
        {"week": "2025-W10", "logged": 1, "resolved": 1},
        {"week": "2025-W11", "logged": 3, "resolved": 1},
    ]
    assert report["skipped_lines"] == [{"line": 8, "message": "invalid JSON: Expecting value"}]


def test_since_keeps_the_failures_logged_in_the_period(contents: LogContents) -> None:
    since = parse_since("7d", NOW)
    assert since == datetime(2025, 3, 7, 12, 0, tzinfo=timezone.utc)
    report = build_report(contents, since=since, now=NOW)
    assert report["totals"]["logged"] == 3 and report["totals"]["resolved"] == 1
    assert report["since"] == "2025-03-07T12:00:00Z"
    assert [r["week"] for r in report["by_week"]] == ["2025-W11"]
    assert build_report(contents, since=parse_since("2025-03-12"), now=NOW)["totals"]["logged"] == 2
    assert parse_since("12h", NOW) == datetime(2025, 3, 14, 0, 0, tzinfo=timezone.utc)
    assert parse_since("2w", NOW) == datetime(2025, 2, 28, 12, 0, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="expected a duration"):
        parse_since("last tuesday", NOW)


def test_worst_examples_come_with_their_fixes(contents: LogContents) -> None:
    examples = build_report(contents, limit=3, now=NOW)["examples"]
    # Errors first, fixed ones first among them; then one per rule before any second.
    assert [(e["rule"], e["path"], e["status"]) for e in examples] == [
        ("RH202", "app/quotes.py", "resolved"),
        ("RH101", "app/prices.py", "resolved"),
        ("RH202", "app/prices.py", "open"),
    ]
    lock = examples[0]
    assert lock["note"] == "asked for a cache" and lock["resolution"] == "fixed"
    assert "    with _prices_lock:" in lock["code"]
    assert "    async with _prices_lock:" in lock["fixed_code"]
    assert examples[2]["fixed_code"] is None


def test_markdown_is_the_page_a_team_lead_reads(contents: LogContents) -> None:
    page = render_markdown(build_report(contents, log_name=".riskhints/failures.jsonl", now=NOW))
    assert page.startswith("# AI failure log report\n")
    assert "**5 failures logged: 3 open, 2 resolved** (2 fixed" in page
    assert "| RH101 | " in page and "| 3 | 2 | 1 |" in page
    assert "| `app/prices.py` | 2 | 1 | 1 |" in page
    assert "| 2025-W11 | 3 | 1 |" in page
    assert "### 1. RH202: `refresh_price` in `app/quotes.py:12`" in page
    assert "Note: asked for a cache" in page
    # Side by side: the code as written and the code as fixed in one table row.
    row = page.split("### 1.")[1].split("### 2.")[0]
    assert "<th>As written</th><th>As fixed</th>" in row
    assert row.index("    with _prices_lock:") < row.index("</td><td>")
    assert row.index("</td><td>") < row.index("    async with _prices_lock:")
    assert "_not fixed yet_" in page  # the open ones say so
    assert "Skipped 1 corrupt line of the log: 8" in page


def test_json_is_the_same_report(contents: LogContents) -> None:
    report = build_report(contents, since=parse_since("7d", NOW), now=NOW)
    assert json.loads(render_json(report)) == report


def test_an_empty_log_says_so() -> None:
    page = render_markdown(build_report(LogContents(()), now=NOW))
    assert "No failures logged in this period." in page
    assert build_report(LogContents(()), now=NOW)["totals"]["logged"] == 0


def test_iso_weeks_follow_the_calendar() -> None:
    assert iso_week(datetime(2024, 12, 30, tzinfo=timezone.utc)) == "2025-W01"
    assert iso_week(datetime(2025, 3, 14, tzinfo=timezone.utc)) == "2025-W11"
