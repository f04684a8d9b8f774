"""How ``riskhints check`` runs the engine over a project: cache first, then the workspace.

A run is per project (its root found from the named paths, never from the current directory):
the files to report on are analysed against the :class:`~riskhints.analysis.workspace.Workspace`
of *every* module of the project, so a file named alone (by pre-commit, say) keeps the findings
whose chain crosses into modules it imports. Paths inside a run are relative to the project
root (cache keys, dependencies, findings); the command line turns them into display paths.

Cache hits are answered in the main process (a warm run loads no engine and starts no pool).
Misses are analysed against the workspace, so calls are followed across files; with
``--jobs N`` each worker process keeps its own workspace and parses a module the first time one
of its files needs it (at most once per worker). A cache entry records the other files its
findings depended on, and is valid only while they are unchanged.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import safe_read
from .analysis.digests import digest
from .analysis.finding import Finding, Severity, Span
from .analysis.options import AnalysisOptions
from .analysis.project import PythonEnvironment
from .cache import FindingsCache

if TYPE_CHECKING:
    from .analysis.workspace import ModuleAnalysis

_PARALLEL_THRESHOLD = 48  # below this many files a process pool costs more than it saves
_SERIAL_BATCH = 64  # files analysed against one program (and reported to the progress bar)


@dataclass(frozen=True)
class CheckJob:
    """What a worker needs, picklable: the project's files and the run's options."""

    root: Path
    #: (path on disk, path relative to the root) of every module of the workspace, the files
    #: to report on first (a module name two files share goes to the one reported on).
    files: tuple[tuple[str, str], ...]
    options: AnalysisOptions
    cache_dir: Path | None
    environment: PythonEnvironment | None = None  # the project's packages, for jedi

    def absolute(self) -> CheckJob:
        """The same job with absolute paths, for workers that run in another directory."""
        return dataclasses.replace(
            self,
            root=Path(os.path.abspath(self.root)),
            files=tuple((os.path.abspath(real), shown) for real, shown in self.files),
            cache_dir=Path(os.path.abspath(self.cache_dir)) if self.cache_dir else None,
        )

    def cache(self) -> FindingsCache | None:
        if self.cache_dir is None:
            return None
        return FindingsCache(self.cache_dir, self.options.fingerprint(), self._environment_key())

    def _environment_key(self) -> str:
        # jedi's answers depend on which packages it reads: another environment, other entries.
        if self.environment is None or self.options.inference != "jedi":
            return ""
        return "\0".join(str(p) for p in self.environment.site_packages)


class _Worker:
    """A process's workspace (in pool workers, built once by the pool initializer)."""

    def __init__(self, job: CheckJob) -> None:
        from .analysis.inference import AnswerStore, JediInference
        from .analysis.workspace import Workspace

        self.job = job
        paths = [Path(real) for real, _ in job.files]
        shown = {Path(real): shown for real, shown in job.files}
        inference = None
        if job.options.inference == "jedi":
            # With a cache, jedi's answers are kept in it too: a module re-read because one
            # that imports it changed asks jedi nothing (while it and its imports are unchanged).
            store = AnswerStore(job.cache_dir / "jedi") if job.cache_dir is not None else None
            inference = JediInference(job.root, job.environment, store=store)
        self.workspace = Workspace.from_paths(paths, job.root, shown, inference)
        self.cache = job.cache()
        self._prepared: dict[str, ModuleAnalysis] = {}

    def check_batch(
        self, batch: Sequence[tuple[str, str]], phase: Callable[[str], None] = lambda _p: None
    ) -> list[list[Finding]]:
        """Findings of each file of the batch, analysed against one shared program; ``phase``
        hears which step runs (parsing, with jedi's inference, then the rules)."""
        modules = [m for m in (self.workspace.module_for(Path(r)) for r, _ in batch) if m]
        if any(not self.workspace.is_parsed(m) for m in modules):
            jedi = " and inferring types (jedi)" if self.job.options.inference == "jedi" else ""
            phase(f"parsing{jedi}")
            for module in modules:
                self.workspace.closure(module)  # loads the module and what it imports
        phase("applying the rules")
        self._prepared = self.workspace.analyze_many(modules, self.job.options)
        try:
            return [self.check(real, shown) for real, shown in batch]
        finally:
            self._prepared = {}

    def check(self, real: str, shown: str) -> list[Finding]:
        """Findings of one file, with paths relative to the root (``shown``)."""
        from .analysis import analyze_bytes
        from .analysis.rules.meta import NOT_ANALYSED

        try:
            data = safe_read.read_bytes(real)
        except OSError as error:
            message = f"not analysed: cannot read the file ({error.strerror})"
            return [Finding(NOT_ANALYSED, Severity.WARNING, shown, Span(1, 0, 1, 0), message)]
        module = self.workspace.module_for(Path(real))
        analysis = None
        if module is not None:
            analysis = self._prepared.get(module) or self.workspace.analyze(
                module, self.job.options
            )
        if analysis is None:  # undecodable or binary: the engine says why
            findings, dependencies = analyze_bytes(data, shown, self.job.options), {}
        else:
            findings, dependencies = analysis.findings, analysis.dependencies
        if self.cache is not None:
            self.cache.put(self.cache.key(shown, data), findings, dependencies)
        return findings


