"""Report formats for ``riskhints check``: ``full`` (the default: each finding with its chain
of evidence, a source excerpt and the advice), ``concise`` (one line each), ``json``, SARIF 2.1.0
and ``github`` (workflow annotations). ``text`` is the earlier name of ``full`` without the
excerpt, kept for scripts."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..analysis.finding import Finding

FORMATS = ("full", "concise", "text", "json", "sarif", "github")

#: Reads a file's lines by its display path (for excerpts); None when it cannot be read.
LineReader = Callable[[str], "list[str] | None"]


def render(
    fmt: str,
    findings: Sequence[Finding],
    files_checked: int,
    read_lines: LineReader | None = None,
) -> str:
    # Imported per format: SARIF and the full text need the rule registry, the others do not.
    if fmt == "json":
        from .json_report import render_json

        return render_json(findings, files_checked)
    if fmt == "sarif":
        from .sarif import render_sarif

        return render_sarif(findings)
    if fmt == "github":
        from .github import render_github

        return render_github(findings)
    from .text import render_concise, render_full, render_text

    if fmt == "concise":
        return render_concise(findings, files_checked)
    if fmt == "full":
        return render_full(findings, files_checked, read_lines or (lambda _path: None))
    return render_text(findings, files_checked)


__all__ = ["FORMATS", "LineReader", "render"]
