"""Document sync and diagnostics: didOpen/didChange/didSave/didClose, and pull diagnostics."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lsprotocol import types

from .documents import Document

if TYPE_CHECKING:
    from .server import RiskhintsServer

log = logging.getLogger(__name__)

PULL_OPTIONS = types.DiagnosticOptions(
    identifier="riskhints", inter_file_dependencies=True, workspace_diagnostics=False
)


def is_python(uri: str, language_id: str | None) -> bool:
    if language_id is not None:
        return language_id == "python"
    return uri.endswith((".py", ".pyi"))


def register(server: RiskhintsServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: RiskhintsServer, params: types.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        if not is_python(item.uri, item.language_id):
            return
        ls.session.documents[item.uri] = Document(
            item.uri, item.version, item.text, item.language_id
        )
        ls.session.provenance.did_open(item.uri)
        ls.session.schedule(item.uri, delay_ms=0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: RiskhintsServer, params: types.DidChangeTextDocumentParams) -> None:
        document = ls.session.documents.get(params.text_document.uri)
        if document is None:
            return
        for change in params.content_changes:
            ls.session.provenance.before_change(document, change)
            document.apply_change(change, ls.session.codec)
        document.version = params.text_document.version
        ls.session.schedule(document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: RiskhintsServer, params: types.DidSaveTextDocumentParams) -> None:
        document = ls.session.documents.get(params.text_document.uri)
        if document is None:
            return
        if params.text is not None and params.text != document.text:
            whole = types.TextDocumentContentChangeWholeDocument(text=params.text)
            ls.session.provenance.before_change(document, whole)
            document.apply_change(whole, ls.session.codec)
        ls.session.provenance.did_save(document.uri)
        ls.session.schedule(document.uri, delay_ms=0)
        ls.session.indexing.track(ls.session.indexing.document_saved(document.uri))

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: RiskhintsServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        was_open = uri in ls.session.documents
        ls.session.provenance.did_close(uri)
        ls.session.close(uri)
        if was_open and not ls.session.pull_diagnostics:
            ls.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
            )


async def pull_diagnostics(
    ls: RiskhintsServer, params: types.DocumentDiagnosticParams
) -> types.DocumentDiagnosticReport:
    result = await ls.session.current_result(params.text_document.uri)
    if result is None:
        return types.RelatedFullDocumentDiagnosticReport(items=[])
    if params.previous_result_id == result.result_id:
        return types.RelatedUnchangedDocumentDiagnosticReport(result_id=result.result_id)
    return types.RelatedFullDocumentDiagnosticReport(
        items=list(result.diagnostics), result_id=result.result_id
    )
