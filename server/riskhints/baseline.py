"""``riskhints check --baseline FILE``: adopt riskhints on an existing codebase by recording
today's findings once and reporting only new ones afterwards.

A finding is remembered by what it is, not where it is: its file (relative to the baseline's
folder, so the run's current directory does not matter), rule, function, the stripped text of
its first flagged line and its message with numbers blanked (messages can name other lines).
Lines added or removed above a finding therefore do not make it new; editing the flagged line
itself, or moving it to another function, does. Identical findings are counted, so a second
copy of a recorded hazard is reported.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from .analysis.finding import Finding

FORMAT_VERSION = 1
_NUMBER = re.compile(r"\d+")

Key = tuple[str, str, str, str, str]


class BaselineError(ValueError):
    """A baseline file that cannot be read: named, with what is wrong."""


def _key(finding: Finding, folder: Path, read_lines: Callable[[str], list[str] | None]) -> Key:
    lines = read_lines(finding.path) or []
    line = finding.span.line
    code = lines[line - 1].strip() if 1 <= line <= len(lines) else ""
    path = Path(finding.path).resolve()
    try:
        shown = path.relative_to(folder.resolve()).as_posix()
    except ValueError:
        shown = path.as_posix()
    message = _NUMBER.sub("#", finding.message)
    return (shown, finding.rule, finding.function or "", code, message)


def write_baseline(
    file: Path, findings: Sequence[Finding], read_lines: Callable[[str], list[str] | None]
) -> None:
    counts = Counter(_key(f, file.parent, read_lines) for f in findings)
    entries = [
        {"path": p, "rule": r, "function": fn, "code": code, "message": m, "count": n}
        for (p, r, fn, code, m), n in sorted(counts.items())
    ]
    document = {"tool": "riskhints", "version": FORMAT_VERSION, "findings": entries}
    file.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_baseline(file: Path) -> Counter[Key]:
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except OSError as error:
        raise BaselineError(f"{file}: cannot read the baseline ({error.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BaselineError(f"{file}: not a riskhints baseline ({error})") from None
    if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
        raise BaselineError(
            f"{file}: not a riskhints baseline of version {FORMAT_VERSION} "
            f"(write it anew with --update-baseline)"
        )
    counts: Counter[Key] = Counter()
    try:
        for entry in document["findings"]:
            fields = ("path", "rule", "function", "code", "message")
            path, rule, function, code, message = (str(entry[name]) for name in fields)
            counts[(path, rule, function, code, message)] += int(entry["count"])
    except (KeyError, TypeError, ValueError):
        raise BaselineError(f"{file}: a baseline entry lacks a field (rewrite it)") from None
    return counts


def new_findings(
    file: Path, findings: Sequence[Finding], read_lines: Callable[[str], list[str] | None]
) -> tuple[list[Finding], int]:
    """The findings not in the baseline, and how many were in it (hidden)."""
    known = read_baseline(file)
    new: list[Finding] = []
    hidden = 0
    for finding in findings:
        key = _key(finding, file.parent, read_lines)
        if known[key] > 0:
            known[key] -= 1
            hidden += 1
        else:
            new.append(finding)
    return new, hidden
