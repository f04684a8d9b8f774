"""Shared pieces of the end-to-end LSP tests: the server command, client capability sets, and
waiting for the diagnostics of one document version (push or pull)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import make_test_lsp_client

ROOT = Path(__file__).resolve().parents[2]
SERVER_ENV = {**os.environ, "PYTHONPATH": str(ROOT / "server")}


def make_client() -> LanguageClient:
    """pytest-lsp's client, plus what real editors answer: dynamic registrations."""
    client = make_test_lsp_client()
    client.registrations = []  # type: ignore[attr-defined]

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register_capability(params: types.RegistrationParams) -> None:
        client.registrations.extend(params.registrations)  # type: ignore[attr-defined]

    return client


CONFIG = ClientServerConfig(
    server_command=[sys.executable, "-m", "riskhints", "serve"],
    server_env=SERVER_ENV,
    client_factory=make_client,
)
CLIENTS = {
    "vscode": "visual-studio-code",  # push diagnostics, UTF-16 positions
    "neovim": "neovim@v0.11.0",  # pull diagnostics, UTF-8 positions
}
TIMEOUT_S = 30


def capabilities(name: str) -> types.ClientCapabilities:
    return client_capabilities(CLIENTS[name])


def uses_pull(client: LanguageClient) -> bool:
    caps = client.capabilities
    return bool(caps and caps.text_document and caps.text_document.diagnostic)


async def diagnostics(
    client: LanguageClient, uri: str, version: int, pull: bool | None = None
) -> list[types.Diagnostic]:
    """The diagnostics the server reports for ``uri`` at ``version``."""
    if pull if pull is not None else uses_pull(client):
        report = await asyncio.wait_for(
            client.text_document_diagnostic_async(
                types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))
            ),
            TIMEOUT_S,
        )
        assert isinstance(report, types.RelatedFullDocumentDiagnosticReport)
        return list(report.items)

    async def wait() -> list[types.Diagnostic]:
        while True:
            params = await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
            if params.uri == uri and params.version == version:
                return list(params.diagnostics)
            assert params.version is None or params.version <= version, "published the future?"

    return await asyncio.wait_for(wait(), TIMEOUT_S)


def open_document(client: LanguageClient, path: Path, text: str, version: int = 1) -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=version, text=text
            )
        )
    )
    return uri


def replace_all(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )
