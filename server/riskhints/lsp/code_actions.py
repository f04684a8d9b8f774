"""Code actions, built from the findings already computed for the document's current version
(never by re-running the analysis), honouring ``context.only``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from ..actions.edits import Action
from ..actions.suppress import suppress_action
from .documents import Document

if TYPE_CHECKING:
    from .server import RiskhintsServer

KINDS = [types.CodeActionKind.QuickFix]


def _wanted(kind: str, only: list[str] | None) -> bool:
    if not only:
        return True
    return any(kind == prefix or kind.startswith(prefix + ".") for prefix in only)


def register(server: RiskhintsServer) -> None:
    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=KINDS, resolve_provider=False),
    )
    def code_action(
        ls: RiskhintsServer, params: types.CodeActionParams
    ) -> list[types.CodeAction] | None:
        session = ls.session
        uri = params.text_document.uri
        document = session.documents.get(uri)
        result = session.results.get(uri)
        if document is None or result is None or result.version != document.version:
            return None
        only = [str(k) for k in params.context.only] if params.context.only else None
        start = document.from_client_position(params.range.start, session.codec)
        end = document.from_client_position(params.range.end, session.codec)
        actions: list[types.CodeAction] = []
        for finding, diagnostic in zip(result.findings, result.diagnostics, strict=True):
            if not _overlaps(finding.span.line, finding.span.end_line, start[0], end[0]):
                continue
            candidates: list[Action] = []
            suppress = suppress_action(document.text, finding)
            if suppress is not None:
                candidates.append(suppress)
            for action in candidates:
                if _wanted(action.kind, only):
                    actions.append(to_code_action(action, document, session.codec, diagnostic))
        return actions or None


def _overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    return a_start <= b_end and b_start <= a_end


def to_code_action(
    action: Action, document: Document, codec: object, diagnostic: types.Diagnostic | None
) -> types.CodeAction:
    from pygls.workspace.position_codec import PositionCodec

    assert isinstance(codec, PositionCodec)
    edits = [
        types.TextEdit(range=document.to_client_range(edit.span, codec), new_text=edit.new_text)
        for edit in action.edits
    ]
    return types.CodeAction(
        title=action.title,
        kind=action.kind,
        diagnostics=[diagnostic] if diagnostic is not None else None,
        is_preferred=action.is_preferred or None,
        edit=types.WorkspaceEdit(
            document_changes=[
                types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(
                        uri=document.uri, version=document.version
                    ),
                    edits=edits,
                )
            ]
        ),
    )
