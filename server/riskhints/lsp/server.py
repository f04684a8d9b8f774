"""The riskhints language server: a thin pygls adapter around the analysis engine.

Concurrency contract (a tool that flags deadlocks must not have one):

- Handlers run on the asyncio event loop and only touch session state; none of them blocks.
- Analysis runs in a worker thread (``Session._executor``, 2 workers) on an immutable snapshot
  ``(uri, version, text, options)``. The worker reads nothing shared and returns new objects.
- Results are installed and published back on the loop, and only if the document's version is
  still the one that was analysed: a stale result is dropped, never published.
- ``didChange`` is debounced per document (``debounceMs``, default 300 ms): a newer edit cancels
  the pending run. ``didOpen`` and ``didSave`` analyse at once.
- Diagnostics are cleared when a document is closed. Pull clients (``textDocument/diagnostic``)
  get reports with result ids and ``unchanged`` replies; push is used otherwise, or when the
  ``diagnosticMode`` setting says ``push``.
- pygls reads stdin through its own thread pool; analysis never uses that pool, so reading
  requests (hover, code actions, ``$/cancelRequest``) goes on while a large file is analysed.
- Nothing is ever written to stdout but protocol messages: logging goes to stderr (or
  ``--log-file``) and ``window/logMessage``. Exceptions in handlers are logged, never shown as
  popups (``report_server_error``).
- Provenance (``lsp/provenance.py``): each content change updates the document's AI-suggested
  regions on the loop (line arithmetic only); git and the ``.riskhints/provenance`` store are
  read and written in a worker, and an analysis waits at most ``READY_WAIT_S`` for them.
- The server never imports or runs the user's code, and writes nothing outside the workspace.
"""

from __future__ import annotations

import logging

from lsprotocol import types
from pygls.exceptions import (
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcMethodNotFound,
    JsonRpcRequestCancelled,
)
from pygls.lsp.server import LanguageServer

from .. import __version__
from . import (
    checklist,
    code_actions,
    code_lens,
    configuration,
    diagnostics,
    failures,
    hover,
    stress,
)
from .protocol import RiskhintsProtocol
from .session import Session

log = logging.getLogger(__name__)

#: Errors a client provokes by what it sends (bad arguments, a method we do not have, a
#: cancelled request): answered as such, logged at debug, never as internal errors.
EXPECTED_ERRORS = (
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcMethodNotFound,
    JsonRpcRequestCancelled,
)


class ExpectedErrorsAtDebug(logging.Filter):
    """On pygls' logger: its ``logger.exception`` for an expected error becomes a debug line
    without a traceback (shown only when the log is at debug)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, EXPECTED_ERRORS):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        record.msg, record.args = f"{record.getMessage()}: {error!r}", None
        record.exc_info, record.exc_text = None, None
        return logging.getLogger().isEnabledFor(logging.DEBUG)


class RiskhintsServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "riskhints",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=RiskhintsProtocol,
        )
        self.session = Session(self)

    def report_server_error(self, error: Exception, source: object) -> None:
        """Log instead of pygls' default ``window/showMessage`` popup."""
        if isinstance(error, EXPECTED_ERRORS):
            log.debug("request refused (%s): %r", getattr(source, "__name__", source), error)
            return
        log.error("riskhints server error (%s): %r", getattr(source, "__name__", source), error)
        try:
            self.window_log_message(
                types.LogMessageParams(
                    type=types.MessageType.Error, message=f"riskhints internal error: {error!r}"
                )
            )
        except Exception:  # the connection itself may be what failed
            log.debug("could not send the error to the client", exc_info=True)


def create_server() -> RiskhintsServer:
    pygls_log = logging.getLogger("pygls.protocol.json_rpc")
    if not any(isinstance(f, ExpectedErrorsAtDebug) for f in pygls_log.filters):
        pygls_log.addFilter(ExpectedErrorsAtDebug())
    server = RiskhintsServer()
    configuration.register(server)
    diagnostics.register(server)
    hover.register(server)
    code_actions.register(server)
    failures.register(server)
    checklist.register(server)
    stress.register(server)
    code_lens.register(server)
    return server
