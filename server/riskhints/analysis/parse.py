"""Parsing that survives code being typed: a syntax error sets aside the smallest enclosing
function (or, failing that, the top-level block) and the rest of the module is still analysed.

The replaced lines keep their line numbers (the block becomes ``pass`` plus blank lines), so
every position in the recovered tree is a position in the user's text.
"""

from __future__ import annotations

import ast
import re
import threading
import warnings
from dataclasses import dataclass

from .positions import split_lines

_MAX_RECOVERIES = 25
_PARSE_LOCK = threading.Lock()
_DEF = re.compile(r"^(\s*)(async\s+def|def|class)\b")


@dataclass(frozen=True)
class ParseProblem:
    message: str
    line: int  # 1-based
    column: int  # 0-based code points
    kind: str  # "syntax" | "too-deep"


@dataclass(frozen=True)
class ParseResult:
    tree: ast.Module | None
    problem: ParseProblem | None
    set_aside: tuple[tuple[int, int], ...] = ()  # 1-based inclusive line ranges not analysed


def parse_module(text: str, filename: str = "<unknown>") -> ParseResult:
    try:
        return ParseResult(_parse(text, filename), None)
    except SyntaxError as error:
        first = _problem(error, text)
    except (RecursionError, MemoryError):
        return ParseResult(
            None, ParseProblem("nested too deeply for the Python parser", 1, 0, "too-deep")
        )
    lines = split_lines(text)
    set_aside: list[tuple[int, int]] = []
    error_line = first.line
    for _ in range(_MAX_RECOVERIES):
        region = _region(
            lines, error_line, widen=any(r[0] <= error_line <= r[1] for r in set_aside)
        )
        if region is None:
            break
        start, end = region
        indent = re.match(r"\s*", lines[start - 1]).group(0)  # type: ignore[union-attr]
        lines[start - 1 : end] = [indent + "pass"] + [""] * (end - start)
        set_aside.append((start, end))
        try:
            tree = _parse("\n".join(lines) + "\n", filename)
        except SyntaxError as error:
            error_line = error.lineno or 0
            if error_line < 1:
                break
            continue
        except (RecursionError, MemoryError):
            break
        return ParseResult(tree, first, tuple(sorted(set_aside)))
    return ParseResult(None, first, ())


def parse_python(text: str, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse`` for every part of riskhints that runs on a worker thread (see below); code
    nested too deeply for the parser (which then runs out of stack or memory) is a
    :class:`SyntaxError` too, so every caller gives its clean "cannot parse" answer."""
    try:
        return _parse(text, filename)
    except (RecursionError, MemoryError):
        raise SyntaxError("nested too deeply for the Python parser") from None


def parse_expression(text: str) -> ast.expr:
    """``ast.parse(text, mode="eval").body`` under the parse lock (a string annotation); any
    failure, a too-deep expression included, is a :class:`SyntaxError`."""
    try:
        with _PARSE_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(_encodable(text), filename="", mode="eval").body
    except (RecursionError, MemoryError, ValueError) as error:
        raise SyntaxError(f"not an expression riskhints can read: {error!r}") from None


def literal_value(text: str) -> object:
    """``ast.literal_eval(text)`` under the parse lock; :class:`ValueError` or
    :class:`SyntaxError` when ``text`` is no literal (or one nested too deeply)."""
    try:
        with _PARSE_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.literal_eval(_encodable(text))
    except (RecursionError, MemoryError, TypeError) as error:
        raise ValueError(f"not a literal riskhints can read: {error!r}") from None


def _parse(text: str, filename: str) -> ast.Module:
    # One parse at a time: CPython 3.11's AST constructor keeps its recursion counter per
    # interpreter, and two threads parsing at once can fail with "AST constructor recursion
    # depth mismatch" (python/cpython#106905). Parsing holds the GIL anyway, so the lock costs
    # nothing. ``warnings.catch_warnings`` is not thread-safe either, so it sits inside too.
    #
    # The file name given to the parser is empty on purpose: for a syntax error CPython reads
    # the offending line back from the file of that name to compute the column, which for an
    # unsaved buffer is another text (a wrong column), and could be a FIFO of the workspace.
    del filename
    with _PARSE_LOCK, warnings.catch_warnings():
        # Invalid escape sequences and the like are the user's linter's business, not ours.
        warnings.simplefilter("ignore")
        return ast.parse(_encodable(text), filename="", type_comments=False)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(text: str) -> str:
    """``text`` with lone surrogates (which an editor can send, and which the parser cannot
    encode) replaced by U+FFFD: one code point for one, so every position stays exact."""
    if not _SURROGATE.search(text):
        return text
    return _SURROGATE.sub("\ufffd", text)


def _problem(error: SyntaxError, text: str) -> ParseProblem:
    line = error.lineno or 1
    lines = split_lines(text)
    column = 0
    if error.offset and 1 <= line <= len(lines):
        # SyntaxError.offset is 1-based, in code points for str input.
        column = max(0, min(error.offset - 1, len(lines[line - 1])))
    message = error.msg or "invalid syntax"
    return ParseProblem(message, line, column, "syntax")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _is_code(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _region(lines: list[str], error_line: int, widen: bool) -> tuple[int, int] | None:
    """1-based inclusive line range to set aside for an error on ``error_line``."""
    if not lines:
        return None
    error_line = max(1, min(error_line, len(lines)))
    # An error reported past a block (e.g. an unclosed bracket reported at EOF) belongs to the
    # last code line before it.
    index = error_line - 1
    while index > 0 and not _is_code(lines[index]):
        index -= 1
    if not widen:
        found = _enclosing_def(lines, index)
        if found is not None:
            return found
    return _top_level_block(lines, index)


def _enclosing_def(lines: list[str], index: int) -> tuple[int, int] | None:
    """The closest ``def``/``class`` above the error whose body the error line is in."""
    error_indent = _indent(lines[index])
    for start in range(index, -1, -1):
        match = _DEF.match(lines[start])
        if match is None:
            continue
        def_indent = len(match.group(1))
        if start != index and def_indent >= error_indent:
            continue  # a sibling defined earlier, not the enclosing one
        while start > 0 and lines[start - 1].strip().startswith("@"):
            start -= 1
        return start + 1, _block_end(lines, start, def_indent, index)
    return None


def _top_level_block(lines: list[str], index: int) -> tuple[int, int] | None:
    start = index
    while start > 0 and (_indent(lines[start]) > 0 or not _is_code(lines[start])):
        start -= 1
    while start > 0 and lines[start - 1].strip().startswith("@"):
        start -= 1
    end = _block_end(lines, start, 0, index)
    return start + 1, end


def _block_end(lines: list[str], start: int, indent: int, at_least: int) -> int:
    """0-based exclusive end == 1-based inclusive last line of the block starting at ``start``."""
    end = max(start, at_least) + 1
    while end < len(lines):
        line = lines[end]
        if (
            _is_code(line)
            and _indent(line) <= indent
            and not line.lstrip().startswith((")", "]", "}"))
        ):
            break
        end += 1
    return end
