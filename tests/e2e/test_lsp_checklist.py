"""The assumptions checklist and the assistant prompt over stdio, under the VS Code (UTF-16)
and Neovim 0.11 (UTF-8) capability sets: insert the checklist through its code action, apply
the edit as the client would, check an item, and the finding turns into an acknowledged hint;
the prompt command returns the prompt and has the client open it from .riskhints/prompts."""

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
)
from .test_lsp_quickfixes import _actions, _edits_of, apply_text_edits

# Emoji and CJK before the flagged await: the edit lands right only if positions are converted.
SOURCE = textwrap.dedent(
    '''\
    """Ledger: the settlement thread and the async API both update balances."""

    import threading

    import httpx

    _balances: dict[str, int] = {}
    _ledger_lock = threading.Lock()


    async def charge(client: httpx.AsyncClient, account: str, cents: int) -> None:
        with _ledger_lock:
            balance = _balances.get(account, 0); note = "🚀 进度"
            await client.post("/audit", json={"account": account, "note": note})
            _balances[account] = balance - cents


    async def ping(client: httpx.AsyncClient) -> bool:
        return (await client.get("/health")).is_success
    '''
)
CHECKLIST = "refactor.riskhints.checklist"
PROMPT = "refactor.riskhints.prompt"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'ledger'\n")
    return tmp_path


@pytest_lsp.fixture(config=CONFIG, params=["vscode", "neovim"])
async def client(lsp_client: LanguageClient, request: pytest.FixtureRequest, workspace: Path):
    tell_code_actions_from_commands(lsp_client)
    params = types.InitializeParams(
        capabilities=capabilities(request.param),
        workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="ledger")],
        initialization_options={"debounceMs": 0},
    )
    result = await lsp_client.initialize_session(params)
    encoding = result.capabilities.position_encoding or types.PositionEncodingKind.Utf16
    lsp_client.position_encoding = str(getattr(encoding, "value", encoding))  # type: ignore[attr-defined]
    kinds = result.capabilities.code_action_provider
    assert isinstance(kinds, types.CodeActionOptions)
    assert {CHECKLIST, PROMPT} <= {str(k) for k in kinds.code_action_kinds or []}
    assert "riskhints.assumptionsPrompt" in (
        result.capabilities.execute_command_provider.commands  # type: ignore[union-attr]
    )
    yield
    await lsp_client.shutdown_session()


def _at(line: int) -> types.Range:
    return types.Range(
        start=types.Position(line=line, character=4), end=types.Position(line=line, character=4)
    )


def _line(text: str, needle: str) -> int:
    """0-based, as LSP counts."""
    return next(n for n, line in enumerate(text.splitlines()) if needle in line)


async def test_insert_checklist_then_check_an_item_acknowledges_the_finding(
    client: LanguageClient, workspace: Path
) -> None:
    uri = open_document(client, workspace / "ledger.py", SOURCE)
    [finding] = [d for d in await diagnostics(client, uri, 1) if d.code == "RH202"]
    assert finding.severity == types.DiagnosticSeverity.Error
    actions = await _actions(client, uri, finding.range, [finding], only=[CHECKLIST])
    [insert] = actions
    assert insert.kind == CHECKLIST
    assert insert.title == "Insert assumptions checklist for `charge`"
    encoding = client.position_encoding  # type: ignore[attr-defined]
    with_block = apply_text_edits(SOURCE, _edits_of(insert, uri, 1), encoding)
    lines = with_block.splitlines()
    header = _line(with_block, "# riskhints assumptions for charge:")
    assert lines[header + 1].startswith("# [ ] no other task or thread ever takes `_ledger_lock`")
    assert lines[_line(with_block, "async def charge") - 1].startswith("# [ ] ")
    replace_all(client, uri, with_block, 2)
    still = [d for d in await diagnostics(client, uri, 2) if d.code == "RH202"]
    assert [d.severity for d in still] == [types.DiagnosticSeverity.Error]
    # Applied already: offering it again would duplicate the block.
    assert await _actions(client, uri, still[0].range, still, only=[CHECKLIST]) == []

    checked = with_block.replace("# [ ] no other task", "# [x] no other task", 1)
    replace_all(client, uri, checked, 3)
    [acknowledged] = [d for d in await diagnostics(client, uri, 3) if d.code == "RH202"]
    assert acknowledged.severity == types.DiagnosticSeverity.Hint
    assert "acknowledged in the assumptions checklist" in acknowledged.message
    # The range still points at the await, after the emoji and CJK text.
    assert acknowledged.range.start.line == _line(checked, 'await client.post("/audit"')

    # A new await under the lock: the checked item is stale and the finding is back.
    changed = checked.replace(
        "        _balances[account] = balance - cents\n",
        "        await client.post('/notify')\n        _balances[account] = balance - cents\n",
    )
    replace_all(client, uri, changed, 4)
    found = await diagnostics(client, uri, 4)
    assert {d.severity for d in found if d.code == "RH202"} == {types.DiagnosticSeverity.Error}
    [stale] = [d for d in found if d.code == "RH004"]
    assert stale.range.start.line == _line(changed, "# [x] no other task")
    assert stale.severity == types.DiagnosticSeverity.Warning


