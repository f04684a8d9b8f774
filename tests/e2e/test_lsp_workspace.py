"""The server analyses open documents with the folder's other modules: chains that cross files,
re-analysis of open dependents when a module changes (in the editor or on disk), unsaved text
winning over the file until the document is closed, and the background index's ``$/progress``.
"""

from __future__ import annotations

import asyncio
import sys
import textwrap
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from .lsp_support import (
    CONFIG,
    SERVER_ENV,
    TIMEOUT_S,
    capabilities,
    diagnostics,
    open_document,
    publishes,
    replace_all,
    uses_pull,
)

ROUTES = textwrap.dedent(
    """\
    from fastapi import APIRouter

    from app.services.profiles import load_profile

    router = APIRouter()


    @router.get("/profiles/{user_id}")
    async def get_profile(user_id: int) -> dict:
        profile = load_profile(user_id)
        return {"id": user_id, "name": profile["name"]}
    """
)
PROFILES_BLOCKING = textwrap.dedent(
    """\
    import requests

    PROFILE_API = "https://profiles.internal/api"


    def load_profile(user_id: int) -> dict:
        response = requests.get(f"{PROFILE_API}/users/{user_id}", timeout=5)
        response.raise_for_status()
        return response.json()
    """
)
PROFILES_CACHED = textwrap.dedent(
    """\
    PROFILES: dict[int, dict] = {}


    def load_profile(user_id: int) -> dict:
        return PROFILES.get(user_id, {"name": "unknown"})
    """
)


def uses_pull_caps(caps: types.ClientCapabilities) -> bool:
    return bool(caps.text_document and caps.text_document.diagnostic)


def make_project(root: Path, profiles: str) -> tuple[Path, Path]:
    (root / "app" / "api").mkdir(parents=True)
    (root / "app" / "services").mkdir()
    for package in ("app", "app/api", "app/services"):
        (root / package / "__init__.py").write_text("")
    routes = root / "app" / "api" / "routes.py"
    routes.write_text(ROUTES)
    service = root / "app" / "services" / "profiles.py"
    service.write_text(profiles)
    return routes, service


@pytest_lsp.fixture(config=CONFIG, params=["vscode", "neovim"])
async def client(lsp_client: LanguageClient, request: pytest.FixtureRequest, tmp_path: Path):
    caps = capabilities(request.param)
    if caps.window is not None:
        caps.window.work_done_progress = True
    if uses_pull_caps(caps):
        # Neovim 0.11 pulls but has no workspace/diagnostic/refresh: then the dependents'
        # reports wait for the client's next pull. Test with a client that has it.
        caps.workspace = caps.workspace or types.WorkspaceClientCapabilities()
        caps.workspace.diagnostics = types.DiagnosticWorkspaceClientCapabilities(
            refresh_support=True
        )
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=caps,
            workspace_folders=[types.WorkspaceFolder(uri=tmp_path.as_uri(), name="shop")],
            initialization_options={"debounceMs": 0},
        )
    )
    yield
    await lsp_client.shutdown_session()


async def codes_until(
    client: LanguageClient, uri: str, version: int, want: list[str]
) -> list[types.Diagnostic]:
    """The document's diagnostics once their codes are ``want``: re-published (push) or
    re-pulled after ``workspace/diagnostic/refresh`` (pull)."""
    seen = 0
    refreshes = client.diagnostic_refresh_count
    found: list[types.Diagnostic] = []

    async def poll() -> list[types.Diagnostic]:
        nonlocal seen, refreshes, found
        while True:
            if uses_pull(client):
                found = await diagnostics(client, uri, version)
            else:
                latest = publishes(client, uri, version)
                found = list(latest[-1].diagnostics) if latest else []
            if [d.code for d in found] == want:
                return found
            await asyncio.sleep(0.05)

    try:
        return await asyncio.wait_for(poll(), TIMEOUT_S)
    except TimeoutError:
        codes = [d.code for d in found]
        raise AssertionError(f"{uri}: still {codes}, wanted {want}") from None


