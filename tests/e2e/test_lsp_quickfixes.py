"""Quick fixes and fix-all over stdio, under the capability sets of VS Code (UTF-16 positions)
and Neovim 0.11 (UTF-8): the client applies the edits in its own position encoding, sends the
result back as a change, and the finding is gone."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from .lsp_support import CONFIG, capabilities, diagnostics, open_document, replace_all

# An emoji (2 UTF-16 units, 4 UTF-8 bytes) and CJK (1 unit, 3 bytes) before each flagged call,
# so that a fix computed in code points lands in the right place only if converted.
SOURCE = textwrap.dedent(
    """\
    import asyncio
    import time


    async def save(row): ...


    async def worker(rows):
        for row in rows:
            print("🚀 进度"); time.sleep(0.1)
            note = "🔒 锁"; save(row)
            asyncio.create_task(save(row))  # 🔒 锁: fire and forget
            try:
                await save(row)
            except asyncio.CancelledError:
                pass
    """
)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


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
    result = await lsp_client.initialize_session(params)
    lsp_client.server_capabilities = result.capabilities  # type: ignore[attr-defined]
    encoding = result.capabilities.position_encoding or types.PositionEncodingKind.Utf16
    lsp_client.position_encoding = str(getattr(encoding, "value", encoding))  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


def _units(char: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(char.encode("utf-8"))
    if encoding == "utf-32":
        return 1
    return 2 if ord(char) > 0xFFFF else 1


def _offset(text: str, position: types.Position, encoding: str) -> int:
    starts = [0, *(m.end() for m in _LINE_BREAK.finditer(text))]
    if position.line >= len(starts):
        return len(text)
    start = starts[position.line]
    end = starts[position.line + 1] if position.line + 1 < len(starts) else len(text)
    line = _LINE_BREAK.sub("", text[start:end])
    consumed = 0
    for index, char in enumerate(line):
        if consumed >= position.character:
            return start + index
        consumed += _units(char, encoding)
    return start + len(line)


def apply_text_edits(text: str, edits: list[types.TextEdit], encoding: str) -> str:
    """What an editor does with a TextEdit[]: positions in its own encoding, applied at once."""
    resolved = sorted(
        (
            (_offset(text, e.range.start, encoding), _offset(text, e.range.end, encoding), e)
            for e in edits
        ),
        key=lambda item: (item[0], item[1]),
        reverse=True,
    )
    for start, end, edit in resolved:
        text = text[:start] + edit.new_text + text[end:]
    return text


def _edits_of(action: types.CodeAction, uri: str, version: int) -> list[types.TextEdit]:
    assert action.edit is not None and action.edit.document_changes
    [change] = action.edit.document_changes
    assert isinstance(change, types.TextDocumentEdit)
    assert change.text_document.uri == uri and change.text_document.version == version
    return [e for e in change.edits if isinstance(e, types.TextEdit)]


async def _actions(
    client: LanguageClient,
    uri: str,
    range_: types.Range,
    diagnostics_: list[types.Diagnostic],
    only: list[str] | None = None,
) -> list[types.CodeAction]:
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=range_,
            context=types.CodeActionContext(
                diagnostics=diagnostics_,
                only=only,
                trigger_kind=types.CodeActionTriggerKind.Invoked,
            ),
        )
    )
    return [a for a in result or [] if isinstance(a, types.CodeAction)]


def _whole(text: str) -> types.Range:
    return types.Range(
        start=types.Position(line=0, character=0),
        end=types.Position(line=len(text.splitlines()), character=0),
    )


@pytest.mark.parametrize(
    ("rule", "expected_line"),
    [
        ("RH101", '        print("🚀 进度"); await asyncio.sleep(0.1)'),
        ("RH302", '        note = "🔒 锁"; await save(row)'),
        ("RH303", "            raise"),
    ],
)
async def test_preferred_quick_fix_removes_the_finding(
    client: LanguageClient, workspace: Path, rule: str, expected_line: str
) -> None:
    uri = open_document(client, workspace / "worker.py", SOURCE)
    found = await diagnostics(client, uri, 1)
    [diagnostic] = [d for d in found if d.code == rule]
    actions = await _actions(client, uri, diagnostic.range, [diagnostic])
    preferred = [a for a in actions if a.is_preferred]
    assert len(preferred) == 1
    assert preferred[0].kind == types.CodeActionKind.QuickFix
    assert any("Suppress" in a.title for a in actions)
    # Invoked without ``only``: the menu also offers fix-all (and our refactor/source actions).
    kinds = {str(getattr(a.kind, "value", a.kind)) for a in actions}
    assert {"quickfix", "source.fixAll.riskhints"} <= kinds
    assert all(k.startswith(("quickfix", "source.", "refactor.riskhints.")) for k in kinds)
    encoding = client.position_encoding  # type: ignore[attr-defined]
    fixed = apply_text_edits(SOURCE, _edits_of(preferred[0], uri, 1), encoding)
    assert expected_line in fixed.splitlines()
    replace_all(client, uri, fixed, 2)
    after = await diagnostics(client, uri, 2)
    assert rule not in {d.code for d in after}
    assert len(after) == len(found) - 1


async def test_keep_task_fix_inserts_the_set_and_keeps_the_task(
    client: LanguageClient, workspace: Path
) -> None:
    uri = open_document(client, workspace / "worker.py", SOURCE)
    [diagnostic] = [d for d in await diagnostics(client, uri, 1) if d.code == "RH301"]
    [fix] = [
        a for a in await _actions(client, uri, diagnostic.range, [diagnostic]) if a.is_preferred
    ]
    encoding = client.position_encoding  # type: ignore[attr-defined]
    fixed = apply_text_edits(SOURCE, _edits_of(fix, uri, 1), encoding)
    assert "_background_tasks: set[asyncio.Task[object]] = set()" in fixed
    assert "        task = asyncio.create_task(save(row))  # 🔒 锁: fire and forget" in fixed
    replace_all(client, uri, fixed, 2)
    assert "RH301" not in {d.code for d in await diagnostics(client, uri, 2)}


async def test_fix_all_when_asked_for_source_fix_all_only(
    client: LanguageClient, workspace: Path
) -> None:
    uri = open_document(client, workspace / "worker.py", SOURCE)
    found = await diagnostics(client, uri, 1)
    assert sorted(str(d.code) for d in found) == ["RH101", "RH301", "RH302", "RH303"]
    actions = await _actions(client, uri, _whole(SOURCE), [], only=["source.fixAll"])
    [fix_all] = actions
    assert fix_all.kind == "source.fixAll.riskhints"
    encoding = client.position_encoding  # type: ignore[attr-defined]
    fixed = apply_text_edits(SOURCE, _edits_of(fix_all, uri, 1), encoding)
    replace_all(client, uri, fixed, 2)
    assert await diagnostics(client, uri, 2) == []


async def test_quickfix_only_gets_no_fix_all(client: LanguageClient, workspace: Path) -> None:
    uri = open_document(client, workspace / "worker.py", SOURCE)
    found = await diagnostics(client, uri, 1)
    actions = await _actions(client, uri, _whole(SOURCE), found, only=["quickfix"])
    assert actions and all(a.kind == types.CodeActionKind.QuickFix for a in actions)
    everything = await _actions(client, uri, _whole(SOURCE), found)
    assert "source.fixAll.riskhints" in {a.kind for a in everything}


async def test_server_advertises_the_fix_all_kind(client: LanguageClient) -> None:
    provider = client.server_capabilities.code_action_provider  # type: ignore[attr-defined]
    assert isinstance(provider, types.CodeActionOptions)
    kinds = {str(getattr(k, "value", k)) for k in provider.code_action_kinds or []}
    assert {"quickfix", "source.fixAll.riskhints"} <= kinds  # other actions add their own
