"""pygls' protocol, minus its own copy of the open documents.

pygls keeps every open document in its workspace and applies incremental changes to it before
our handlers run. Its lines come from ``str.splitlines``, which also breaks at form feeds,
``\\x1c``-``\\x1e``, NEL and U+2028 — characters an LSP client keeps inside a line. On such a
file pygls applies the change to the wrong line and, worse, *clamps the change's position in
place* (``PositionCodec.position_from_client_units`` assigns ``position.character``), so the
params our handler receives are already corrupted (found by tests/e2e/test_lsp_fuzz.py: a form
feed on line 1 moved a later insertion five columns left).

The server keeps its own documents (:mod:`riskhints.lsp.documents`), so here didOpen,
didChange and didClose go straight to our handlers: the params arrive untouched, and the
message loop does not pay for a second copy of every edit of a 50,000-line file.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from lsprotocol import types
from pygls.protocol.language_server import LanguageServerProtocol, lsp_method


class RiskhintsProtocol(LanguageServerProtocol):
    def _user_handler(self, method: str, params: Any) -> Generator[Any, Any, None]:
        handler = self.fm.features.get(method)
        if handler is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(
        self, params: types.DidOpenTextDocumentParams
    ) -> Generator[Any, Any, None]:
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(
        self, params: types.DidChangeTextDocumentParams
    ) -> Generator[Any, Any, None]:
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(
        self, params: types.DidCloseTextDocumentParams
    ) -> Generator[Any, Any, None]:
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_CLOSE, params)
