""" "Insert assumptions checklist for `handle_event`": a comment block above the function.

The block lists what the function relies on, one ``# [ ] ...`` line per assumption, each ending
with the tag and fingerprint it was written against (see
:mod:`riskhints.analysis.assumptions`)::

    # riskhints assumptions for handle_event:
    # [ ] no other task or thread ever takes `lock` while ... (RH202 7f3a9c)

It goes above the decorators, at the function's indentation, with the file's own line endings.
When the function already has a checklist the action becomes "Update": the block is rewritten
in place, items whose fingerprint (or, for untagged lines the user wrote, whose text) is still
there keep their ``[x]``, and when nothing would change no action is offered — applying it
twice gives the same file.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..analysis.assumptions import (
    Item,
    first_line,
    function_at,
    function_of,
    items_for,
    wants_checklist,
)
from ..analysis.checklist_marks import ChecklistBlock, ChecklistItem, parse_block
from ..analysis.engine import ParsedModule, parse_source
from ..analysis.facts import FunctionFacts
from ..analysis.finding import Finding, Span
from ..analysis.positions import split_lines
from .edits import Action, TextEdit, leaves_valid_python, line_ending

KIND = "refactor.riskhints.checklist"
HEADER = "# riskhints assumptions for {name}:"


def checklist_action(
    text: str,
    path: str,
    findings: Sequence[Finding],
    line: int,
    parsed: ParsedModule | None = None,
) -> Action | None:
    """The insert (or update) action for the function at ``line`` (1-based), if it wants one.
    ``parsed``: the text already parsed (callers offering several actions parse once)."""
    parsed = parsed or parse_source(text, path)
    if parsed.facts is None:
        return None
    fn = function_at(parsed.facts, line)
    if fn is None:  # on the checklist itself: the function below it
        below = _function_below(split_lines(text), line)
        fn = next(
            (
                f
                for f in parsed.facts.iter_functions()
                if not f.is_module_scope and first_line(f) == below
            ),
            None,
        )
    if fn is None or fn.is_module_scope:
        return None
    mine = [f for f in findings if function_of(parsed.facts, f) is fn]
    if not wants_checklist(fn, mine):
        return None
    return _action_for(text, fn, mine)


def checklist_actions_for_findings(
    text: str,
    path: str,
    findings: Sequence[Finding],
    selected: Sequence[Finding],
    parsed: ParsedModule | None = None,
) -> list[Action]:
    """One action per function among the selected findings (code actions on a diagnostic)."""
    parsed = parsed or parse_source(text, path)
    if parsed.facts is None:
        return []
    actions: dict[str, Action] = {}
    for finding in selected:
        fn = function_of(parsed.facts, finding)
        if fn is None or fn.qualname in actions:
            continue
        mine = [f for f in findings if function_of(parsed.facts, f) is fn]
        action = _action_for(text, fn, mine)
        if action is not None:
            actions[fn.qualname] = action
    return list(actions.values())


def render_block(name: str, indent: str, items: Sequence[Item], checked: set[Item]) -> list[str]:
    lines = [indent + HEADER.format(name=name)]
    for item in items:
        mark = "x" if item in checked else " "
        lines.append(f"{indent}# [{mark}] {item.text}  ({item.tag} {item.fingerprint})")
    return lines


def _action_for(text: str, fn: FunctionFacts, findings: Sequence[Finding]) -> Action | None:
    lines = split_lines(text)
    top = first_line(fn)
    if not 1 <= top <= len(lines):
        return None
    indent = lines[top - 1][: len(lines[top - 1]) - len(lines[top - 1].lstrip())]
    items = items_for(fn, findings, text)
    existing = parse_block(lines, top)
    checked = _still_checked(items, existing)
    block = render_block(fn.display, indent, items, checked)
    if existing is not None:
        # Lines the user added without a tag stay, with their marks.
        block += [lines[i.line - 1] for i in existing.items if i.fingerprint is None]
    newline = line_ending(text)
    if existing is None:
        edit = TextEdit(Span(top, 0, top, 0), "".join(line + newline for line in block))
        title = f"Insert assumptions checklist for `{fn.display}`"
    else:
        old = lines[existing.header_line - 1 : existing.last_line]
        if old == block:
            return None
        edit = TextEdit(
            Span(existing.header_line, 0, existing.last_line, len(lines[existing.last_line - 1])),
            newline.join(block),
        )
        title = f"Update assumptions checklist for `{fn.display}`"
    if not leaves_valid_python(text, [edit]):
        return None
    return Action(title=title, kind=KIND, rule=None, edits=(edit,))


def _still_checked(items: Sequence[Item], existing: ChecklistBlock | None) -> set[Item]:
    """Items that keep their ``[x]``: the same fingerprint and text, or the same fingerprint
    when every old item carrying it was checked (the wording changed, the code did not)."""
    if existing is None:
        return set()
    tagged: list[ChecklistItem] = [i for i in existing.items if i.fingerprint is not None]
    exact = {(i.tag, i.fingerprint, i.text) for i in tagged if i.checked}
    prints = {(i.tag, i.fingerprint) for i in tagged}
    all_checked = {
        key for key in prints if all(i.checked for i in tagged if (i.tag, i.fingerprint) == key)
    }
    return {
        item
        for item in items
        if (item.tag, item.fingerprint, item.text) in exact
        or (item.tag, item.fingerprint) in all_checked
    }


def _function_below(lines: Sequence[str], line: int) -> int:
    """From a line inside a checklist block: the first line of the code below it."""
    index = line - 1
    while index < len(lines) and lines[index].lstrip().startswith("#"):
        index += 1
    return index + 1
