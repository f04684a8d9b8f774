"""Hover on a flagged range: the hazard in a few lines, the chain of evidence, the assumptions
that must hold, and the safe alternative (markdown)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from ..analysis import Finding
from ..analysis.advice import advice
from ..analysis.rules import get_rule
from ..links import rule_url

if TYPE_CHECKING:
    from .server import RiskhintsServer


def register(server: RiskhintsServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: RiskhintsServer, params: types.HoverParams) -> types.Hover | None:
        session = ls.session
        uri = params.text_document.uri
        document = session.documents.get(uri)
        result = session.results.get(uri)
        if document is None or result is None or result.version != document.version:
            return None
        line, column = document.from_client_position(params.position, session.codec)
        hits = [
            (finding, diagnostic)
            for finding, diagnostic in zip(result.findings, result.diagnostics, strict=True)
            if _covers(finding, line, column)
        ]
        if not hits:
            return None
        text = "\n\n---\n\n".join(render_hover(finding) for finding, _ in hits)
        return types.Hover(
            contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text),
            range=hits[0][1].range,
        )


def _covers(finding: Finding, line: int, column: int) -> bool:
    span = finding.span
    if not span.line <= line <= span.end_line:
        return False
    if line == span.line and column < span.column:
        return False
    return not (line == span.end_line and column > span.end_column)


def render_hover(finding: Finding) -> str:
    spec = get_rule(finding.rule)
    title = f"**{finding.rule}** {spec.name if spec else ''} · {finding.severity.label}"
    parts = [title, finding.message]
    if spec is not None:
        parts.append(spec.doc.split("\n\n")[0].replace("\n", " "))
    if finding.evidence:
        chain = [
            f"{i}. {('`' + hop.path + '` ') if hop.path else ''}line {hop.span.line}: {hop.message}"
            for i, hop in enumerate(finding.evidence, start=1)
        ]
        parts.append("**Chain of evidence**\n\n" + "\n".join(chain))
    if finding.assumptions:
        parts.append(
            "**Safe only if**\n\n"
            + "\n".join(f"- {assumption}" for assumption in finding.assumptions)
        )
    instead = advice(finding)
    if instead:
        parts.append(f"**Instead:** {instead}")
    if spec is not None:
        parts.append(f"[{finding.rule} documentation]({rule_url(spec)})")
    return "\n\n".join(parts)
