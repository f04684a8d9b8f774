"""Lifecycle and settings: initialize (encoding, folders, push vs pull), initialized (pull
``workspace/configuration``, watch ``pyproject.toml``), configuration and folder changes."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from ..config import ConfigError, Settings, parse_settings
from .diagnostics import PULL_OPTIONS, pull_diagnostics

if TYPE_CHECKING:
    from .server import RiskhintsServer

log = logging.getLogger(__name__)
SECTION = "riskhints"
_WATCHER_ID = "riskhints-file-watcher"


def _settings_mapping(raw: Any) -> Mapping[str, Any]:
    """Settings as clients send them: flat, or under a ``riskhints`` key."""
    if not isinstance(raw, Mapping):
        return {}
    nested = raw.get(SECTION)
    return nested if isinstance(nested, Mapping) else raw


def register(server: RiskhintsServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: RiskhintsServer, params: types.InitializeParams) -> None:
        session = ls.session
        session.codec = PositionCodec(ls.workspace.position_encoding)
        options = dict(_settings_mapping(params.initialization_options))
        session.trusted = options.pop("workspaceTrusted", True) is not False
        session.init_options = options
        if not session.trusted:
            session.warn(
                "riskhints: untrusted workspace: the workspace's settings, git, the workspace "
                "index and every write are off; open documents are analysed with the defaults"
            )
        folders = params.workspace_folders or []
        for folder in folders:
            session.add_folder(folder.uri)
        if not folders and params.root_uri:
            session.add_folder(params.root_uri)
        try:
            mode = parse_settings(session.init_options, "initializationOptions").diagnostic_mode
        except ConfigError as error:
            session.warn(f"{error}; using the defaults")
            mode = Settings().diagnostic_mode
        text_caps = params.capabilities.text_document
        client_pulls = bool(text_caps and text_caps.diagnostic)
        session.pull_diagnostics = client_pulls and mode != "push"
        if session.pull_diagnostics:
            # Registered here, before pygls computes the server's capabilities.
            ls.feature(types.TEXT_DOCUMENT_DIAGNOSTIC, PULL_OPTIONS)(pull_diagnostics)
        log.info(
            "initialized: encoding=%s, %s diagnostics, %d folder(s)",
            ls.workspace.position_encoding,
            "pull" if session.pull_diagnostics else "push",
            len(session.folders),
        )

    @server.feature(types.INITIALIZED)
    async def initialized(ls: RiskhintsServer, params: types.InitializedParams) -> None:
        try:
            if await pull_configuration(ls) and ls.session.documents:
                ls.session.refresh_all()  # opened before the settings arrived
        finally:
            ls.session.startup_settings.set()  # after refresh_all: pulls wait for its results
        ls.session.indexing.sync_folders()  # the folders' settings are known now
        await watch_files(ls)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: RiskhintsServer, params: types.DidChangeConfigurationParams
    ) -> None:
        session = ls.session
        session.forget_warnings()
        session.settings_ready.clear()
        try:
            if not await pull_configuration(ls):
                # Clients without workspace/configuration push the settings themselves.
                session.global_client_settings = _settings_mapping(params.settings)
            session.refresh_all()
        finally:
            session.settings_ready.set()

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    async def did_change_watched_files(
        ls: RiskhintsServer, params: types.DidChangeWatchedFilesParams
    ) -> None:
        if any(change.uri.endswith("pyproject.toml") for change in params.changes):
            for folder in ls.session.folders.values():
                ls.session.reload_pyproject(folder)
            ls.session.refresh_all()
        python = [change for change in params.changes if change.uri.endswith(".py")]
        if python:
            await ls.session.indexing.files_changed(python)

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    async def did_change_folders(
        ls: RiskhintsServer, params: types.DidChangeWorkspaceFoldersParams
    ) -> None:
        for removed in params.event.removed:
            ls.session.folders.pop(removed.uri, None)
        for added in params.event.added:
            ls.session.add_folder(added.uri)
        await pull_configuration(ls)
        ls.session.refresh_all()

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: RiskhintsServer, params: None) -> None:
        ls.session.shutdown()


async def pull_configuration(ls: RiskhintsServer) -> bool:
    """Ask the client for the ``riskhints`` section, globally and per folder. Returns False
    when the client does not support ``workspace/configuration``."""
    caps = ls.client_capabilities.workspace
    if not (caps and caps.configuration):
        return False
    session = ls.session
    folders = list(session.folders.values())
    items = [types.ConfigurationItem(section=SECTION)] + [
        types.ConfigurationItem(scope_uri=folder.uri, section=SECTION) for folder in folders
    ]
    try:
        values = await ls.workspace_configuration_async(types.ConfigurationParams(items=items))
    except Exception as error:  # a client that fails the request must not stop the server
        session.warn(f"workspace/configuration failed: {error!r}")
        return True
    values = list(values or [])
    session.global_client_settings = _settings_mapping(values[0] if values else None)
    for folder, value in zip(folders, values[1:], strict=False):
        scoped = _settings_mapping(value)
        # Many clients answer a scoped request with the global section again; only keep
        # what differs, so folder and global settings layer as users expect.
        folder.client = {
            k: v for k, v in scoped.items() if session.global_client_settings.get(k) != v
        }
    return True


async def watch_files(ls: RiskhintsServer) -> None:
    """Ask the client to report changes to ``pyproject.toml`` (settings) and to Python files
    changed outside the editor (the workspace index re-reads them)."""
    caps = ls.client_capabilities.workspace
    watched = caps.did_change_watched_files if caps else None
    if not (watched and watched.dynamic_registration):
        return
    registration = types.Registration(
        id=_WATCHER_ID,
        method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
        register_options=types.DidChangeWatchedFilesRegistrationOptions(
            watchers=[
                types.FileSystemWatcher(glob_pattern="**/pyproject.toml"),
                types.FileSystemWatcher(glob_pattern="**/*.py"),
            ]
        ),
    )
    try:
        await ls.client_register_capability_async(
            types.RegistrationParams(registrations=[registration])
        )
    except Exception as error:
        ls.session.warn(f"could not watch pyproject.toml and Python files: {error!r}")
