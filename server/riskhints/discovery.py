"""Which files ``riskhints check`` looks at.

Directories are walked for ``*.py`` files, skipping the default excludes (virtualenvs, caches,
build output), the configured ``exclude`` globs, and whatever ``.gitignore`` ignores (asked of
git itself when the folder is in a work tree, with a small built-in matcher otherwise). Files
named explicitly on the command line are always checked, like ruff does.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from . import safe_read
from .config import DEFAULT_EXCLUDES
from .safe_git import run_git

_GIT_TIMEOUT_S = 20


def discover(paths: Iterable[Path], root: Path, exclude: Iterable[str]) -> list[Path]:
    patterns = tuple(exclude)
    found: dict[Path, None] = {}
    for path in paths:
        if path.is_file():
            found[path] = None
            continue
        if not path.is_dir():
            continue
        # A folder named on the command line is checked even when it matches an exclude
        # pattern itself (``riskhints check fixtures``); patterns still apply inside it.
        base = path if _excluded(_relative(path, root), patterns) else root
        candidates = [c for c in _walk(path) if not _excluded(_relative(c, base), patterns)]
        # Likewise a folder git ignores is still checked when named (like ruff does).
        ignored = set() if _git_ignored(path.parent, [path]) else _git_ignored(path, candidates)
        for candidate in candidates:
            if candidate not in ignored:
                found[candidate] = None
    return sorted(found)


def is_walked(path: Path, root: Path, exclude: Iterable[str]) -> bool:
    """Whether walking ``root`` would reach ``path`` (default and configured excludes; not
    ``.gitignore``, which needs git): for files that appear after a walk."""
    relative = _relative(path, root)
    folders = relative.split("/")[:-1]
    if any(d in DEFAULT_EXCLUDES or d.endswith(".egg-info") for d in folders):
        return False
    return path.suffix == ".py" and not _excluded(relative, tuple(exclude))


def _walk(folder: Path) -> Iterator[Path]:
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(
            d for d in dirs if d not in DEFAULT_EXCLUDES and not d.endswith(".egg-info")
        )
        for name in sorted(files):
            if name.endswith(".py"):
                yield Path(current) / name


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _excluded(relative: str, patterns: tuple[str, ...]) -> bool:
    parts = relative.split("/")
    for pattern in patterns:
        pattern = pattern.rstrip("/")
        if fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(relative, pattern + "/*"):
            return True
        # A bare name ("fixtures", "*_pb2.py") matches any path component, like .gitignore.
        if "/" not in pattern and any(fnmatch.fnmatch(part, pattern) for part in parts):
            return True
    return False


def _git_ignored(folder: Path, candidates: list[Path]) -> set[Path]:
    """The candidates that ``.gitignore`` rules ignore, asked of git in one call; without git,
    or outside a work tree, the folder's own ``.gitignore`` is matched by hand."""
    if not candidates:
        return set()
    payload = b"\0".join(os.fsencode(c.resolve()) for c in candidates) + b"\0"
    result = run_git(
        ["check-ignore", "--no-index", "--stdin", "-z"], folder, _GIT_TIMEOUT_S, stdin=payload
    )
    if result is None:
        return _gitignore_fallback(folder, candidates)
    # 0: some ignored, 1: none ignored, 128: not a work tree (or another fatal error).
    if result.returncode not in (0, 1):
        return _gitignore_fallback(folder, candidates)
    ignored_names = {os.fsdecode(raw) for raw in result.stdout.split(b"\0") if raw}
    return {c for c in candidates if str(c.resolve()) in ignored_names}


def _gitignore_fallback(folder: Path, candidates: list[Path]) -> set[Path]:
    """``.gitignore`` without git: the files of the walked folder and of its subfolders, each
    relative to its own folder, the last matching line winning, ``!pattern`` re-including
    (git's rules, and like git a file stays ignored when a folder above it is)."""
    rules: list[tuple[Path, _IgnoreRule]] = []
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in DEFAULT_EXCLUDES)
        if ".gitignore" not in files:
            continue
        base = Path(current).resolve()
        try:
            text = safe_read.read_text(base / ".gitignore", errors="replace")
        except OSError:
            continue
        rules += [(base, rule) for rule in map(_IgnoreRule.parse, text.splitlines()) if rule]
    if not rules:
        return set()
    return {c for c in candidates if _ignored_by(c.resolve(), folder, rules)}


class _IgnoreRule:
    """One line of a ``.gitignore``."""

    def __init__(self, pattern: str, negated: bool, folder_only: bool, anchored: bool) -> None:
        self.pattern = pattern
        self.negated = negated
        self.folder_only = folder_only
        self.anchored = anchored

    @classmethod
    def parse(cls, line: str) -> _IgnoreRule | None:
        text = line.rstrip("\n\r")
        if not text.strip() or text.startswith("#"):
            return None
        text = text.strip()
        negated = text.startswith("!")
        if negated:
            text = text[1:]
        elif text.startswith("\\!") or text.startswith("\\#"):
            text = text[1:]
        folder_only = text.endswith("/")
        text = text.rstrip("/")
        # A slash at the start or in the middle anchors the pattern to the file's folder.
        anchored = "/" in text
        text = text.lstrip("/")
        return cls(text, negated, folder_only, anchored) if text else None

    def matches(self, relative: str, is_folder: bool) -> bool:
        if self.folder_only and not is_folder:
            return False
        if self.anchored:
            pattern = self.pattern.replace("**/", "*").replace("/**", "/*")
            return fnmatch.fnmatchcase(relative, pattern)
        return fnmatch.fnmatchcase(relative.rsplit("/", 1)[-1], self.pattern)


def _ignored_by(path: Path, folder: Path, rules: list[tuple[Path, _IgnoreRule]]) -> bool:
    def decided(target: Path, is_folder: bool) -> bool:
        ignored = False
        for base, rule in rules:
            try:
                relative = target.relative_to(base).as_posix()
            except ValueError:
                continue
            if relative != "." and rule.matches(relative, is_folder):
                ignored = not rule.negated
        return ignored

    top = folder.resolve()
    parents = [p for p in reversed(path.parents) if p != top and top in p.parents]
    return any(decided(parent, True) for parent in parents) or decided(path, False)
