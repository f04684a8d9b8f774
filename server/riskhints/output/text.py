"""``path:line:col: RH203 message`` and the chain of evidence, indented beneath it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from ..analysis import Finding


def render_text(findings: Sequence[Finding], files_checked: int) -> str:
    lines: list[str] = []
    for finding in findings:
        span = finding.span
        lines.append(
            f"{finding.path}:{span.line}:{span.column + 1}: {finding.rule} "
            f"[{finding.severity.label}] {finding.message}"
        )
        for hop in finding.evidence:
            where = hop.path or finding.path
            lines.append(f"    {where}:{hop.span.line}:{hop.span.column + 1}: {hop.message}")
    lines.append(summary_line(findings, files_checked))
    return "\n".join(lines) + "\n"


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
