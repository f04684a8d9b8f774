"""Text edits in engine coordinates, applied and validated without an editor.

Every action builds :class:`TextEdit` values; :func:`apply_edits` applies them to the source the
way a client would, and :func:`leaves_valid_python` is the safety net every action passes
before it is offered: an edit that would break a file that parsed is never proposed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..analysis.finding import Span
from ..analysis.parse import parse_python

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
#: The code action kind of "fix everything in this file" (here, not in ``fixes``: that one loads
#: libcst, which the server imports only when an action is asked for).
FIX_ALL_KIND = "source.fixAll.riskhints"


@dataclass(frozen=True)
class TextEdit:
    span: Span  # 1-based lines, 0-based code-point columns; an empty span inserts
    new_text: str


@dataclass(frozen=True)
class Action:
    title: str
    kind: str  # "quickfix", "source.fixAll.riskhints", ...
    rule: str | None
    edits: tuple[TextEdit, ...]
    is_preferred: bool = False
    safe_for_fix_all: bool = False


def _offsets(text: str) -> list[int]:
    return [0, *(m.end() for m in _LINE_BREAK.finditer(text))]


def offset_of(text: str, line: int, column: int, starts: list[int] | None = None) -> int:
    starts = starts if starts is not None else _offsets(text)
    if line - 1 >= len(starts):
        return len(text)
    start = starts[line - 1]
    end = starts[line] if line < len(starts) else len(text)
    content = text[start:end].rstrip("\r\n")
    return start + min(column, len(content))


def apply_edits(text: str, edits: Sequence[TextEdit]) -> str:
    """Apply non-overlapping edits (in any order), as an LSP client applies a TextEdit[]."""
    starts = _offsets(text)
    resolved = sorted(
        (
            (
                offset_of(text, e.span.line, e.span.column, starts),
                offset_of(text, e.span.end_line, e.span.end_column, starts),
                e.new_text,
            )
            for e in edits
        ),
        key=lambda item: (item[0], item[1]),
        reverse=True,
    )
    previous_start = len(text) + 1
    for start, end, new_text in resolved:
        if end > previous_start:
            raise ValueError("overlapping edits")
        text = text[:start] + new_text + text[end:]
        previous_start = start
    return text


def parses(text: str) -> bool:
    try:
        parse_python(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def leaves_valid_python(before: str, edits: Sequence[TextEdit]) -> bool:
    """True when the edits apply cleanly and keep a parsing file parsing."""
    try:
        after = apply_edits(before, edits)
    except ValueError:
        return False
    return parses(after) or not parses(before)


def line_ending(text: str) -> str:
    match = _LINE_BREAK.search(text)
    return match.group(0) if match else "\n"
