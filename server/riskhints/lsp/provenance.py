"""Provenance in the server: which lines of an open document are AI-suggested (or changed), kept
current through every edit, and applied to each analysis.

Per open document the tracker keeps three sets of line regions, all in the document's current
lines: bulk insertions seen in ``didChange`` (``EditTracker``; restored from and persisted to
``.riskhints/provenance/`` of the workspace folder on open, save and close), lines blamed on
AI-marked commits, and lines changed against the ``base`` ref (plus lines edited since the last
save). Every content change is first turned into line operations (:func:`line_ops`), applied to
all three, so git regions computed for the file on disk move with unsaved edits.

Invariants:

- git and the store are read only in a worker (``Session.in_worker``), on open, on save and when
  the settings they depend on change. A job remembers the edits that arrive while it runs and
  replays them onto its result before installing it, so a result never lands on the wrong lines.
- An analysis waits (at most ``READY_WAIT_S``) for a pending job, so the first result after an
  open usually carries provenance already; a job that finishes later re-analyses the document
  and asks the client to refresh pulled diagnostics and code lenses.
- Records are written only inside a workspace folder, never for untitled documents or files
  outside every folder; a stale record is dropped by ``edits.load``, never misapplied.
- Classification, the ``scope`` filter and the marking of AI findings run in the analysis
  worker (:func:`scoped`, via ``provenance.collect.apply_scope``), so push, pull, hover, code
  actions and code lenses all see the same findings.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from .. import roots, safe_read
from ..analysis import Finding, decode_source
from ..config import Settings
from ..provenance import edits
from ..provenance.collect import ai_patterns, apply_scope
from ..provenance.edits import EditTracker, Tracked
from ..provenance.git import ai_blame_regions, changed_regions, git_root
from ..provenance.markers import marker_regions
from ..provenance.regions import Region, Source, merge
from .documents import Document, file_path
from .line_changes import LineOp, Mark, apply_ops, line_ops

if TYPE_CHECKING:
    from .session import Session

log = logging.getLogger(__name__)
READY_WAIT_S = 2.0
_NEVER = 10**9  # thresholds of a tracker that only moves regions, never adds any


# -- what an analysis needs, and the worker jobs -------------------------------------------------
@dataclass(frozen=True)
class ProvenanceInput:
    """The provenance part of an analysis snapshot (immutable)."""

    regions: tuple[Region, ...]
    markers: bool
    scope: str
    known: bool  # the file is in a git repository: findings outside every region are human


def scoped(given: ProvenanceInput | None, text: str, findings: list[Finding]) -> list[Finding]:
    """Runs in the analysis worker: classify, filter by scope, mark AI findings."""
    if given is None:
        return findings
    regions = list(given.regions)
    if given.markers:
        regions.extend(marker_regions(text))
    known = merge(regions) if regions or given.known else None
    return apply_scope(findings, known, given.scope)


@dataclass(frozen=True)
class Job:
    file: Path | None
    text: str
    store: tuple[Path, str] | None  # (workspace folder, relative path) to load records from
    patterns: tuple[str, ...] | None  # blame against these, or not at all
    base: str | None  # diff against this ref, or not at all


@dataclass(frozen=True)
class JobResult:
    loaded: list[Tracked] | None
    in_repo: bool
    blame: list[Region]
    diff: list[Region]


def run_job(job: Job) -> JobResult:
    """Runs on a worker: the store and git, quietly (no git, no repository: no regions)."""
    loaded = edits.load(job.store[0], job.store[1], job.text) if job.store else None
    root = git_root(job.file.parent) if job.file is not None else None
    if root is None or job.file is None or (job.patterns is None and job.base is None):
        return JobResult(loaded, root is not None, [], [])
    try:
        relative = job.file.resolve().relative_to(root.resolve()).as_posix()
        on_disk = decode_source(safe_read.read_bytes(job.file))
    except (OSError, ValueError):
        return JobResult(loaded, True, [], [])
    if on_disk != job.text:  # git speaks about other lines than the editor's
        return JobResult(loaded, True, [], [])
    blame = ai_blame_regions(root, relative, job.patterns) if job.patterns is not None else []
    diff = changed_regions(root, relative, job.base) if job.base is not None else []
    return JobResult(loaded, True, blame, diff)


def save_inside(workspace: Path, relative: str, text: str, tracker: EditTracker) -> str | None:
    """Runs on a worker: ``edits.save``, unless the store leads out of the workspace (then the
    reason is returned, for a warning). Nothing to record and no record to remove: nothing is
    written (no empty folders)."""
    if not tracker.regions and not edits.store_path(workspace, relative).exists():
        return None
    try:
        roots.inside(workspace, edits.store_path(workspace, relative))
    except roots.OutsideWorkspace as error:
        return f"provenance not saved: {error.strerror}"
    edits.save(workspace, relative, text, tracker)
    return None


# -- per-document state --------------------------------------------------------------------------
@dataclass
class _Request:
    key: tuple[Any, ...]
    seq: int
    load: bool
    ops: list[LineOp] = field(default_factory=list)  # edits made while it runs


@dataclass
class DocumentProvenance:
    edits: EditTracker
    blame: EditTracker = field(default_factory=lambda: EditTracker(None, _NEVER, _NEVER))
    diff: EditTracker = field(default_factory=lambda: EditTracker(None, _NEVER, _NEVER))
    in_repo: bool = False
    git_key: tuple[Any, ...] | None = None
    installed_seq: int = 0
    requests: list[_Request] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    generation: int = 0  # bumped when a job installs new regions
    analysed: int = 0  # the generation the latest snapshot was taken with


def _regions(tracker: EditTracker, source: Source) -> list[Region]:
    return [Region(t.start, t.end, source, t.detail) for t in tracker.regions]


def _git_key(settings: Settings) -> tuple[Any, ...]:
    base = settings.base if settings.scope == "changed" else None
    return (ai_patterns(settings) if settings.provenance_git else None, base)


class ProvenanceTracker:
    """Provenance of every open document. Only the event loop touches it."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.documents: dict[str, DocumentProvenance] = {}
        self._writes: dict[str, asyncio.Task[None]] = {}
        self._seq = 0

    # -- document sync hooks ---------------------------------------------------------------------
    def did_open(self, uri: str) -> None:
        settings = self.session.settings_for(uri)
        state = DocumentProvenance(
            EditTracker(None, settings.bulk_insert_min_lines, settings.bulk_insert_min_chars)
        )
        self.documents[uri] = state
        self._start(uri, state, settings, load=settings.provenance_edits)

    def before_change(
        self, document: Document, change: types.TextDocumentContentChangeEvent
    ) -> None:
        state = self.documents.get(document.uri)
        if state is None:
            return
        settings = self.session.settings_for(document.uri)
        ops = line_ops(
            document,
            change,
            self.session.codec,
            settings.bulk_insert_min_lines,
            settings.bulk_insert_min_chars,
        )
        if not settings.provenance_edits:
            ops = [op for op in ops if not (isinstance(op, Mark) and op.bulk)]
        # No codeLens/refresh here: clients ask for lenses again after a change of the text.
        self._apply(state, ops)
        for request in state.requests:
            request.ops.extend(ops)

    def did_save(self, uri: str) -> None:
        state = self.documents.get(uri)
        if state is None:
            return
        self.persist(uri)
        self._start(uri, state, self.session.settings_for(uri), load=False)

    def did_close(self, uri: str) -> None:
        state = self.documents.get(uri)
        if state is None:
            return
        if not any(request.load for request in state.requests):  # else nothing is known yet
            self.persist(uri)
        for task in state.tasks:
            task.cancel()
        del self.documents[uri]

    # -- analysis hooks --------------------------------------------------------------------------
    def input_for(self, uri: str, settings: Settings) -> ProvenanceInput | None:
        """Called on the loop when a snapshot is taken."""
        state = self.documents.get(uri)
        if state is None:
            return None
        state.analysed = state.generation
        regions: list[Region] = []
        if settings.provenance_edits:
            regions.extend(_regions(state.edits, "edit"))
        if settings.provenance_git:
            regions.extend(_regions(state.blame, "git-blame"))
        if settings.scope == "changed":
            regions.extend(_regions(state.diff, "git-diff"))
        return ProvenanceInput(
            tuple(regions), settings.provenance_markers, settings.scope, state.in_repo
        )

    async def ready(self, uri: str) -> None:
        """Before a snapshot: start the git job the settings now need, and wait (briefly) for
        pending jobs so the analysis sees their regions."""
        state = self.documents.get(uri)
        if state is None:
            return
        settings = self.session.settings_for(uri)
        key = _git_key(settings)
        if state.git_key != key and all(r.key != key for r in state.requests):
            self._start(uri, state, settings, load=False)
        if state.tasks:
            await asyncio.wait(set(state.tasks), timeout=READY_WAIT_S)

    def regions_for(self, uri: str) -> list[Region]:
        state = self.documents.get(uri)
        if state is None:
            return []
        return [
            *_regions(state.edits, "edit"),
            *_regions(state.blame, "git-blame"),
            *_regions(state.diff, "git-diff"),
        ]

    # -- internals -------------------------------------------------------------------------------
    @staticmethod
    def _apply(state: DocumentProvenance, ops: Sequence[LineOp]) -> None:
        apply_ops(state.edits, ops, "bulk")
        apply_ops(state.blame, ops, "none")
        apply_ops(state.diff, ops, "typed")

    def _start(self, uri: str, state: DocumentProvenance, settings: Settings, load: bool) -> None:
        document = self.session.documents.get(uri)
        if document is None:
            return
        file = file_path(uri)
        folder = self.session.folder_for(uri)
        store = None
        if load and file is not None and folder is not None and folder.path is not None:
            store = (folder.path, self.session.display_path(uri))
        key = _git_key(settings)
        self._seq += 1
        request = _Request(key, self._seq, load=store is not None)
        state.requests.append(request)
        job = Job(file, document.text, store, key[0], key[1])
        task = asyncio.get_running_loop().create_task(self._run(uri, state, request, job))
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)

    async def _run(self, uri: str, state: DocumentProvenance, request: _Request, job: Job) -> None:
        try:
            if request.load and uri in self._writes:  # a close just before this reopen
                await asyncio.wait({self._writes[uri]})
            result = await self.session.in_worker(run_job, job)
        except Exception:  # provenance must never break the analysis it decorates
            log.exception("provenance of %s could not be computed", uri)
            state.requests.remove(request)
            state.git_key = request.key  # do not retry on every analysis
            return
        state.requests.remove(request)
        if self.documents.get(uri) is not state:
            return  # closed (or reopened) meanwhile
        before = self.regions_for(uri), state.in_repo
        if result.loaded is not None:
            # The live tracker started empty at open and saw the same edits: replaying them
            # onto the loaded regions gives both.
            loaded = EditTracker(result.loaded, state.edits.min_lines, state.edits.min_chars)
            apply_ops(loaded, request.ops, "bulk")
            state.edits.regions = loaded.regions
        if request.seq > state.installed_seq:
            state.installed_seq = request.seq
            state.git_key = request.key
            state.in_repo = result.in_repo
            state.blame = self._moved(result.blame, request.ops, "none")
            state.diff = self._moved(result.diff, request.ops, "typed")
        if (self.regions_for(uri), state.in_repo) != before:
            state.generation += 1
            self._reanalyse(uri, state)

    @staticmethod
    def _moved(regions: list[Region], ops: Sequence[LineOp], marks: str) -> EditTracker:
        tracker = EditTracker([Tracked(r.start, r.end, r.detail) for r in regions], _NEVER, _NEVER)
        apply_ops(tracker, ops, marks)
        return tracker

    def _reanalyse(self, uri: str, state: DocumentProvenance) -> None:
        """Analyse again with the new regions, unless a pending analysis will take them."""
        session = self.session

        def again(_: object = None) -> None:
            if self.documents.get(uri) is state and state.analysed < state.generation:
                session.schedule(uri, delay_ms=0)
                if session.pull_diagnostics:
                    session._request_refresh()
                self._refresh_code_lenses()

        pending = session._pending.get(uri)
        if pending is None:
            again()
        else:
            pending.add_done_callback(again)

    def persist(self, uri: str) -> None:
        """Write the document's bulk-edit regions under its workspace folder (in a worker;
        writes of one document happen in order)."""
        state = self.documents.get(uri)
        document = self.session.documents.get(uri)
        folder = self.session.folder_for(uri)
        settings = self.session.settings_for(uri)
        if state is None or document is None or not settings.provenance_edits:
            return
        if file_path(uri) is None or folder is None or folder.path is None:
            return
        tracker = EditTracker(list(state.edits.regions))
        args = (folder.path, self.session.display_path(uri), document.text, tracker)
        previous = self._writes.get(uri)

        async def write() -> None:
            if previous is not None:
                await asyncio.wait({previous})
            try:
                refused = await self.session.in_worker(save_inside, *args)
            except Exception:
                log.exception("provenance of %s could not be saved", uri)
                return
            if refused is not None:
                self.session.warn(refused)

        task = asyncio.get_running_loop().create_task(write())
        self._writes[uri] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self._writes.get(uri) is done:
                del self._writes[uri]

        task.add_done_callback(forget)

    def _refresh_code_lenses(self) -> None:
        server = self.session.server
        caps = server.client_capabilities.workspace
        if not (caps and caps.code_lens and caps.code_lens.refresh_support):
            return

        def done(answer: Any) -> None:
            if not answer.cancelled() and answer.exception() is not None:
                log.debug("codeLens/refresh failed: %r", answer.exception())

        server.workspace_code_lens_refresh(None).add_done_callback(done)
