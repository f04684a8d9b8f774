"""Where a failure log lives and what it may record: the workspace root, the log path inside it,
workspace-relative paths, and the git commit of the code.

The log is written only inside the workspace; ``git`` is asked with a timeout and its absence
(no git installed, not a repository, a broken repository) simply means "no commit".
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from ..provenance.git import head_commit

DEFAULT_FAILURE_LOG = ".riskhints/failures.jsonl"
GIT_TIMEOUT_S = 3.0


class WorkspaceError(ValueError):
    """The file is outside any workspace, or the log path would leave it."""


def git_commit(folder: Path) -> str | None:
    """``git rev-parse HEAD`` in ``folder``: None outside a repository, before the first commit,
    or when git is missing or hangs."""
    folder = folder if folder.is_dir() else folder.parent
    return head_commit(folder, timeout=GIT_TIMEOUT_S)


def check_log_setting(value: str) -> str:
    """The ``failure-log`` setting: a relative path that stays inside the workspace."""
    if not value.strip():
        raise ValueError("must be a non-empty relative path")
    pure = PurePosixPath(value.replace("\\", "/"))
    if pure.is_absolute() or (len(value) > 1 and value[1] == ":"):
        raise ValueError(f"must be relative to the workspace, got {value!r}")
    if ".." in pure.parts:
        raise ValueError(f"must stay inside the workspace (no '..'), got {value!r}")
    if value.endswith(("/", "\\")):
        raise ValueError(f"must name a file, got {value!r}")
    return value


def log_path(workspace: Path, setting: str = DEFAULT_FAILURE_LOG) -> Path:
    """The log file of ``workspace``; refuses a path that resolves outside it (a symlink)."""
    check_log_setting(setting)
    root = workspace.resolve()
    path = (root / setting).resolve()
    if not path.is_relative_to(root):
        raise WorkspaceError(f"the failure log {setting!r} resolves outside the workspace {root}")
    return path


def relative_path(workspace: Path, file: Path) -> str:
    root = workspace.resolve()
    resolved = file.resolve()
    if not resolved.is_relative_to(root):
        raise WorkspaceError(f"{file} is outside the workspace {root}")
    return resolved.relative_to(root).as_posix()
