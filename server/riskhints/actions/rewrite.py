"""The mechanics of quick fixes: find the statement to change with ``ast``, rewrite only that
statement with libcst, and turn the new text into minimal line-level :class:`TextEdit` values.

Measured trade-off: libcst with its metadata on a whole 2,000-line module costs about a second,
``ast`` about 8 ms. So the module is parsed with ``ast`` (to locate nodes, parents, imports) and
libcst sees only the lines of one statement: an indented statement is parsed under a synthetic
``if True:`` header (a block may be indented by any amount, and continuation lines or string
contents are left exactly as they are), and positions inside that small snippet come from
libcst's ``PositionProvider``.

Edits are computed by diffing the new text against the old by lines, so every fix, however it
was built, yields small non-overlapping edits, and lines it did not touch keep their own line
endings. New lines use the file's first line ending.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from ..analysis.finding import Span
from ..analysis.parse import parse_python
from ..analysis.positions import Positions
from .edits import TextEdit, line_ending

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_HEADER = "if True:\n"
FunctionLike = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
NodeT = TypeVar("NodeT", bound=cst.CSTNode)


def lines_with_endings(text: str) -> list[str]:
    starts = [0, *(m.end() for m in _LINE_BREAK.finditer(text))]
    lines = [text[a:b] for a, b in zip(starts, starts[1:], strict=False)]
    if starts[-1] < len(text):
        lines.append(text[starts[-1] :])
    return lines


def _strip_ending(line: str) -> str:
    return line.rstrip("\r\n")


class Source:
    """One module's text with its ``ast`` (it must parse), parents and code-point positions."""

    def __init__(self, text: str, tree: ast.Module) -> None:
        self.text = text
        self.tree = tree
        self.lines = [_strip_ending(line) for line in lines_with_endings(text)]
        self.positions = Positions(text)
        self.eol = line_ending(text)
        self.parents: dict[int, ast.AST] = {}
        self._by_line: dict[int, list[ast.AST]] = {}  # nodes by the line they start on
        for node in ast.walk(tree):
            line = getattr(node, "lineno", None)
            if line is not None:
                self._by_line.setdefault(line, []).append(node)
            for child in ast.iter_child_nodes(node):
                self.parents[id(child)] = node

    @classmethod
    def parse(cls, text: str) -> Source | None:
        try:
            tree = parse_python(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None
        return cls(text, tree)

    def parent(self, node: ast.AST) -> ast.AST | None:
        return self.parents.get(id(node))

    def ancestors(self, node: ast.AST) -> Iterator[tuple[ast.AST, ast.AST]]:
        """(child, parent) pairs from ``node`` up to the module."""
        child = node
        parent = self.parent(node)
        while parent is not None:
            yield child, parent
            child, parent = parent, self.parent(parent)

    def span(self, node: ast.AST) -> Span:
        return self.positions.span(node)

    def node_at(self, span: Span, kind: type[ast.AST]) -> ast.AST | None:
        """The node of ``kind`` a finding points at: its exact span, or (findings on a
        multi-line node underline its first line) the one node starting there."""
        starting: list[ast.AST] = []
        for node in self._by_line.get(span.line, ()):
            if isinstance(node, kind):
                where = self.span(node)
                if where == span:
                    return node
                if where.column == span.column and self.positions.head_span(node) == span:
                    starting.append(node)
        return starting[0] if len(starting) == 1 else None

    def statement_of(self, node: ast.AST) -> ast.stmt | None:
        current: ast.AST | None = node
        while current is not None and not isinstance(current, ast.stmt):
            current = self.parent(current)
        return current

    def enclosing_function(self, node: ast.AST) -> FunctionLike | None:
        for _, parent in self.ancestors(node):
            if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                return parent
            if isinstance(parent, ast.ClassDef):
                return None
        return None

    def names_in(self, scope: ast.AST) -> set[str]:
        names: set[str] = set()
        for node in ast.walk(scope):
            if isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.alias):
                names.add((node.asname or node.name).partition(".")[0])
        return names

    def column(self, line: int, byte_offset: int) -> int:
        return self.positions.column(line, byte_offset)


@dataclass
class LineEdits:
    """Whole-line replacements and insertions in the coordinates of the original text.

    ``replace(first, last, lines)`` swaps lines ``first..last`` (1-based, inclusive);
    ``insert(before, lines)`` puts lines before line ``before`` (``len + 1``: at the end).
    Insertions at one place keep the order they were made in.
    """

    source: Source
    replacements: dict[int, tuple[int, list[str]]] = field(default_factory=dict)
    insertions: dict[int, list[str]] = field(default_factory=dict)

    def replace(self, first: int, last: int, lines: list[str]) -> None:
        for start, (end, _) in self.replacements.items():
            if start <= last and first <= end:
                raise ValueError("overlapping line replacements")
        self.replacements[first] = (last, lines)

    def insert(self, before: int, lines: list[str]) -> None:
        self.insertions.setdefault(before, []).extend(lines)

    def result(self) -> str:
        text = self.source.text
        eol = self.source.eol
        had_final_newline = text.endswith(("\n", "\r"))
        original = lines_with_endings(text if had_final_newline or not text else text + eol)
        for start, (end, _) in self.replacements.items():
            if any(start < before <= end for before in self.insertions):
                raise ValueError("insertion inside a replaced range")
        out: list[str] = []
        index = 1
        while index <= len(original):
            out.extend(line + eol for line in self.insertions.get(index, ()))
            replacement = self.replacements.get(index)
            if replacement is not None:
                end, lines = replacement
                out.extend(line + eol for line in lines)
                index = end + 1
                continue
            out.append(original[index - 1])
            index += 1
        out.extend(line + eol for line in self.insertions.get(len(original) + 1, ()))
        joined = "".join(out)
        if not had_final_newline and joined.endswith(eol):
            joined = joined[: -len(eol)]
        return joined


