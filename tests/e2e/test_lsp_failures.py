"""The failure log through the language server, under VS Code's and Neovim's capability sets:
"Log as AI failure" on a finding appends an open record (in a real git repository, so the commit
is captured); fixing the code with didChange appends a resolved record with the corrected code,
and a syntax error typed on the way resolves nothing."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from ..failures.samples import LOCK_LINE, PRICES_BAD, PRICES_FIXED, SLEEP_LINE
from .lsp_support import (
    CONFIG,
    TIMEOUT_S,
    capabilities,
    diagnostics,
    open_document,
    replace_all,
    tell_code_actions_from_commands,
)

KIND = "source.riskhints.logFailure"
COMMAND = "riskhints.logFailure"


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'shop'\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "prices.py").write_text(PRICES_BAD)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "prices service from the assistant")
    return tmp_path


@pytest_lsp.fixture(config=CONFIG, params=["vscode", "neovim"])
async def client(lsp_client: LanguageClient, request: pytest.FixtureRequest, workspace: Path):
    params = types.InitializeParams(
        capabilities=capabilities(request.param),
        workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="shop")],
        initialization_options={"debounceMs": 0},
    )
    tell_code_actions_from_commands(lsp_client)  # our action carries a command
    result = await lsp_client.initialize_session(params)
    lsp_client.server_capabilities = result.capabilities  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


def _records(workspace: Path) -> list[dict[str, Any]]:
    path = workspace / ".riskhints" / "failures.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def _log_actions(
    client: LanguageClient, uri: str, diagnostic: types.Diagnostic, only: list[str] | None
) -> list[types.CodeAction]:
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=diagnostic.range,
            context=types.CodeActionContext(
                diagnostics=[diagnostic],
                only=only,
                trigger_kind=types.CodeActionTriggerKind.Invoked,
            ),
        )
    )
    return [a for a in result or [] if isinstance(a, types.CodeAction) and a.kind == KIND]


async def _log_message(client: LanguageClient, needle: str) -> str:
    async def wait() -> str:
        while True:
            for params in client.log_messages:
                if needle in params.message:
                    return params.message
            await client.wait_for_notification(types.WINDOW_LOG_MESSAGE)

    return await asyncio.wait_for(wait(), TIMEOUT_S)


async def test_server_advertises_the_action_and_the_command(client: LanguageClient) -> None:
    caps = client.server_capabilities  # type: ignore[attr-defined]
    assert isinstance(caps.code_action_provider, types.CodeActionOptions)
    assert KIND in {str(k) for k in caps.code_action_provider.code_action_kinds or []}
    assert caps.execute_command_provider is not None
    assert COMMAND in caps.execute_command_provider.commands


async def test_log_then_fix_appends_open_then_resolved(
    client: LanguageClient, workspace: Path
) -> None:
    uri = open_document(client, workspace / "app" / "prices.py", PRICES_BAD)
    found = await diagnostics(client, uri, 1)
    [lock] = [d for d in found if d.code == "RH202"]

    # The action is offered on the finding, both when asked for by kind and in the full list.
    [action] = await _log_actions(client, uri, lock, only=[KIND])
    assert await _log_actions(client, uri, lock, only=None) == [action]
    assert await _log_actions(client, uri, lock, only=["quickfix"]) == []
    assert action.title == "Log as AI failure (RH202)" and action.edit is None
    assert action.command is not None and action.command.command == COMMAND
    [arguments] = action.command.arguments or []
    assert arguments == {"uri": uri, "line": LOCK_LINE - 1, "rule": "RH202"}

    record = await asyncio.wait_for(
        client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command=COMMAND, arguments=[{**arguments, "note": "asked for a price cache"}]
            )
        ),
        TIMEOUT_S,
    )
    [logged] = _records(workspace)
    assert record == logged
    assert logged["status"] == "open" and logged["rule"] == "RH202"
    assert logged["path"] == "app/prices.py" and logged["function"] == "refresh_price"
    assert logged["note"] == "asked for a price cache"
    assert logged["commit"] == _git(workspace, "rev-parse", "HEAD")
    assert "    with _prices_lock:" in logged["code"]
    await _log_message(client, "logged RH202 in refresh_price as an AI failure")

    # Half-typed edit: the function does not parse, so its finding is hidden, not fixed.
    typing = PRICES_BAD.replace('response.json()["price"]', 'response.json()["price"')
    replace_all(client, uri, typing, 2)
    assert not [d for d in await diagnostics(client, uri, 2) if d.code == "RH202"]

    replace_all(client, uri, PRICES_FIXED, 3)
    assert await diagnostics(client, uri, 3) == []
    await _log_message(client, "RH202 in refresh_price was logged as an AI failure and is now")
    records = _records(workspace)
    assert [r["status"] for r in records] == ["open", "resolved"]
    resolved = records[1]
    assert resolved["resolves"] == logged["id"] and resolved["resolution"] == "fixed"
    assert resolved["original_code"] == logged["code"]
    assert resolved["code"].startswith("async def refresh_price(")
    assert "    async with _prices_lock:" in resolved["code"]
    assert resolved["note"] == "asked for a price cache"


async def test_the_command_explains_a_line_without_that_finding(
    client: LanguageClient, workspace: Path
) -> None:
    uri = open_document(client, workspace / "app" / "prices.py", PRICES_BAD)
    await diagnostics(client, uri, 1)
    with pytest.raises(Exception, match=f"no RH202 finding at line {SLEEP_LINE}"):
        await asyncio.wait_for(
            client.workspace_execute_command_async(
                types.ExecuteCommandParams(
                    command=COMMAND,
                    arguments=[{"uri": uri, "line": SLEEP_LINE - 1, "rule": "RH202"}],
                )
            ),
            TIMEOUT_S,
        )
    assert _records(workspace) == []


async def test_a_closed_file_is_logged_from_disk(client: LanguageClient, workspace: Path) -> None:
    uri = (workspace / "app" / "prices.py").as_uri()
    record = await asyncio.wait_for(
        client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command=COMMAND, arguments=[{"uri": uri, "line": SLEEP_LINE - 1}]
            )
        ),
        TIMEOUT_S,
    )
    assert record["rule"] == "RH101" and record["function"] == "poll_prices"
    assert _records(workspace) == [record]


async def test_a_file_in_no_workspace_is_refused(
    client: LanguageClient, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("scratch") / "prices.py"
    uri = open_document(client, outside, PRICES_BAD)
    await diagnostics(client, uri, 1)
    with pytest.raises(Exception, match="in no workspace folder and no git repository"):
        await asyncio.wait_for(
            client.workspace_execute_command_async(
                types.ExecuteCommandParams(
                    command=COMMAND,
                    arguments=[{"uri": uri, "line": LOCK_LINE - 1, "rule": "RH202"}],
                )
            ),
            TIMEOUT_S,
        )
    assert not any(outside.parent.rglob("*.jsonl"))
