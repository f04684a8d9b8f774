"""Content changes as line operations, and regions moved through them.

An LSP change replaces a range of the text; provenance is about lines. :func:`line_ops` turns a
change (before it is applied) into the smallest line replacement it makes, ``Replace(start,
end, count)``, plus ``Mark``s for the new lines it inserted: all of them as typed (changed), and
the lines of its text as ``bulk`` when the one change inserted at least ``min_lines`` non-blank
lines or ``min_chars`` characters (an accepted completion or an agent's edit; typing is not).
Pressing Enter above a region moves it; rewriting a line in it removes that line from it.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from ..provenance.edits import EditTracker, Tracked, inserted_lines_detail, is_bulk_insertion
from .documents import Document, protocol_lines

#: Past this many changed lines a whole-document change is not diffed line by line.
DIFF_MAX_LINES = 1_000


@dataclass(frozen=True)
class Replace:
    """Old lines ``start..end`` (1-based; ``end == start - 1`` for a pure insertion) became
    ``count`` lines (0 for a pure deletion)."""

    start: int
    end: int
    count: int


@dataclass(frozen=True)
class Mark:
    """New lines ``first..last`` were inserted in one edit (``bulk``) or typed (changed)."""

    first: int
    last: int
    bulk: bool


LineOp = Replace | Mark


def line_ops(
    document: Document,
    change: types.TextDocumentContentChangeEvent,
    codec: PositionCodec,
    min_lines: int,
    min_chars: int,
) -> list[LineOp]:
    """What ``change`` does to ``document``'s lines (call before applying it): the smallest
    line replacement, and the new lines it inserted (bulk or typed)."""
    if not isinstance(change, types.TextDocumentContentChangePartial):
        return _whole_document_ops(
            document.lines, protocol_lines(change.text), min_lines, min_chars
        )
    start = _engine_position(document, change.range.start, codec)
    end = _engine_position(document, change.range.end, codec)
    if end < start:
        start, end = end, start
    (l1, c1), (l2, c2) = start, end
    lines = document.lines
    old = lines[l1 - 1 : l2]
    new = protocol_lines(lines[l1 - 1][:c1] + change.text + lines[l2 - 1][c2:])
    lead, trail = _common_ends(old, new)
    count = len(new) - lead - trail
    ops: list[LineOp] = [Replace(l1 + lead, l2 - trail, count)]
    if count > 0:
        ops.append(Mark(l1 + lead, l1 + lead + count - 1, bulk=False))
    if is_bulk_insertion(change.text, min_lines, min_chars):
        breaks = len(protocol_lines(change.text)) - 1
        first = l1 + (1 if change.text.startswith(("\n", "\r")) else 0)
        last = l1 + breaks - (1 if change.text.endswith(("\n", "\r")) else 0)
        if last >= first:
            ops.append(Mark(first, last, bulk=True))
    return ops


def _engine_position(
    document: Document, position: types.Position, codec: PositionCodec
) -> tuple[int, int]:
    """Like ``Document.offset_at``: a position past the last line is the end of the text."""
    lines = document.lines
    if position.line >= len(lines):
        return len(lines), len(lines[-1])
    return document.from_client_position(position, codec)


def _common_ends(old: Sequence[str], new: Sequence[str]) -> tuple[int, int]:
    """How many lines the two share at the start, and then at the end."""
    lead = 0
    while lead < min(len(old), len(new)) and old[lead] == new[lead]:
        lead += 1
    trail = 0
    while trail < min(len(old), len(new)) - lead and old[-1 - trail] == new[-1 - trail]:
        trail += 1
    return lead, trail


def _whole_document_ops(
    old: Sequence[str], new: Sequence[str], min_lines: int, min_chars: int
) -> list[LineOp]:
    """A full-text change as line operations, from a line diff: an insertion (or a replacement
    that grows by) at least ``min_lines`` non-blank lines or ``min_chars`` characters is bulk."""
    lead, trail = _common_ends(old, new)  # the diff then only looks at what changed
    old_middle, new_middle = old[lead : len(old) - trail], new[lead : len(new) - trail]
    if max(len(old_middle), len(new_middle)) > DIFF_MAX_LINES:
        # difflib is quadratic (6 s on the event loop for a 20k-line replacement): past this
        # size the changed middle counts as one replacement, found in linear time.
        opcodes: Sequence[tuple[str, int, int, int, int]]
        opcodes = [("replace", 0, len(old_middle), 0, len(new_middle))]
    else:
        matcher = difflib.SequenceMatcher(None, old_middle, new_middle, autojunk=False)
        opcodes = matcher.get_opcodes()
    ops: list[LineOp] = []
    marks: list[LineOp] = []
    for tag, a1, a2, b1, b2 in reversed(opcodes):  # bottom up: line numbers hold
        if tag == "equal":
            continue
        i1, i2, j1, j2 = a1 + lead, a2 + lead, b1 + lead, b2 + lead
        ops.append(Replace(i1 + 1, i2, j2 - j1))
        if j2 > j1:
            marks.append(Mark(j1 + 1, j2, bulk=False))
            added = [line for line in new[j1:j2] if line.strip()]
            removed = [line for line in old[i1:i2] if line.strip()]
            grown = len("\n".join(new[j1:j2]).strip()) - len("\n".join(old[i1:i2]).strip())
            if len(added) - len(removed) >= min_lines or grown >= min_chars:
                marks.append(Mark(j1 + 1, j2, bulk=True))
    return ops + marks


def apply_ops(tracker: EditTracker, ops: Sequence[LineOp], marks: str) -> None:
    """Move ``tracker``'s regions through ``ops``; add the marks of kind ``marks`` ("bulk",
    "typed" or "none")."""
    for op in ops:
        if isinstance(op, Replace):
            if op.count == 0:
                _delete_lines(tracker, op.start, op.end)
            else:  # blank lines: never a bulk insertion, so apply() only moves regions
                tracker.apply(op.start, op.end, "\n" * (op.count - 1))
        elif (marks == "bulk" and op.bulk) or (marks == "typed" and not op.bulk):
            detail = (
                inserted_lines_detail(op.last - op.first + 1)
                if op.bulk
                else "edited since the last save"
            )
            tracker.regions = sorted(
                [*tracker.regions, Tracked(op.first, op.last, detail)], key=lambda r: r.start
            )


def _delete_lines(tracker: EditTracker, start: int, end: int) -> None:
    removed = end - start + 1
    kept: list[Tracked] = []
    for region in tracker.regions:
        if region.end < start:
            kept.append(region)
        elif region.start > end:
            kept.append(Tracked(region.start - removed, region.end - removed, region.detail))
        elif region.start < start or region.end > end:  # what is left around the deletion
            kept.append(
                Tracked(
                    min(region.start, start), max(region.end - removed, start - 1), region.detail
                )
            )
    tracker.regions = sorted(kept, key=lambda r: r.start)
