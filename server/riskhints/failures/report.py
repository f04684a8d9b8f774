"""``riskhints failures report``: the page a team lead reads — how often the assistant got which
hazard wrong, where, week by week, how much of it is fixed, and the worst cases with the code as
written beside the code as fixed.

:func:`build_report` turns the log into a JSON-ready dict (the ``json`` format is exactly that);
:func:`render_markdown` lays the same dict out for people.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from ..analysis.rules import get_rule
from .log import LogContents
from .record import OPEN, RESOLVED, FailureRecord, format_time, parse_time

DEFAULT_EXAMPLES = 5
_SEVERITY_RANK = {"error": 4, "warning": 3, "info": 2, "hint": 1}
_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``7d``, ``12h``, ``2w``, ``30m`` (ago), or an ISO date/time (``2025-03-01``)."""
    now = now or datetime.now(timezone.utc)
    match = _DURATION.match(text)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return now - timedelta(**{_UNITS[unit]: amount})
    try:
        return parse_time(text.strip())
    except ValueError:
        raise ValueError(
            f"--since {text!r}: expected a duration (7d, 12h, 2w, 30m) or a date (2025-03-01)"
        ) from None


def iso_week(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def _counts(
    logged: Iterable[FailureRecord], resolved_ids: set[str], key: str
) -> list[dict[str, Any]]:
    total: Counter[str] = Counter()
    resolved: Counter[str] = Counter()
    for record in logged:
        value = str(getattr(record, key))
        total[value] += 1
        if record.id in resolved_ids:
            resolved[value] += 1
    rows: list[dict[str, Any]] = [
        {key: value, "logged": n, "open": n - resolved[value], "resolved": resolved[value]}
        for value, n in total.items()
    ]
    rows.sort(key=lambda row: (-row["logged"], row[key]))
    return rows


def _example(record: FailureRecord, fix: FailureRecord | None) -> dict[str, Any]:
    return {
        "id": record.id,
        "rule": record.rule,
        "severity": record.severity,
        "path": record.path,
        "line": record.line,
        "function": record.function,
        "message": record.message,
        "note": record.note,
        "provenance": record.provenance,
        "time": record.time,
        "commit": record.commit,
        "status": RESOLVED if fix else OPEN,
        "code": record.code,
        "resolution": fix.resolution if fix else None,
        "resolved_time": fix.time if fix else None,
        "resolved_commit": fix.commit if fix else None,
        "fixed_code": fix.code if fix else None,
    }


def _worst(
    logged: list[FailureRecord], fixes: dict[str, FailureRecord], limit: int
) -> list[dict[str, Any]]:
    """The most serious first, preferring cases with a fix to show, rules that recur, recent
    ones; one per rule before any rule gets a second."""
    per_rule = Counter(record.rule for record in logged)

    def rank(record: FailureRecord) -> tuple[int, int, int, int, float]:
        fix = fixes.get(record.id)
        return (
            -_SEVERITY_RANK.get(record.severity, 0),
            0 if fix is not None and fix.resolution == "fixed" else 1,
            0 if record.provenance == "ai" else 1,
            -per_rule[record.rule],
            -record.when.timestamp(),
        )

    ordered = sorted(logged, key=rank)
    chosen: list[FailureRecord] = []
    seen_rules: set[str] = set()
    for record in ordered:
        if len(chosen) < limit and record.rule not in seen_rules:
            chosen.append(record)
            seen_rules.add(record.rule)
    for record in ordered:
        if len(chosen) < limit and record not in chosen:
            chosen.append(record)
    return [_example(record, fixes.get(record.id)) for record in chosen]


def build_report(
    contents: LogContents,
    *,
    since: datetime | None = None,
    limit: int = DEFAULT_EXAMPLES,
    log_name: str = "",
    now: datetime | None = None,
) -> dict[str, Any]:
    """Failures logged since ``since`` (all of them when None), with their current status."""
    fixes = contents.resolutions()
    logged = [
        record
        for record in contents.records
        if record.status == OPEN and (since is None or record.when >= since)
    ]
    resolved_ids = {record.id for record in logged if record.id in fixes}
    how = Counter(fixes[i].resolution or "fixed" for i in resolved_ids)

    weeks: dict[str, dict[str, Any]] = {}
    for record in logged:
        row = weeks.setdefault(iso_week(record.when), {"logged": 0, "resolved": 0})
        row["logged"] += 1
    for record in contents.records:
        if record.status == RESOLVED and (since is None or record.when >= since):
            row = weeks.setdefault(iso_week(record.when), {"logged": 0, "resolved": 0})
            row["resolved"] += 1

    by_rule = _counts(logged, resolved_ids, "rule")
    for row in by_rule:
        spec = get_rule(row["rule"])
        row["summary"] = spec.summary if spec else ""
    return {
        "log": log_name,
        "generated": format_time(now or datetime.now(timezone.utc)),
        "since": format_time(since) if since else None,
        "totals": {
            "logged": len(logged),
            "open": len(logged) - len(resolved_ids),
            "resolved": len(resolved_ids),
            "fixed": how["fixed"],
            "suppressed": how["suppressed"],
            "removed": how["removed"],
        },
        "by_rule": by_rule,
        "by_file": _counts(logged, resolved_ids, "path"),
        "by_week": [{"week": week, **weeks[week]} for week in sorted(weeks)],
        "examples": _worst(logged, fixes, limit),
        "skipped_lines": [
            {"line": problem.line, "message": problem.message} for problem in contents.problems
        ],
    }


def render_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def _fenced(code: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}python\n{code.rstrip()}\n{fence}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: dict[str, Any]) -> str:
    totals = report["totals"]
    out = ["# AI failure log report", ""]
    scope = f"since {report['since']}" if report["since"] else "all time"
    source = f"`{report['log']}`, " if report["log"] else ""
    out += [f"_{source}{scope}, generated {report['generated']}_", ""]
    if not totals["logged"]:
        out += ["No failures logged in this period.", ""]
    else:
        out += [
            f"**{totals['logged']} {'failure' if totals['logged'] == 1 else 'failures'} "
            f"logged: {totals['open']} open, "
            f"{totals['resolved']} resolved** ({totals['fixed']} fixed, "
            f"{totals['suppressed']} suppressed, {totals['removed']} removed).",
            "",
            "## By rule",
            "",
            "| rule | hazard | logged | open | resolved |",
            "|---|---|--:|--:|--:|",
            *(
                f"| {r['rule']} | {_cell(r['summary'])} | {r['logged']} | {r['open']} | "
                f"{r['resolved']} |"
                for r in report["by_rule"]
            ),
            "",
            "## By file",
            "",
            "| file | logged | open | resolved |",
            "|---|--:|--:|--:|",
            *(
                f"| `{r['path']}` | {r['logged']} | {r['open']} | {r['resolved']} |"
                for r in report["by_file"]
            ),
            "",
            "## By week",
            "",
            "| week | logged | resolved |",
            "|---|--:|--:|",
            *(f"| {r['week']} | {r['logged']} | {r['resolved']} |" for r in report["by_week"]),
            "",
            "## Worst examples",
            "",
        ]
        for number, example in enumerate(report["examples"], start=1):
            out += _render_example(number, example)
    if report["skipped_lines"]:
        lines = ", ".join(str(p["line"]) for p in report["skipped_lines"])
        skipped = len(report["skipped_lines"])
        plural = "s" if skipped != 1 else ""
        out += [f"_Skipped {skipped} corrupt line{plural} of the log: {lines}._"]
        out.append("")
    return "\n".join(out)