_POOL_WORKER: _Worker | None = None  # set once per pool process by _init_pool_worker


def _init_pool_worker(job: CheckJob, parent_pid: int) -> None:
    global _POOL_WORKER
    from .processes import watch_parent

    watch_parent(parent_pid)  # a killed `riskhints check` leaves no worker analysing
    _POOL_WORKER = _Worker(job)


def _check_in_pool(batch: Sequence[tuple[str, str]]) -> list[list[Finding]]:
    assert _POOL_WORKER is not None, "pool worker used before its initializer ran"
    return _POOL_WORKER.check_batch(batch)


def check_files(
    job: CheckJob,
    targets: Sequence[tuple[str, str]],
    jobs: int = 1,
    progress: Callable[[int], None] = lambda _n: None,
    phase: Callable[[str], None] = lambda _p: None,
) -> list[Finding]:
    """Findings of ``targets`` ((path on disk, path relative to the root), all in
    ``job.files``), analysed against the whole workspace of ``job``."""
    work = list(targets)
    results: list[list[Finding]] = []
    cache = job.cache()
    if cache is not None:
        phase("reading the cache")
        digests = _DigestReader(job.root)
        misses = []
        for real, shown in work:
            hit = cache.lookup(real, shown, digests)
            if hit is None:
                misses.append((real, shown))
            else:
                results.append(hit)
                progress(1)
        work = misses
    if jobs > 1 and len(work) >= _PARALLEL_THRESHOLD:
        from .isolation import IsolatedPool

        phase(f"analysing in {jobs} processes")
        chunk = max(1, len(work) // (jobs * 8))
        batches = [
            [(os.path.abspath(real), shown) for real, shown in work[i : i + chunk]]
            for i in range(0, len(work), chunk)
        ]
        # Isolated workers (python -I, run outside the workspace: hence absolute paths), not
        # multiprocessing's, which start with the current directory first on sys.path.
        pool = IsolatedPool(
            jobs, initializer=_init_pool_worker, initargs=(job.absolute(), os.getpid())
        )
        with pool:
            for batch, result in zip(batches, pool.map(_check_in_pool, batches), strict=True):
                results.extend(result)
                progress(len(batch))
    elif work:
        worker = _Worker(job)
        for start in range(0, len(work), _SERIAL_BATCH):
            batch = work[start : start + _SERIAL_BATCH]
            results.extend(worker.check_batch(batch, phase))
            progress(len(batch))
    findings = [f for per_file in results for f in per_file]
    findings.sort(key=Finding.sort_key)
    return findings


class _DigestReader:
    """Current digests of files named by their path relative to the root, each read once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._known: dict[str, str | None] = {}

    def __call__(self, shown: str) -> str | None:
        if shown not in self._known:
            try:
                self._known[shown] = digest(safe_read.read_bytes(self.root / shown))
            except OSError:
                self._known[shown] = None
        return self._known[shown]
