"""The one object every layer passes on: a :class:`Finding`.

Invariants:
- Positions are 1-based lines and 0-based columns counted in *code points* of the line's text
  (what ``ast`` gives after we convert its UTF-8 byte offsets). The LSP layer converts them to
  the client's position encoding; the CLI prints 1-based columns.
- Findings are plain, immutable data: deterministic, comparable, sortable, and free of absolute
  paths in their messages.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any


class Severity(enum.IntEnum):
    """Ordered so that a larger value is more serious (mirrors SARIF levels and LSP severities)."""

    HINT = 1
    INFO = 2
    WARNING = 3
    ERROR = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            valid = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of: {valid})") from None


class Provenance(str, enum.Enum):
    AI = "ai"
    CHANGED = "changed"
    HUMAN = "human"
    UNKNOWN = "unknown"


@dataclass(frozen=True, order=True)
class Span:
    """A source range. ``line``/``end_line`` are 1-based; columns are 0-based code points."""

    line: int
    column: int
    end_line: int
    end_column: int

    def contains_line(self, line: int) -> bool:
        return self.line <= line <= self.end_line


@dataclass(frozen=True)
class Evidence:
    """One hop of the chain of evidence. ``path`` is None when the hop is in the same file."""

    span: Span
    message: str
    path: str | None = None


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    path: str
    span: Span
    message: str
    evidence: tuple[Evidence, ...] = ()
    assumptions: tuple[str, ...] = ()
    fix: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    provenance: Provenance = Provenance.UNKNOWN
    function: str | None = None

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.path, self.span.line, self.span.column, self.rule, self.message)

    def with_severity(self, severity: Severity) -> Finding:
        return replace(self, severity=severity)

    def to_dict(self) -> dict[str, Any]:
        """JSON shape shared by the CLI's json output and the cache (1-based lines and columns)."""
        return {
            "path": self.path,
            "rule": self.rule,
            "severity": self.severity.label,
            "line": self.span.line,
            "column": self.span.column + 1,
            "end_line": self.span.end_line,
            "end_column": self.span.end_column + 1,
            "message": self.message,
            "function": self.function,
            "evidence": [
                {
                    "path": ev.path or self.path,
                    "line": ev.span.line,
                    "column": ev.span.column + 1,
                    "end_line": ev.span.end_line,
                    "end_column": ev.span.end_column + 1,
                    "message": ev.message,
                }
                for ev in self.evidence
            ],
            "assumptions": list(self.assumptions),
            "provenance": self.provenance.value,
            "fix": self.fix,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        path = data["path"]
        return cls(
            rule=data["rule"],
            severity=Severity.parse(data["severity"]),
            path=path,
            span=Span(data["line"], data["column"] - 1, data["end_line"], data["end_column"] - 1),
            message=data["message"],
            evidence=tuple(
                Evidence(
                    Span(ev["line"], ev["column"] - 1, ev["end_line"], ev["end_column"] - 1),
                    ev["message"],
                    None if ev["path"] == path else ev["path"],
                )
                for ev in data.get("evidence", ())
            ),
            assumptions=tuple(data.get("assumptions", ())),
            fix=data.get("fix"),
            provenance=Provenance(data.get("provenance", "unknown")),
            function=data.get("function"),
        )
