"""The server never breaks the editor: huge files, binary junk, documents closed mid-analysis,
cancelled requests, and requests on one document while another is being analysed."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled
from pytest_lsp import LanguageClient

from .lsp_support import CONFIG, TIMEOUT_S, capabilities, diagnostics, open_document

HAZARD = textwrap.dedent(
    """\
    import threading

    _lock = threading.Lock()


    async def refresh(client, key):
        with _lock:
            return await client.fetch(key)
    """
)
FILLER = textwrap.dedent(
    """\
    def handler_{i}(request):
        value = request.get("k{i}")
        if value is None:
            return {{}}
        return {{"k": value}}

    """
)


def big_module(lines: int) -> str:
    body = "".join(FILLER.format(i=i) for i in range(lines // 6 + 1))
    return HAZARD + body


@pytest_lsp.fixture(config=CONFIG, params=["vscode", "neovim"])
async def client(lsp_client: LanguageClient, request: pytest.FixtureRequest, tmp_path: Path):
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities(request.param),
            workspace_folders=[types.WorkspaceFolder(uri=tmp_path.as_uri(), name="w")],
            initialization_options={"debounceMs": 0},
        )
    )
    yield
    await lsp_client.shutdown_session()


async def test_fifty_thousand_line_file(client: LanguageClient, tmp_path: Path) -> None:
    uri = open_document(client, tmp_path / "huge.py", big_module(50_000))
    found = await diagnostics(client, uri, 1)
    assert [(d.code, d.range.start.line) for d in found] == [("RH202", 7)]


async def test_binary_junk_opened_as_python(client: LanguageClient, tmp_path: Path) -> None:
    junk = bytes(range(256)).decode("latin-1") + "\x00\x00def (((\n" + "\ufffd" * 20
    uri = open_document(client, tmp_path / "blob.py", junk)
    found = await diagnostics(client, uri, 1)
    assert [d.code for d in found] == ["RH001"]
    # Still serving.
    other = open_document(client, tmp_path / "cache.py", HAZARD)
    assert [d.code for d in await diagnostics(client, other, 1)] == ["RH202"]


async def test_requests_on_another_document_answer_during_a_long_analysis(
    client: LanguageClient, tmp_path: Path
) -> None:
    small = open_document(client, tmp_path / "cache.py", HAZARD)
    await diagnostics(client, small, 1)
    big = open_document(client, tmp_path / "big.py", big_module(20_000))
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=small),
            position=types.Position(line=7, character=20),
        )
    )
    assert hover is not None
    assert [d.code for d in await diagnostics(client, big, 1)] == ["RH202"]


async def test_document_closed_while_being_analysed(client: LanguageClient, tmp_path: Path) -> None:
    uri = open_document(client, tmp_path / "big.py", big_module(20_000))
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    # The server keeps serving, and never publishes findings for the closed document.
    other = open_document(client, tmp_path / "cache.py", HAZARD)
    assert [d.code for d in await diagnostics(client, other, 1)] == ["RH202"]
    await asyncio.sleep(0)
    assert all(not p.diagnostics for p in client.published if p.uri == uri)  # type: ignore[attr-defined]


async def test_cancelled_pull_request(client: LanguageClient, tmp_path: Path) -> None:
    caps = client.capabilities
    if not (caps and caps.text_document and caps.text_document.diagnostic):
        pytest.skip("push client: nothing to cancel")
    uri = open_document(client, tmp_path / "big.py", big_module(20_000))
    request = asyncio.ensure_future(
        client.protocol.send_request_async(
            types.TEXT_DOCUMENT_DIAGNOSTIC,
            types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri)),
            msg_id="pull-to-cancel",
        )
    )
    await asyncio.sleep(0)  # let the request go out (pytest-lsp sends it from a coroutine)
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="pull-to-cancel"))
    with pytest.raises(JsonRpcRequestCancelled):
        await asyncio.wait_for(request, TIMEOUT_S)
    # The analysis itself went on; the next pull gets it.
    assert [d.code for d in await diagnostics(client, uri, 1)] == ["RH202"]