async def test_a_chain_into_another_module_is_reported_with_its_evidence(
    client: LanguageClient, tmp_path: Path
) -> None:
    routes, service = make_project(tmp_path, PROFILES_BLOCKING)
    uri = open_document(client, routes, ROUTES)
    [finding] = await codes_until(client, uri, 1, ["RH102"])
    assert finding.range.start.line == 9  # profile = load_profile(user_id)
    related = finding.related_information or []
    assert service.as_uri() in {r.location.uri for r in related}
    blocking = next(r for r in related if r.location.uri == service.as_uri())
    assert blocking.location.range.start.line in (5, 6)  # the def, or the requests.get line


async def test_an_edit_in_one_module_re_analyses_the_open_modules_that_import_it(
    client: LanguageClient, tmp_path: Path
) -> None:
    routes, service = make_project(tmp_path, PROFILES_BLOCKING)
    routes_uri = open_document(client, routes, ROUTES)
    service_uri = open_document(client, service, PROFILES_BLOCKING)
    await codes_until(client, routes_uri, 1, ["RH102"])

    replace_all(client, service_uri, PROFILES_CACHED, 2)  # unsaved: the editor's text counts
    await codes_until(client, routes_uri, 1, [])
    if uses_pull(client):
        assert client.diagnostic_refresh_count >= 1

    replace_all(client, service_uri, PROFILES_BLOCKING, 3)
    await codes_until(client, routes_uri, 1, ["RH102"])


async def test_closing_an_unsaved_module_brings_back_the_file_on_disk(
    client: LanguageClient, tmp_path: Path
) -> None:
    routes, service = make_project(tmp_path, PROFILES_CACHED)
    routes_uri = open_document(client, routes, ROUTES)
    service_uri = open_document(client, service, PROFILES_CACHED)
    await codes_until(client, routes_uri, 1, [])

    replace_all(client, service_uri, PROFILES_BLOCKING, 2)
    await codes_until(client, routes_uri, 1, ["RH102"])

    client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(service_uri))
    )
    await codes_until(client, routes_uri, 1, [])  # the edit was never saved
    assert service.read_text() == PROFILES_CACHED  # and the server wrote nothing


async def test_a_module_changed_on_disk_re_analyses_open_importers(
    client: LanguageClient, tmp_path: Path
) -> None:
    routes, service = make_project(tmp_path, PROFILES_CACHED)
    routes_uri = open_document(client, routes, ROUTES)
    await codes_until(client, routes_uri, 1, [])

    service.write_text(PROFILES_BLOCKING)  # a checkout, a generator, another editor
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=service.as_uri(), type=types.FileChangeType.Changed)]
        )
    )
    await codes_until(client, routes_uri, 1, ["RH102"])

    service.unlink()
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=service.as_uri(), type=types.FileChangeType.Deleted)]
        )
    )
    await codes_until(client, routes_uri, 1, [])  # an unresolvable import is simply not followed


async def test_a_new_module_is_picked_up_when_created(
    client: LanguageClient, tmp_path: Path
) -> None:
    routes, service = make_project(tmp_path, PROFILES_CACHED)
    service.unlink()
    routes_uri = open_document(client, routes, ROUTES)
    await codes_until(client, routes_uri, 1, [])

    service.write_text(PROFILES_BLOCKING)
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=service.as_uri(), type=types.FileChangeType.Created)]
        )
    )
    await codes_until(client, routes_uri, 1, ["RH102"])


