"""Code lenses above AI-suggested functions that have findings.

``textDocument/codeLens``: above each function holding findings in AI-suggested code (see
:mod:`riskhints.lsp.provenance`), a label "AI-suggested · 2 concurrency risks" (no command: a
label, not a link) followed by the actions one click away:

- "Insert assumptions checklist" (or "Update ...") — command ``riskhints.insertChecklist``,
  arguments ``[uri: str, line: int]`` (0-based, a line of the function). The server computes the
  checklist edit from the document's current findings and sends it with ``workspace/applyEdit``
  (not awaited: the command's answer never waits on the client); it returns ``{"title"}``.
- "Insert stress test" — ``riskhints.insertStressTest`` (see :mod:`riskhints.lsp.stress`), for
  files only.

Lenses come from the findings already computed for the current version, on the analysis pool.
Clients without code lens get the same actions as code actions.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer

from ..actions.checklist import checklist_action
from ..actions.edits import Action
from ..actions.stress import stress_target_at
from ..analysis import Finding
from ..analysis.assumptions import first_line, function_of
from ..analysis.engine import parse_source
from ..analysis.finding import Provenance
from ..provenance.collect import META_RULES
from . import stress
from .arguments import uri_and_line
from .documents import Document

if TYPE_CHECKING:
    from .server import RiskhintsServer

log = logging.getLogger(__name__)

CHECKLIST_COMMAND = "riskhints.insertChecklist"


@dataclass(frozen=True)
class FunctionLens:
    line: int  # 1-based: where the lens goes (the first decorator, else the def)
    def_line: int  # 1-based: the def, a line inside the function for the commands
    count: int
    checklist: str | None  # the checklist action's title, if it has one
    stress_target: str | None


def risks_label(count: int) -> str:
    return f"AI-suggested · {count} concurrency risk{'' if count == 1 else 's'}"


def compute_lenses(
    text: str, path: str, findings: tuple[Finding, ...], stress_tests: bool
) -> list[FunctionLens]:
    """Runs on a worker thread."""
    marked = [f for f in findings if f.provenance is Provenance.AI and f.rule not in META_RULES]
    if not marked:
        return []
    parsed = parse_source(text, path)
    if parsed.facts is None:
        return []
    counts: dict[int, int] = {}
    functions = {}
    for finding in marked:
        fn = function_of(parsed.facts, finding)
        if fn is None or fn.is_module_scope:
            continue
        functions[id(fn)] = fn
        counts[id(fn)] = counts.get(id(fn), 0) + 1
    lenses = []
    for key, fn in functions.items():
        def_line = getattr(fn.node, "lineno", first_line(fn))
        action = checklist_action(text, path, findings, def_line, parsed)
        target = stress_target_at(text, def_line, findings) if stress_tests else None
        title = action.title if action is not None else None
        lenses.append(FunctionLens(first_line(fn), def_line, counts[key], title, target))
    return sorted(lenses, key=lambda lens: lens.line)


def to_code_lenses(
    lens: FunctionLens, document: Document, ls: RiskhintsServer
) -> list[types.CodeLens]:
    position = document.to_client_position(lens.line, 0, ls.session.codec)
    where = types.Range(start=position, end=position)
    commands = [types.Command(title=risks_label(lens.count), command="")]
    if lens.checklist is not None:
        commands.append(
            types.Command(
                title=lens.checklist.split(" for ")[0],
                command=CHECKLIST_COMMAND,
                arguments=[document.uri, lens.def_line - 1],
            )
        )
    if lens.stress_target is not None:
        commands.append(
            types.Command(
                title="Insert stress test",
                command=stress.COMMAND,
                arguments=[document.uri, lens.stress_target],
            )
        )
    return [types.CodeLens(range=where, command=command) for command in commands]


def register(server: RiskhintsServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=False))
    async def code_lens(
        ls: RiskhintsServer, params: types.CodeLensParams
    ) -> list[types.CodeLens] | None:
        session = ls.session
        uri = params.text_document.uri
        current = await session.current_document(uri)
        if current is None:
            return None
        result, document = current
        lenses = await session.in_worker(
            compute_lenses,
            document.text,
            session.display_path(uri),
            result.findings,
            uri.startswith("file:"),
        )
        live = session.documents.get(uri)
        if live is None or live.version != document.version:
            return None
        return [code for lens in lenses for code in to_code_lenses(lens, document, ls)]

    @server.command(CHECKLIST_COMMAND)
    async def insert_checklist(ls: LanguageServer, *arguments: Any) -> dict[str, Any]:
        from .code_actions import to_code_action

        session = server.session
        uri, line = uri_and_line(CHECKLIST_COMMAND, arguments)
        result = await session.current_result(uri)
        live = session.documents.get(uri)
        if live is None or result is None:
            raise JsonRpcInvalidParams(f"{CHECKLIST_COMMAND}: {uri} is not open")
        document = Document(uri, live.version, live.text)
        action: Action | None = await session.in_worker(
            checklist_action, document.text, session.display_path(uri), result.findings, line + 1
        )
        if action is None:
            raise JsonRpcInvalidParams(
                f"{CHECKLIST_COMMAND}: no function wanting a checklist at line {line + 1}"
            )
        live = session.documents.get(uri)
        if live is None or live.version != document.version:
            raise JsonRpcInvalidParams(f"{CHECKLIST_COMMAND}: {uri} changed meanwhile")
        edit = to_code_action(action, document, session.codec, None).edit
        assert edit is not None
        future = server.workspace_apply_edit(
            types.ApplyWorkspaceEditParams(edit=edit, label=action.title)
        )

        def done(answer: Future[types.ApplyWorkspaceEditResult]) -> None:
            if answer.cancelled() or answer.exception() is not None:
                log.warning("the client did not apply %r", action.title)
            elif not answer.result().applied:
                log.info("the client declined %r: %s", action.title, answer.result().failure_reason)

        future.add_done_callback(done)
        return {"title": action.title}
