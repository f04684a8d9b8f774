"""The assumptions checklist and the assistant prompt over LSP.

Code actions (computed on the analysis pool from a copy of the text and the findings already
published for this version, like every other action):

- ``refactor.riskhints.checklist`` — "Insert (or Update) assumptions checklist for `f`", on a
  finding's function, or on any ``async def`` or lock-using function under the cursor;
- ``refactor.riskhints.prompt`` — "Ask the assistant for an assumptions checklist for `f`",
  which runs the command below.

Command ``riskhints.assumptionsPrompt``, arguments ``[uri: str, line: int]`` (``line`` is
0-based, as LSP positions are): returns the markdown prompt for the function at that line.
When the client supports ``window/showDocument``, the prompt is also written to
``.riskhints/prompts/<file>-<function>.md`` in the workspace (the workspace folder holding the
file, else its git root; outside both nothing is written) and shown. An existing file with other
content is never overwritten: the prompt goes to the next free ``-2``, ``-3`` ... name.
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
from ..actions.checklist import KIND as CHECKLIST_KIND
from ..actions.checklist import checklist_action, checklist_actions_for_findings
from ..actions.edits import Action
from ..actions.prompt import Prompt, build_prompt, prompt_file_name
from ..analysis import Finding
from ..analysis.assumptions import function_at
from ..analysis.engine import parse_source
from ..roots import OutsideWorkspace, make_folder, workspace_root
from .arguments import uri_and_line
from .documents import Document, file_path

if TYPE_CHECKING:
    from .server import RiskhintsServer

log = logging.getLogger(__name__)

PROMPT_COMMAND = "riskhints.assumptionsPrompt"
PROMPT_KIND = "refactor.riskhints.prompt"
KINDS = [CHECKLIST_KIND, PROMPT_KIND]
PROMPTS_FOLDER = Path(".riskhints") / "prompts"
_MAX_COPIES = 100


@dataclass(frozen=True)
class AssumptionRequest:
    """Everything the worker needs, copied."""

    text: str
    path: str
    findings: tuple[Finding, ...]
    selected: tuple[Finding, ...]
    line: int  # 1-based: the start of the requested range
    checklist: bool
    prompt: bool


@dataclass(frozen=True)
class AssumptionActions:
    edits: tuple[Action, ...]
    prompt_for: str | None  # the function a prompt can be built for


def compute(request: AssumptionRequest) -> AssumptionActions:
    """Runs on a worker thread (parses the text once for every action)."""
    parsed = parse_source(request.text, request.path)
    edits: dict[str, Action] = {}
    if request.checklist:
        at_cursor = checklist_action(
            request.text, request.path, request.findings, request.line, parsed
        )
        for_findings = checklist_actions_for_findings(
            request.text, request.path, request.findings, request.selected, parsed
        )
        for action in [*([at_cursor] if at_cursor else []), *for_findings]:
            edits.setdefault(action.title, action)
    prompt_for = None
    if request.prompt and parsed.facts is not None:
        fn = function_at(parsed.facts, request.line)
        prompt_for = fn.display if fn is not None and not fn.is_module_scope else None
    return AssumptionActions(tuple(edits.values()), prompt_for)


async def code_actions(
    ls: RiskhintsServer,
    document: Document,
    findings: Sequence[Finding],
    selected: Sequence[Finding],
    line: int,
    only: Sequence[str] | None,
) -> list[types.CodeAction]:
    """The checklist and prompt actions for ``document`` (a copy) at 1-based ``line``."""
    from .code_actions import _wanted, to_code_action

    request = AssumptionRequest(
        text=document.text,
        path=ls.session.display_path(document.uri),
        findings=tuple(findings),
        selected=tuple(selected),
        line=line,
        checklist=_wanted(CHECKLIST_KIND, only),
        prompt=_wanted(PROMPT_KIND, only),
    )
    if not (request.checklist or request.prompt):
        return []
    computed = await ls.session.in_worker(compute, request)
    current = ls.session.documents.get(document.uri)
    if current is None or current.version != document.version:
        return []
    actions = [to_code_action(a, document, ls.session.codec, None) for a in computed.edits]
    if computed.prompt_for is not None:
        title = f"Ask the assistant for an assumptions checklist for `{computed.prompt_for}`"
        actions.append(
            types.CodeAction(
                title=title,
                kind=PROMPT_KIND,
                command=types.Command(
                    title=title, command=PROMPT_COMMAND, arguments=[document.uri, line - 1]
                ),
            )
        )
    return actions


def register(server: RiskhintsServer) -> None:
    @server.command(PROMPT_COMMAND)
    async def assumptions_prompt(ls: LanguageServer, *arguments: Any) -> str:
        session = server.session
        uri, line = uri_and_line(PROMPT_COMMAND, arguments)
        result = await session.current_result(uri)
        live = session.documents.get(uri)
        if live is None or result is None:
            raise JsonRpcInvalidParams(f"{PROMPT_COMMAND}: {uri} is not open")
        path = session.display_path(uri)
        prompt = await session.in_worker(
            build_prompt, live.text, path, list(result.findings), line + 1
        )
        if prompt is None:
            raise JsonRpcInvalidParams(f"{PROMPT_COMMAND}: no function at line {line + 1}")
        window = server.client_capabilities.window
        if session.trusted and window and window.show_document and window.show_document.support:
            file, folder = file_path(uri), session.folder_for(uri)
            root = (
                await session.in_worker(workspace_root, file, folder.path if folder else None)
                if file is not None
                else None
            )
            if root is None:
                session.warn(
                    f"prompt not written: {path} is outside any workspace or git repo, or "
                    "reached through a symlink that leads out of its workspace"
                )
            else:
                try:
                    written = await session.in_worker(write_prompt, root, path, prompt)
                except OutsideWorkspace as error:
                    session.warn(f"prompt not written: {error.strerror}")
                else:
                    _show(server, written)
        return prompt.text


def write_prompt(root: Path, path: str, prompt: Prompt) -> Path:
    """Runs on a worker thread. Writes (or reuses) the prompt file; never overwrites a file
    with other content, never writes outside ``root``."""
    folder = make_folder(root, root / PROMPTS_FOLDER)  # OutsideWorkspace through a symlink
    name = prompt_file_name(path, prompt.function)
    stem = name.removesuffix(".md")
    for copy in range(1, _MAX_COPIES + 1):
        target = folder / (name if copy == 1 else f"{stem}-{copy}.md")
        try:
            with target.open("x", encoding="utf-8", newline="\n") as handle:
                handle.write(prompt.text + "\n")
            return target
        except FileExistsError:
            if safe_read.read_text(target) == prompt.text + "\n":
                return target
    raise JsonRpcInvalidParams(f"too many prompt files for {name} in {folder}")


def _show(server: RiskhintsServer, path: Path) -> None:
    """Ask the client to open the prompt; not awaited, so the command's answer never waits
    on the client (a client that handles one request at a time would deadlock)."""
    uri = from_fs_path(str(path)) or path.as_uri()
    future = server.window_show_document(types.ShowDocumentParams(uri=uri, take_focus=True))

    def done(answer: Future[types.ShowDocumentResult]) -> None:
        if not answer.cancelled() and answer.exception() is not None:
            log.warning("the client could not show %s: %r", uri, answer.exception())

    future.add_done_callback(done)
