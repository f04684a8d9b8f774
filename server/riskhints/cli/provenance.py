"""Provenance on the command line: ``riskhints check --scope/--base`` and ``riskhints provenance``.

``scope_findings`` runs after the cache (which stores raw findings, so a cached result never
carries stale provenance) and computes regions only for files that have findings, once per file,
in a few threads (git runs as subprocesses). git runs from each file's repository root; a file
outside any repository, or no git at all, leaves its findings ``unknown`` (see
:mod:`riskhints.provenance.collect` for the rule).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import safe_read
from .common import display_path, err, load_settings

if TYPE_CHECKING:
    from ..analysis.finding import Finding
    from ..config import Settings
    from ..provenance.regions import Region

_GIT_THREADS = 8


@dataclass(frozen=True)
class FileProvenance:
    path: str  # as shown in reports
    root: Path | None  # the git repository root, None outside one (or without git)
    regions: list[Region] | None  # None: nothing known about the file


def add_check_arguments(check: argparse.ArgumentParser) -> None:
    check.add_argument(
        "--scope",
        choices=("all", "ai", "changed"),
        help="all findings (default), only those in AI-suggested code, or AI-suggested or "
        "changed against --base",
    )
    check.add_argument("--base", metavar="REF", help="git ref 'changed' compares against (HEAD)")


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "provenance", help="print the AI-suggested (and changed) regions of files, and why"
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument(
        "--base", metavar="REF", help="also print the lines changed against this git ref"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="pyproject.toml or riskhints.toml"
    )


class _Roots:
    """Repository root per folder, asked of git once per folder."""

    def __init__(self) -> None:
        self._by_folder: dict[Path, Path | None] = {}

    def of(self, file: Path) -> Path | None:
        from ..provenance.git import git_root

        folder = file.parent
        if folder not in self._by_folder:
            root = git_root(folder) if folder.is_dir() else None
            self._by_folder[folder] = root.resolve() if root is not None else None
        return self._by_folder[folder]


def _relative(file: Path, root: Path) -> str | None:
    try:
        return file.relative_to(root).as_posix()
    except ValueError:
        return None


def collect(
    path: str, settings: Settings, include_diff: bool, workspace: Path | None, roots: _Roots
) -> FileProvenance:
    from ..provenance.collect import file_regions

    file = Path(path).resolve()
    try:
        text = safe_read.read_text(file, safe_read.MAX_SOURCE_BYTES, errors="replace")
    except OSError:
        return FileProvenance(path, None, None)
    root = roots.of(file)
    relative = _relative(file, root) if root is not None else None
    if root is None or relative is None:
        root, relative = None, file.name
    ws_relative = _relative(file, workspace.resolve()) if workspace is not None else None
    regions = file_regions(
        root,
        relative,
        text,
        settings,
        include_diff,
        workspace=workspace if ws_relative is not None else None,
        workspace_relative=ws_relative,
    )
    if root is None and not regions:
        return FileProvenance(path, None, None)
    return FileProvenance(path, root, regions)


def collect_many(
    paths: Sequence[str], settings: Settings, include_diff: bool, workspace: Path | None
) -> list[FileProvenance]:
    roots = _Roots()
    for path in paths:  # serially first: the thread pool then only reads this cache
        roots.of(Path(path).resolve())
    if len(paths) <= 1:
        return [collect(p, settings, include_diff, workspace, roots) for p in paths]
    with ThreadPoolExecutor(max_workers=min(_GIT_THREADS, len(paths))) as pool:
        return list(pool.map(lambda p: collect(p, settings, include_diff, workspace, roots), paths))


def base_is_known(root: Path, base: str) -> bool:
    from ..provenance.git import run_git

    return run_git(["rev-parse", "--verify", "-q", f"{base}^{{commit}}"], root).ok


def scope_findings(
    findings: Sequence[Finding], settings: Settings, workspace: Path | None
) -> list[Finding]:
    """Findings with their provenance, filtered by ``settings.scope``; notes go to stderr.

    Raises :class:`ConfigError` for ``scope = "changed"`` when the base is not a commit of a
    repository holding findings (a shallow CI checkout without it): passing silently there
    would hide every finding in the change.
    """
    from ..analysis.finding import Finding
    from ..config import ConfigError
    from ..provenance.collect import apply_scope

    paths = list(dict.fromkeys(f.path for f in findings))
    if not paths:
        return list(findings)
    known = {p.path: p for p in collect_many(paths, settings, True, workspace)}
    unknown_base = bases_missing(list(known.values()), settings.base)
    if unknown_base and settings.scope == "changed":
        raise ConfigError(_missing_base(unknown_base[0], settings.base))
    for root in unknown_base:
        err(f"note: {_missing_base(root, settings.base)}; no finding counts as changed")
    if settings.scope != "all":
        _note_outside(list(known.values()), settings)
    out: list[Finding] = []
    for path in paths:
        per_file = [f for f in findings if f.path == path]
        out.extend(apply_scope(per_file, known[path].regions, settings.scope))
    out.sort(key=Finding.sort_key)
    return out


def bases_missing(files: list[FileProvenance], base: str) -> list[Path]:
    """Repository roots among ``files`` where ``base`` is not a commit (a first commit being
    made, base HEAD, is fine: every line is new)."""
    from ..provenance.git import head_commit

    missing: list[Path] = []
    for root in sorted({f.root for f in files if f.root is not None}):
        first_commit = base == "HEAD" and head_commit(root) is None
        if not first_commit and not base_is_known(root, base):
            missing.append(root)
    return missing


def _missing_base(root: Path, base: str) -> str:
    return (
        f"base '{base}' is not a commit in {root} (a shallow clone? fetch it, e.g. "
        f"`git fetch origin main`, or check out with full history)"
    )


def _note_outside(files: list[FileProvenance], settings: Settings) -> None:
    outside = [f.path for f in files if f.root is None]
    if outside:
        why = "git is not installed" if shutil.which("git") is None else "not in a git repository"
        more = f" and {len(outside) - 3} more" if len(outside) > 3 else ""
        shown = ", ".join(outside[:3]) + more
        err(
            f"note: {why} ({shown}): nothing there can count as AI-suggested or changed "
            f"except `# riskhints: ai-begin` regions, so --scope {settings.scope} drops "
            f"its findings"
        )


def run(args: argparse.Namespace) -> int:
    from ..config import ConfigError

    settings, workspace = load_settings(args, args.files[0])
    for file in args.files:
        if not file.is_file():
            err(f"error: {file}: no such file")
            return 2
    include_diff = args.base is not None
    shown = [display_path(f) for f in args.files]
    files = collect_many([str(f) for f in args.files], settings, include_diff, workspace)
    unknown_base = bases_missing(files, settings.base) if include_diff else []
    if unknown_base:
        raise ConfigError(_missing_base(unknown_base[0], settings.base))
    if args.format == "json":
        entries = [
            {
                "path": path,
                "in_git": result.root is not None,
                "regions": [_region_dict(r) for r in result.regions or ()],
            }
            for path, result in zip(shown, files, strict=True)
        ]
        payload = {"base": settings.base if include_diff else None, "files": entries}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return 0
    for path, result in zip(shown, files, strict=True):
        if result.root is None:
            err(f"note: {path}: not in a git repository (or no git): only markers and edits count")
        for region in result.regions or ():
            where = f"{path}:{region.start}-{region.end}"
            sys.stdout.write(f"{where}: {_kind(region)} ({region.detail})\n")
        if not result.regions:
            err(f"{path}: no AI-suggested{' or changed' if include_diff else ''} lines found")
    return 0


def _kind(region: Region) -> str:
    return "ai" if region.is_ai else "changed"


def _region_dict(region: Region) -> dict[str, Any]:
    return {
        "start": region.start,
        "end": region.end,
        "kind": _kind(region),
        "source": region.source,
        "detail": region.detail,
    }
