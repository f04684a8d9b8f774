"""The failure log in the editor: a "Log as AI failure" code action on every finding, the
``riskhints.logFailure`` command it runs, and the resolution of logged failures as the code is
fixed.

- Code action (kind ``source.riskhints.logFailure``): runs ``riskhints.logFailure`` with
  ``{uri, line, rule}`` (``line`` 0-based, as in LSP positions); a client may add ``note``.
- The command appends an ``open`` record (or finds the same failure already open) and returns the
  record; it says so with an info ``window/logMessage``, nothing more intrusive.
- After each analysis is installed, :meth:`FailureWatcher.after_analysis` compares the file's open
  logged failures with the new findings on the analysis pool and appends a ``resolved`` record,
  with the corrected code, for each one gone. Text that does not parse resolves nothing.

All file I/O and git run on the analysis pool (``Session.in_worker``); the handlers on the loop
only read session state. The log is written inside the workspace only: the workspace folder
holding the file, else its git repository; otherwise the command refuses with the reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer

from .. import safe_read
from ..analysis import AnalysisOptions, Finding
from ..failures.log import FailureLog
from ..failures.record import FailureRecord
from ..failures.service import (
    META_RULE_PREFIX,
    Logged,
    NoFinding,
    log_finding,
    pick_finding,
    resolve_in_log,
)
from ..failures.workspace import (
    WorkspaceError,
    git_commit,
    log_path,
    relative_path,
)
from ..roots import workspace_root
from .documents import file_path

if TYPE_CHECKING:
    from .server import RiskhintsServer
    from .session import AnalysisResult, Session, Snapshot

log = logging.getLogger(__name__)

COMMAND = "riskhints.logFailure"
KIND = "source.riskhints.logFailure"


def _wanted(only: Sequence[str] | None) -> bool:
    return not only or any(KIND == prefix or KIND.startswith(prefix + ".") for prefix in only)


def log_failure_actions(
    uri: str,
    selected: Sequence[tuple[int, Finding]],
    diagnostics: Sequence[types.Diagnostic],
    only: Sequence[str] | None,
) -> list[types.CodeAction]:
    """One "Log as AI failure" action per finding in the range (computed on the loop: it is
    a command, no edit)."""
    if not _wanted(only):
        return []
    actions: list[types.CodeAction] = []
    seen: set[tuple[str, int]] = set()
    for index, finding in selected:
        key = (finding.rule, finding.span.line)
        if finding.rule.startswith(META_RULE_PREFIX) or key in seen:
            continue
        seen.add(key)
        title = f"Log as AI failure ({finding.rule})"
        arguments = {"uri": uri, "line": finding.span.line - 1, "rule": finding.rule}
        actions.append(
            types.CodeAction(
                title=title,
                kind=KIND,
                diagnostics=[diagnostics[index]] if index < len(diagnostics) else None,
                command=types.Command(title=title, command=COMMAND, arguments=[arguments]),
            )
        )
    return actions


@dataclass(frozen=True)
class LogRequest:
    uri: str
    line: int  # 0-based
    rule: str | None
    note: str | None

    @classmethod
    def parse(cls, args: Sequence[Any]) -> LogRequest:
        raw = args[0] if len(args) == 1 and isinstance(args[0], dict) else None
        if raw is None:
            raise JsonRpcInvalidParams(f"{COMMAND} expects one object {{uri, line, rule, note?}}")
        uri, line, rule, note = raw.get("uri"), raw.get("line"), raw.get("rule"), raw.get("note")
        if not isinstance(uri, str) or isinstance(line, bool) or not isinstance(line, int):
            raise JsonRpcInvalidParams(f"{COMMAND}: 'uri' (string) and 'line' (0-based) needed")
        if line < 0 or (rule is not None and not isinstance(rule, str)):
            raise JsonRpcInvalidParams(f"{COMMAND}: bad 'line' or 'rule'")
        if note is not None and not isinstance(note, str):
            raise JsonRpcInvalidParams(f"{COMMAND}: 'note' must be a string")
        return cls(uri, line, rule, note)


def _workspace(file: Path, folder: Path | None) -> Path:
    """Runs on a worker: the workspace folder holding the file, else its git repository."""
    root = workspace_root(file, folder)
    if root is None:
        raise WorkspaceError(
            f"{file.name} is in no workspace folder and no git repository: not writing a "
            f"failure log for it"
        )
    return root


def _log_in_worker(
    file: Path, folder: Path | None, setting: str, finding: Finding, text: str, note: str | None
) -> Logged:
    workspace = _workspace(file, folder)
    failure_log = FailureLog(log_path(workspace, setting))
    path = relative_path(workspace, file)
    return log_finding(failure_log, finding, text, path, note=note, commit=git_commit(file.parent))


def _analyse_from_disk(
    file: Path, path: str, options: AnalysisOptions
) -> tuple[str, list[Finding]]:
    from ..analysis import analyze_source, decode_source

    text = decode_source(safe_read.read_bytes(file))
    return text, analyze_source(text, path, options)


async def log_failure(ls: RiskhintsServer, request: LogRequest) -> dict[str, Any]:
    session = ls.session
    session.refuse_untrusted(COMMAND)
    file = file_path(request.uri)
    if file is None:
        raise JsonRpcInvalidParams(f"{COMMAND}: only files can be logged, not {request.uri}")
    settings = session.settings_for(request.uri)
    result = await session.current_result(request.uri)
    document = session.documents.get(request.uri)
    if result is not None and document is not None and result.version == document.version:
        text, findings = document.text, list(result.findings)
    else:  # not open in the editor: what is on disk
        try:
            text, findings = await session.in_worker(
                _analyse_from_disk,
                file,
                session.display_path(request.uri),
                settings.analysis_options(),
            )
        except (OSError, ValueError) as error:
            raise JsonRpcInvalidParams(f"{COMMAND}: cannot read {file.name}: {error}") from None
    try:
        finding = pick_finding(findings, request.line + 1, request.rule)
    except NoFinding as error:
        raise JsonRpcInvalidParams(f"{COMMAND}: {error}") from None
    folder = session.folder_for(request.uri)
    try:
        logged = await session.in_worker(
            _log_in_worker,
            file,
            folder.path if folder else None,
            settings.failure_log,
            finding,
            text,
            request.note,
        )
    except WorkspaceError as error:
        raise JsonRpcInvalidParams(f"{COMMAND}: {error}") from None
    record = logged.record
    verb = "logged" if logged.created else "already logged"
    _info(
        ls,
        f"riskhints: {verb} {record.rule} in {record.function or record.path} as an AI "
        f"failure ({record.id})",
    )
    return record.to_json()


def _info(ls: RiskhintsServer, message: str) -> None:
    log.info("%s", message)
    ls.window_log_message(types.LogMessageParams(type=types.MessageType.Info, message=message))


def _resolve_in_worker(
    file: Path,
    folder: Path | None,
    setting: str,
    text: str,
    findings: Sequence[Finding],
    enabled: Callable[[str], bool],
    logs: dict[Path, FailureLog],
) -> list[FailureRecord]:
    """Runs on a worker. ``logs`` is the watcher's cache (a log object is thread-safe;
    ``dict.setdefault`` keeps two workers from installing two for one file)."""
    try:
        workspace = _workspace(file, folder)
        path = log_path(workspace, setting)
        relative = relative_path(workspace, file)
    except WorkspaceError:
        return []
    failure_log = logs.setdefault(path, FailureLog(path))
    return resolve_in_log(
        failure_log, relative, text, findings, enabled, lambda: git_commit(file.parent)
    )


class FailureWatcher:
    """Appends resolutions as logged failures disappear from the documents being edited."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._logs: dict[Path, FailureLog] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def after_analysis(self, snapshot: Snapshot, result: AnalysisResult) -> None:
        """Called on the loop when ``result`` was installed for ``snapshot``: never blocks."""
        file = file_path(snapshot.uri)
        if file is None or not self.session.trusted:  # resolving appends to the log
            return
        folder = self.session.folder_for(snapshot.uri)
        setting = self.session.settings_for(snapshot.uri).failure_log
        task = asyncio.get_running_loop().create_task(
            self._resolve(file, folder.path if folder else None, setting, snapshot, result)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(
        self,
        file: Path,
        folder: Path | None,
        setting: str,
        snapshot: Snapshot,
        result: AnalysisResult,
    ) -> None:
        try:
            resolved = await self.session.in_worker(
                _resolve_in_worker,
                file,
                folder,
                setting,
                snapshot.text,
                result.unscoped,  # a finding the scope hides is not resolved
                snapshot.options.enabled,
                self._logs,
            )
        except Exception:  # the log must never break the analysis it follows
            log.exception("could not update the failure log for %s", snapshot.uri)
            return
        for record in resolved:
            _info(
                self.session.server,
                f"riskhints: {record.rule} in {record.function or record.path} was logged as an "
                f"AI failure and is now {record.resolution} (resolved {record.resolves})",
            )


def register(server: RiskhintsServer) -> None:
    # pygls evaluates the handler's annotations at run time: the first one must be importable.
    @server.command(COMMAND)
    async def log_failure_command(ls: LanguageServer, *args: Any) -> dict[str, Any]:
        return await log_failure(server, LogRequest.parse(args))