async def test_checklist_on_an_async_def_without_findings(
    client: LanguageClient, workspace: Path
) -> None:
    uri = open_document(client, workspace / "ledger.py", SOURCE)
    await diagnostics(client, uri, 1)
    actions = await _actions(client, uri, _at(_line(SOURCE, "return (await")), [], None)
    titles = {a.title: a for a in actions}
    assert "Insert assumptions checklist for `ping`" in titles
    assert "Ask the assistant for an assumptions checklist for `ping`" in titles
    assert titles["Insert assumptions checklist for `ping`"].kind == CHECKLIST


async def test_prompt_command_returns_the_text_and_shows_the_file(
    client: LanguageClient, workspace: Path
) -> None:
    uri = open_document(client, workspace / "ledger.py", SOURCE)
    await diagnostics(client, uri, 1)
    line = _line(SOURCE, 'await client.post("/audit"')
    [action] = await _actions(client, uri, _at(line), [], only=[PROMPT])
    assert action.kind == PROMPT and action.command is not None
    assert action.command.command == "riskhints.assumptionsPrompt"
    assert list(action.command.arguments or ()) == [uri, line]
    text = await asyncio.wait_for(
        client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command=action.command.command, arguments=list(action.command.arguments or ())
            )
        ),
        TIMEOUT_S,
    )
    assert isinstance(text, str)
    assert text.startswith("# Assumptions checklist for `charge`")
    assert "**RH202**" in text and "I don't know" in text
    assert 'balance = _balances.get(account, 0); note = "🚀 进度"' in text

    async def shown() -> types.ShowDocumentParams:
        while not client.shown_documents:
            await asyncio.sleep(0.01)
        return client.shown_documents[0]

    params = await asyncio.wait_for(shown(), TIMEOUT_S)
    written = workspace / ".riskhints" / "prompts" / "ledger-charge.md"
    assert params.uri == written.as_uri()
    assert written.read_text(encoding="utf-8") == text + "\n"

    # Not an error to ask twice; a file the user changed is never overwritten.
    written.write_text("my notes\n", encoding="utf-8")
    again = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="riskhints.assumptionsPrompt", arguments=[uri, line])
    )
    assert again == text
    assert written.read_text(encoding="utf-8") == "my notes\n"
    second = await asyncio.wait_for(_second_shown(client), TIMEOUT_S)
    assert second.uri.endswith("/.riskhints/prompts/ledger-charge-2.md")


async def _second_shown(client: LanguageClient) -> types.ShowDocumentParams:
    while len(client.shown_documents) < 2:
        await asyncio.sleep(0.01)
    return client.shown_documents[1]


async def test_prompt_command_with_no_function_at_the_line_is_an_error(
    client: LanguageClient, workspace: Path
) -> None:
    uri = open_document(client, workspace / "ledger.py", SOURCE)
    await diagnostics(client, uri, 1)
    with pytest.raises(Exception, match="no function at line 3"):
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="riskhints.assumptionsPrompt", arguments=[uri, 2])
        )
    with pytest.raises(Exception, match=r"takes \[uri: string, line: 0-based integer\]"):
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="riskhints.assumptionsPrompt", arguments=[uri])
        )
