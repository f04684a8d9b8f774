"""An untrusted workspace (VS Code Restricted Mode: ``workspaceTrusted: false`` in the
initialization options) is analysed with the defaults only: its pyproject settings are not read,
git is not run (a commit with an assistant trailer marks nothing), nothing is written (prompt
not saved, failure log and stress test refused), and the server says so."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from ..e2e.lsp_support import TIMEOUT_S, capabilities, diagnostics, make_client, open_document
from ..gitrepo import CLAUDE, commit, init
from .hostile import CLI_ENV, CONSOLE_SCRIPT

SYNC = """import time


async def sync_catalogue(remote, catalogue):
    items = await remote.fetch_all()
    time.sleep(0.5)
    catalogue.replace(items)
"""


async def test_untrusted_workspace_runs_with_defaults_and_writes_nothing(tmp_path: Path) -> None:
    repo = init(tmp_path / "catalogue")
    settings = '[tool.riskhints.severity]\nRH101 = "hint"\n'
    commit(repo, {"pyproject.toml": settings, "sync.py": SYNC}, f"Sync the catalogue\n\n{CLAUDE}")
    client = make_client()
    await client.start_io(sys.executable, "-c", CONSOLE_SCRIPT, "serve", env=CLI_ENV, cwd=str(repo))
    try:
        await asyncio.wait_for(
            client.initialize_session(
                types.InitializeParams(
                    capabilities=capabilities("vscode"),
                    workspace_folders=[types.WorkspaceFolder(uri=repo.as_uri(), name="catalogue")],
                    initialization_options={"debounceMs": 0, "workspaceTrusted": False},
                )
            ),
            TIMEOUT_S,
        )
        uri = open_document(client, repo / "sync.py", SYNC)
        found = await diagnostics(client, uri, 1)
        assert [str(d.code) for d in found] == ["RH101"]
        assert found[0].severity == types.DiagnosticSeverity.Warning  # not the pyproject's hint
        assert "AI-suggested" not in found[0].message  # git was not asked
        prompt = client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="riskhints.assumptionsPrompt", arguments=[uri, 3])
        )
        assert "sync_catalogue" in await asyncio.wait_for(prompt, TIMEOUT_S)
        for command, arguments in (
            ("riskhints.logFailure", [{"uri": uri, "line": 5, "rule": "RH101"}]),
            ("riskhints.insertStressTest", [uri, "sync_catalogue"]),
        ):
            with pytest.raises(JsonRpcException, match="untrusted"):
                await asyncio.wait_for(
                    client.workspace_execute_command_async(
                        types.ExecuteCommandParams(command=command, arguments=arguments)
                    ),
                    TIMEOUT_S,
                )
        assert any("untrusted workspace" in m.message for m in client.log_messages)
    finally:
        await client.shutdown_session()
    assert not (repo / ".riskhints").exists()
    assert not (repo / "tests").exists()
