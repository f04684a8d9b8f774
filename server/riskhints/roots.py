"""Where riskhints may write for a file (failure log, stress tests, assistant prompts, the
provenance store, the check cache), and how it gets there without leaving the workspace.

The place is the workspace folder that holds the file, else the git repository above it, else a
fallback such as the CLI's working directory; found by looking at folders (a ``.git`` entry,
which is a file in worktrees and submodules), never by running git.

A workspace can hold symlinks that lead out of it: ``.riskhints -> /elsewhere``, a
``.riskhints/provenance`` link, a folder linked into another repository. Every write target is
therefore checked *after resolving symlinks* (:func:`inside`), folders are created one level at
a time, each level checked before the next is made (:func:`make_folder`), and a file reached
through a link out of its workspace gets no place to write at all (:func:`workspace_root`): not
the other repository's, whose owner did not open it.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


class OutsideWorkspace(OSError):
    """A write target that leads outside its workspace once symlinks are resolved."""

    def __init__(self, target: Path, workspace: Path) -> None:
        super().__init__(
            errno.EACCES, f"{target} leads outside the workspace {workspace} (a symlink)"
        )


def repository_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` (a file or a folder) holding ``.git``."""
    folder = start if start.is_dir() else start.parent
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def workspace_root(
    path: Path, folder: Path | None = None, fallback: Path | None = None
) -> Path | None:
    """The first of ``folder``, the repository above ``path`` and ``fallback`` that holds
    ``path`` (resolved), or None when none does, or when ``path`` lies in ``folder`` (or in
    ``fallback``) only through a symlink that leads out of it."""
    resolved = path.resolve()
    lexical = Path(os.path.abspath(path))
    for candidate in (folder, fallback):
        if candidate is None:
            continue
        if _within(lexical, candidate) and not resolved.is_relative_to(candidate.resolve()):
            return None
    for candidate in (folder, repository_root(resolved), fallback):
        if candidate is not None and resolved.is_relative_to(candidate.resolve()):
            return candidate.resolve()
    return None


def inside(workspace: Path, target: Path) -> Path:
    """``target`` with every symlink of its existing part resolved, when that is inside
    ``workspace`` (resolved too); else :class:`OutsideWorkspace`."""
    root = workspace.resolve()
    resolved = target.resolve()
    if not resolved.is_relative_to(root):
        raise OutsideWorkspace(target, root)
    return resolved


def make_folder(workspace: Path, folder: Path) -> Path:
    """Create ``folder`` (and its missing parents) inside ``workspace``, one level at a time,
    each checked with :func:`inside` (a link swapped in meanwhile is caught at the next level);
    returns it resolved."""
    root = workspace.resolve()
    target = inside(root, folder)
    current = root
    for part in target.relative_to(root).parts:
        current = current / part
        if not current.is_dir():
            try:
                current.mkdir()
            except FileExistsError:
                pass
        current = inside(root, current)
    return current


def _within(path: Path, folder: Path) -> bool:
    return path.is_relative_to(Path(os.path.abspath(folder))) or path.is_relative_to(
        folder.resolve()
    )
