"""The command line: ``riskhints check``, ``riskhints rules`` — the same engine as the server.

Exit codes: 0 no findings (or ``--exit-zero``), 1 findings, 2 usage, configuration or internal
error. Reports go to stdout (or ``--output``); progress and errors go to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from . import __version__, cli_prompt, cli_provenance, cli_stress
from .checking import check_files
from .cli_common import EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS
from .cli_common import display_path as display_path  # re-exported for subcommands
from .config import (
    ConfigError,
    Settings,
    find_pyproject,
    load_config_file,
    load_pyproject,
    parse_settings,
)
from .discovery import discover
from .failures import cli as failures_cli
from .output import FORMATS, render

_PROGRESS_THRESHOLD = 200


class _UsageError(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="riskhints",
        description="Flags the concurrency hazards that AI-written Python gets wrong.",
    )
    parser.add_argument("--version", action="version", version=f"riskhints {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

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
    cli_provenance.add_check_arguments(check)

    serve = commands.add_parser("serve", help="start the language server (stdio by default)")
    serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead (debugging)")
    serve.add_argument("--log-file", type=Path, help="write the server log to this file")
    serve.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv)")

    settings = commands.add_parser("settings", help="print every setting (docs/settings.md)")
    settings.add_argument("--format", choices=("markdown", "json"), default="markdown")

    rules = commands.add_parser("rules", help="print the rule catalogue")
    rules.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    failures_cli.add_parser(commands)
    cli_prompt.add_parser(commands)
    cli_stress.add_parser(commands)
    cli_provenance.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0) and EXIT_ERROR
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "check": run_check,
        "rules": run_rules,
        "settings": run_settings,
        "serve": run_serve,
        "failures": failures_cli.run,
        "prompt": cli_prompt.run,
        "stress": cli_stress.run,
        "provenance": run_provenance,
    }
    try:
        return handlers[args.command](args)
    except (ConfigError, _UsageError) as error:
        _err(f"error: {error}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_ERROR
    except Exception:  # an internal error is reported, with exit code 2, never a bare crash
        _err("internal error, please report it with this traceback:")
        traceback.print_exc(file=sys.stderr)
        return EXIT_ERROR


def _err(message: str) -> None:
    sys.stderr.write(f"riskhints: {message}\n")


def _split_ids(values: Iterable[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def load_settings(args: argparse.Namespace, start: Path) -> tuple[Settings, Path]:
    """Settings for a run and the project root (the folder of the pyproject we used)."""
    if args.config is not None:
        if not args.config.is_file():
            raise _UsageError(f"--config {args.config}: no such file")
        settings = load_config_file(args.config)
        root = args.config.resolve().parent
    else:
        pyproject = find_pyproject(start)
        settings = load_pyproject(pyproject) if pyproject else Settings()
        root = pyproject.parent if pyproject else Path.cwd()
    overrides: dict[str, object] = {}
    if args.select:
        overrides["select"] = _split_ids(args.select)
    if args.ignore:
        overrides["ignore"] = [*settings.ignore, *_split_ids(args.ignore)]
    for key in ("scope", "base"):  # riskhints check --scope/--base, riskhints provenance --base
        if getattr(args, key, None) is not None:
            overrides[key] = getattr(args, key)
    if overrides:
        settings = parse_settings(overrides, "command line", settings)
    return settings, root


def run_check(args: argparse.Namespace) -> int:
    paths: list[Path] = args.paths or [Path(".")]
    for path in paths:
        if not path.exists():
            raise _UsageError(f"{path}: no such file or folder")
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
    findings = cli_provenance.scope_findings(findings, settings, root)
    report = render(args.format, findings, len(files))
    if args.output is not None:
        args.output.write_text(report, encoding="utf-8")
        if not args.quiet:
            _err(f"wrote {args.format} report to {args.output} ({len(findings)} findings)")
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


def run_provenance(args: argparse.Namespace) -> int:
    settings, root = load_settings(args, args.files[0])
    return cli_provenance.run(args, settings, root)


def run_rules(args: argparse.Namespace) -> int:
    from .docs import rules_json, rules_markdown, rules_text

    renderers = {"text": rules_text, "json": rules_json, "markdown": rules_markdown}
    sys.stdout.write(renderers[args.format]())
    return EXIT_CLEAN


def run_serve(args: argparse.Namespace) -> int:
    import logging

    from .lsp.server import create_server

    level = logging.WARNING - 10 * min(args.verbose, 2)
    handler: logging.Handler = (
        logging.FileHandler(args.log_file, encoding="utf-8")
        if args.log_file
        else logging.StreamHandler(sys.stderr)  # never stdout: that is the protocol stream
    )
    logging.basicConfig(
        level=level, handlers=[handler], format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    server = create_server()
    # Everything imported so far (pygls, lsprotocol, cattrs, libcst: ~66k objects) lives as long
    # as the server: keep it out of every later collection, which then costs ~1 ms, not ~20.
    import gc

    gc.collect()
    gc.freeze()
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        if not port.isdigit():
            raise _UsageError(f"--tcp {args.tcp}: expected HOST:PORT")
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        server.start_io()
    return EXIT_CLEAN


def run_settings(args: argparse.Namespace) -> int:
    from .config import settings_json, settings_markdown

    sys.stdout.write(settings_json() if args.format == "json" else settings_markdown())
    return EXIT_CLEAN
