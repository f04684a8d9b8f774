"""Code actions, built from the findings already computed for the document's current version
(never by re-running the analysis), honouring ``context.only``.

Per diagnostic in the requested range: the quick fixes of :mod:`riskhints.actions.fixes` and
the suppress action. For the document: ``source.fixAll.riskhints``, which applies every fix
that is safe without review (it re-analyses its own intermediate text). Fix-all is computed
when the client asks for that kind, or when the user opened the menu (trigger kind
``Invoked``); the automatic requests an editor sends on every cursor move get quick fixes only.

The actions are computed on the analysis pool from an immutable copy of the text and findings,
so the event loop never waits for libcst or a re-analysis.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from ..actions.edits import FIX_ALL_KIND, Action
from ..actions.suppress import suppress_action
from ..analysis import AnalysisOptions, Finding
from . import checklist, stress
from .documents import Document
from .failures import KIND as LOG_FAILURE_KIND
from .failures import log_failure_actions

if TYPE_CHECKING:
    from .server import RiskhintsServer

KINDS: list[types.CodeActionKind | str] = [
    types.CodeActionKind.QuickFix,
    FIX_ALL_KIND,
    LOG_FAILURE_KIND,
    *checklist.KINDS,
    *stress.KINDS,
]
_QUICKFIX = types.CodeActionKind.QuickFix.value


@dataclass(frozen=True)
class ActionRequest:
    """Everything the worker needs, copied: it touches nothing else."""

    text: str
    path: str
    options: AnalysisOptions
    selected: tuple[tuple[int, Finding], ...]  # (index of the diagnostic, finding)
    findings: tuple[Finding, ...]
    quick_fixes: bool
    fix_all: bool


def _kind_text(kind: types.CodeActionKind | str) -> str:
    return str(kind.value) if isinstance(kind, enum.Enum) else str(kind)


def _wanted(kind: str, only: Sequence[str] | None) -> bool:
    if not only:
        return True
    return any(kind == prefix or kind.startswith(prefix + ".") for prefix in only)


def compute_actions(request: ActionRequest) -> list[tuple[Action, int | None]]:
    """Runs on a worker thread. Actions, each with the index of the diagnostic it fixes."""
    from ..actions.fixes import fix_all, fixes_for  # libcst: loaded at the first request

    actions: list[tuple[Action, int | None]] = []
    if request.quick_fixes:
        for index, finding in request.selected:
            for action in fixes_for(request.text, finding):
                actions.append((action, index))
            suppress = suppress_action(request.text, finding)
            if suppress is not None:
                actions.append((suppress, index))
    if request.fix_all:
        everything = fix_all(request.text, list(request.findings), request.options, request.path)
        if everything is not None:
            actions.append((everything, None))
    return actions


def register(server: RiskhintsServer) -> None:
    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=KINDS, resolve_provider=False),
    )
    async def code_action(
        ls: RiskhintsServer, params: types.CodeActionParams
    ) -> list[types.CodeAction] | None:
        session = ls.session
        uri = params.text_document.uri
        current = await session.current_document(uri)
        if current is None:
            return None
        result, document = current
        context = params.context
        only = [_kind_text(k) for k in context.only] if context.only else None
        start = document.from_client_position(params.range.start, session.codec)
        end = document.from_client_position(params.range.end, session.codec)
        selected = tuple(
            (index, finding)
            for index, finding in enumerate(result.findings)
            if _overlaps(finding.span.line, finding.span.end_line, start[0], end[0])
        )
        asked_for_all = only is not None or (
            context.trigger_kind != types.CodeActionTriggerKind.Automatic
        )
        request = ActionRequest(
            text=document.text,
            path=session.display_path(uri),
            options=session.settings_for(uri).analysis_options(),
            selected=selected,
            findings=result.findings,
            quick_fixes=_wanted(_QUICKFIX, only) and bool(selected),
            fix_all=_wanted(FIX_ALL_KIND, only) and asked_for_all and bool(result.findings),
        )
        logging_actions = log_failure_actions(uri, selected, result.diagnostics, only)
        logging_actions += await checklist.code_actions(  # assumptions checklist and prompt
            ls, document, result.findings, [f for _, f in selected], start[0], only
        )
        logging_actions += await stress.code_actions(
            ls, document, result.findings, [f for _, f in selected], start[0], only
        )
        if not (request.quick_fixes or request.fix_all):
            return logging_actions or None
        computed = await session.in_worker(compute_actions, request)
        live = session.documents.get(uri)
        if live is None or live.version != document.version:
            return None  # edited meanwhile: these edits would land on the wrong text
        actions = [
            to_code_action(
                action,
                document,
                session.codec,
                result.diagnostics[index] if index is not None else None,
            )
            for action, index in computed
            if _wanted(action.kind, only)
        ]
        return actions + logging_actions or None


def _overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    return a_start <= b_end and b_start <= a_end


def to_code_action(
    action: Action, document: Document, codec: PositionCodec, diagnostic: types.Diagnostic | None
) -> types.CodeAction:
    edits = [
        types.TextEdit(range=document.to_client_range(edit.span, codec), new_text=edit.new_text)
        for edit in action.edits
    ]
    return types.CodeAction(
        title=action.title,
        kind=action.kind,
        diagnostics=[diagnostic] if diagnostic is not None else None,
        is_preferred=action.is_preferred or None,
        edit=types.WorkspaceEdit(
            document_changes=[
                types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(
                        uri=document.uri, version=document.version
                    ),
                    edits=edits,
                )
            ]
        ),
    )
