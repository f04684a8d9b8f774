"""Stress tests over LSP.

Code action ``refactor.riskhints.stressTest`` — "Insert stress test for `f`" — on the function
under the cursor when it is a coroutine, uses a lock, or has findings. It runs the command:

``riskhints.insertStressTest``, arguments ``[uri: str, function: str | int]`` (a name such as
``EventHandler.handle_event``, or a 0-based line, as LSP positions are: the finding there, else
the function holding it — the same test as ``riskhints stress FILE:LINE``). The action is
offered on every finding whose hazard family has an oracle, and on coroutines without one.
It writes the test under the ``stressTestDir`` setting (default ``tests/stress``) of the
workspace — the workspace folder holding the file, else its git root; outside both nothing is
written and the command fails with a message saying so — appending to the module's stress file
or creating a new one, never overwriting a file. Then it asks the client to open the file
(``window/showDocument``, when supported; not awaited, so the answer never waits on the
client) and returns ``{"uri", "path", "test", "appended", "rule", "harness"}``.

The server never imports or runs the code; generating and writing happen on the worker pool.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path

from .. import safe_read
from ..actions.stress import (
    StressError,
    WrittenTest,
    has_oracle,
    stress_target_at,
    workspace_root,
    write_stress_test,
)
from ..analysis import AnalysisOptions, Finding, analyze_source, decode_source
from .documents import Document, file_path

if TYPE_CHECKING:
    from .server import RiskhintsServer

log = logging.getLogger(__name__)

COMMAND = "riskhints.insertStressTest"
KIND = "refactor.riskhints.stressTest"
KINDS = [KIND]


@dataclass(frozen=True)
class StressJob:
    """Everything the worker needs to write a test, copied."""

    file: Path
    folder: Path | None  # the workspace folder holding the file, if any
    text: str | None  # the open document's text; None: read the file
    findings: tuple[Finding, ...]  # of the open document
    target: str | int  # a name, or a 1-based line
    stress_dir: str
    options: AnalysisOptions


def write(job: StressJob) -> tuple[WrittenTest, Path]:
    """Runs on a worker thread: the test written, and the workspace root it went into."""
    root = workspace_root(job.file, job.folder)
    text, findings = job.text, list(job.findings)
    if text is None:
        path = job.file.resolve().relative_to(root).as_posix()
        try:
            text = decode_source(safe_read.read_bytes(job.file))
        except (OSError, ValueError) as error:
            raise StressError(f"cannot read {path} ({error})") from None
        findings = analyze_source(text, path, job.options)
    written = write_stress_test(job.file, text, job.target, findings, root, job.stress_dir)
    return written, root


async def code_actions(
    ls: RiskhintsServer,
    document: Document,
    findings: Sequence[Finding],
    selected: Sequence[Finding],
    line: int,
    only: Sequence[str] | None,
) -> list[types.CodeAction]:
    """ "Insert stress test" for each selected finding whose hazard has an oracle (the command
    gets the finding's line, as ``riskhints stress FILE:LINE`` does), else for the function at
    1-based ``line`` of ``document`` (a copy) when it is worth one."""
    from .code_actions import _wanted

    if not _wanted(KIND, only) or not document.uri.startswith("file:"):
        return []
    actions: list[types.CodeAction] = []
    seen: set[tuple[str, int]] = set()
    for finding in selected:
        if not has_oracle(finding.rule) or (finding.rule, finding.span.line) in seen:
            continue
        seen.add((finding.rule, finding.span.line))
        where = finding.function or f"line {finding.span.line}"
        title = f"Insert stress test for {finding.rule} in `{where}`"
        arguments: list[Any] = [document.uri, finding.span.line - 1]
        actions.append(_action(title, arguments))
    if actions:
        return actions
    name = await ls.session.in_worker(stress_target_at, document.text, line, tuple(findings))
    if name is None:
        return []
    return [_action(f"Insert stress test for `{name}`", [document.uri, name])]


def _action(title: str, arguments: list[Any]) -> types.CodeAction:
    return types.CodeAction(
        title=title,
        kind=KIND,
        command=types.Command(title=title, command=COMMAND, arguments=arguments),
    )


def register(server: RiskhintsServer) -> None:
    @server.command(COMMAND)
    async def insert_stress_test(ls: LanguageServer, *arguments: Any) -> dict[str, Any]:
        session = server.session
        session.refuse_untrusted(COMMAND)
        uri, target = _arguments(arguments)
        file = file_path(uri)
        if file is None:
            raise JsonRpcInvalidParams(f"{COMMAND}: {uri} is not a file")
        folder = session.folder_for(uri)
        settings = session.settings_for(uri)
        text: str | None = None
        findings: tuple[Finding, ...] = ()
        if uri in session.documents:
            result = await session.current_result(uri)
            live = session.documents.get(uri)
            if live is None or result is None:
                raise JsonRpcInvalidParams(f"{COMMAND}: {uri} was closed")
            text, findings = live.text, result.findings
        job = StressJob(
            file,
            folder.path if folder else None,
            text,
            findings,
            target + 1 if isinstance(target, int) else target,
            settings.stress_test_dir,
            settings.analysis_options(),
        )
        try:
            written, root = await session.in_worker(write, job)
        except (StressError, OSError) as error:
            session.warn(f"stress test not written: {error}")
            raise JsonRpcInvalidParams(f"{COMMAND}: {error}") from None
        written_uri = from_fs_path(str(written.path)) or written.path.as_uri()
        window = server.client_capabilities.window
        if window and window.show_document and window.show_document.support:
            _show(server, written_uri)
        return {
            "uri": written_uri,
            "path": written.path.relative_to(root).as_posix(),
            "test": written.test_name,
            "appended": written.appended,
            "rule": written.rule,
            "harness": written.harness.relative_to(root).as_posix(),
        }


def _arguments(arguments: Sequence[Any]) -> tuple[str, str | int]:
    valid = (
        len(arguments) == 2
        and isinstance(arguments[0], str)
        and not isinstance(arguments[1], bool)
        and (
            (isinstance(arguments[1], int) and arguments[1] >= 0)
            or (isinstance(arguments[1], str) and bool(arguments[1]))
        )
    )
    if not valid:
        raise JsonRpcInvalidParams(
            f"{COMMAND} takes [uri: string, function: name or 0-based line], got {list(arguments)}"
        )
    return arguments[0], arguments[1]


def _show(server: RiskhintsServer, uri: str) -> None:
    future = server.window_show_document(types.ShowDocumentParams(uri=uri, take_focus=True))

    def done(answer: Future[types.ShowDocumentResult]) -> None:
        if not answer.cancelled() and answer.exception() is not None:
            log.warning("the client could not show %s: %r", uri, answer.exception())

    future.add_done_callback(done)
