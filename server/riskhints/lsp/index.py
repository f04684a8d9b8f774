"""The language server's view of each workspace folder: a :class:`Workspace` of its modules, so
an open document is analysed with the modules it imports (a route in ``api/`` calling a
helper in ``services/`` that calls ``requests.get``), with open editors' unsaved text taking
the place of the files on disk.

Threading: a :class:`FolderIndex` is used from the analysis worker threads and from the
background indexing thread; :class:`Workspace` is not thread-safe, so every use holds
``FolderIndex.lock``. The background build parses one module per lock hold, so an analysis
waits at most for one module's parse. Nothing here touches the event loop or the session.
"""

from __future__ import annotations

import ast
import gc
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..analysis import AnalysisOptions, Finding
from ..analysis.engine import module_name_for
from ..analysis.facts import position_key
from ..analysis.inference import (
    JediInference,
    Position,
    ReceiverInference,
)
from ..analysis.project import find_environment
from ..analysis.workspace import Workspace, WorkspaceFile
from ..discovery import discover, is_walked

#: How long an analysis waits for the folder's walk at start-up before going on without it
#: (a client without ``workspace/diagnostic/refresh`` would not ask again for the better result).
DISCOVERY_WAIT_S = 3.0
#: Folders with more modules than this are not parsed up front (a home folder opened by mistake
#: would take minutes and gigabytes): modules are then read when an open document imports them.
INDEX_MAX_FILES = 5_000
#: Files this large are not parsed by the background build (a 20,000-line module holds the
#: GIL for a quarter of a second); they are still read when an analysis imports them.
INDEX_MAX_BYTES = 300_000


class StickyInference:
    """jedi's answers without jedi on the keystroke path.

    Asking jedi costs 40-700 ms per edited module (it loads the module and what it imports),
    too much for every keystroke. So parses never call it: a receiver gets the type jedi last
    gave for the same expression text in the same file (``self.client`` stays a
    ``requests.Session`` while the method around it is edited), and files with receivers never
    asked about are marked stale. :meth:`FolderIndex.refresh_inference` asks jedi about them in
    the background, outside the index lock, and re-reads the files whose answers changed.
    Used under the index lock, except ``inner`` (jedi has its own)."""

    def __init__(self, inner: ReceiverInference) -> None:
        self.inner = inner
        self._memo: dict[Path, dict[str, str | None]] = {}
        # The receivers the syntax left untyped at the file's last parse, with its text: what
        # a refresh asks jedi about (also those the memo answered, when they must be re-asked).
        self._last: dict[Path, tuple[str, Sequence[ast.expr]]] = {}
        self.stale: set[Path] = set()

    def receiver_types(
        self, path: Path, text: str, receivers: Sequence[ast.expr], context: str = ""
    ) -> dict[Position, str]:
        self._last[path] = (text, receivers)
        memo = self._memo.get(path, {})
        found: dict[Position, str] = {}
        for node in receivers:
            key = ast.unparse(node)
            if key not in memo:
                self.stale.add(path)
                continue
            position = position_key(node)
            answer = memo[key]
            if position is not None and answer is not None:
                found[position] = answer
        return found

    def learn(self, path: Path, receivers: Sequence[ast.expr], found: dict[Position, str]) -> bool:
        """Remember jedi's answers for ``path``; True when an answer changed. One expression
        text with two different answers in a file is remembered as unknown."""
        memo = self._memo.setdefault(path, {})
        before = dict(memo)
        answers: dict[str, set[str | None]] = {}
        for node in receivers:
            position = position_key(node)
            answers.setdefault(ast.unparse(node), set()).add(
                found.get(position) if position is not None else None
            )
        for key, values in answers.items():
            memo[key] = values.pop() if len(values) == 1 else None
        return any(memo.get(key) != before.get(key) for key in answers)

    def last(self, path: Path) -> tuple[str, Sequence[ast.expr]] | None:
        return self._last.get(path)

    def recheck(self, paths: Iterable[Path]) -> None:
        """Ask jedi again about these files (a module they import was saved): their answers
        stay in use until the new ones arrive."""
        self.stale.update(p for p in paths if self._last.get(p, ("", ()))[1])


