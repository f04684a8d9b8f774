"""GitHub Actions workflow commands: one ``::error file=...,line=...::message`` per finding, so
a workflow step annotates the pull request's diff without uploading SARIF."""

from __future__ import annotations

from collections.abc import Sequence

from ..analysis import Finding, Severity

_COMMANDS = {
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFO: "notice",
    Severity.HINT: "notice",
}


def _property(value: str) -> str:
    # The escapes of the workflow-command syntax: properties also escape ':' and ','.
    return (
        value.replace("%", "%25")
        .replace("\r", "%0D")
        .replace("\n", "%0A")
        .replace(":", "%3A")
        .replace(",", "%2C")
    )


def _data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def render_github(findings: Sequence[Finding]) -> str:
    lines = []
    for finding in findings:
        span = finding.span
        chain = "".join(
            f"\n  {hop.path or finding.path}:{hop.span.line}: {hop.message}"
            for hop in finding.evidence
        )
        properties = ",".join(
            [
                f"file={_property(finding.path)}",
                f"line={span.line}",
                f"col={span.column + 1}",
                f"endLine={span.end_line}",
                f"endColumn={span.end_column + 1}",
                f"title={_property(f'riskhints {finding.rule}')}",
            ]
        )
        message = _data(f"{finding.rule} {finding.message}{chain}")
        lines.append(f"::{_COMMANDS[finding.severity]} {properties}::{message}")
    return "".join(line + "\n" for line in lines)
