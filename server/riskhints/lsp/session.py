"""The server's state: open documents, their latest analysis, settings per workspace folder, and
the scheduling of analyses (debounce, snapshot, worker thread, publish-if-current).

Only the event loop's thread touches this state. The worker thread receives an immutable
snapshot and returns new objects; results are installed back on the loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import logging
import os
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.uris import from_fs_path
from pygls.workspace.position_codec import PositionCodec

from ..analysis import AnalysisOptions, Finding, analyze_source
from ..config import ConfigError, Settings, find_pyproject, load_pyproject, parse_settings
from ..isolation import IsolatedPool
from ..processes import watch_parent
from .convert import to_diagnostic
from .documents import Document, file_path
from .failures import FailureWatcher
from .index import FolderIndex
from .indexing import Indexing
from .provenance import ProvenanceInput, ProvenanceTracker, scoped

if TYPE_CHECKING:
    from .server import RiskhintsServer

log = logging.getLogger(__name__)
T = TypeVar("T")
STARTUP_SETTINGS_WAIT_S = 5.0
#: Documents this large (~8,000 lines) are analysed in a separate process (see ``_run``).
BIG_DOCUMENT_CHARS = 300_000


@dataclass(frozen=True)
class Snapshot:
    uri: str
    version: int | None
    text: str
    path: str  # workspace-relative (or the URI's path for untitled documents)
    options: AnalysisOptions
    provenance: ProvenanceInput | None = None  # regions and scope (see lsp/provenance.py)
    # The folder's index (thread-safe) when the document is analysed with the workspace, and
    # the other open documents of that folder (which may depend on this one).
    index: FolderIndex | None = None
    file: Path | None = None
    others: tuple[tuple[str, Path], ...] = ()


@dataclass(frozen=True)
class AnalysisResult:
    version: int | None
    findings: tuple[Finding, ...]
    diagnostics: tuple[types.Diagnostic, ...]
    result_id: str
    unscoped: tuple[Finding, ...] = ()  # before the scope filter and AI marking


@dataclass
class FolderConfig:
    uri: str
    path: Path | None
    pyproject: Settings | None = None  # [tool.riskhints] of the folder, if any
    client: Mapping[str, Any] = field(default_factory=dict)  # workspace/configuration


def restricted(settings: Settings) -> Settings:
    """The settings of an untrusted workspace: no git, no index (nothing read but the open
    documents), no provenance store."""
    return dataclasses.replace(
        settings, provenance_git=False, provenance_edits=False, workspace_index=False
    )


class Session:
    def __init__(self, server: RiskhintsServer) -> None:
        self.server = server
        self.documents: dict[str, Document] = {}
        self.results: dict[str, AnalysisResult] = {}
        self._pending: dict[str, asyncio.Task[AnalysisResult | None]] = {}
        self._pending_dependent: set[str] = set()  # pending runs that are dependents'
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="riskhints-analysis")
        # Open documents re-analysed because a module they import changed wait in their own
        # queue: the document being typed in never queues behind them.
        self._dependents_executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="riskhints-dependents"
        )
        self._process_pool: IsolatedPool | None = None
        self._closed = False  # after shutdown(): no new worker process
        self.init_options: Mapping[str, Any] = {}
        #: False in an untrusted workspace (VS Code Restricted Mode, initializationOptions
        #: ``workspaceTrusted: false``): defaults and the user's own settings only, no git, no
        #: index, no provenance store, no writes (see :func:`restricted`).
        self.trusted = True
        self.global_client_settings: Mapping[str, Any] = {}
        self.folders: dict[str, FolderConfig] = {}
        self.pull_diagnostics = False
        self.codec = PositionCodec()
        self._warned: set[str] = set()
        # Cleared while new settings are being fetched: a pull waits for them rather than
        # answering with a report computed under the old settings.
        self.settings_ready = asyncio.Event()
        self.settings_ready.set()
        # Set once the settings asked for at start-up are in. A pull answered before would
        # show results for the defaults, and a client without workspace/diagnostic/refresh
        # (Neovim 0.11) would keep showing them until the next edit.
        self.startup_settings = asyncio.Event()
        self.failures = FailureWatcher(self)
        self.provenance = ProvenanceTracker(self)
        self.indexing = Indexing(self)
        self._refresh_soon: asyncio.Handle | None = None

    # -- settings --------------------------------------------------------------------------------
    def add_folder(self, uri: str) -> FolderConfig:
        path = file_path(uri)
        folder = FolderConfig(uri, path)
        self.folders[uri] = folder
        self.reload_pyproject(folder)
        return folder

    def reload_pyproject(self, folder: FolderConfig) -> None:
        folder.pyproject = None
        if folder.path is None or not self.trusted:  # an untrusted pyproject is not read
            return
        pyproject = folder.path / "pyproject.toml"
        if not pyproject.is_file():
            found = find_pyproject(folder.path)
            if found is None or not found.is_relative_to(folder.path.parent):
                return
            pyproject = found
        try:
            folder.pyproject = load_pyproject(pyproject)
        except ConfigError as error:
            self.warn(f"{error}; using the defaults for this folder")

    def folder_for(self, uri: str) -> FolderConfig | None:
        path = file_path(uri)
        best: FolderConfig | None = None
        for folder in self.folders.values():
            if path is not None and folder.path is not None and path.is_relative_to(folder.path):
                if best is None or len(str(folder.path)) > len(str(best.path)):
                    best = folder
        return best

    def settings_for(self, uri: str) -> Settings:
        """defaults < [tool.riskhints] < initializationOptions < workspace/configuration."""
        folder = self.folder_for(uri)
        settings = folder.pyproject if folder and folder.pyproject else Settings()
        layers: list[tuple[Mapping[str, Any], str]] = [
            (self.init_options, "initializationOptions"),
            (self.global_client_settings, "workspace/configuration"),
        ]
        if folder is not None and self.trusted:  # a folder's own settings are the workspace's
            layers.append((folder.client, f"workspace/configuration for {folder.uri}"))
        for raw, source in layers:
            if not raw:
                continue
            try:
                settings = parse_settings(raw, source, settings)
            except ConfigError as error:
                self.warn(f"{error}; ignoring these settings")
        return settings if self.trusted else restricted(settings)

    def refuse_untrusted(self, what: str) -> None:
        """Raise the answer of a command that writes into the workspace, when it is untrusted."""
        if not self.trusted:
            raise JsonRpcInvalidParams(f"{what}: not in an untrusted workspace (Restricted Mode)")

    def warn(self, message: str) -> None:
        """Log a warning once (settings are re-read on every analysis: no storm of repeats)."""
        if message in self._warned:
            return
        self._warned.add(message)
        log.warning("%s", message)
        self.server.window_log_message(
            types.LogMessageParams(type=types.MessageType.Warning, message=message)
        )

    def forget_warnings(self) -> None:
        """New settings may repeat an old mistake: say it again then."""
        self._warned.clear()

    # -- documents -------------------------------------------------------------------------------
    def display_path(self, uri: str) -> str:
        folder = self.folder_for(uri)
        path = file_path(uri)
        if path is not None and folder is not None and folder.path is not None:
            return path.relative_to(folder.path).as_posix()
        if path is not None:
            return path.name
        parsed = urlparse(uri)
        return unquote(parsed.path or parsed.netloc or uri)

    def uri_for(self, display: str, near: str) -> str:
        folder = self.folder_for(near)
        if folder is not None and folder.path is not None:
            return from_fs_path(str(folder.path / display)) or near
        return near

    def snapshot(self, uri: str) -> Snapshot | None:
        document = self.documents.get(uri)
        if document is None:
            return None
        settings = self.settings_for(uri)
        index = self.indexing.index_for(uri)
        file = file_path(uri)
        others: list[tuple[str, Path]] = []
        if index is not None and file is not None:
            for other in self.documents:
                other_file = file_path(other)
                if (
                    other != uri
                    and other_file is not None
                    and self.indexing.index_for(other) is index
                ):
                    others.append((other, other_file))
        return Snapshot(
            uri,
            document.version,
            document.text,
            self.display_path(uri),
            settings.analysis_options(),
            self.provenance.input_for(uri, settings),
            index if file is not None else None,
            file,
            tuple(others),
        )

    # -- scheduling ------------------------------------------------------------------------------
    def schedule(self, uri: str, delay_ms: int | None = None, dependent: bool = False) -> None:
        """(Re)start the analysis of ``uri`` after the debounce delay; an older pending run is
        cancelled (its result would be stale anyway). ``dependent``: the document did not
        change, a module it is analysed with did; its diagnostics are re-sent only if they
        changed."""
        previous = self._pending.pop(uri, None)
        if previous is not None:
            previous.cancel()
        if delay_ms is None:
            delay_ms = self.settings_for(uri).debounce_ms
        task = asyncio.get_running_loop().create_task(self._run(uri, delay_ms / 1000, dependent))
        self._pending[uri] = task
        if dependent:
            self._pending_dependent.add(uri)
        else:
            self._pending_dependent.discard(uri)
        task.add_done_callback(functools.partial(self._forget, uri))

    def is_pending(self, uri: str, dependent: bool) -> bool:
        """Whether an analysis of ``uri`` (of that kind) is scheduled or running."""
        return uri in self._pending and (uri in self._pending_dependent) == dependent

    def _forget(self, uri: str, task: asyncio.Task[AnalysisResult | None]) -> None:
        if self._pending.get(uri) is task:
            del self._pending[uri]
            self._pending_dependent.discard(uri)

    async def _run(
        self, uri: str, delay_s: float, dependent: bool = False
    ) -> AnalysisResult | None:
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        await self.provenance.ready(uri)  # git and the store run in a worker; waits briefly
        snapshot = self.snapshot(uri)
        if snapshot is None:
            return None
        loop = asyncio.get_running_loop()
        document = Document(uri, snapshot.version, snapshot.text)
        try:
            findings: list[Finding] | None = None
            if len(snapshot.text) >= BIG_DOCUMENT_CHARS:
                # Parsing a 20,000-line file holds the GIL for a quarter of a second at a time;
                # in another process it cannot stall hovers and code actions on the loop.
                findings = await loop.run_in_executor(
                    self._big_document_pool(),
                    analyze_source,
                    snapshot.text,
                    snapshot.path,
                    snapshot.options,
                )
            executor = self._dependents_executor if dependent else self._executor
            work = executor.submit(self._analyze_indexed, snapshot, document, self.codec, findings)
            # What the analysis changed in the index is passed on even when this run is then
            # superseded: the next run of this text would see nothing left to announce.
            work.add_done_callback(
                lambda done: loop.call_soon_threadsafe(self._pass_on_changes, uri, done)
            )
            result, _, _ = await asyncio.wrap_future(work, loop=loop)
        except Exception:  # the engine confines rule errors; this is the last line of defence
            log.exception("analysis of %s (version %s) failed", uri, snapshot.version)
            return None
        current = self.documents.get(uri)
        if current is None or current.version != snapshot.version:
            return None  # closed or edited meanwhile: never publish stale results
        previous = self.results.get(uri)
        self.results[uri] = result
        self.failures.after_analysis(snapshot, result)  # resolves logged failures, off the loop
        if dependent and previous is not None and previous.result_id == result.result_id:
            return result  # another module changed, these diagnostics did not
        if dependent and self.pull_diagnostics:
            self._refresh_later()
        elif not self.pull_diagnostics:
            self.server.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(
                    uri=uri, diagnostics=list(result.diagnostics), version=result.version
                )
            )
        return result

    def _pass_on_changes(
        self, uri: str, done: Future[tuple[AnalysisResult, list[str], bool]]
    ) -> None:
        """On the loop, after a worker's analysis of ``uri`` (current or not): re-analyse the
        open documents that depend on its new text, and ask jedi about new receivers."""
        if done.cancelled() or done.exception() is not None:
            return
        _, dependents, inference_due = done.result()
        if dependents:
            self.indexing.after_analysis(uri, dependents)
        if inference_due:
            self.indexing.inference_due(uri)

    def _big_document_pool(self) -> IsolatedPool:
        if self._closed:
            raise RuntimeError("the session is shut down: no worker process is started")
        if self._process_pool is None:
            # A fresh interpreter, not a fork (this process runs threads: pygls' reader, the
            # analysis pool), started isolated from the workspace (python -I, outside it).
            self._process_pool = IsolatedPool(
                max_workers=1, initializer=watch_parent, initargs=(os.getpid(),)
            )
        return self._process_pool

    def _analyze_indexed(
        self,
        snapshot: Snapshot,
        document: Document,
        codec: PositionCodec,
        findings: list[Finding] | None = None,
    ) -> tuple[AnalysisResult, list[str], bool]:
        """Runs on a worker thread: touches only its arguments (the index has its own lock).
        With the folder's index the document is analysed with the modules it imports; the
        open documents that import it (when its text changed) are returned for re-analysis."""
        dependents: list[str] = []
        inference_due = False
        if findings is None and snapshot.index is not None and snapshot.file is not None:
            indexed = snapshot.index.analyze(
                snapshot.file, snapshot.path, snapshot.text, snapshot.options
            )
            findings = indexed.findings
            inference_due = indexed.inference_due
            if indexed.changed and snapshot.others:
                paths = dict((path, uri) for uri, path in snapshot.others)
                hit = snapshot.index.dependents(snapshot.file, paths)
                dependents = [paths[path] for path in hit]
        return self._analyze(snapshot, document, codec, findings), dependents, inference_due

    def _analyze(
        self,
        snapshot: Snapshot,
        document: Document,
        codec: PositionCodec,
        findings: list[Finding] | None = None,
    ) -> AnalysisResult:
        """Runs on a worker thread: touches only its arguments."""
        if findings is None:
            findings = analyze_source(snapshot.text, snapshot.path, snapshot.options)
        unscoped = tuple(findings)
        findings = scoped(snapshot.provenance, snapshot.text, findings)
        # Evidence in other files of the folder (chains followed across modules).
        uris: dict[str, str] = {}
        root = snapshot.index.root if snapshot.index is not None else None
        if root is not None:
            for finding in findings:
                for hop in finding.evidence:
                    if hop.path and hop.path not in uris:
                        uris[hop.path] = from_fs_path(str(root / hop.path)) or snapshot.uri
        diagnostics = tuple(to_diagnostic(f, document, codec, uris) for f in findings)
        # Same version, same findings: same id, so a re-analysis (settings refresh) that
        # changes nothing still answers ``unchanged`` to a pull client.
        digest = hashlib.blake2b(repr((snapshot.version, findings)).encode(), digest_size=12)
        return AnalysisResult(
            snapshot.version, tuple(findings), diagnostics, digest.hexdigest(), unscoped
        )

    async def current_document(self, uri: str) -> tuple[AnalysisResult, Document] | None:
        """The current analysis with a copy of the text it was made from (edits may arrive
        while a request works on it), or None when the document is not open or just changed."""
        result = await self.current_result(uri)
        live = self.documents.get(uri)
        if live is None or result is None or result.version != live.version:
            return None
        return result, Document(uri, live.version, live.text)

    async def current_result(self, uri: str) -> AnalysisResult | None:
        """The analysis of the document's current version, waiting for a pending one."""
        if not self.startup_settings.is_set():
            try:
                await asyncio.wait_for(self.startup_settings.wait(), STARTUP_SETTINGS_WAIT_S)
            except asyncio.TimeoutError:
                log.warning("no settings from the client after %ss", STARTUP_SETTINGS_WAIT_S)
                self.startup_settings.set()
        await self.settings_ready.wait()
        for _ in range(3):
            pending = self._pending.get(uri)
            document = self.documents.get(uri)
            if document is None:
                return None
            result = self.results.get(uri)
            if result is not None and result.version == document.version and pending is None:
                return result
            if pending is None:
                self.schedule(uri, delay_ms=0)
                pending = self._pending[uri]
            try:
                result = await asyncio.shield(pending)
            except asyncio.CancelledError:
                if pending.cancelled():
                    continue  # superseded by a newer edit: wait for that one
                raise
            if result is not None:
                return result
        return self.results.get(uri)

    async def in_worker(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function`` on the analysis pool (it must touch only its arguments)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, function, *args)

    def close(self, uri: str) -> None:
        was_open = self.documents.pop(uri, None) is not None
        self.results.pop(uri, None)
        pending = self._pending.pop(uri, None)
        if pending is not None:
            pending.cancel()
        if was_open:
            self.indexing.track(self.indexing.document_closed(uri))

    def refresh_all(self) -> None:
        self.indexing.sync_folders()  # settings may have turned indexing on or off
        for uri in list(self.documents):
            self.schedule(uri, delay_ms=0)
        if self.pull_diagnostics:
            self._request_refresh()

    def _refresh_later(self) -> None:
        """One ``workspace/diagnostic/refresh`` for a burst of dependents' new results."""
        if self._refresh_soon is None:

            def refresh() -> None:
                self._refresh_soon = None
                self._request_refresh()

            self._refresh_soon = asyncio.get_running_loop().call_later(0.05, refresh)

    def _request_refresh(self) -> None:
        caps = self.server.client_capabilities.workspace
        if caps and caps.diagnostics and caps.diagnostics.refresh_support:
            self.server.workspace_diagnostic_refresh(None)

    def shutdown(self) -> None:
        self._closed = True
        for task in self._pending.values():
            task.cancel()
        self._pending.clear()
        self.indexing.shutdown()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._dependents_executor.shutdown(wait=False, cancel_futures=True)
        if self._process_pool is not None:
            # A big document's analysis is not waited for: its worker is killed.
            self._process_pool.shutdown(wait=False, cancel_futures=True)
