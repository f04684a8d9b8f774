"""Workspace indexing on the server's side: one :class:`FolderIndex` per workspace folder, built
in the background with ``$/progress``, kept current with open documents and files changed on
disk, and the re-analysis of open documents whose analysis depends on a changed module.

Loop-side only (like the session): the indexes themselves are used from worker threads, under
their own lock (see ``lsp/index.py``).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from collections.abc import Callable, Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from .documents import file_path
from .index import INDEX_MAX_FILES, FolderIndex

if TYPE_CHECKING:
    from ..config import Settings
    from .session import FolderConfig, Session

log = logging.getLogger(__name__)
_tokens = itertools.count(1)
#: How long after an edit the open documents that import the edited module are re-analysed.
DEPENDENTS_DELAY_MS = 400
#: A client that never answers ``window/workDoneProgress/create`` must not hold up the index.
PROGRESS_CREATE_TIMEOUT_S = 5.0
#: How long after an edit that brought new receivers jedi is asked about them.
INFERENCE_DELAY_MS = 600


class Indexing:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.indexes: dict[str, FolderIndex] = {}  # folder uri -> index
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._inference_tasks: dict[str, asyncio.Task[None]] = {}  # folder uri -> refresh
        # One thread: building never takes more than one of the machine's cores from the
        # analyses of open documents (which run on the session's own pool).
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="riskhints-index")
        # Closes, saves and disk changes are quick: they do not wait for a build to finish.
        self._updates = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="riskhints-index-updates"
        )

    # -- which index ---------------------------------------------------------------------------
    def index_for(self, uri: str) -> FolderIndex | None:
        folder = self.session.folder_for(uri)
        if folder is None:
            return None
        return self.indexes.get(folder.uri)

    # -- building ------------------------------------------------------------------------------
    def sync_folders(self) -> None:
        """Start (or restart, when its settings changed) the index of every folder; drop the
        indexes of removed folders and of folders that turned indexing off."""
        for uri in list(self.indexes):
            folder = self.session.folders.get(uri)
            settings = self.session.settings_for(uri) if folder else None
            index = self.indexes[uri]
            if (
                folder is None
                or settings is None
                or not settings.workspace_index
                or settings.exclude != index.exclude
                or settings.inference != index.inference_mode
                or (settings.python, settings.venv) != index.environment_settings
            ):
                self._stop(uri)
        for uri, folder in self.session.folders.items():
            if uri in self.indexes or folder.path is None:
                continue
            settings = self.session.settings_for(uri)
            if settings.workspace_index:
                self._start(folder, settings)

    def _start(self, folder: FolderConfig, settings: Settings) -> None:
        assert folder.path is not None
        index = FolderIndex(
            folder.path,
            settings.exclude,
            settings.inference,
            environment_settings=(settings.python, settings.venv),
        )
        self.indexes[folder.uri] = index
        task = asyncio.get_running_loop().create_task(self._build(folder.uri, index))
        self._tasks[folder.uri] = task

    def _stop(self, uri: str) -> None:
        index = self.indexes.pop(uri, None)
        if index is not None:
            index.cancelled.set()
            index.discovered.set()  # nobody waits for a walk that will not finish
        task = self._tasks.pop(uri, None)
        if task is not None:
            task.cancel()

    async def _build(self, folder_uri: str, index: FolderIndex) -> None:
        loop = asyncio.get_running_loop()
        # The walk starts before the progress bar is agreed on: a slow client must not delay it.
        discovering = loop.run_in_executor(self._executor, index.discover)
        progress = await _Progress.begin(self.session, f"indexing {index.root.name}")
        try:
            total = await discovering
            # Documents analysed before the walk saw only themselves: again, with the folder.
            self.reanalyse(self._open_in(folder_uri))
            progress.report(f"0/{total} modules", 0)
            report = progress.from_thread(loop, "")
            if await loop.run_in_executor(self._executor, index.build, report):
                log.info("indexed %s: %d modules", index.root, index.loaded())
            else:
                self.session.warn(
                    f"{index.root}: {total} Python files, more than {INDEX_MAX_FILES} are not "
                    "indexed up front; modules are read when an open document imports them "
                    "(set `exclude` to leave out vendored or generated code)"
                )
            # Then what only jedi can tell (receiver types), file by file, off the lock.
            if index.stale_inference():
                report = progress.from_thread(loop, "types ")
                refresh = functools.partial(index.refresh_inference, report, freeze=True)
                if await loop.run_in_executor(self._executor, refresh):
                    self.reanalyse(self._open_in(folder_uri))
        except asyncio.CancelledError:
            index.cancelled.set()
            raise
        except Exception:  # the index is a help: without it documents are analysed alone
            log.exception("indexing %s failed", index.root)
        finally:
            index.building = False
            progress.end()

    # -- changes -----------------------------------------------------------------------------------
    def inference_due(self, uri: str) -> None:
        """An edit brought receivers jedi was not asked about (in the folder of ``uri``): ask
        once typing pauses (the index build asks about everything itself)."""
        folder = self.session.folder_for(uri)
        index = self.indexes.get(folder.uri) if folder is not None else None
        if folder is None or index is None or index.building:
            return
        if folder.uri in self._inference_tasks:
            return

        async def refresh() -> None:
            try:
                await asyncio.sleep(INFERENCE_DELAY_MS / 1000)
                loop = asyncio.get_running_loop()
                if await loop.run_in_executor(self._executor, index.refresh_inference, None):
                    self.reanalyse(self._open_in(folder.uri))
            finally:
                self._inference_tasks.pop(folder.uri, None)

        self._inference_tasks[folder.uri] = asyncio.get_running_loop().create_task(refresh())

    def track(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` on the loop, keeping a reference until it is done (and logging errors)."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("index update failed", exc_info=task.exception())

    def after_analysis(self, uri: str, dependents: Iterable[str]) -> None:
        """``uri``'s new text changed what other open documents are analysed against. They
        are re-analysed once typing pauses (each new edit of ``uri`` postpones them)."""
        delay = max(DEPENDENTS_DELAY_MS, self.session.settings_for(uri).debounce_ms)
        self.reanalyse((d for d in dependents if d != uri and d in self.session.documents), delay)

    async def document_closed(self, uri: str) -> None:
        """The file on disk counts again for the modules that import it."""
        index = self.index_for(uri)
        path = file_path(uri)
        if index is None or path is None:
            return
        loop = asyncio.get_running_loop()
        if await loop.run_in_executor(self._updates, index.closed, path):
            folder = self.session.folder_for(uri)
            self.reanalyse(self._open_in(folder.uri if folder else ""))

    async def files_changed(self, changes: Sequence[types.FileEvent]) -> None:
        """Python files created, changed or deleted outside the editor (a checkout, a
        generator): re-read them, then re-analyse the open documents of their folders."""
        loop = asyncio.get_running_loop()
        touched: set[str] = set()
        for change in changes:
            path = file_path(change.uri)
            index = self.index_for(change.uri)
            if path is None or index is None or path.suffix != ".py":
                continue
            if change.uri in self.session.documents and change.type != types.FileChangeType.Deleted:
                continue  # the editor's text is what counts while it is open
            exists = change.type != types.FileChangeType.Deleted
            if await loop.run_in_executor(self._updates, index.file_changed, path, exists):
                folder = self.session.folder_for(change.uri)
                if folder is not None:
                    touched.add(folder.uri)
        for folder_uri in touched:
            self.reanalyse(self._open_in(folder_uri))
        for change in changes:  # importers of a changed module: jedi is asked again
            index = self.index_for(change.uri)
            if index is not None and index.stale_inference():
                self.inference_due(change.uri)

    async def document_saved(self, uri: str) -> None:
        """jedi reads imported modules from disk: after a save, the modules importing this one
        are asked again (in the background)."""
        index = self.index_for(uri)
        path = file_path(uri)
        if index is None or path is None or index.inference is None:
            return
        loop = asyncio.get_running_loop()
        if await loop.run_in_executor(self._updates, index.saved, path):
            self.inference_due(uri)

    def reanalyse(self, uris: Iterable[str], delay_ms: int = 0) -> None:
        for uri in uris:
            # A pending analysis of the document's own edit may already have run against the
            # old module: it is replaced, and stays one of its own (published whatever it finds).
            own_edit = self.session.is_pending(uri, dependent=False)
            self.session.schedule(uri, delay_ms=delay_ms, dependent=not own_edit)

    def _open_in(self, folder_uri: str) -> list[str]:
        session = self.session
        return [
            uri
            for uri in session.documents
            if (folder := session.folder_for(uri)) is not None and folder.uri == folder_uri
        ]

    def shutdown(self) -> None:
        for uri in list(self.indexes):
            self._stop(uri)
        for task in [*self._background, *self._inference_tasks.values()]:
            task.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._updates.shutdown(wait=False, cancel_futures=True)


class _Progress:
    """``$/progress`` for a server-initiated task, when the client shows progress; silent
    otherwise (and if the client refuses the token)."""

    def __init__(self, session: Session, token: str | None) -> None:
        self.session = session
        self.token = token

    @classmethod
    async def begin(cls, session: Session, title: str) -> _Progress:
        server = session.server
        window = server.client_capabilities.window
        if not (window and window.work_done_progress):
            return cls(session, None)
        token = f"riskhints-index-{next(_tokens)}"
        try:
            await asyncio.wait_for(
                server.work_done_progress.create_async(token), PROGRESS_CREATE_TIMEOUT_S
            )
        except Exception as error:  # refused or unanswered: indexing goes on without a bar
            log.debug("work done progress refused: %r", error)
            return cls(session, None)
        server.work_done_progress.begin(
            token, types.WorkDoneProgressBegin(title=f"riskhints: {title}", percentage=0)
        )
        return cls(session, token)

    def report(self, message: str, percentage: int) -> None:
        if self.token is not None:
            self.session.server.work_done_progress.report(
                self.token, types.WorkDoneProgressReport(message=message, percentage=percentage)
            )

    def from_thread(
        self, loop: asyncio.AbstractEventLoop, prefix: str
    ) -> Callable[[int, int], None]:
        """A ``report(done, total)`` for a worker thread: ``{prefix}done/total modules``."""

        def report(done: int, total: int) -> None:
            message = f"{prefix}{done}/{total} modules"
            loop.call_soon_threadsafe(self.report, message, done * 100 // max(total, 1))

        return report

    def end(self) -> None:
        if self.token is not None:
            token, self.token = self.token, None
            self.session.server.work_done_progress.end(
                token, types.WorkDoneProgressEnd(message="done")
            )
