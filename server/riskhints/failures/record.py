"""One line of the failure log: a finding somebody marked as a failure of the AI assistant
(status ``open``), or the later fix of such a finding (status ``resolved``).

The record is plain JSON, one object per line, so the log can be read with ``jq`` and diffed in
review. Invariants:

- ``time`` is UTC in ISO 8601 with a ``Z`` (``2025-03-04T09:15:02Z``), ``path`` is relative to
  the workspace with ``/`` separators: no absolute paths in the log.
- ``fingerprint`` is rule + function + the flagged statement's text with comments and
  whitespace normalised away: it survives lines moving and reformatting, and a later analysis
  matches it to tell whether the logged finding is still there.
- A ``resolved`` record names the ``open`` record it resolves (``resolves``) and holds both the
  code as it was (``original_code``) and the corrected code (``code``): the wrong answer and the
  right one side by side, in one self-contained line.
"""

from __future__ import annotations

import ast
import hashlib
import io
import tokenize
import uuid
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

from ..analysis.finding import Finding
from ..analysis.parse import parse_python
from ..analysis.positions import split_lines

SCHEMA_VERSION = 1
OPEN, RESOLVED = "open", "resolved"
STATUSES = (OPEN, RESOLVED)
CONTEXT_LINES = 3  # lines either side of a module-level statement
MAX_CODE_CHARS = 12_000  # a record stays a readable line, whatever the function's size
_REQUIRED = ("id", "status", "time", "path", "rule", "fingerprint")


def utc_now() -> str:
    return format_time(datetime.now(timezone.utc))


def format_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """``2025-03-04T09:15:02Z`` (or any ISO 8601 with an offset) -> an aware UTC datetime."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


@dataclass(frozen=True)
class FailureRecord:
    id: str
    status: str
    time: str
    path: str
    rule: str
    fingerprint: str
    function: str | None = None
    message: str = ""
    severity: str = ""
    line: int = 0
    code: str = ""
    provenance: str | None = None
    commit: str | None = None
    note: str | None = None
    resolves: str | None = None  # resolved records: the id of the open record
    original_code: str | None = None  # resolved records: the code as it was logged
    resolution: str | None = None  # resolved records: "fixed" | "suppressed" | "removed"
    schema: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict, compare=False)  # unknown keys, kept

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is None and f.name in ("resolves", "original_code", "resolution"):
                continue  # open records do not carry the resolution fields
            data[f.name] = value
        return {**self.extra, **data}

    @classmethod
    def from_json(cls, data: Any) -> FailureRecord:
        """Raises ``ValueError`` naming what is wrong when ``data`` is not a record."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        missing = [key for key in _REQUIRED if not isinstance(data.get(key), str)]
        if missing:
            raise ValueError(f"missing or non-string {', '.join(missing)}")
        if data["status"] not in STATUSES:
            raise ValueError(f"unknown status {data['status']!r}")
        try:
            parse_time(data["time"])
        except ValueError:
            raise ValueError(f"bad time {data['time']!r}") from None
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {key: value for key, value in data.items() if key in known}
        line = values.get("line", 0)
        values["line"] = line if isinstance(line, int) and not isinstance(line, bool) else 0
        for key in ("function", "provenance", "commit", "note", "resolves", "original_code"):
            if key in values and not isinstance(values[key], str):
                values[key] = None
        extra = {key: value for key, value in data.items() if key not in known}
        return cls(**values, extra=extra)

    @property
    def when(self) -> datetime:
        return parse_time(self.time)


def new_id() -> str:
    return uuid.uuid4().hex


# -- code excerpts and fingerprints ---------------------------------------------------------------


