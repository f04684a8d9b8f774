"""The failure log: findings a team marked as failures of their AI assistant, and their fixes.

JSON lines in ``.riskhints/failures.jsonl`` of the workspace (the ``failure-log`` setting),
appended atomically by the CLI and the language server, read by ``riskhints failures report``.
Pure apart from the log file's I/O and asking git for the commit; never imports pygls.
"""

from __future__ import annotations

from .log import FailureLog, LogContents, LogProblem
from .record import OPEN, RESOLVED, FailureRecord
from .service import Logged, NoFinding, log_finding, pick_finding, resolutions, resolve_in_log
from .workspace import DEFAULT_FAILURE_LOG, WorkspaceError, git_commit, log_path

__all__ = [
    "DEFAULT_FAILURE_LOG",
    "OPEN",
    "RESOLVED",
    "FailureLog",
    "FailureRecord",
    "LogContents",
    "LogProblem",
    "Logged",
    "NoFinding",
    "WorkspaceError",
    "git_commit",
    "log_finding",
    "log_path",
    "pick_finding",
    "resolutions",
    "resolve_in_log",
]
