"""The language server over stdio with a real LSP client (pytest-lsp), under the capability
sets of VS Code (push, UTF-16) and Neovim 0.11 (pull, UTF-8)."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from .lsp_support import (
    CONFIG,
    TIMEOUT_S,
    capabilities,
    diagnostics,
    open_document,
    replace_all,
    tell_code_actions_from_commands,
    uses_pull,
)

HAZARD = textwrap.dedent(
    """\
    import threading

    _lock = threading.Lock()


    async def refresh(client, key):
        with _lock:
            data = await client.fetch(key)
        return data
    """
)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'shop'\n")
    return tmp_path


@pytest_lsp.fixture(config=CONFIG, params=["vscode", "neovim"])
async def client(lsp_client: LanguageClient, request: pytest.FixtureRequest, workspace: Path):
    params = types.InitializeParams(
        capabilities=capabilities(request.param),
        workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="shop")],
        initialization_options={"debounceMs": 0},
    )
    await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()


async def test_diagnostic_carries_rule_docs_evidence_and_fix_data(
    client: LanguageClient, workspace: Path
) -> None:
    uri = open_document(client, workspace / "cache.py", HAZARD)
    [diagnostic] = await diagnostics(client, uri, 1)
    assert diagnostic.source == "riskhints"
    assert diagnostic.code == "RH202"
    assert diagnostic.severity == types.DiagnosticSeverity.Error
    assert diagnostic.range.start == types.Position(line=7, character=15)
    assert diagnostic.code_description is not None
    assert diagnostic.code_description.href.endswith("#rh202-thread-lock-held-across-await")
    [hop] = diagnostic.related_information or []
    assert hop.location.uri == uri
    assert hop.location.range.start == types.Position(line=6, character=9)
    assert hop.message == "_lock taken here"
    assert diagnostic.data["rule"] == "RH202"
    assert diagnostic.data["fix"]["kind"] == "asyncio-lock"


async def test_edits_update_diagnostics_and_versions(
    client: LanguageClient, workspace: Path
) -> None:
    uri = open_document(client, workspace / "cache.py", HAZARD)
    assert len(await diagnostics(client, uri, 1)) == 1
    fixed = (
        HAZARD.replace("threading.Lock()", "asyncio.Lock()")
        .replace("import threading", "import asyncio")
        .replace("with _lock", "async with _lock")
    )
    replace_all(client, uri, fixed, 2)
    assert await diagnostics(client, uri, 2) == []


async def test_incremental_edit_with_emoji_and_cjk_before_the_call(
    client: LanguageClient, workspace: Path
) -> None:
    uri = open_document(client, workspace / "cache.py", HAZARD)
    await diagnostics(client, uri, 1)
    # Insert a note with an emoji (2 UTF-16 units, 4 UTF-8 bytes) and CJK (1 unit, 3 bytes)
    # before the flagged await, with an incremental change in the client's own units.
    line = 7
    prefix = 'note = "\U0001f512\u9501"; '
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(
                        start=types.Position(line=line, character=8),
                        end=types.Position(line=line, character=8),
                    ),
                    text=prefix,
                )
            ],
        )
    )
    [diagnostic] = await diagnostics(client, uri, 2)
    encoding = "utf-8" if uses_pull(client) else "utf-16"
    width = len(prefix.encode(encoding if encoding == "utf-8" else "utf-16-le")) // (
        1 if encoding == "utf-8" else 2
    )
    assert diagnostic.range.start == types.Position(line=line, character=8 + width + 7)


async def test_syntax_error_mid_typing_keeps_other_findings(
    client: LanguageClient, workspace: Path
) -> None:
    uri = open_document(client, workspace / "cache.py", HAZARD)
    await diagnostics(client, uri, 1)
    replace_all(client, uri, HAZARD + "\n\ndef half(user:\n    return user\n", 2)
    found = await diagnostics(client, uri, 2)
    assert sorted(str(d.code) for d in found) == ["RH001", "RH202"]


async def test_hover_explains_the_finding(client: LanguageClient, workspace: Path) -> None:
    uri = open_document(client, workspace / "cache.py", HAZARD)
    await diagnostics(client, uri, 1)
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=7, character=20),
        )
    )
    assert hover is not None
    assert isinstance(hover.contents, types.MarkupContent)
    text = hover.contents.value
    assert "**RH202**" in text
    assert "Chain of evidence" in text and "line 7: _lock taken here" in text
    assert "Safe only if" in text
    assert "asyncio.Lock" in text
    nothing = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=0, character=2),
        )
    )
    assert nothing is None


async def test_suppress_action_inserts_a_comment_that_silences_the_finding(
    client: LanguageClient, workspace: Path
) -> None:
    uri = open_document(client, workspace / "cache.py", HAZARD)
    [diagnostic] = await diagnostics(client, uri, 1)
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=diagnostic.range,
            context=types.CodeActionContext(diagnostics=[diagnostic]),
        )
    )
    suppress = [
        a for a in actions or [] if isinstance(a, types.CodeAction) and "Suppress" in a.title
    ]
    assert len(suppress) == 1
    assert suppress[0].kind == types.CodeActionKind.QuickFix
    change = suppress[0].edit.document_changes[0]
    [edit] = change.edits
    lines = HAZARD.splitlines()
    lines[edit.range.start.line] = (
        lines[edit.range.start.line][: edit.range.start.character] + edit.new_text
    )
    assert lines[7].endswith("# riskhints: ignore[RH202] -- <why this is safe>")
    replace_all(client, uri, "\n".join(lines) + "\n", 2)
    assert await diagnostics(client, uri, 2) == []


async def test_code_actions_honour_context_only(client: LanguageClient, workspace: Path) -> None:
    tell_code_actions_from_commands(client)
    uri = open_document(client, workspace / "cache.py", HAZARD)
    [diagnostic] = await diagnostics(client, uri, 1)

    async def kinds(only: str) -> set[str]:
        actions = await client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=diagnostic.range,
                context=types.CodeActionContext(diagnostics=[diagnostic], only=[only]),
            )
        )
        return {str(getattr(a, "kind", None)) for a in actions or []}

    assert await kinds("refactor.extract") == set()
    assert all(kind.startswith("refactor.") for kind in await kinds("refactor"))
    assert all(kind == "quickfix" for kind in await kinds("quickfix"))


async def test_close_clears_push_diagnostics(client: LanguageClient, workspace: Path) -> None:
    uri = open_document(client, workspace / "cache.py", HAZARD)
    await diagnostics(client, uri, 1)
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    if not uses_pull(client):

        async def cleared() -> None:
            while client.diagnostics.get(uri):
                await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)

        await asyncio.wait_for(cleared(), TIMEOUT_S)
        assert list(client.diagnostics[uri]) == []


async def test_untitled_and_outside_workspace_documents(
    client: LanguageClient, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("elsewhere") / "script.py"
    uri = open_document(client, outside, HAZARD)
    assert [d.code for d in await diagnostics(client, uri, 1)] == ["RH202"]
    untitled = "untitled:Untitled-1"
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=untitled, language_id="python", version=1, text=HAZARD
            )
        )
    )
    assert [d.code for d in await diagnostics(client, untitled, 1)] == ["RH202"]


async def test_crlf_and_tab_indented_document(client: LanguageClient, workspace: Path) -> None:
    text = HAZARD.replace("    ", "\t").replace("\n", "\r\n")
    uri = open_document(client, workspace / "cache.py", text)
    [diagnostic] = await diagnostics(client, uri, 1)
    assert diagnostic.range.start == types.Position(line=7, character=9)
    assert diagnostic.range.end == types.Position(line=7, character=32)
    # An incremental edit on a CRLF document lands where the client meant it.
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(
                        start=types.Position(line=6, character=1),
                        end=types.Position(line=6, character=5),
                    ),
                    text="if",
                )
            ],
        )
    )
    assert await diagnostics(client, uri, 2) == []
