"""Pull diagnostics: result ids, ``unchanged`` reports, and the setting that forces push."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from .lsp_support import CONFIG, capabilities, diagnostics, open_document, replace_all

HAZARD = textwrap.dedent(
    """\
    import threading

    _lock = threading.Lock()


    async def refresh(client, key):
        with _lock:
            return await client.fetch(key)
    """
)


@pytest_lsp.fixture(config=CONFIG, params=["auto", "push"])
async def client(lsp_client: LanguageClient, request: pytest.FixtureRequest, tmp_path: Path):
    result = await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities("neovim"),
            workspace_folders=[types.WorkspaceFolder(uri=tmp_path.as_uri(), name="w")],
            initialization_options={"debounceMs": 0, "diagnosticMode": request.param},
        )
    )
    lsp_client.server_pulls = result.capabilities.diagnostic_provider is not None  # type: ignore[attr-defined]
    lsp_client.mode = request.param  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


async def test_pull_reports_unchanged_until_the_text_changes(
    client: LanguageClient, tmp_path: Path
) -> None:
    if client.mode == "push":  # type: ignore[attr-defined]
        assert not client.server_pulls  # type: ignore[attr-defined]
        uri = open_document(client, tmp_path / "cache.py", HAZARD)
        assert [d.code for d in await diagnostics(client, uri, 1, pull=False)] == ["RH202"]
        return
    assert client.server_pulls  # type: ignore[attr-defined]
    uri = open_document(client, tmp_path / "cache.py", HAZARD)
    identifier = types.TextDocumentIdentifier(uri=uri)
    first = await client.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=identifier)
    )
    assert isinstance(first, types.RelatedFullDocumentDiagnosticReport)
    assert [d.code for d in first.items] == ["RH202"]
    again = await client.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=identifier, previous_result_id=first.result_id)
    )
    assert isinstance(again, types.RelatedUnchangedDocumentDiagnosticReport)
    assert again.result_id == first.result_id
    replace_all(client, uri, HAZARD.replace("with _lock:", "if _lock:"), 2)
    changed = await client.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=identifier, previous_result_id=first.result_id)
    )
    assert isinstance(changed, types.RelatedFullDocumentDiagnosticReport)
    assert list(changed.items) == [] and changed.result_id != first.result_id
