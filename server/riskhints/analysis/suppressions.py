"""``# riskhints: ignore[RH201] -- reason`` comments.

A suppression applies to findings that start on its line, or on any line of the statement
whose first line carries it. ``# riskhints: ignore`` without ids suppresses every rule on that
line; ``# riskhints: ignore-file`` (anywhere, usually at the top) the whole file, optionally
only for the listed ids.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass

from .positions import split_lines

_MARKER = "riskhints:"
_COMMENT = re.compile(
    r"#\s*riskhints:\s*(?P<kind>ignore-file|ignore)\b(?:\[(?P<ids>[^\]]*)\])?"
    r"(?:\s*--\s*(?P<reason>.*))?"
)
_RULE_ID = re.compile(r"^RH\d{3}$")


@dataclass(frozen=True)
class Suppression:
    line: int
    column: int
    rules: frozenset[str] | None  # None: every rule
    reason: str
    whole_file: bool


def parse_suppressions(text: str) -> list[Suppression]:
    if _MARKER not in text:
        return []
    found: list[Suppression] = []
    for line_no, column, comment in iter_comments(text):
        match = _COMMENT.search(comment)
        if match is None:
            continue
        ids = match.group("ids")
        rules = (
            frozenset(part.strip() for part in ids.split(",") if part.strip())
            if ids is not None
            else None
        )
        found.append(
            Suppression(
                line_no,
                column + match.start(),
                rules,
                (match.group("reason") or "").strip(),
                match.group("kind") == "ignore-file",
            )
        )
    return found


def iter_comments(text: str) -> Iterable[tuple[int, int, str]]:
    """Real comments only (not ``#`` inside strings); falls back to a line scan when the file
    does not tokenize (it is being typed)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        for number, line in enumerate(split_lines(text), start=1):
            index = line.find("#")
            if index >= 0 and _MARKER in line[index:]:
                yield number, index, line[index:]
        return
    for token in tokens:
        if token.type == tokenize.COMMENT and _MARKER in token.string:
            yield token.start[0], token.start[1], token.string


def statement_heads(tree: ast.Module | None) -> dict[int, int]:
    """Line -> first line of the (simple) statement spanning it, for multi-line statements."""
    heads: dict[int, int] = {}
    if tree is None:
        return heads
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt):
            continue
        end = node.end_lineno or node.lineno
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
            end = body[0].lineno - 1  # a compound statement's header only
        for line in range(node.lineno + 1, end + 1):
            heads.setdefault(line, node.lineno)
    return heads


def is_valid_rule_id(rule_id: str) -> bool:
    return bool(_RULE_ID.match(rule_id))