def _parse(text: str) -> ast.Module | None:
    try:
        return parse_python(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _defs_containing(tree: ast.Module, line: int) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Function definitions whose lines (decorators included) contain ``line``, outermost
    first."""
    found: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if _first_line(node) <= line <= (node.end_lineno or node.lineno):
                found.append(node)
    found.sort(key=_first_line)
    return found


def _first_line(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> int:
    return min([node.lineno, *(d.lineno for d in node.decorator_list)])


def _qualified_defs(tree: ast.Module) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    """Display name as the engine writes it (``Cache.refresh``, ``outer.<locals>.inner``) ->
    definition; the first wins."""
    names: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    stack: list[tuple[ast.AST, str]] = [(tree, "")]
    while stack:
        node, prefix = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if isinstance(child, ast.ClassDef):
                    stack.append((child, name + "."))
                else:
                    names.setdefault(name, child)
                    stack.append((child, name + ".<locals>."))
            elif not isinstance(child, (ast.expr, ast.Lambda)):
                stack.append((child, prefix))
    return names


def _cap(code: str) -> str:
    if len(code) <= MAX_CODE_CHARS:
        return code
    return code[:MAX_CODE_CHARS].rstrip() + "\n# ... (truncated by riskhints)\n"


def _lines_between(lines: list[str], first: int, last: int) -> str:
    first, last = max(first, 1), min(last, len(lines))
    return _cap("\n".join(lines[first - 1 : last]) + "\n") if first <= last else ""


def code_excerpt(text: str, line: int, function: str | None = None) -> str:
    """The code a reader needs: the whole function the line is in (decorators included), else
    the statement with :data:`CONTEXT_LINES` lines either side."""
    lines = split_lines(text)
    tree = _parse(text)
    if tree is not None:
        node = _qualified_defs(tree).get(function) if function else None
        if node is None or not (_first_line(node) <= line <= (node.end_lineno or node.lineno)):
            enclosing = _defs_containing(tree, line)
            node = enclosing[-1] if enclosing else None
        if node is not None:
            return _lines_between(lines, _first_line(node), node.end_lineno or node.lineno)
        statement = _statement_at(tree, line)
        if statement is not None:
            return _lines_between(
                lines,
                statement.lineno - CONTEXT_LINES,
                (statement.end_lineno or statement.lineno) + CONTEXT_LINES,
            )
    return _lines_between(lines, line - CONTEXT_LINES, line + CONTEXT_LINES)


def parses(text: str) -> bool:
    return _parse(text) is not None


def function_lines(text: str, function: str) -> tuple[int, int] | None:
    """First (decorators included) and last line of ``function`` (a display name) in
    ``text``, or None when it is gone (or the text does not parse)."""
    tree = _parse(text)
    node = _qualified_defs(tree).get(function) if tree is not None else None
    if node is None:
        return None
    return _first_line(node), node.end_lineno or node.lineno


def function_source(text: str, function: str) -> str | None:
    """The source of ``function`` (a display name) in ``text``, or None when it is gone."""
    lines = function_lines(text, function)
    if lines is None:
        return None
    return _lines_between(split_lines(text), *lines)


def lines_around(text: str, first: int, last: int) -> str:
    return _lines_between(split_lines(text), first, last)


def _statement_at(tree: ast.Module, line: int) -> ast.stmt | None:
    """The innermost statement on ``line``; for a compound statement, only when the line is in
    its header (``with lock:``), never because the line is somewhere in its body."""
    best: ast.stmt | None = None
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt):
            continue
        end = _header_end(node)
        if node.lineno <= line <= end and (best is None or node.lineno >= best.lineno):
            best = node
    return best


def _header_end(node: ast.stmt) -> int:
    body = getattr(node, "body", None)
    if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
        return max(node.lineno, body[0].lineno - 1)
    return node.end_lineno or node.lineno


def statement_text(text: str, line: int) -> str:
    """The flagged statement's source (a compound statement's header only); the line itself
    when the text does not parse."""
    lines = split_lines(text)
    tree = _parse(text)
    statement = _statement_at(tree, line) if tree is not None else None
    if statement is None:
        return lines[line - 1] if 1 <= line <= len(lines) else ""
    return "\n".join(lines[statement.lineno - 1 : _header_end(statement)])


def normalize_code(code: str) -> str:
    """Tokens joined by single spaces, without comments: formatting and comments do not
    change a fingerprint."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code.strip() + "\n").readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return " ".join(part for line in code.splitlines() for part in line.split("#")[0].split())
    skip = {
        tokenize.COMMENT,
        tokenize.NL,
        tokenize.NEWLINE,
        tokenize.INDENT,
        tokenize.DEDENT,
        tokenize.ENDMARKER,
    }
    return " ".join(token.string for token in tokens if token.type not in skip)


def fingerprint(rule: str, function: str | None, statement: str) -> str:
    digest = hashlib.blake2b(digest_size=10)
    for part in (rule, function or "<module>", normalize_code(statement)):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\x00")
    return digest.hexdigest()


def finding_fingerprint(finding: Finding, text: str) -> str:
    return fingerprint(finding.rule, finding.function, statement_text(text, finding.span.line))


def open_record(
    finding: Finding,
    text: str,
    path: str,
    *,
    note: str | None = None,
    commit: str | None = None,
    time: str | None = None,
) -> FailureRecord:
    """The record logging ``finding`` (found in ``text``) as a failure."""
    provenance = finding.provenance.value
    return FailureRecord(
        id=new_id(),
        status=OPEN,
        time=time or utc_now(),
        path=path,
        rule=finding.rule,
        fingerprint=finding_fingerprint(finding, text),
        function=finding.function,
        message=finding.message,
        severity=finding.severity.label,
        line=finding.span.line,
        code=code_excerpt(text, finding.span.line, finding.function),
        provenance=None if provenance == "unknown" else provenance,
        commit=commit,
        note=note or None,
    )


def resolved_record(
    logged: FailureRecord,
    corrected_code: str,
    resolution: str,
    *,
    commit: str | None = None,
    time: str | None = None,
) -> FailureRecord:
    return FailureRecord(
        id=new_id(),
        status=RESOLVED,
        time=time or utc_now(),
        path=logged.path,
        rule=logged.rule,
        fingerprint=logged.fingerprint,
        function=logged.function,
        message=logged.message,
        severity=logged.severity,
        line=logged.line,
        code=corrected_code,
        provenance=logged.provenance,
        commit=commit,
        note=logged.note,
        resolves=logged.id,
        original_code=logged.code,
        resolution=resolution,
    )
