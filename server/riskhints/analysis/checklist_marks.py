"""Assumptions checklists in the source: parse them, acknowledge findings, report stale items.

A checklist is a block of comments directly above a function (above its decorators)::

    # riskhints assumptions for store_chunk:
    # [x] no other task or thread ever takes `lock` while ... (RH202 7f3a9c)
    # [ ] `store_chunk` runs on the event loop thread: ... (loop 03be11)

An item ends with its tag and fingerprint (see :mod:`.assumptions`). A finding is acknowledged
— it drops to a hint and says so — when every item carrying its fingerprint is checked. A
checked item whose fingerprint matches nothing the function has now is *stale*: the code it
was checked against has changed, so the item is reported (RH004) and the finding it covered,
whose fingerprint changed with the code, comes back at its normal severity.

Items without a tag (lines the user added) are kept and never judged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from .assumptions import FACT_TAGS, fact_items, finding_fingerprint, first_line, function_of
from .facts import FunctionFacts, ModuleFacts
from .finding import Finding, Severity, Span
from .options import AnalysisOptions
from .positions import split_lines

MARKER = "riskhints assumptions for"
from .meta_ids import ACKNOWLEDGED as ACKNOWLEDGED  # noqa: E402  (re-exported)

_HEADER = re.compile(r"^(?P<indent>[ \t]*)#\s*riskhints assumptions for\s+(?P<name>.+?):?\s*$")
_ITEM = re.compile(
    r"^(?P<indent>[ \t]*)#\s*\[(?P<mark>[ xX])\]\s?(?P<text>.*?)"
    r"(?:\s+\((?P<tag>RH\d{3}|[a-z]+) (?P<fp>[0-9a-f]{6})\))?\s*$"
)
_COMMENT = re.compile(r"^[ \t]*#")


@dataclass(frozen=True)
class ChecklistItem:
    line: int  # 1-based
    column: int  # where the ``#`` is
    end_column: int
    checked: bool
    text: str
    tag: str | None
    fingerprint: str | None


@dataclass(frozen=True)
class ChecklistBlock:
    name: str  # as the header says
    header_line: int
    last_line: int  # the block spans header_line..last_line
    function_line: int  # the first decorator or ``def`` line below it
    items: tuple[ChecklistItem, ...]


def parse_block(lines: Sequence[str], function_line: int) -> ChecklistBlock | None:
    """The checklist directly above ``function_line`` (1-based), if there is one: the
    contiguous comment lines above it, the first of which is a checklist header."""
    index = function_line - 2
    while index >= 0 and _COMMENT.match(lines[index]):
        index -= 1
    comments = range(index + 2, function_line)  # 1-based line numbers of the comment run
    header = next((n for n in comments if _HEADER.match(lines[n - 1])), None)
    if header is None:
        return None
    match = _HEADER.match(lines[header - 1])
    assert match is not None
    items: list[ChecklistItem] = []
    for number in range(header + 1, function_line):
        item = _ITEM.match(lines[number - 1])
        if item is None:
            continue
        items.append(
            ChecklistItem(
                line=number,
                column=len(item.group("indent")),
                end_column=len(lines[number - 1].rstrip()),
                checked=item.group("mark") in "xX",
                text=item.group("text").strip(),
                tag=item.group("tag"),
                fingerprint=item.group("fp"),
            )
        )
    return ChecklistBlock(
        match.group("name").strip().strip("`"),
        header,
        function_line - 1,
        function_line,
        tuple(items),
    )


def blocks_by_function(
    text: str, facts: ModuleFacts
) -> dict[str, tuple[FunctionFacts, ChecklistBlock]]:
    """Qualified function name -> (function, its checklist), for functions that have one."""
    if MARKER not in text:
        return {}
    lines = split_lines(text)
    found: dict[str, tuple[FunctionFacts, ChecklistBlock]] = {}
    for fn in facts.iter_functions():
        if fn.is_module_scope:
            continue
        block = parse_block(lines, first_line(fn))
        if block is not None:
            found[fn.qualname] = (fn, block)
    return found


@dataclass(frozen=True)
class ChecklistReview:
    stale: tuple[Finding, ...]
    acknowledged: frozenset[tuple[str, int, int, str, str]]  # sort keys of findings

    def acknowledge(self, finding: Finding) -> Finding:
        if finding.sort_key() not in self.acknowledged:
            return finding
        return replace(
            finding.with_severity(Severity.HINT),
            message=f"{finding.message} ({ACKNOWLEDGED})",
        )


NO_REVIEW = ChecklistReview((), frozenset())


def review_checklists(
    text: str,
    facts: ModuleFacts | None,
    findings: Iterable[Finding],
    options: AnalysisOptions,
    stale_finding: Callable[[str, Span, str, str], Finding],
) -> ChecklistReview:
    """Which findings the checklists acknowledge, and which checked items are stale.

    ``stale_finding(path, span, message, function)`` builds the RH004 finding (the engine owns
    rule ids and severities)."""
    if facts is None or MARKER not in text:
        return NO_REVIEW
    blocks = blocks_by_function(text, facts)
    if not blocks:
        return NO_REVIEW
    per_function: dict[str, list[tuple[Finding, str]]] = {}
    for finding in findings:
        fn = function_of(facts, finding)
        if fn is not None and fn.qualname in blocks:
            fp = finding_fingerprint(finding, fn, text)
            per_function.setdefault(fn.qualname, []).append((finding, fp))
    acknowledged: set[tuple[str, int, int, str, str]] = set()
    stale: list[Finding] = []
    for qualname, (fn, block) in blocks.items():
        tagged = [item for item in block.items if item.fingerprint is not None]
        current = per_function.get(qualname, [])
        for finding, fp in current:
            mine = [item for item in tagged if item.fingerprint == fp and item.tag == finding.rule]
            if mine and all(item.checked for item in mine):
                acknowledged.add(finding.sort_key())
        if not any(item.checked for item in tagged):
            continue
        known = {(finding.rule, fp) for finding, fp in current}
        known |= {(item.tag, item.fingerprint) for item in fact_items(fn, text)}
        for item in tagged:
            if not item.checked or (item.tag, item.fingerprint) in known:
                continue
            if item.tag not in FACT_TAGS and not options.enabled(item.tag or ""):
                continue  # its rule is switched off: nothing to compare with
            stale.append(
                stale_finding(
                    facts.path,
                    Span(item.line, item.column, item.line, item.end_column),
                    _stale_message(fn, item),
                    fn.display,
                )
            )
    return ChecklistReview(tuple(stale), frozenset(acknowledged))


def _stale_message(fn: FunctionFacts, item: ChecklistItem) -> str:
    what = (
        f"no {item.tag} finding in `{fn.display}` matches it any more"
        if item.tag not in FACT_TAGS
        else f"`{fn.display}` no longer looks like this"
    )
    return (
        f"stale assumption ({item.tag} {item.fingerprint}): checked against code that has "
        f"changed — {what}; re-check it and update the checklist"
    )