@dataclass(frozen=True)
class IndexedAnalysis:
    findings: list[Finding]
    # Whether this analysis changed what the index holds for the document (its text differs
    # from what other modules were last analysed against): their results may be stale.
    changed: bool
    # Receivers jedi was not asked about yet (see StickyInference): refresh in the background.
    inference_due: bool = False


class FolderIndex:
    def __init__(
        self,
        root: Path,
        exclude: tuple[str, ...],
        inference: str = "off",
        environment_settings: tuple[str, str] = ("", ""),
    ) -> None:
        self.root = root
        self.exclude = exclude
        #: The ``python`` and ``venv`` settings the project's environment was found from.
        self.environment_settings = environment_settings
        self.inference = None
        if inference == "jedi":
            environment = find_environment(root, *environment_settings)
            self.inference = StickyInference(JediInference(root, environment))
        self.lock = threading.Lock()
        self._workspace: Workspace | None = None
        self.discovered = threading.Event()
        self.cancelled = threading.Event()
        self.building = True  # until the background build (and its inference pass) is over

    @property
    def inference_mode(self) -> str:
        """The ``inference`` setting this index was made for."""
        return "off" if self.inference is None else "jedi"

    # -- building (background thread) ------------------------------------------------------------
    def discover(self) -> int:
        """Find the folder's Python files (honouring ``exclude`` and ``.gitignore``)."""
        try:
            files = discover([self.root], self.root, self.exclude)
            shown = {path: path.relative_to(self.root).as_posix() for path in files}
            # ``build`` freezes the bulk load; edits must not freeze (see Workspace.parsed).
            workspace = Workspace.from_paths(
                files, self.root, shown, self.inference, freeze_loads=False
            )
            with self.lock:
                if self._workspace is not None:  # documents analysed meanwhile keep their text
                    workspace.overrides.update(self._workspace.overrides)
                self._workspace = workspace
            return len(workspace.files)
        finally:
            self.discovered.set()  # also after a failure: analyses go on without the walk

    def build(self, report: Callable[[int, int], None], every_s: float = 0.2) -> bool:
        """Parse every module (one per lock hold), calling ``report(done, total)`` now and then.
        False when the folder is too large to index up front (see ``INDEX_MAX_FILES``)."""
        with self.lock:
            workspace = self._workspace
            modules = sorted(workspace.files) if workspace is not None else []
        if workspace is None:
            return True
        if len(modules) > INDEX_MAX_FILES:
            return False
        last = 0.0
        for done, module in enumerate(modules, 1):
            if self.cancelled.is_set():
                return True
            with self.lock:
                if self._workspace is not workspace:
                    return True  # rebuilt meanwhile
                file = workspace.files.get(module)
                if file is not None and _size(file.path) <= INDEX_MAX_BYTES:
                    workspace.parsed(module)
                    gc.freeze()  # the index is long-lived: keep it out of every collection
            now = time.monotonic()
            if now - last >= every_s or done == len(modules):
                last = now
                report(done, len(modules))
        return True

    # -- analysis (worker threads) -----------------------------------------------------------------
    def analyze(
        self, path: Path, shown: str, text: str, options: AnalysisOptions
    ) -> IndexedAnalysis:
        """Analyse an open document with the folder's modules; its text replaces the file's."""
        self.discovered.wait(DISCOVERY_WAIT_S)
        with self.lock:
            workspace = self._require()
            module = workspace.module_for(path)
            added = module is None
            if module is None:  # a new file, or the folder is not walked yet
                module = module_name_for(shown)
                workspace.add_file(module, WorkspaceFile(path, shown))
            changed = bool(workspace.set_text(module, text)) or added
            analysis = workspace.analyze(module, options)
            due = self.inference is not None and bool(self.inference.stale)
        findings = analysis.findings if analysis is not None else []
        return IndexedAnalysis(findings, changed, due)

    def dependents(self, path: Path, among: Iterable[Path]) -> set[Path]:
        """Which of ``among`` (open documents) are analysed with ``path``'s module."""
        with self.lock:
            workspace = self._require()
            module = workspace.module_for(path)
            if module is None:
                return set()
            modules = {workspace.module_for(p): p for p in among}
            hit = workspace.dependents(module, (m for m in modules if m is not None))
        return {modules[m] for m in hit}

    def closed(self, path: Path) -> bool:
        """An editor closed the document: the file on disk counts again. True when that
        changed what other modules see."""
        with self.lock:
            workspace = self._require()
            module = workspace.module_for(path)
            return module is not None and bool(workspace.set_text(module, None))

    def saved(self, path: Path) -> bool:
        """A file was written: jedi, which reads other modules from disk, may now answer
        differently for the modules that import it. True when some must be asked again."""
        with self.lock:
            workspace = self._require()
            module = workspace.module_for(path)
            if self.inference is None or module is None:
                return False
            importers = [workspace.files[m].path for m in workspace.importers(module)]
            self.inference.recheck(importers)
            return bool(self.inference.stale)

    def file_changed(self, path: Path, exists: bool) -> bool:
        """A file changed on disk (not through an open editor): True when it mattered."""
        self.saved(path)
        with self.lock:
            workspace = self._require()
            module = workspace.module_for(path)
            if not exists:
                return module is not None and bool(workspace.remove_file(module))
            if module is None:
                if not is_walked(path, self.root, self.exclude):
                    return False
                shown = path.relative_to(self.root).as_posix()
                workspace.add_file(module_name_for(shown), WorkspaceFile(path, shown))
                return True
            if module in workspace.overrides:
                return False  # the editor's text wins until the document is closed
            return bool(workspace.invalidate(module))

    def loaded(self) -> int:
        with self.lock:
            return self._workspace.loaded() if self._workspace is not None else 0

    def _require(self) -> Workspace:
        if self._workspace is None:
            # Not discovered yet: documents join as they come.
            self._workspace = Workspace({}, self.inference, freeze_loads=False)
        return self._workspace

    # -- inference (background thread) ----------------------------------------------------------
    def stale_inference(self) -> int:
        with self.lock:
            return len(self.inference.stale) if self.inference is not None else 0

    def refresh_inference(
        self, report: Callable[[int, int], None] | None = None, freeze: bool = False
    ) -> bool:
        """Ask jedi about the receivers of stale files, one file at a time and outside the
        lock, then re-read the files whose answers changed. True when any did. ``freeze``:
        the pass of the background build, whose jedi caches live as long as the index: kept
        out of the cycle collector like the index (see ``build``), or every collection during
        later edits walks them (a 0.9 s pause was measured)."""
        sticky = self.inference
        if sticky is None:
            return False
        changed = False
        done = 0
        while not self.cancelled.is_set():
            with self.lock:
                workspace = self._require()
                if not sticky.stale:
                    break
                path = min(sticky.stale)
                sticky.stale.discard(path)
                module = workspace.module_for(path)
                if module is not None:
                    workspace.parsed(module)  # (re)parsed: its receivers are recorded
                last = sticky.last(path)
                if module is None or last is None:
                    continue
                text, receivers = last
                pending = len(sticky.stale)
            if isinstance(sticky.inner, JediInference):
                sticky.inner.forget(path)  # its cache would repeat the old answer
            found = sticky.inner.receiver_types(path, text, receivers) if receivers else {}
            with self.lock:
                workspace = self._require()
                if sticky.learn(path, receivers, found):
                    current = workspace.parsed(module)
                    if current is not None and current.text == text:
                        workspace.invalidate(module)  # re-read with the answers
                    changed = True
            done += 1
            if report is not None:
                report(done, done + pending)
        if freeze:
            gc.collect()  # once: jedi's garbage goes, its caches are frozen with the index
            gc.freeze()
        return changed


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
