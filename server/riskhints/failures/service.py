"""Logging a finding and resolving logged findings: the operations the CLI and the language
server share. Pure apart from the log file's I/O (and git, through the ``commit`` arguments the
callers pass in).

A logged finding is *resolved* when a later analysis of its file, on text that parses, no
longer has a finding with its fingerprint while its rule is still enabled (turning a rule off
fixes nothing). The resolution says how: ``fixed`` (the function is still there, the finding is
not), ``suppressed`` (a ``# riskhints: ignore`` now covers it) or ``removed`` (the function is
gone).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..analysis.finding import Finding
from ..analysis.positions import lines_text
from ..analysis.suppressions import parse_suppressions
from .log import FailureLog, LogContents
from .record import (
    CONTEXT_LINES,
    FailureRecord,
    finding_fingerprint,
    function_lines,
    lines_around,
    open_record,
    parses,
    resolved_record,
)

META_RULE_PREFIX = "RH0"  # syntax errors and the like are not the assistant's failures


class NoFinding(ValueError):
    """No finding (of the asked rule) at the asked line."""


def pick_finding(findings: Sequence[Finding], line: int, rule: str | None = None) -> Finding:
    """The finding at ``line`` (1-based): one starting there, else one whose span covers it;
    of ``rule`` when given. Raises :class:`NoFinding` with a message a user can act on."""
    candidates = [f for f in findings if not f.rule.startswith(META_RULE_PREFIX)]
    at_line = [f for f in candidates if f.span.line == line] or [
        f for f in candidates if f.span.contains_line(line)
    ]
    if rule is not None:
        chosen = [f for f in at_line if f.rule == rule]
        if not chosen:
            there = ", ".join(sorted({f.rule for f in at_line})) or "none"
            raise NoFinding(f"no {rule} finding at line {line} (findings there: {there})")
        return chosen[0]
    if not at_line:
        nearby = sorted({f.span.line for f in candidates if abs(f.span.line - line) <= 5})
        shown = lines_text([(n, n) for n in nearby])
        hint = f"; {'a finding' if len(nearby) == 1 else 'findings'} on {shown}" if nearby else ""
        raise NoFinding(f"no finding at line {line}{hint}")
    rules = sorted({f.rule for f in at_line})
    if len(rules) > 1:
        raise NoFinding(
            f"several findings at line {line} ({', '.join(rules)}): choose one with --rule"
        )
    return at_line[0]


@dataclass(frozen=True)
class Logged:
    record: FailureRecord
    created: bool  # False: the same failure was already logged and is still open


def log_finding(
    failure_log: FailureLog,
    finding: Finding,
    text: str,
    path: str,
    *,
    note: str | None = None,
    commit: str | None = None,
) -> Logged:
    """Append an ``open`` record for ``finding`` unless the same failure (same fingerprint, same
    file) is logged and still open: then that record is returned."""
    candidate = open_record(finding, text, path, note=note, commit=commit)

    def decide(contents: LogContents) -> list[FailureRecord]:
        for record in contents.open_records(path):
            if record.fingerprint == candidate.fingerprint:
                existing.append(record)
                return []
        return [candidate]

    existing: list[FailureRecord] = []
    failure_log.transact(decide)
    return Logged(existing[0], False) if existing else Logged(candidate, True)


def _suppressed(text: str, rule: str, first: int, last: int) -> bool:
    for suppression in parse_suppressions(text):
        if suppression.rules is not None and rule not in suppression.rules:
            continue
        if suppression.whole_file or first <= suppression.line <= last:
            return True
    return False


def resolutions(
    text: str,
    findings: Sequence[Finding],
    logged: Sequence[FailureRecord],
    enabled: Callable[[str], bool],
    *,
    commit: str | None = None,
) -> list[FailureRecord]:
    """``resolved`` records for the ``logged`` (open, same file) failures that ``findings``
    (the analysis of ``text``) no longer has. Nothing while the text does not parse: a syntax
    error in the middle of typing hides findings, it does not fix them."""
    if not logged or not parses(text):
        return []
    current = {finding_fingerprint(finding, text) for finding in findings}
    out: list[FailureRecord] = []
    for record in logged:
        if record.fingerprint in current or not enabled(record.rule):
            continue
        span = function_lines(text, record.function) if record.function else None
        if record.function and span is None:
            out.append(resolved_record(record, "", "removed", commit=commit))
            continue
        first, last = span or (record.line - CONTEXT_LINES, record.line + CONTEXT_LINES)
        how = "suppressed" if _suppressed(text, record.rule, first, last) else "fixed"
        out.append(resolved_record(record, lines_around(text, first, last), how, commit=commit))
    return out


def resolve_in_log(
    failure_log: FailureLog,
    path: str,
    text: str,
    findings: Sequence[Finding],
    enabled: Callable[[str], bool],
    commit: Callable[[], str | None],
) -> list[FailureRecord]:
    """Append resolutions for ``path``'s logged failures that ``findings`` no longer has.
    Cheap when there is nothing to do: the log is only locked when something was resolved, and
    the decision is then re-taken under the lock (another process may have resolved it)."""
    logged = failure_log.read().open_records(path)
    if not resolutions(text, findings, logged, enabled):
        return []
    sha = commit()

    def decide(contents: LogContents) -> list[FailureRecord]:
        return resolutions(text, findings, contents.open_records(path), enabled, commit=sha)

    return failure_log.transact(decide)