def text_edits(before: str, after: str) -> tuple[TextEdit, ...]:
    """Minimal line-level edits turning ``before`` into ``after``."""
    old = lines_with_endings(before)
    new = lines_with_endings(after)
    head = 0
    while head < min(len(old), len(new)) and old[head] == new[head]:
        head += 1
    tail = 0
    while (
        tail < min(len(old), len(new)) - head
        and old[len(old) - 1 - tail] == new[len(new) - 1 - tail]
    ):
        tail += 1
    middle_old = old[head : len(old) - tail]
    middle_new = new[head : len(new) - tail]
    # autojunk keeps this fast on long spans (an import added far above the change); any
    # opcodes it yields are still an exact transformation.
    matcher = difflib.SequenceMatcher(None, middle_old, middle_new)
    edits: list[TextEdit] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        start, end = head + i1, head + i2  # 0-based, end exclusive
        end_line, end_column = end + 1, 0
        if end == len(old) and old and not old[-1].endswith(("\n", "\r")):
            # No line after the last one to end at: end at the end of its text instead.
            end_line, end_column = len(old), len(old[-1])
        edits.append(TextEdit(Span(start + 1, 0, end_line, end_column), "".join(middle_new[j1:j2])))
    return tuple(edits)


# -- statements rewritten with libcst -------------------------------------------------------------


@dataclass
class Snippet:
    """The lines of one statement (or of the compound statement around it) parsed with libcst.

    ``to_snippet`` maps a position in the file to one in the snippet; ``positions`` gives each
    node's range (code points, 1-based lines)."""

    first: int
    last: int
    header: bool
    module: cst.Module
    positions: dict[cst.CSTNode, CodeRange]

    def to_snippet(self, line: int, column: int) -> tuple[int, int]:
        return line - self.first + 1 + (1 if self.header else 0), column

    def find(self, kind: type[NodeT], span: Span) -> NodeT | None:
        """The node of ``kind`` whose range is ``span`` (file coordinates)."""
        start = self.to_snippet(span.line, span.column)
        end = self.to_snippet(span.end_line, span.end_column)
        for node, where in self.positions.items():
            if (
                isinstance(node, kind)
                and (where.start.line, where.start.column) == start
                and (where.end.line, where.end.column) == end
            ):
                return node
        return None

    def find_starting(
        self, kinds: tuple[type[cst.CSTNode], ...], line: int, column: int
    ) -> cst.CSTNode | None:
        start = self.to_snippet(line, column)
        for node, where in self.positions.items():
            if isinstance(node, kinds) and (where.start.line, where.start.column) == start:
                return node
        return None

    def new_lines(self, module: cst.Module) -> list[str]:
        code = module.code
        lines = code.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return lines[1:] if self.header else lines


def line_aligned_statement(source: Source, node: ast.AST) -> ast.stmt | None:
    """The innermost statement around ``node`` that starts its own line (``if x: f()`` gives
    the ``if``)."""
    stmt = source.statement_of(node)
    while stmt is not None:
        prefix = source.lines[stmt.lineno - 1][: source.column(stmt.lineno, stmt.col_offset)]
        if not prefix.strip():
            return stmt
        parent = source.parent(stmt)
        stmt = source.statement_of(parent) if parent is not None else None
    return None


def snippet_for(source: Source, stmt: ast.stmt) -> Snippet | None:
    first = stmt.lineno
    last = stmt.end_lineno or stmt.lineno
    body = source.lines[first - 1 : last]
    header = bool(body) and body[0][:1] in (" ", "\t")
    code = (_HEADER if header else "") + "\n".join(body) + "\n"
    try:
        wrapper = MetadataWrapper(cst.parse_module(code))
        positions = dict(wrapper.resolve(PositionProvider))
    except (cst.ParserSyntaxError, RecursionError, ValueError):
        return None
    return Snippet(first, last, header, wrapper.module, positions)


def rewrite(
    edits: LineEdits, snippet: Snippet, transform: Callable[[cst.Module], cst.Module | None]
) -> bool:
    new = transform(snippet.module)
    if new is None:
        return False
    edits.replace(snippet.first, snippet.last, snippet.new_lines(new))
    return True


class ReplaceStatement(cst.CSTTransformer):
    """Replace the statement line holding ``target`` (a small statement) with several lines."""

    def __init__(
        self,
        target: cst.BaseSmallStatement,
        build: Callable[[cst.SimpleStatementLine], list[cst.SimpleStatementLine]],
    ) -> None:
        super().__init__()
        self.target = target
        self.build = build
        self.done = False

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement] | cst.RemovalSentinel:
        if len(original_node.body) == 1 and original_node.body[0] is self.target:
            self.done = True
            return cst.FlattenSentinel(self.build(original_node))
        return updated_node
