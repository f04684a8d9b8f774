"""``riskhints check [PATHS]``: analyse files and report findings (text, JSON, SARIF).

Exit codes: 0 no findings (or ``--exit-zero``), 1 findings, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, replace
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
    from ..actions.apply import FileChange
    from ..analysis.finding import Finding


def add_parser(commands: Any) -> None:
    check = commands.add_parser("check", help="analyse files and report findings")
    check.add_argument("paths", nargs="*", type=Path, help="files or folders (default: .)")
    check.add_argument(
        "--output-format",
        "--format",
        dest="format",
        choices=FORMATS,
        default="full",
        help="full (default: evidence, source and advice), concise (one line each), text "
        "(evidence, no source), json, sarif, or github (workflow annotations)",
    )
    check.add_argument("-o", "--output", type=Path, help="write the report to a file")
    check.add_argument(
        "--statistics", action="store_true", help="print the number of findings of each rule"
    )
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
    adoption = check.add_argument_group("fixes and adoption")
    adoption.add_argument(
        "--fix", action="store_true", help="apply the safe quick fixes the editor offers"
    )
    adoption.add_argument(
        "--unsafe-fixes",
        action="store_true",
        help="with --fix or --diff: also the fixes that need review",
    )
    adoption.add_argument(
        "--diff", action="store_true", help="print the fixes as a unified diff, change nothing"
    )
    adoption.add_argument(
        "--add-noqa",
        action="store_true",
        help="add a `# riskhints: ignore[RHnnn] -- <why this is safe>` comment to every finding",
    )
    adoption.add_argument(
        "--baseline",
        type=Path,
        metavar="FILE",
        help="report only findings not recorded in FILE (written with today's findings when "
        "it does not exist)",
    )
    adoption.add_argument(
        "--update-baseline",
        action="store_true",
        help="with --baseline: record today's findings in FILE again",
    )
    provenance.add_check_arguments(check)


def run(args: argparse.Namespace) -> int:
    from ..output import render
    from ..output.text import summary_line

    _check_flags(args)
    named: list[Path] = args.paths or [Path(".")]
    for path in named:
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder")
    paths = [p for p in named if p.is_dir() or _is_python_file(p)]
    for path in named:
        if path not in paths:
            _warn(args, f"{path}: not a Python file, skipped")
    checked = _Checked.of(args, paths)
    if checked.files == 0:
        shown = ", ".join(str(p) for p in named)
        _warn(args, f"no Python files found in {shown} (nothing was checked)")
    lines = _LineReader()
    if args.fix or args.diff or args.add_noqa:
        changes = _changes(args, checked, lines)
        if args.diff:
            sys.stdout.write("".join(change.diff() for change in changes))
            if not args.quiet:
                err(_changed_summary(changes, "would fix" if not args.add_noqa else "would add"))
            return EXIT_FINDINGS if changes and not args.exit_zero else EXIT_CLEAN
        for change in changes:
            Path(change.path).write_text(change.after, encoding="utf-8")
        if not args.quiet:
            err(_changed_summary(changes, "suppressed" if args.add_noqa else "fixed"))
        if changes:  # report what is left, from the files as they are now
            lines = _LineReader()
            checked = _Checked.of(args, paths)
    findings = checked.findings
    if checked.hidden_by_scope:
        count = checked.hidden_by_scope
        where = "AI-suggested" if checked.scope == "ai" else "AI-suggested or changed"
        _note(
            args,
            f"--scope {checked.scope} hid {count} finding{'s' if count != 1 else ''} "
            f"outside {where} code (--scope all shows them)",
        )
    if args.baseline is not None:
        findings = _apply_baseline(args, findings, lines)
    if args.format == "json":
        findings = _offered_fixes(findings, lines)
    report = render(args.format, findings, checked.files, lines)
    if args.statistics:
        from ..output.statistics import render_statistics

        # Like ruff's: the counts instead of the listing (and, unless --quiet, the summary line
        # in text).
        stats = render_statistics(findings, args.format == "json")
        if args.format in ("full", "concise", "text") and not args.quiet:
            stats += summary_line(findings, checked.files) + "\n"
        report = stats
    if args.output is not None:
        args.output.write_text(report, encoding="utf-8")
        if not args.quiet:
            err(f"wrote {args.format} report to {args.output} ({len(findings)} findings)")
    elif args.quiet and args.format in ("full", "concise", "text") and not args.statistics:
        sys.stdout.write("".join(line + "\n" for line in report.splitlines()[:-1]))
    else:
        sys.stdout.write(report)
    if findings and not args.exit_zero:
        return EXIT_FINDINGS
    return EXIT_CLEAN


def _check_flags(args: argparse.Namespace) -> None:
    if sum(map(bool, (args.fix, args.diff, args.add_noqa))) > 1:
        raise UsageError("--fix, --diff and --add-noqa are one at a time")
    if args.unsafe_fixes and not (args.fix or args.diff):
        raise UsageError("--unsafe-fixes goes with --fix or --diff")
    if args.update_baseline and args.baseline is None:
        raise UsageError("--update-baseline needs --baseline FILE")
    if args.statistics and args.format in ("sarif", "github"):
        raise UsageError(f"--statistics prints text or json, not {args.format}")


def _is_python_file(path: Path) -> bool:
    """A named file riskhints can read: ``*.py``/``*.pyw``, or a script whose first line
    names python (``#!/usr/bin/env python3``)."""
    if path.suffix in (".py", ".pyw"):
        return True
    if path.suffix or not path.is_file():
        return False
    from .. import safe_read

    try:  # regular files only (never blocks on a FIFO)
        first = safe_read.read_text(path, errors="replace").split("\n", 1)[0].encode()
    except (OSError, ValueError):
        return False
    return first.startswith(b"#!") and b"python" in first


def _warn(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        err(f"warning: {message}")


def _note(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        err(f"note: {message}")


class _LineReader:
    """A file's lines by display path, each read once (excerpts, baselines, fixes)."""

    def __init__(self) -> None:
        self._texts: dict[str, str | None] = {}

    def text(self, path: str) -> str | None:
        if path not in self._texts:
            from .. import safe_read

            try:  # regular files only: a FIFO or a device named *.py is never opened
                self._texts[path] = safe_read.read_text(Path(path))
            except (OSError, UnicodeDecodeError, ValueError):
                self._texts[path] = None
        return self._texts[path]

    def __call__(self, path: str) -> list[str] | None:
        text = self.text(path)
        return None if text is None else text.splitlines()


@dataclass
class _Checked:
    """One check of the named paths: each project's run and its findings."""

    runs: list[tuple[_ProjectRun, list[Finding]]]
    files: int
    hidden_by_scope: int
    scope: str

    @property
    def findings(self) -> list[Finding]:
        from ..analysis.finding import Finding

        found = [f for _, findings in self.runs for f in findings]
        return sorted(found, key=Finding.sort_key)

    @classmethod
    def of(cls, args: argparse.Namespace, paths: list[Path]) -> _Checked:
        # One run per project: each named path belongs to the project above it (never to the
        # current directory), which gives its settings, its cache and the modules it imports.
        groups: dict[Path, list[Path]] = {}
        for path in paths:
            groups.setdefault(project_of(path)[0], []).append(path)
        show = not args.quiet and sys.stderr.isatty()
        runs: list[tuple[_ProjectRun, list[Finding]]] = []
        with _Progress(show) as progress:
            progress.phase("walking the files")
            projects = [_ProjectRun(args, load_project(args, n[0]), n) for n in groups.values()]
            total = sum(len(r.targets) for r in projects)
            for project_run in projects:
                runs.append((project_run, project_run.check(args.jobs, total, progress)))
        scope = projects[0].settings.scope if projects else "all"
        return cls(runs, total, sum(r.hidden_by_scope for r, _ in runs), scope)


def _changes(args: argparse.Namespace, checked: _Checked, lines: _LineReader) -> list[FileChange]:
    from ..actions.apply import fixed, suppressed
    from ..analysis.meta_ids import META_RULES

    changes = []
    for project_run, findings in checked.runs:
        options = project_run.settings.analysis_options()
        by_file: dict[str, list[Finding]] = {}
        for finding in findings:
            if finding.rule not in META_RULES:
                by_file.setdefault(finding.path, []).append(finding)
        for path, per_file in by_file.items():
            text = lines.text(path)
            if text is None:
                continue
            if args.add_noqa:
                change = suppressed(path, text, per_file)
            else:
                change = fixed(path, text, per_file, options, unsafe=args.unsafe_fixes)
            if change is not None:
                changes.append(change)
    return changes


def _offered_fixes(findings: list[Finding], lines: _LineReader) -> list[Finding]:
    """JSON's ``fix``: the quick fix really offered for the finding (its title, and ``safe``
    when ``--fix`` applies it, ``unsafe`` when it needs ``--unsafe-fixes``), else null. The
    engine's payload only says which fixer to ask, and that fixer may have nothing to offer."""
    if not any(f.fix for f in findings):
        return findings
    from ..actions.fixes import fixes_for

    out = []
    for finding in findings:
        text = lines.text(finding.path) if finding.fix else None
        offered = fixes_for(text, finding) if text is not None else []
        fix = None
        if offered:
            best = sorted(offered, key=lambda a: (not a.safe_for_fix_all, not a.is_preferred))[0]
            applicability = "safe" if best.safe_for_fix_all else "unsafe"
            fix = {"title": best.title, "applicability": applicability}
        out.append(replace(finding, fix=fix))
    return out


def _changed_summary(changes: list[FileChange], verb: str) -> str:
    count = sum(c.count for c in changes)
    files = len(changes)
    return (
        f"{verb} {count} finding{'s' if count != 1 else ''} "
        f"in {files} file{'s' if files != 1 else ''}"
    )


def _apply_baseline(
    args: argparse.Namespace, findings: list[Finding], lines: _LineReader
) -> list[Finding]:
    from ..baseline import BaselineError, new_findings, write_baseline

    file: Path = args.baseline
    if args.update_baseline or not file.exists():
        write_baseline(file, findings, lines)
        _note(
            args,
            f"recorded {len(findings)} finding{'s' if len(findings) != 1 else ''} in {file}; "
            f"later runs with --baseline {file} report only new ones",
        )
        return []
    try:
        new, hidden = new_findings(file, findings, lines)
    except BaselineError as error:
        raise UsageError(str(error)) from None
    if hidden:
        _note(args, f"{hidden} finding{'s' if hidden != 1 else ''} recorded in {file} not shown")
    return new


class _ProjectRun:
    """The named paths of one project: the files to report on, and the project's modules."""

    def __init__(self, args: argparse.Namespace, project: Project, named: list[Path]) -> None:
        from ..analysis.project import find_environment
        from ..discovery import discover

        self.project = project
        self.hidden_by_scope = 0
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

    def check(self, jobs: int, total: int, progress: _Progress) -> list[Finding]:
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
        jobs = jobs if jobs > 0 else (os.cpu_count() or 1)
        progress.files(total)
        checked = check_files(job, targets, jobs, progress.advance, progress.phase)
        found = [_displayed(f, root) for f in checked]
        # After the cache, which holds raw findings: provenance is never stale.
        scoped = provenance.scope_findings(found, self.settings, root)
        self.hidden_by_scope = len(found) - len(scoped)
        return scoped


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


class _Progress:
    """What a run is doing, on a terminal: the phase (walking, reading the cache, parsing and
    inferring types, applying the rules) and a bar over the files, so a long first run shows
    where it is. A no-op when stderr is not a terminal, or with ``--quiet``."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
            )

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                transient=True,
                console=Console(stderr=True),
            )
            self._progress.start()
            self._task = self._progress.add_task("starting", total=None)
        return self

    def phase(self, description: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=description)

    def files(self, total: int) -> None:
        if self._progress is not None and self._progress.tasks[0].total is None:
            self._progress.update(self._task, total=total)

    def advance(self, count: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, count)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
