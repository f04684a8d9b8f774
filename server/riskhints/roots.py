"""Where riskhints may write for a file (failure log, stress tests, assistant prompts): the
workspace folder that holds it, else the git repository above it, else a fallback such as the
CLI's working directory. Found by looking at folders (a ``.git`` entry, which is a file in
worktrees and submodules), never by running git."""

from __future__ import annotations

from pathlib import Path


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
    ``path`` (resolved), or None when none does."""
    path = path.resolve()
    for candidate in (folder, repository_root(path), fallback):
        if candidate is not None and path.is_relative_to(candidate.resolve()):
            return candidate.resolve()
    return None
