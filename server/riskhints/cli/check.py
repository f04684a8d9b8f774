"""``riskhints check [PATHS]``: analyse files and report findings (text, JSON, SARIF).

Exit codes: 0 no findings (or ``--exit-zero``), 1 findings, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..output import FORMATS
from . import provenance
from .common import (
    EXIT_CLEAN,
    EXIT_FINDINGS,
    Project,
    UsageError,
    display_path,
    err,
    load_project,
    project_of,
)

if TYPE_CHECKING:
    from ..analysis.finding import Finding

_PROGRESS_THRESHOLD = 200


def add_parser(commands: Any) -> None:
    check = commands.add_parser("check", help="analyse files and report findings")
    check.add_argument("paths", nargs="*", type=Path, help="files or folders (default: .)")
    check.add_argument("--format", choices=FORMATS, default="text", help="report format")
    check.add_argument("-o", "--output", type=Path, help="write the report to a file")
    check.add_argument(
        "--select",
        action="append",
        default=[],
        metavar="IDS",
        help="only these rule ids or prefixes, comma-separated (RH2,RH101)",
    )
    check.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="IDS",
        help="skip these rule ids or prefixes, comma-separated",
    )
    check.add_argument("--exit-zero", action="store_true", help="exit 0 even with findings")
    check.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=0,
        metavar="N",
        help="worker processes (default: one per core for large trees)",
    )
    check.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="pyproject.toml or riskhints.toml to read settings from",
    )
    check.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    check.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="cache folder (default: .riskhints/cache in each project's root)",
    )
    check.add_argument("--quiet", "-q", action="store_true", help="no progress or summary")
    provenance.add_check_arguments(check)


def run(args: argparse.Namespace) -> int:
    from ..analysis.finding import Finding
    from ..output import render

    paths: list[Path] = args.paths or [Path(".")]
    for path in paths:
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder")
    # One run per project: each named path belongs to the project above it (never to the
    # current directory), which gives its settings, its cache and the modules it imports.
    groups: dict[Path, list[Path]] = {}
    for path in paths:
        groups.setdefault(project_of(path)[0], []).append(path)
    runs = [_ProjectRun(args, load_project(args, named[0]), named) for named in groups.values()]
    total = sum(len(r.targets) for r in runs)
    jobs = args.jobs if args.jobs > 0 else (os.cpu_count() or 1)
    show_progress = (not args.quiet) and sys.stderr.isatty() and total >= _PROGRESS_THRESHOLD
    findings: list[Finding] = []
    with _progress(total, show_progress) as advance:
        for project_run in runs:
            findings.extend(project_run.check(jobs, advance))
    findings.sort(key=Finding.sort_key)
    report = render(args.format, findings, total)
    if args.output is not None:
        args.output.write_text(report, encoding="utf-8")
        if not args.quiet:
            err(f"wrote {args.format} report to {args.output} ({len(findings)} findings)")
    elif args.quiet and args.format == "text":
        sys.stdout.write("".join(line + "\n" for line in report.splitlines()[:-1]))
    else:
        sys.stdout.write(report)
    if findings and not args.exit_zero:
        return EXIT_FINDINGS
    return EXIT_CLEAN


class _ProjectRun:
    """The named paths of one project: the files to report on, and the project's modules."""

    def __init__(self, args: argparse.Namespace, project: Project, named: list[Path]) -> None:
        from ..analysis.project import find_environment
        from ..discovery import discover

        self.project = project
        settings = project.settings
        if args.no_cache:
            settings = replace(settings, cache=False)
        self.settings = settings
        self.targets = discover(named, project.settings_folder, settings.exclude)
        # The named files are analysed with every module of the project they may import.
        modules = list(self.targets)
        walked = project.kind in ("marked", "package")
        if walked and any(p.resolve() != project.root for p in named):
            modules += discover([project.root], project.settings_folder, settings.exclude)
        self.modules = list(dict.fromkeys(modules))
        # The cache lives in the project (never in the current folder), or where --cache-dir
        # says; a file outside any project is not cached rather than litter its folder.
        self.cache_dir: Path | None = None
        if settings.cache and (args.cache_dir or project.kind == "marked"):
            self.cache_dir = args.cache_dir or _project_cache(project.root)
        self.environment = find_environment(project.settings_folder, settings.python, settings.venv)
        if self.environment.problem and not args.quiet:
            err(f"warning: {self.environment.problem}")

    def check(self, jobs: int, advance: Callable[[int], None]) -> list[Finding]:
        from ..checking import CheckJob, check_files

        root = self.project.root
        relative = {path: _relative(path, root) for path in self.modules}
        job = CheckJob(
            root,
            tuple((str(path), relative[path]) for path in self.modules),
            self.settings.analysis_options(),
            self.cache_dir,
            self.environment,
        )
        targets = [(str(path), relative[path]) for path in self.targets]
        found = [_displayed(f, root) for f in check_files(job, targets, jobs, advance)]
        # After the cache, which holds raw findings: provenance is never stale.
        return provenance.scope_findings(found, self.settings, root)


def _project_cache(root: Path) -> Path | None:
    """``.riskhints/cache`` of the project, unless a symlink leads it out of the project (then
    the run goes without a cache: --cache-dir names a place outside explicitly)."""
    from ..roots import OutsideWorkspace, inside

    try:
        return inside(root, root / ".riskhints" / "cache")
    except OutsideWorkspace as error:
        err(f"riskhints: not caching: {error.strerror}")
        return None


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:  # a link out of the root (``z.py -> /dev/zero``): named by the link
        pass
    try:
        return Path(os.path.abspath(path)).relative_to(root).as_posix()
    except ValueError:  # a named file outside its own project's root (cannot happen)
        return path.resolve().as_posix()


def _displayed(finding: Finding, root: Path) -> Finding:
    """A finding with paths relative to the current directory (as ruff shows them), from the
    root-relative paths of the run."""
    evidence = tuple(
        e if e.path is None else replace(e, path=display_path(root / e.path))
        for e in finding.evidence
    )
    return replace(finding, path=display_path(root / finding.path), evidence=evidence)


class _progress:
    """A rich progress bar on a terminal for long runs; a no-op otherwise."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled
        self._progress: object | None = None

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda _n: None
        from rich.console import Console
        from rich.progress import Progress

        progress = Progress(transient=True, console=Console(stderr=True))
        progress.start()
        task = progress.add_task("checking", total=self.total)
        self._progress = progress
        return lambda n: progress.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()  # type: ignore[attr-defined]
