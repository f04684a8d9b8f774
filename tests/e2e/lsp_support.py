"""Shared pieces of the end-to-end LSP tests: the server command, client capability sets, and
waiting for the diagnostics of one document version (push or pull).

Every wait is bounded: a server that does not answer, publish or exit fails the test (and is
killed) instead of hanging the suite. The bounds are generous, for a loaded 2-core machine: they
are there to end a hang, not to measure anything (timing belongs in bench/).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union

from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import register_lsp_features

ROOT = Path(__file__).resolve().parents[2]
SERVER_ENV = {**os.environ, "PYTHONPATH": str(ROOT / "server")}


#: How long the server may take to answer ``shutdown`` and exit after ``exit``, and how long the
#: client's own teardown may wait for it, before the server is killed and the test fails.
SHUTDOWN_S = 60


class BoundedClient(LanguageClient):
    """pytest-lsp's client with a bounded teardown: pytest-lsp waits for the server process
    without a limit (in ``shutdown_session`` and again in ``stop``), so a server that never
    exits would hang the whole suite."""

    async def shutdown_session(self) -> None:
        try:
            await asyncio.wait_for(super().shutdown_session(), SHUTDOWN_S)
        except asyncio.TimeoutError:
            self._kill_server()
            raise AssertionError(
                f"the server did not answer shutdown and exit within {SHUTDOWN_S} s: killed"
            ) from None

    async def stop(self) -> None:
        server = self._server
        if server is not None and server.returncode is None:
            try:
                await asyncio.wait_for(server.wait(), SHUTDOWN_S)
            except asyncio.TimeoutError:
                self._kill_server()
        await asyncio.wait_for(super().stop(), SHUTDOWN_S)

    def _kill_server(self) -> None:
        server = self._server
        if server is not None and server.returncode is None:
            server.kill()


def make_client() -> LanguageClient:
    """pytest-lsp's client, plus what real editors answer: dynamic registrations."""
    client = BoundedClient(converter_factory=default_converter)
    register_lsp_features(client)
    client.registrations = []  # type: ignore[attr-defined]
    features = client.protocol.fm.features

    # Every publish, with its version, so a test never misses one that arrived before it
    # started waiting (pytest-lsp keeps only the latest diagnostics, without the version).
    client.published = []  # type: ignore[attr-defined]
    client.publish_waiters = []  # type: ignore[attr-defined]
    builtin_publish = features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS]

    def publish_diagnostics(params: types.PublishDiagnosticsParams) -> None:
        builtin_publish(params)
        client.published.append(params)  # type: ignore[attr-defined]
        for waiter in client.publish_waiters:  # type: ignore[attr-defined]
            if not waiter.done():
                waiter.set_result(None)
        client.publish_waiters.clear()  # type: ignore[attr-defined]

    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = publish_diagnostics

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register_capability(params: types.RegistrationParams) -> None:
        client.registrations.extend(params.registrations)  # type: ignore[attr-defined]

    @client.feature(types.WORKSPACE_CODE_LENS_REFRESH)
    def code_lens_refresh(params: None) -> None:
        client.code_lens_refreshes += 1  # type: ignore[attr-defined]

    client.code_lens_refreshes = 0  # type: ignore[attr-defined]

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
#: How long a test waits for an answer or a publish: a hang guard, generous for a loaded machine.
TIMEOUT_S = 120


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

    return list((await next_publish(client, uri, version, seen=0)).diagnostics)


def publishes(
    client: LanguageClient, uri: str, version: int | None
) -> list[types.PublishDiagnosticsParams]:
    return [
        p
        for p in client.published
        if p.uri == uri and p.version == version  # type: ignore[attr-defined]
    ]


async def next_publish(
    client: LanguageClient, uri: str, version: int | None, seen: int
) -> types.PublishDiagnosticsParams:
    """The first publish for ``uri`` at ``version`` after the first ``seen`` ones."""

    async def wait() -> types.PublishDiagnosticsParams:
        while True:
            found = publishes(client, uri, version)
            if len(found) > seen:
                return found[-1] if seen == 0 else found[seen]
            waiter = asyncio.get_running_loop().create_future()
            client.publish_waiters.append(waiter)  # type: ignore[attr-defined]
            await waiter

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


async def diagnostics_until(
    client: LanguageClient,
    uri: str,
    version: int,
    accept: Callable[[list[types.Diagnostic]], bool],
) -> list[types.Diagnostic]:
    """Diagnostics for ``uri`` at ``version`` once they satisfy ``accept`` (e.g. after a
    settings change, which the server applies asynchronously and then re-publishes)."""

    async def poll() -> list[types.Diagnostic]:
        judged = 0
        while True:
            if uses_pull(client):
                # The server holds a pull while settings change, so one pull suffices.
                found = await diagnostics(client, uri, version)
                if accept(found):
                    return found
                raise AssertionError(f"unexpected diagnostics {found}")
            else:
                # Judge the latest publish, then wait for one after everything judged so far:
                # counting publishes again after an await would skip one arriving meanwhile.
                sent = publishes(client, uri, version)
                if len(sent) > judged:
                    judged = len(sent)
                    if accept(list(sent[-1].diagnostics)):
                        return list(sent[-1].diagnostics)
                await next_publish(client, uri, version, seen=judged)

    return await asyncio.wait_for(poll(), TIMEOUT_S)


def tell_code_actions_from_commands(client: LanguageClient) -> None:
    """lsprotocol reads any ``{"command": ...}`` in a code action reply as a Command, so a
    CodeAction that runs a command arrives mangled. Editors look at the type of ``command``
    (a string for a Command, an object for a CodeAction); make the test client do the same."""
    converter = client.protocol._converter

    def structure(value: Any, _: type) -> types.Command | types.CodeAction:
        if isinstance(value.get("command"), str):
            return converter.structure(value, types.Command)
        return converter.structure(value, types.CodeAction)

    converter.register_structure_hook(Union[types.Command, types.CodeAction], structure)  # noqa: UP007
