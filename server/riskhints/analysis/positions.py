"""Source text split into lines the way Python's tokenizer splits them, and position conversion.

``ast`` reports columns as UTF-8 *byte* offsets; a :class:`~riskhints.analysis.finding.Span`
holds code points. ``str.splitlines`` must not be used here: it also splits on form feeds,
``\\x1c``-``\\x1e`` and U+2028, which Python source treats as ordinary characters.
"""

from __future__ import annotations

import ast
import re

from .finding import Span

_NEWLINE = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    """Lines without their terminators; a trailing newline does not add an empty line."""
    lines = _NEWLINE.split(text)
    if lines and lines[-1] == "" and len(lines) > 1:
        lines.pop()
    return lines


class Positions:
    def __init__(self, text: str) -> None:
        self.lines = split_lines(text)

    def line_text(self, line: int) -> str:
        if 1 <= line <= len(self.lines):
            return self.lines[line - 1]
        return ""

    def column(self, line: int, byte_offset: int) -> int:
        """Code-point column of a UTF-8 byte offset on a 1-based line."""
        text = self.line_text(line)
        if text.isascii():
            return min(byte_offset, len(text))
        # surrogatepass: a lone surrogate (the parser saw U+FFFD, also 3 bytes) is one code point.
        data = text.encode("utf-8", "surrogatepass")
        return len(data[:byte_offset].decode("utf-8", errors="surrogatepass"))

    def span(self, node: ast.AST) -> Span:
        line = getattr(node, "lineno", 1)
        end_line = getattr(node, "end_lineno", None) or line
        col = self.column(line, getattr(node, "col_offset", 0))
        end_col_bytes = getattr(node, "end_col_offset", None)
        end_col = (
            self.column(end_line, end_col_bytes)
            if end_col_bytes is not None
            else len(self.line_text(end_line))
        )
        return Span(line, col, end_line, end_col)

    def head_span(self, node: ast.AST) -> Span:
        """The first line of a (possibly multi-line) node: what an editor should underline."""
        span = self.span(node)
        if span.end_line == span.line:
            return span
        return Span(span.line, span.column, span.line, len(self.line_text(span.line)))

    def segment(self, node: ast.AST, limit: int = 60) -> str:
        """Short source text of a node for messages (first line, whitespace folded)."""
        span = self.span(node)
        if span.line == span.end_line:
            text = self.line_text(span.line)[span.column : span.end_column]
        else:
            text = self.line_text(span.line)[span.column :] + " ..."
        text = " ".join(text.split())
        return text if len(text) <= limit else text[: limit - 3] + "..."


def lines_text(ranges: list[tuple[int, int]]) -> str:
    """``line 4``, ``lines 4-6``, ``lines 2, 9-11``: line ranges as a reader writes them."""
    parts = [f"{a}-{b}" if a != b else str(a) for a, b in ranges]
    single = len(ranges) == 1 and ranges[0][0] == ranges[0][1]
    return f"{'line' if single else 'lines'} {', '.join(parts)}"
