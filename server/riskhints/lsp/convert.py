"""Findings as LSP diagnostics: positions in the client's encoding, the evidence chain as
``relatedInformation``, the rule's docs as ``codeDescription``, the fix payload in ``data``."""

from __future__ import annotations

from typing import Any

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from ..analysis import Finding, Severity
from ..analysis.rules import get_rule
from ..links import rule_url
from .documents import Document

SOURCE = "riskhints"

_SEVERITIES = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
    Severity.INFO: types.DiagnosticSeverity.Information,
    Severity.HINT: types.DiagnosticSeverity.Hint,
}


def to_diagnostic(
    finding: Finding,
    document: Document,
    codec: PositionCodec,
    uri_for_path: dict[str, str],
) -> types.Diagnostic:
    spec = get_rule(finding.rule)
    related = [
        types.DiagnosticRelatedInformation(
            location=types.Location(
                uri=uri_for_path.get(hop.path, document.uri) if hop.path else document.uri,
                range=document.to_client_range(hop.span, codec)
                if not hop.path
                else _plain_range(
                    hop.span.line, hop.span.column, hop.span.end_line, hop.span.end_column
                ),
            ),
            message=hop.message,
        )
        for hop in finding.evidence
    ]
    data: dict[str, Any] = {"rule": finding.rule}
    if finding.fix is not None:
        data["fix"] = finding.fix
    return types.Diagnostic(
        range=document.to_client_range(finding.span, codec),
        message=finding.message,
        severity=_SEVERITIES[finding.severity],
        code=finding.rule,
        code_description=types.CodeDescription(href=rule_url(spec)) if spec else None,
        source=SOURCE,
        related_information=related or None,
        data=data,
    )


def _plain_range(line: int, column: int, end_line: int, end_column: int) -> types.Range:
    """A range in another file, which we do not hold open: code points are the best we know."""
    return types.Range(
        start=types.Position(line=max(line - 1, 0), character=column),
        end=types.Position(line=max(end_line - 1, 0), character=end_column),
    )
