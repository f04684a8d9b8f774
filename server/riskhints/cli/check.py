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
from typing import Any

from ..output import FORMATS
from . import provenance
from .common import EXIT_CLEAN, EXIT_FINDINGS, UsageError, err, load_settings

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
        help="cache folder (default: .riskhints/cache in the project root)",
    )
    check.add_argument("--quiet", "-q", action="store_true", help="no progress or summary")
    provenance.add_check_arguments(check)


def run(args: argparse.Namespace) -> int:
    from ..checking import check_files
    from ..discovery import discover
    from ..output import render

    paths: list[Path] = args.paths or [Path(".")]
    for path in paths:
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder")
    settings, root = load_settings(args, paths[0])
    if args.no_cache:
        settings = replace(settings, cache=False)
    files = discover(paths, root, settings.exclude)
    options = settings.analysis_options()
    cache_dir = None
    if settings.cache:
        cache_dir = args.cache_dir or (root / ".riskhints" / "cache")
    jobs = args.jobs if args.jobs > 0 else (os.cpu_count() or 1)
    show_progress = (not args.quiet) and sys.stderr.isatty() and len(files) >= _PROGRESS_THRESHOLD
    with _progress(len(files), show_progress) as advance:
        findings = check_files(files, root, options, cache_dir, jobs, advance)
    # After the cache, which holds raw findings: provenance is never stale.
    findings = provenance.scope_findings(findings, settings, root)
    report = render(args.format, findings, len(files))
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
