"""Open documents, kept by the server itself with the LSP's own notion of a line.

pygls' ``TextDocument`` splits lines with ``str.splitlines``, which also breaks at form feeds,
``\\x1c``-``\\x1e``, NEL and U+2028; LSP clients break only at ``\\n``, ``\\r\\n`` and ``\\r``. On a
file holding one of those characters an incremental edit would land on the wrong line, and every
position after it would be off. So documents here apply changes with the protocol's lines and
the negotiated position encoding, and positions are converted with the same lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types
from pygls.uris import to_fs_path
from pygls.workspace.position_codec import PositionCodec

from ..analysis.finding import Span

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def file_path(uri: str) -> Path | None:
    """The file a ``file:`` URI names; None for other schemes (``untitled:``, notebook cells)."""
    if not uri.startswith("file:"):
        return None
    path = to_fs_path(uri)
    return Path(path) if path else None


def line_starts(text: str) -> list[int]:
    """Offsets (in code points) where each protocol line starts."""
    return [0, *(match.end() for match in _LINE_BREAK.finditer(text))]


def protocol_lines(text: str) -> list[str]:
    """Lines without terminators, as an LSP client counts them (a trailing newline opens an
    empty last line)."""
    return _LINE_BREAK.split(text)


@dataclass
class Document:
    uri: str
    version: int | None
    text: str
    language_id: str = "python"
    _lines: list[str] | None = field(default=None, repr=False)
    _starts: list[int] | None = field(default=None, repr=False)

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = protocol_lines(self.text)
        return self._lines

    def _line_starts(self) -> list[int]:
        if self._starts is None:
            self._starts = line_starts(self.text)
        return self._starts

    def offset_at(self, position: types.Position, codec: PositionCodec) -> int:
        """Code-point offset of a client position; out-of-range positions are clamped."""
        lines = self.lines
        if position.line >= len(lines):
            return len(self.text)
        line = lines[position.line]
        column = _column_from_client(line, position.character, codec)
        return self._line_starts()[position.line] + column

    def apply_change(
        self, change: types.TextDocumentContentChangeEvent, codec: PositionCodec
    ) -> None:
        if isinstance(change, types.TextDocumentContentChangePartial):
            start = self.offset_at(change.range.start, codec)
            end = self.offset_at(change.range.end, codec)
            if end < start:
                start, end = end, start
            self.text = self.text[:start] + change.text + self.text[end:]
        else:
            self.text = change.text
        self._lines = None
        self._starts = None

    def to_client_position(self, line: int, column: int, codec: PositionCodec) -> types.Position:
        """A 1-based line and code-point column (engine positions) as a client position."""
        lines = self.lines
        index = max(0, min(line - 1, len(lines) - 1)) if lines else 0
        text = lines[index] if lines else ""
        column = max(0, min(column, len(text)))
        return types.Position(line=index, character=codec.client_num_units(text[:column]))

    def to_client_range(self, span: Span, codec: PositionCodec) -> types.Range:
        return types.Range(
            start=self.to_client_position(span.line, span.column, codec),
            end=self.to_client_position(span.end_line, span.end_column, codec),
        )

    def from_client_position(
        self, position: types.Position, codec: PositionCodec
    ) -> tuple[int, int]:
        """A client position as an engine position (1-based line, code-point column)."""
        lines = self.lines
        if not lines:
            return 1, 0
        index = min(position.line, len(lines) - 1)
        return index + 1, _column_from_client(lines[index], position.character, codec)


def _column_from_client(line: str, units: int, codec: PositionCodec) -> int:
    if line.isascii():
        return min(units, len(line))
    consumed = 0
    for index, char in enumerate(line):
        if consumed >= units:
            return index
        consumed += codec.client_num_units(char)
    return len(line)
