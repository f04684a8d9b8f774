"""Report formats for ``riskhints check``: text, json and SARIF 2.1.0."""

from __future__ import annotations

from collections.abc import Sequence

from ..analysis import Finding
from .json_report import render_json
from .sarif import render_sarif
from .text import render_text

FORMATS = ("text", "json", "sarif")


def render(fmt: str, findings: Sequence[Finding], files_checked: int) -> str:
    if fmt == "json":
        return render_json(findings, files_checked)
    if fmt == "sarif":
        return render_sarif(findings)
    return render_text(findings, files_checked)


__all__ = ["FORMATS", "render"]
