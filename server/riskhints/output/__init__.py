"""Report formats for ``riskhints check``: text, json and SARIF 2.1.0."""

from __future__ import annotations

from collections.abc import Sequence

from ..analysis.finding import Finding

FORMATS = ("text", "json", "sarif")


def render(fmt: str, findings: Sequence[Finding], files_checked: int) -> str:
    # Imported per format: SARIF needs the rule registry, the others do not.
    if fmt == "json":
        from .json_report import render_json

        return render_json(findings, files_checked)
    if fmt == "sarif":
        from .sarif import render_sarif

        return render_sarif(findings)
    from .text import render_text

    return render_text(findings, files_checked)


__all__ = ["FORMATS", "render"]