def _render_example(number: int, example: dict[str, Any]) -> list[str]:
    where = f"`{example['function']}` in " if example["function"] else ""
    status = (
        f"resolved ({example['resolution']}) {example['resolved_time']}"
        if example["status"] == RESOLVED
        else "open"
    )
    details = [f"{example['severity'] or 'finding'}", f"logged {example['time']}"]
    if example["commit"]:
        details.append(f"at {example['commit'][:10]}")
    if example["provenance"]:
        details.append(f"provenance {example['provenance']}")
    out = [
        f"### {number}. {example['rule']}: {where}`{example['path']}:{example['line']}`",
        "",
        f"> {_cell(example['message'])}",
        "",
        f"{', '.join(details)}; **{status}**",
        "",
    ]
    if example["note"]:
        out += [f"Note: {_cell(example['note'])}", ""]
    if example["fixed_code"] is None:
        fixed = "_not fixed yet_"
    elif example["resolution"] == "removed":
        fixed = "_the function was removed_"
    else:
        fixed = _fenced(example["fixed_code"])
    out += [
        "<table><tr><th>As written</th><th>As fixed</th></tr><tr><td>",
        "",
        _fenced(example["code"]),
        "",
        "</td><td>",
        "",
        fixed,
        "",
        "</td></tr></table>",
        "",
    ]
    return out