async def test_the_index_is_built_in_the_background_with_progress(
    client: LanguageClient, tmp_path: Path
) -> None:
    # The fixture's workspace folder is indexed at start-up; this project was written after,
    # so create one more folder to watch the whole lifecycle.
    project = tmp_path / "billing"
    project.mkdir()
    for n in range(30):
        (project / f"invoice_{n}.py").write_text(PROFILES_CACHED)
    client.workspace_did_change_workspace_folders(
        types.DidChangeWorkspaceFoldersParams(
            event=types.WorkspaceFoldersChangeEvent(
                added=[types.WorkspaceFolder(uri=project.as_uri(), name="billing")], removed=[]
            )
        )
    )

    async def ended() -> list[types.WorkDoneProgressBegin | types.WorkDoneProgressEnd]:
        while True:
            for reports in list(client.progress_reports.values()):
                if reports and isinstance(reports[-1], types.WorkDoneProgressEnd):
                    begin = reports[0]
                    assert isinstance(begin, types.WorkDoneProgressBegin)
                    if "billing" in begin.title:
                        return reports  # type: ignore[return-value]
            await asyncio.sleep(0.05)

    reports = await asyncio.wait_for(ended(), TIMEOUT_S)
    steps = [r for r in reports if isinstance(r, types.WorkDoneProgressReport)]
    # First every module parsed, then (with jedi) the receivers only it can type.
    parsing = [r for r in steps if r.message and not r.message.startswith("types")]
    assert parsing[-1].message == "30/30 modules"
    typing = steps[len(parsing) :]
    assert all(r.message and r.message.startswith("types") for r in typing)
    for phase in (parsing, typing):
        percentages = [r.percentage for r in phase]
        assert percentages == sorted(percentages)


@pytest_lsp.fixture(config=CONFIG)
async def alone_client(lsp_client: LanguageClient, tmp_path: Path):
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities("vscode"),
            workspace_folders=[types.WorkspaceFolder(uri=tmp_path.as_uri(), name="shop")],
            initialization_options={"debounceMs": 0, "workspaceIndex": False},
        )
    )
    yield
    await lsp_client.shutdown_session()


async def test_with_the_index_off_each_document_is_analysed_alone(
    alone_client: LanguageClient, tmp_path: Path
) -> None:
    routes, service = make_project(tmp_path, PROFILES_BLOCKING)
    routes_uri = open_document(alone_client, routes, ROUTES)
    service_uri = open_document(alone_client, service, PROFILES_BLOCKING)
    assert await diagnostics(alone_client, service_uri, 1) == []  # a sync helper may block
    assert await diagnostics(alone_client, routes_uri, 1) == []  # its caller is not followed
    assert alone_client.progress_reports == {}


# The real server, with its give-up on an unanswered ``window/workDoneProgress/create`` pushed
# an hour away: if the index waited for the answer, the test would never see its findings.
PATIENT_SERVER = ClientServerConfig(
    server_command=[
        sys.executable,
        "-c",
        "import sys\n"
        "from riskhints.lsp import indexing\n"
        "indexing.PROGRESS_CREATE_TIMEOUT_S = 3600.0\n"
        "from riskhints.cli import main\n"
        "sys.exit(main(['serve']))\n",
    ],
    server_env=SERVER_ENV,
    client_factory=CONFIG.client_factory,
)


@pytest_lsp.fixture(config=PATIENT_SERVER)
async def mute_client(lsp_client: LanguageClient, tmp_path: Path):
    """A client that shows progress but does not answer ``window/workDoneProgress/create``
    until the test is over."""
    released = asyncio.Event()

    async def never_answer(params: types.WorkDoneProgressCreateParams) -> None:
        await released.wait()

    features = lsp_client.protocol.fm.features
    features[types.WINDOW_WORK_DONE_PROGRESS_CREATE] = never_answer
    caps = capabilities("vscode")
    assert caps.window is not None
    caps.window.work_done_progress = True
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=caps,
            workspace_folders=[types.WorkspaceFolder(uri=tmp_path.as_uri(), name="shop")],
            initialization_options={"debounceMs": 0},
        )
    )
    yield
    released.set()
    await asyncio.sleep(0.1)  # the late answer goes out before the session ends
    await lsp_client.shutdown_session()


async def test_a_client_that_never_answers_progress_does_not_hold_up_the_index(
    mute_client: LanguageClient, tmp_path: Path
) -> None:
    routes, _ = make_project(tmp_path, PROFILES_BLOCKING)
    uri = open_document(mute_client, routes, ROUTES)
    # The cross-file finding needs the index; the create request is still unanswered.
    await codes_until(mute_client, uri, 1, ["RH102"])
