"""Settings reach the server from every source, in the documented order, per workspace folder;
bad settings are logged and never stop the server. Pull clients get ``unchanged`` reports."""

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
    diagnostics_until,
    open_document,
)

HAZARD = textwrap.dedent(
    """\
    import threading
    import time

    _lock = threading.Lock()


    async def refresh(client, key):
        time.sleep(0.1)
        with _lock:
            data = await client.fetch(key)
        return data
    """
)


def codes(found: list[types.Diagnostic]) -> list[str]:
    return sorted(str(d.code) for d in found)


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    api = tmp_path / "api"
    worker = tmp_path / "worker"
    api.mkdir()
    worker.mkdir()
    (api / "pyproject.toml").write_text('[tool.riskhints]\nignore = ["RH101"]\n')
    (worker / "pyproject.toml").write_text('[tool.riskhints.severity]\nRH202 = "hint"\n')
    return api, worker


@pytest_lsp.fixture(config=CONFIG, params=["vscode", "neovim"])
async def client(
    lsp_client: LanguageClient, request: pytest.FixtureRequest, folders: tuple[Path, Path]
):
    api, worker = folders
    lsp_client.set_configuration({"debounceMs": 0}, section="riskhints")
    params = types.InitializeParams(
        capabilities=capabilities(request.param),
        workspace_folders=[
            types.WorkspaceFolder(uri=api.as_uri(), name="api"),
            types.WorkspaceFolder(uri=worker.as_uri(), name="worker"),
        ],
        initialization_options={"debounceMs": 0},
    )
    await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()


async def test_each_folder_reads_its_own_pyproject(
    client: LanguageClient, folders: tuple[Path, Path]
) -> None:
    api, worker = folders
    api_uri = open_document(client, api / "routes.py", HAZARD)
    assert codes(await diagnostics(client, api_uri, 1)) == ["RH202"]
    worker_uri = open_document(client, worker / "jobs.py", HAZARD)
    found = await diagnostics(client, worker_uri, 1)
    assert codes(found) == ["RH101", "RH202"]
    rh202 = next(d for d in found if d.code == "RH202")
    assert rh202.severity == types.DiagnosticSeverity.Hint


async def test_workspace_configuration_overrides_pyproject_after_a_change(
    client: LanguageClient, folders: tuple[Path, Path]
) -> None:
    api, _ = folders
    uri = open_document(client, api / "routes.py", HAZARD)
    assert codes(await diagnostics(client, uri, 1)) == ["RH202"]
    client.set_configuration(
        {"debounceMs": 0, "select": ["RH1"], "ignore": []}, section="riskhints"
    )
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    # The server re-analyses open documents with the new settings and re-publishes.
    found = await diagnostics_until(client, uri, 1, lambda found: codes(found) != ["RH202"])
    assert codes(found) == ["RH101"]


async def test_bad_setting_is_logged_and_defaults_are_used(
    client: LanguageClient, folders: tuple[Path, Path]
) -> None:
    api, _ = folders
    client.set_configuration({"debounceMs": 0, "severity": {"RH202": "loud"}}, section="riskhints")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    uri = open_document(client, api / "routes.py", HAZARD)
    found = await diagnostics(client, uri, 1)
    assert codes(found) == ["RH202"]
    assert next(iter(found)).severity == types.DiagnosticSeverity.Error

    def warned() -> bool:
        return any(
            m.type == types.MessageType.Warning
            and "severity.RH202" in m.message
            and "unknown severity 'loud'" in m.message
            for m in client.log_messages
        )

    async def wait_for_warning() -> None:
        # The settings arrive asynchronously; the warning comes when they are first used.
        while not warned():
            await client.wait_for_notification(types.WINDOW_LOG_MESSAGE)

    await asyncio.wait_for(wait_for_warning(), TIMEOUT_S)


async def test_pyproject_change_is_picked_up(
    client: LanguageClient, folders: tuple[Path, Path]
) -> None:
    api, _ = folders
    uri = open_document(client, api / "routes.py", HAZARD)
    assert codes(await diagnostics(client, uri, 1)) == ["RH202"]
    (api / "pyproject.toml").write_text('[tool.riskhints]\nignore = ["RH2"]\n')
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[
                types.FileEvent(
                    uri=(api / "pyproject.toml").as_uri(), type=types.FileChangeType.Changed
                )
            ]
        )
    )
    found = await diagnostics_until(client, uri, 1, lambda found: codes(found) != ["RH202"])
    assert codes(found) == ["RH101"]
