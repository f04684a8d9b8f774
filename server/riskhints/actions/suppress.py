""" "Suppress with a reason": a ``# riskhints: ignore[RHnnn] -- reason`` comment on the line.

The comment goes at the end of the statement's first line (where the engine looks for it), or
joins an existing ``riskhints: ignore[...]`` comment there. A line that ends inside a string
literal cannot take a comment: then no action is offered rather than a broken edit.
"""

from __future__ import annotations

import io
import re
import tokenize

from ..analysis.finding import Finding, Span
from ..analysis.parse import parse_module
from ..analysis.positions import split_lines
from ..analysis.suppressions import statement_heads
from .edits import Action, TextEdit, leaves_valid_python

REASON_PLACEHOLDER = "<why this is safe>"
_EXISTING = re.compile(r"#\s*riskhints:\s*ignore\[(?P<ids>[^\]]*)\]")


def suppress_action(text: str, finding: Finding) -> Action | None:
    lines = split_lines(text)
    tree = parse_module(text).tree
    head = statement_heads(tree).get(finding.span.line, finding.span.line)
    for line in dict.fromkeys((head, finding.span.line)):
        edit = _edit_for_line(text, lines, line, finding.rule)
        if edit is not None and leaves_valid_python(text, [edit]):
            return Action(
                title=f"Suppress {finding.rule} on this line (with a reason)",
                kind="quickfix",
                rule=finding.rule,
                edits=(edit,),
            )
    return None


def _edit_for_line(text: str, lines: list[str], line: int, rule: str) -> TextEdit | None:
    if not 1 <= line <= len(lines):
        return None
    content = lines[line - 1]
    existing = _EXISTING.search(content)
    if existing is not None and _comment_start(text, line) is not None:
        ids = [part.strip() for part in existing.group("ids").split(",") if part.strip()]
        if rule in ids:
            return None
        start, end = existing.span("ids")
        joined = ", ".join([*ids, rule])
        return TextEdit(Span(line, start, line, end), joined)
    if not _line_ends_outside_string(text, line):
        return None
    stripped = len(content.rstrip())
    comment = f"  # riskhints: ignore[{rule}] -- {REASON_PLACEHOLDER}"
    return TextEdit(Span(line, stripped, line, len(content)), comment)


def _tokens(text: str) -> list[tokenize.TokenInfo] | None:
    try:
        return list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return None


def _comment_start(text: str, line: int) -> int | None:
    for token in _tokens(text) or ():
        if token.type == tokenize.COMMENT and token.start[0] == line:
            return token.start[1]
    return None


def _line_ends_outside_string(text: str, line: int) -> bool:
    tokens = _tokens(text)
    if tokens is None:
        return False
    for token in tokens:
        # A string token spanning past this line means its end is inside the literal.
        if token.type == tokenize.STRING and token.start[0] <= line < token.end[0]:
            return False
        if (
            getattr(tokenize, "FSTRING_MIDDLE", None) == token.type
            and token.start[0] <= line < token.end[0]
        ):
            return False
    return True
