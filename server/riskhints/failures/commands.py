"""What ``riskhints failures add | report | sync`` do (their parser: :mod:`riskhints.cli.failures`).

- ``add FILE:LINE [--rule RHnnn] [--note TEXT]`` analyses the file and logs the finding at that
  line (exit 2 with the reason when there is none, or several and no ``--rule``).
- ``report [--since 7d] [--format markdown|json]`` prints the team lead's page.
- ``sync [PATH...]`` re-analyses the files with open logged failures and appends a ``resolved``
  record for each one that is gone (useful in CI after the fixes land).

The workspace is the project root (the folder of the ``pyproject.toml`` the settings come
from), else the enclosing git repository, else the current directory; the log is written
inside it only.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections import defaultdict
from pathlib import Path

from .. import safe_read
from ..analysis.finding import Finding
from ..config import Settings, find_pyproject, load_config_file, load_pyproject
from ..roots import workspace_root
from .log import FailureLog
from .record import FailureRecord
from .service import NoFinding, log_finding, pick_finding, resolve_in_log
from .workspace import WorkspaceError, git_commit, log_path, relative_path

EXIT_OK, EXIT_ERROR = 0, 2


def run(args: argparse.Namespace) -> int:
    try:
        if args.failures_command == "add":
            return _run_add(args)
        if args.failures_command == "report":
            return _run_report(args)
        return _run_sync(args)
    except (NoFinding, WorkspaceError) as error:
        _err(f"error: {error}")
        return EXIT_ERROR


def _err(message: str) -> None:
    sys.stderr.write(f"riskhints: {message}\n")


def _settings(args: argparse.Namespace, start: Path) -> tuple[Settings, Path | None]:
    """Settings, and the project root they come from (None without a pyproject)."""
    if args.config is not None:
        if not args.config.is_file():
            raise WorkspaceError(f"--config {args.config}: no such file")
        return load_config_file(args.config), args.config.resolve().parent
    pyproject = find_pyproject(start)
    if pyproject is None:
        return Settings(), None
    return load_pyproject(pyproject), pyproject.parent.resolve()


def _workspace(start: Path, project: Path | None) -> Path:
    root = workspace_root(start, project, fallback=Path.cwd())
    if root is not None:
        return root
    raise WorkspaceError(
        f"{start} is in no workspace (no pyproject.toml, git repository or current directory "
        "above it), or is reached through a symlink that leads out of its workspace: refusing "
        "to write a failure log for it"
    )


def _log(args: argparse.Namespace, settings: Settings, workspace: Path) -> FailureLog:
    path = args.log if args.log is not None else log_path(workspace, settings.failure_log)
    return FailureLog(path, on_problem=_err)


def _shown(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def _analyse(file: Path, shown: str, settings: Settings) -> tuple[str, list[Finding]]:
    from ..analysis import analyze_source, decode_source

    try:
        text = decode_source(safe_read.read_bytes(file))
    except OSError as error:
        raise WorkspaceError(f"{file}: cannot read ({error.strerror})") from None
    except ValueError as error:
        raise WorkspaceError(f"{file}: {error}") from None
    return text, analyze_source(text, shown, settings.analysis_options())


def _run_add(args: argparse.Namespace) -> int:
    file_text, _, line_text = args.location.rpartition(":")
    if not file_text or not line_text.isdigit() or int(line_text) < 1:
        raise WorkspaceError(f"{args.location}: expected FILE:LINE (like app/cache.py:14)")
    file, line = Path(file_text), int(line_text)
    if not file.is_file():
        raise WorkspaceError(f"{file}: no such file")
    settings, project = _settings(args, file)
    workspace = _workspace(file, project)
    path = relative_path(workspace, file)
    text, findings = _analyse(file, path, settings)
    finding = pick_finding(findings, line, args.rule)
    failure_log = _log(args, settings, workspace)
    logged = log_finding(
        failure_log, finding, text, path, note=args.note, commit=git_commit(file.parent)
    )
    record = logged.record
    if args.format == "json":
        sys.stdout.write(json.dumps(record.to_json(), indent=2, ensure_ascii=False) + "\n")
    elif logged.created:
        sys.stdout.write(
            f"logged {record.rule} {_where(record)} as {record.id} in {_shown(failure_log.path)}\n"
        )
    else:
        sys.stdout.write(
            f"already logged: {record.rule} {_where(record)} is open as {record.id} "
            f"(since {record.time})\n"
        )
    return EXIT_OK


def _where(record: FailureRecord) -> str:
    inside = f" in {record.function}" if record.function else ""
    return f"at {record.path}:{record.line}{inside}"


def _run_report(args: argparse.Namespace) -> int:
    from .report import build_report, parse_since, render_json, render_markdown

    since = None
    if args.since:
        try:
            since = parse_since(args.since)
        except ValueError as error:
            raise WorkspaceError(str(error)) from None
    if args.limit < 0:
        raise WorkspaceError("--limit must be 0 or more")
    settings, project = _settings(args, Path.cwd())
    failure_log = _log(args, settings, _log_workspace(args, project))
    report = build_report(
        failure_log.read(), since=since, limit=args.limit, log_name=_shown(failure_log.path)
    )
    text = render_json(report) if args.format == "json" else render_markdown(report)
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _log_workspace(args: argparse.Namespace, project: Path | None) -> Path:
    if args.log is not None:
        return Path.cwd()  # unused: the log is named
    return _workspace(Path.cwd(), project)


def _run_sync(args: argparse.Namespace) -> int:
    settings, project = _settings(args, Path.cwd())
    workspace = _workspace(Path.cwd(), project)
    failure_log = _log(args, settings, workspace)
    wanted = [path.resolve() for path in args.paths]
    for path in args.paths:
        if not path.exists():
            raise WorkspaceError(f"{path}: no such file or folder")
    by_path: dict[str, list[FailureRecord]] = defaultdict(list)
    for record in failure_log.read().open_records():
        by_path[record.path].append(record)
    options = settings.analysis_options()
    resolved: list[FailureRecord] = []
    still_open = 0
    for path in sorted(by_path):
        file = workspace / path
        if wanted and not any(file.resolve().is_relative_to(w) for w in wanted):
            continue
        if not file.is_file():
            _err(f"{path}: gone; its {len(by_path[path])} logged failure(s) stay open")
            still_open += len(by_path[path])
            continue
        text, findings = _analyse(file, path, settings)
        done = resolve_in_log(
            failure_log,
            path,
            text,
            findings,
            options.enabled,
            functools.partial(git_commit, file.parent),
        )
        for record in done:
            sys.stdout.write(f"resolved {record.rule} {_where(record)} ({record.resolution})\n")
        resolved.extend(done)
        still_open += len(by_path[path]) - len(done)
    sys.stdout.write(f"{len(resolved)} resolved, {still_open} still open\n")
    return EXIT_OK
