"""Human reports: ``path:line:col: RH203 [severity] message``, then (``text``, ``full``) the chain
of evidence indented beneath it; ``full`` adds the flagged source lines and the rule's advice
("Instead: ...", as the hover has it); ``concise`` is one line per finding."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from ..analysis import Finding

_EXCERPT_LINES = 3  # at most this many lines of the flagged range are shown


def _head(finding: Finding) -> str:
    span = finding.span
    return (
        f"{finding.path}:{span.line}:{span.column + 1}: {finding.rule} "
        f"[{finding.severity.label}] {finding.message}"
    )


def _evidence(finding: Finding) -> list[str]:
    return [
        f"    {hop.path or finding.path}:{hop.span.line}:{hop.span.column + 1}: {hop.message}"
        for hop in finding.evidence
    ]


def render_text(findings: Sequence[Finding], files_checked: int) -> str:
    lines: list[str] = []
    for finding in findings:
        lines.append(_head(finding))
        lines.extend(_evidence(finding))
    lines.append(summary_line(findings, files_checked))
    return "\n".join(lines) + "\n"


def render_concise(findings: Sequence[Finding], files_checked: int) -> str:
    lines = [_head(finding) for finding in findings]
    lines.append(summary_line(findings, files_checked))
    return "\n".join(lines) + "\n"


def render_full(
    findings: Sequence[Finding],
    files_checked: int,
    read_lines: Callable[[str], list[str] | None],
) -> str:
    from ..analysis.advice import advice

    lines: list[str] = []
    for finding in findings:
        lines.append(_head(finding))
        lines.extend(_excerpt(finding, read_lines(finding.path)))
        lines.extend(_evidence(finding))
        instead = advice(finding)
        if instead:
            lines.append(f"  Instead: {instead}")
        lines.append("")
    lines.append(summary_line(findings, files_checked))
    return "\n".join(lines) + "\n"


def _excerpt(finding: Finding, source: list[str] | None) -> list[str]:
    """The flagged lines with a gutter, and carets under a one-line range (like ruff's)."""
    if source is None:
        return []
    span = finding.span
    last = min(span.end_line, span.line + _EXCERPT_LINES - 1, len(source))
    if not 1 <= span.line <= len(source):
        return []
    width = len(str(last))
    out = []
    for number in range(span.line, last + 1):
        out.append(f"  {number:>{width}} | {source[number - 1].rstrip()}")
    if span.end_line == span.line:
        text = source[span.line - 1].rstrip()
        end = min(max(span.end_column, span.column + 1), max(len(text), span.column + 1))
        out.append(f"  {'':>{width}} | {' ' * span.column}{'^' * (end - span.column)}")
    elif span.end_line > last:
        out.append(f"  {'':>{width}} | ...")
    return out


def summary_line(findings: Sequence[Finding], files_checked: int) -> str:
    files = f"{files_checked} file{'s' if files_checked != 1 else ''}"
    if not findings:
        return f"All clear: no findings in {files}."
    counts = Counter(f.severity.label for f in findings)
    parts = [
        f"{counts[label]} {label}"
        for label in ("error", "warning", "info", "hint")
        if counts[label]
    ]
    total = len(findings)
    return f"Found {total} finding{'s' if total != 1 else ''} ({', '.join(parts)}) in {files}."
