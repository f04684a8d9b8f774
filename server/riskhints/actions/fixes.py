"""Quick fixes: pure functions from (source text, finding) to code actions, built with libcst so
formatting and comments survive (see :mod:`.rewrite` for how edits are computed).

Invariants:
- A fixer is registered once per (rule id, fix kind) in :data:`FIXERS`; registering the same
  pair twice is an error.
- A fixer offers nothing rather than guess: every precondition it cannot check syntactically
  (an ``await`` where ``await`` is illegal or changes what a ``with``/``try`` around it means, a
  lock that other code may use as a thread lock) means no fix.
- Every action passes :func:`~.edits.leaves_valid_python` before it is offered.
- :func:`fixes_for` never runs the analysis; :func:`fix_all` re-analyses its intermediate text
  between fixes, and undoes a fix that makes a new finding appear.
"""

from __future__ import annotations

import ast
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

import libcst as cst

from ..analysis.engine import analyze_source
from ..analysis.facts import TRY_NODES
from ..analysis.finding import Finding
from ..analysis.options import AnalysisOptions
from ..provenance.collect import AI_SUFFIX
from .edits import FIX_ALL_KIND, Action, apply_edits, leaves_valid_python, parses
from .rewrite import (
    LineEdits,
    ReplaceStatement,
    Snippet,
    Source,
    line_aligned_statement,
    snippet_for,
    text_edits,
)

log = logging.getLogger(__name__)

BACKGROUND_TASKS = "_background_tasks"
_FIX_ALL_ROUNDS = 50  # rounds of one fix-all, at most (each re-analyses once)
# Blocking calls that must stay on the thread that calls them: a condition's wait needs the
# condition's lock held by the waiting thread.
_THREAD_BOUND = frozenset({"threading.Condition.wait", "threading.Condition.wait_for"})
# Loop and future methods whose callable argument the loop calls later (RH102 points there).
_CALLBACK_METHODS = frozenset(
    {
        "call_soon",
        "call_soon_threadsafe",
        "call_later",
        "call_at",
        "add_signal_handler",
        "add_reader",
        "add_writer",
        "add_done_callback",
    }
)
_SCOPES_WITHOUT_AWAIT = (ast.Lambda, ast.GeneratorExp, ast.ListComp, ast.SetComp, ast.DictComp)


@dataclass(frozen=True)
class Fix:
    """What a fixer proposes: the whole new text (turned into minimal edits afterwards)."""

    title: str
    text: str
    preferred: bool = False
    safe_for_fix_all: bool = False


@dataclass(frozen=True)
class FixSite:
    source: Source
    finding: Finding

    @property
    def payload(self) -> dict[str, Any]:
        return self.finding.fix or {}


Fixer = Callable[[FixSite], list[Fix]]


class FixerRegistry:
    def __init__(self) -> None:
        self._fixers: dict[tuple[str, str], Fixer] = {}

    def register(self, rule: str, kind: str) -> Callable[[Fixer], Fixer]:
        def add(fixer: Fixer) -> Fixer:
            if (rule, kind) in self._fixers:
                raise ValueError(f"a fixer for {rule} ({kind}) is already registered")
            self._fixers[(rule, kind)] = fixer
            return fixer

        return add

    def get(self, rule: str, kind: str) -> Fixer | None:
        return self._fixers.get((rule, kind))

    def keys(self) -> list[tuple[str, str]]:
        return sorted(self._fixers)


FIXERS = FixerRegistry()


def fixes_for(text: str, finding: Finding) -> list[Action]:
    """The quick fixes for one finding of ``text`` (empty when none is safe to offer)."""
    if _fixer(finding) is None:
        return []
    source = Source.parse(text)
    if source is None:
        return []  # positions in a file that does not parse are not worth a guess
    return _actions_for(source, finding)


def _fixer(finding: Finding) -> Fixer | None:
    kind = (finding.fix or {}).get("kind")
    return FIXERS.get(finding.rule, kind) if isinstance(kind, str) else None


def _actions_for(source: Source, finding: Finding) -> list[Action]:
    fixer = _fixer(finding)
    if fixer is None:
        return []
    text = source.text
    try:
        fixes = fixer(FixSite(source, finding))
    except (ValueError, cst.ParserSyntaxError, RecursionError):
        log.debug("no fix for %s at line %d", finding.rule, finding.span.line, exc_info=True)
        return []
    actions: list[Action] = []
    for fix in fixes:
        if fix.text == text:
            continue
        edits = text_edits(text, fix.text)
        if not leaves_valid_python(text, edits):  # the text parsed: so must the result
            continue
        actions.append(
            Action(
                title=fix.title,
                kind="quickfix",
                rule=finding.rule,
                edits=edits,
                is_preferred=fix.preferred,
                safe_for_fix_all=fix.safe_for_fix_all,
            )
        )
    return actions


def fix_all(
    text: str,
    findings: list[Finding],
    options: AnalysisOptions | None = None,
    path: str | None = None,
    unsafe: bool = False,
    present: list[Finding] | None = None,
) -> Action | None:
    """Apply every fix that is safe without review, re-analysing between rounds (``unsafe``:
    every offered fix, the preferred one of each finding; ``riskhints check --unsafe-fixes``).

    Each round computes the safe fixes on the current text and applies those whose edits touch
    disjoint lines together (the first fix of a kind adds ``import asyncio`` or the task set;
    the next round's fixes reuse them), then re-analyses. A round after which a finding appears
    that was not there before, or a fixed finding stays, is retried one fix at a time, and a
    fix that still does so is undone and skipped. Only the findings given (or, after a fix
    moved them, findings with the same rule and message) are fixed; ``present`` are all the
    findings of ``text`` when ``findings`` is a part of them (the command line's selection).
    """
    if not findings:
        return None
    path = path or findings[0].path
    options = options or AnalysisOptions()
    wanted = Counter(_key(f) for f in findings)
    current = text
    pending = list(findings) if present is None else list(present)
    skipped: Counter[tuple[str, str]] = Counter()
    one_at_a_time = False
    for _ in range(_FIX_ALL_ROUNDS):
        batch = _safe_fixes(current, pending, wanted, skipped, unsafe)
        if not batch:
            break
        chosen = batch[:1] if one_at_a_time else _disjoint(batch)
        candidate = apply_edits(current, [e for _, action in chosen for e in action.edits])
        after = analyze_source(candidate, path, options) if parses(candidate) else None
        if after is None or not _improved(pending, after, [f for f, _ in chosen]):
            if len(chosen) > 1:
                one_at_a_time = True
            else:
                skipped[_key(chosen[0][0])] += 1
            continue
        for finding, _ in chosen:
            wanted[_key(finding)] -= 1
        current, pending, one_at_a_time = candidate, after, False
    if current == text:
        return None
    edits = text_edits(text, current)
    if not leaves_valid_python(text, edits):
        return None
    return Action(
        title="Fix all riskhints problems that have a safe fix",
        kind=FIX_ALL_KIND,
        rule=None,
        edits=edits,
    )


def _key(finding: Finding) -> tuple[str, str]:
    # The findings given may be marked as AI-suggested; a re-analysis gives plain messages.
    return finding.rule, finding.message.removesuffix(AI_SUFFIX)


def _improved(before: list[Finding], after: list[Finding], fixed: list[Finding]) -> bool:
    """Every fixed finding is gone and nothing new appeared."""
    expected = Counter(_key(f) for f in before)
    expected.subtract(Counter(_key(f) for f in fixed))
    return not (Counter(_key(f) for f in after) - +expected) and all(
        Counter(_key(f) for f in after)[_key(f)] <= expected[_key(f)] for f in fixed
    )


def _safe_fixes(
    text: str,
    findings: Iterable[Finding],
    wanted: Counter[tuple[str, str]],
    skipped: Counter[tuple[str, str]],
    unsafe: bool = False,
) -> list[tuple[Finding, Action]]:
    fixes: list[tuple[Finding, Action]] = []
    seen: Counter[tuple[str, str]] = Counter()
    source = Source.parse(text)
    if source is None:
        return []
    for finding in findings:
        key = _key(finding)
        seen[key] += 1
        if seen[key] > wanted[key] + skipped[key] or seen[key] <= skipped[key]:
            continue
        offered = _actions_for(source, finding)
        if unsafe:
            offered.sort(key=lambda a: not a.is_preferred)  # stable: the fixer's order next
        safe = [a for a in offered if unsafe or a.safe_for_fix_all]
        if safe:
            fixes.append((finding, safe[0]))
    return fixes


def _disjoint(batch: list[tuple[Finding, Action]]) -> list[tuple[Finding, Action]]:
    """The fixes, in order, whose edits share no line with an earlier chosen one."""
    taken: list[tuple[int, int]] = []
    chosen: list[tuple[Finding, Action]] = []
    for finding, action in batch:
        lines = [(e.span.line, max(e.span.line, e.span.end_line)) for e in action.edits]
        if any(a <= d and c <= b for a, b in lines for c, d in taken):
            continue
        taken.extend(lines)
        chosen.append((finding, action))
    return chosen


# -- shared pieces --------------------------------------------------------------------------------


def _top_level_import(source: Source, module: str) -> str | None:
    """The name ``import module [as name]`` binds at the top of the module, if any."""
    for stmt in source.tree.body:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.name == module:
                    return alias.asname or module
    return None


def _from_import(source: Source, modules: tuple[str, ...], name: str) -> str | None:
    for stmt in source.tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module in modules and not stmt.level:
            for alias in stmt.names:
                if alias.name == name:
                    return alias.asname or name
    return None


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _is_future(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__"


def _leading_imports(source: Source) -> tuple[int, list[ast.Import | ast.ImportFrom]]:
    """(last line of the docstring and ``__future__`` imports, the imports right after)."""
    body = source.tree.body
    index = 0
    preamble_end = 0
    if body and _is_docstring(body[0]):
        preamble_end = body[0].end_lineno or body[0].lineno
        index = 1
    while index < len(body) and _is_future(body[index]):
        preamble_end = body[index].end_lineno or body[index].lineno
        index += 1
    imports: list[ast.Import | ast.ImportFrom] = []
    while index < len(body):
        stmt = body[index]
        if not isinstance(stmt, (ast.Import, ast.ImportFrom)):
            break
        imports.append(stmt)
        index += 1
    return preamble_end, imports


def _ensure_asyncio(source: Source, edits: LineEdits) -> str:
    """The module's name for ``asyncio``, adding ``import asyncio`` (in sorted position among the
    plain imports at the top) when it has none."""
    existing = _top_level_import(source, "asyncio")
    if existing is not None:
        return existing
    preamble_end, imports = _leading_imports(source)
    plain = [s for s in imports if isinstance(s, ast.Import)]
    before: int | None = None
    for stmt in plain:
        if stmt.names[0].name > "asyncio":
            before = stmt.lineno
            break
    if before is None and plain:
        before = (plain[-1].end_lineno or plain[-1].lineno) + 1
    if before is None and imports:
        before = imports[0].lineno
    if before is None:
        before = preamble_end + 1
    edits.insert(before, ["import asyncio"])
    return "asyncio"


def _after_imports(source: Source) -> int:
    """The line after which module-level state goes: the end of the imports at the top."""
    preamble_end, imports = _leading_imports(source)
    if imports:
        return imports[-1].end_lineno or imports[-1].lineno
    return preamble_end


def _unique_name(taken: set[str], *candidates: str) -> str:
    for name in candidates:
        if name not in taken:
            return name
    index = 1
    while f"{candidates[0]}_{index}" in taken:
        index += 1
    return f"{candidates[0]}_{index}"


def _swallows_cancellation(handler: ast.ExceptHandler) -> bool:
    if any(isinstance(node, ast.Raise) for stmt in handler.body for node in ast.walk(stmt)):
        return False
    if handler.type is None:
        return True
    return any(_exception_class(t) in ("cancel", "base") for t in _handler_types(handler))


def _handler_types(handler: ast.ExceptHandler) -> list[ast.expr]:
    if handler.type is None:
        return []
    return list(handler.type.elts) if isinstance(handler.type, ast.Tuple) else [handler.type]


def _exception_class(node: ast.expr) -> str:
    last = ast.unparse(node).rpartition(".")[2]
    if last in ("CancelledError", "Cancelled"):
        return "cancel"
    if last == "BaseException":
        return "base"
    return "other"


def _await_blocker(source: Source, node: ast.AST) -> str | None:
    """Why an ``await`` cannot be put at ``node`` without changing what the code means (or
    without a syntax error), or None when it can."""
    for child, parent in source.ancestors(node):
        if isinstance(parent, _SCOPES_WITHOUT_AWAIT):
            return "inside a lambda or comprehension"
        if isinstance(parent, ast.With) and child in parent.body:
            # A sync context manager (a thread lock, typically) would be held across the await.
            return "under a synchronous `with`"
        if isinstance(parent, TRY_NODES) and child in parent.body:
            if any(_swallows_cancellation(h) for h in parent.handlers):
                return "in a `try` whose handler swallows cancellation"
        if isinstance(parent, ast.AsyncFunctionDef):
            return None
        if isinstance(parent, (ast.FunctionDef, ast.ClassDef, ast.Module)):
            return "not in an async function"
    return "not in an async function"


def _needs_parentheses(source: Source, call: ast.Call) -> bool:
    """``await f().x`` awaits ``f().x``: an awaited call used as a primary needs parentheses."""
    parent = source.parent(call)
    return (
        isinstance(parent, (ast.Attribute, ast.Subscript))
        and parent.value is call
        or isinstance(parent, ast.Call)
        and parent.func is call
    )


def _await_call(
    site: FixSite,
    call: ast.Call,
    build: Callable[[cst.Call, str], cst.Call],
    uses_asyncio: bool,
) -> str | None:
    """The text with ``call`` replaced by ``await <build(call)>``."""
    source = site.source
    edits = LineEdits(source)
    alias = _ensure_asyncio(source, edits) if uses_asyncio else ""
    snippet = _snippet_around(source, call)
    if snippet is None:
        return None
    target = snippet.find(cst.Call, source.span(call))
    if target is None:
        return None
    lpar, rpar = target.lpar, target.rpar
    if not lpar and _needs_parentheses(source, call):
        lpar, rpar = (cst.LeftParen(),), (cst.RightParen(),)
    inner = build(target.with_changes(lpar=(), rpar=()), alias)
    awaited = cst.Await(expression=inner, lpar=lpar, rpar=rpar)
    module = snippet.module.deep_replace(target, awaited)
    if not isinstance(module, cst.Module):
        return None
    edits.replace(snippet.first, snippet.last, snippet.new_lines(module))
    return edits.result()


def _snippet_around(source: Source, node: ast.AST) -> Snippet | None:
    stmt = line_aligned_statement(source, node)
    return snippet_for(source, stmt) if stmt is not None else None


def _call_at(site: FixSite) -> ast.Call | None:
    node = site.source.node_at(site.finding.span, ast.Call)
    return node if isinstance(node, ast.Call) else None


def _statement(code: str) -> cst.SimpleStatementLine:
    stmt = cst.parse_statement(code)
    assert isinstance(stmt, cst.SimpleStatementLine)
    return stmt


# -- 1, 2: blocking calls in async code -----------------------------------------------------------


@FIXERS.register("RH101", "blocking-call")
def blocking_call(site: FixSite) -> list[Fix]:
    call = _call_at(site)
    if call is None or _await_blocker(site.source, call) is not None:
        return []
    callee = site.payload.get("callee")
    if callee == "time.sleep":
        return _asyncio_sleep(site, call)
    if callee in _THREAD_BOUND:
        return []
    return _to_thread(site, call)


@FIXERS.register("RH102", "to-thread")
def blocking_helper(site: FixSite) -> list[Fix]:
    call = _call_at(site)
    if call is None or _await_blocker(site.source, call) is not None:
        return []
    if _scheduled_callback(site.source, call):
        return []  # ``loop.call_soon(partial(f, x))``: the loop calls it, nothing to await here
    return _to_thread(site, call)


def _scheduled_callback(source: Source, call: ast.Call) -> bool:
    parent = source.parent(call)
    if isinstance(parent, ast.keyword):
        parent = source.parent(parent)
    return (
        isinstance(parent, ast.Call)
        and call is not parent.func
        and isinstance(parent.func, ast.Attribute)
        and parent.func.attr in _CALLBACK_METHODS
    )


def _asyncio_sleep(site: FixSite, call: ast.Call) -> list[Fix]:
    def build(target: cst.Call, alias: str) -> cst.Call:
        return target.with_changes(func=cst.Attribute(cst.Name(alias), cst.Name("sleep")))

    text = _await_call(site, call, build, uses_asyncio=True)
    if text is None:
        return []
    return [Fix("Use `await asyncio.sleep(...)`", text, preferred=True, safe_for_fix_all=True)]


def _to_thread(site: FixSite, call: ast.Call) -> list[Fix]:
    def build(target: cst.Call, alias: str) -> cst.Call:
        comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        layout = target.whitespace_before_args
        if isinstance(layout, cst.ParenthesizedWhitespace):
            # One argument a line: the function gets a line of its own, laid out like the
            # first argument's (but without a comment that may follow the opening bracket).
            comma = cst.Comma(
                whitespace_after=cst.ParenthesizedWhitespace(
                    indent=layout.indent, last_line=layout.last_line
                )
            )
        function = cst.Arg(target.func, comma=comma if target.args else cst.MaybeSentinel.DEFAULT)
        return cst.Call(
            func=cst.Attribute(cst.Name(alias), cst.Name("to_thread")),
            args=(function, *target.args),
            whitespace_before_args=target.whitespace_before_args,
        )

    text = _await_call(site, call, build, uses_asyncio=True)
    if text is None:
        return []
    name = ast.unparse(call.func)
    if len(name) > 40:
        name = name[:37] + "..."
    return [Fix(f"Run `{name}` in a worker thread: `await asyncio.to_thread(...)`", text, True)]


# -- 3: dropped tasks -----------------------------------------------------------------------------


@FIXERS.register("RH301", "keep-task")
def keep_task(site: FixSite) -> list[Fix]:
    source = site.source
    call = _call_at(site)
    if call is None:
        return []
    stmt = source.statement_of(call)
    if stmt is None or line_aligned_statement(source, call) is not stmt:
        return []  # ``if x: create_task(...)`` on one line: no room for the extra statements
    scope: ast.AST = source.enclosing_function(call) or source.tree
    if isinstance(scope, ast.Lambda):
        return []
    parent = source.parent(call)
    direct = isinstance(stmt, ast.Expr) and stmt.value is call
    kept: str | None = None
    if isinstance(stmt, ast.Assign) and stmt.value is call and len(stmt.targets) == 1:
        kept = stmt.targets[0].id if isinstance(stmt.targets[0], ast.Name) else None
    elif isinstance(stmt, ast.AnnAssign) and stmt.value is call:
        kept = stmt.target.id if isinstance(stmt.target, ast.Name) else None
    elif not (
        direct
        or isinstance(stmt, ast.Expr)
        and isinstance(parent, ast.Attribute)
        and parent.value is call
    ):
        return []
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and kept is None:
        return []
    edits = LineEdits(source)
    if not _declares_background_tasks(source):
        alias = _ensure_asyncio(source, edits)
        after = _after_imports(source)
        declaration = f"{BACKGROUND_TASKS}: set[{alias}.Task[object]] = set()"
        following = source.lines[after] if after < len(source.lines) else ""
        edits.insert(after + 1, ["", declaration, *([""] if following.strip() else [])])
    snippet = snippet_for(source, stmt)
    if snippet is None:
        return []
    small = snippet.find_starting(
        (cst.Expr, cst.Assign, cst.AnnAssign),
        stmt.lineno,
        source.column(stmt.lineno, stmt.col_offset),
    )
    target_call = snippet.find(cst.Call, source.span(call))
    if not isinstance(small, cst.BaseSmallStatement) or target_call is None:
        return []
    name = kept or _unique_name(source.names_in(scope), "task", "background_task")
    keep = [
        _statement(f"{BACKGROUND_TASKS}.add({name})\n"),
        _statement(f"{name}.add_done_callback({BACKGROUND_TASKS}.discard)\n"),
    ]

    def build(line: cst.SimpleStatementLine) -> list[cst.SimpleStatementLine]:
        if kept is not None:
            return [line, *keep]
        assign = cst.SimpleStatementLine(
            body=[cst.Assign(targets=[cst.AssignTarget(cst.Name(name))], value=target_call)],
            leading_lines=line.leading_lines,
        )
        if direct:
            return [assign.with_changes(trailing_whitespace=line.trailing_whitespace), *keep]
        rest = line.deep_replace(target_call, cst.Name(name))
        assert isinstance(rest, cst.SimpleStatementLine)
        return [assign, rest.with_changes(leading_lines=()), *keep]

    transformer = ReplaceStatement(small, build)
    module = snippet.module.visit(transformer)
    if not transformer.done:
        return []
    edits.replace(snippet.first, snippet.last, snippet.new_lines(module))
    title = (
        f"Keep task `{name}` in `{BACKGROUND_TASKS}` until it is done"
        if kept
        else f"Keep the task in `{BACKGROUND_TASKS}` until it is done"
    )
    return [Fix(title, edits.result(), preferred=True, safe_for_fix_all=True)]


def _declares_background_tasks(source: Source) -> bool:
    for stmt in source.tree.body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else []
        if isinstance(stmt, ast.AnnAssign):
            targets = [stmt.target]
        if any(isinstance(t, ast.Name) and t.id == BACKGROUND_TASKS for t in targets):
            return True
    return False


# -- 4: swallowed cancellation --------------------------------------------------------------------


@FIXERS.register("RH303", "reraise")
def reraise(site: FixSite) -> list[Fix]:
    source = site.source
    handler = source.node_at(site.finding.span, ast.ExceptHandler)
    if not isinstance(handler, ast.ExceptHandler):
        return []
    try_node = source.parent(handler)
    if not isinstance(try_node, TRY_NODES):
        return []
    star = type(try_node) is not ast.Try
    index = try_node.handlers.index(handler)
    classes = [_exception_class(t) for t in _handler_types(handler)] or ["base"]
    if "cancel" not in classes and "base" not in classes:
        return []  # caught under a name we cannot read syntactically
    exits = _exits_early(handler)
    snippet = snippet_for(source, try_node)
    if snippet is None:
        return []
    column = source.column(try_node.lineno, try_node.col_offset)
    cst_try = snippet.find_starting((cst.Try, cst.TryStar), try_node.lineno, column)
    if not isinstance(cst_try, (cst.Try, cst.TryStar)):
        return []
    cst_handler = cst_try.handlers[index]
    edits = LineEdits(source)
    if all(c == "cancel" for c in classes):
        if exits:
            return []  # a `raise` after its `return`/`break` would never run
        new_body = _with_statement(cst_handler.body, cst.Raise(), snippet, at_end=True)
        text = _replace_handler(snippet, edits, cst_try, index, cst_handler, new_body)
        return [
            Fix(
                "Re-raise the cancellation at the end of this handler",
                text,
                preferred=True,
                safe_for_fix_all=True,
            )
        ]
    if star:
        return []  # ``except*`` binds an exception group: an isinstance() guard would not match
    # Catches more than cancellation: re-raise only the cancellation, so that every other
    # exception is handled exactly as before.
    cancel_types = [t for t in _handler_types(handler) if _exception_class(t) == "cancel"]
    if cancel_types:
        spelled = ", ".join(ast.unparse(t) for t in cancel_types)
        guard_type = spelled if len(cancel_types) == 1 else f"({spelled})"
    else:
        imported = _from_import(source, ("asyncio", "asyncio.exceptions"), "CancelledError")
        guard_type = imported or f"{_ensure_asyncio(source, edits)}.CancelledError"
    function = source.enclosing_function(handler)
    name = handler.name or _unique_name(source.names_in(function or source.tree), "exc", "error")
    guard = cst.parse_statement(f"if isinstance({name}, {guard_type}):\n    raise\n")
    assert isinstance(guard, cst.If) and isinstance(guard.body, cst.IndentedBlock)
    unit = _indent_unit(cst_handler.body, snippet)
    guard = guard.with_changes(body=guard.body.with_changes(indent=unit))
    new_body = _with_statement(cst_handler.body, guard, snippet, at_end=not exits)
    updated = cst_handler.with_changes(body=new_body)
    if handler.type is None:
        updated = updated.with_changes(
            type=cst.Name("BaseException"), whitespace_after_except=cst.SimpleWhitespace(" ")
        )
    if handler.name is None:
        updated = updated.with_changes(name=cst.AsName(cst.Name(name)))
    text = _replace_handler(snippet, edits, cst_try, index, updated, None)
    return [
        Fix(
            "Re-raise cancellation from this handler (other exceptions handled as before)",
            text,
            preferred=True,
        )
    ]


def _exits_early(handler: ast.ExceptHandler) -> bool:
    stack: list[ast.AST] = list(handler.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Return, ast.Break, ast.Continue)):
            return True
        for child in ast.iter_child_nodes(node):
            if not isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
            ):
                stack.append(child)
    return False


def _indent_unit(body: cst.BaseSuite, snippet: Snippet) -> str:
    if isinstance(body, cst.IndentedBlock):
        # None means "the module's default", whatever the snippet made that.
        return body.indent if body.indent is not None else snippet.module.default_indent
    return "    "


def _with_statement(
    body: cst.BaseSuite,
    statement: cst.Raise | cst.If,
    snippet: Snippet,
    at_end: bool,
) -> cst.BaseSuite:
    """``body`` with ``statement`` added at its end (or start); a lone ``pass`` is replaced."""
    if isinstance(body, cst.SimpleStatementSuite):
        if isinstance(statement, cst.Raise):
            small = [s for s in body.body if not isinstance(s, cst.Pass)]
            return body.with_changes(body=[*small, statement] if at_end else [statement, *small])
        lines: list[cst.BaseStatement] = [cst.SimpleStatementLine(body=body.body)]
        block = cst.IndentedBlock(body=lines, indent="    ", header=body.trailing_whitespace)
        return _with_statement(block, statement, snippet, at_end)
    assert isinstance(body, cst.IndentedBlock)
    line: cst.BaseStatement = (
        cst.SimpleStatementLine(body=[statement]) if isinstance(statement, cst.Raise) else statement
    )
    statements = list(body.body)
    if len(statements) == 1 and _is_pass(statements[0]):
        kept = cast(cst.SimpleStatementLine, statements[0])
        if isinstance(line, cst.SimpleStatementLine):
            line = line.with_changes(trailing_whitespace=kept.trailing_whitespace)
        return body.with_changes(body=[line])
    return body.with_changes(body=[*statements, line] if at_end else [line, *statements])


def _is_pass(statement: cst.BaseStatement) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Pass)
    )


def _replace_handler(
    snippet: Snippet,
    edits: LineEdits,
    cst_try: cst.Try | cst.TryStar,
    index: int,
    handler: cst.ExceptHandler | cst.ExceptStarHandler,
    new_body: cst.BaseSuite | None,
) -> str:
    if new_body is not None:
        handler = handler.with_changes(body=new_body)
    handlers = list(cst_try.handlers)
    handlers[index] = handler
    module = snippet.module.deep_replace(cst_try, cst_try.with_changes(handlers=handlers))
    assert isinstance(module, cst.Module)
    edits.replace(snippet.first, snippet.last, snippet.new_lines(module))
    return edits.result()


# -- 5: a thread lock only ever taken with `with` in async code -----------------------------------


@FIXERS.register("RH201", "asyncio-lock")
def asyncio_lock_rh201(site: FixSite) -> list[Fix]:
    if "used only from async code" not in site.finding.message:
        return []  # other code holds it while blocking: it is shared with threads
    return _asyncio_lock(site)


@FIXERS.register("RH202", "asyncio-lock")
def asyncio_lock_rh202(site: FixSite) -> list[Fix]:
    return _asyncio_lock(site)


def _asyncio_lock(site: FixSite) -> list[Fix]:
    source = site.source
    display = site.payload.get("lock")
    key = site.payload.get("key", "")
    if not isinstance(display, str) or "<locals>" in str(key):
        return []
    attribute = display.rpartition(".")[2] if "." in display else None
    name = None if attribute is not None else display
    uses = _lock_uses(source, name, attribute)
    if uses is None:
        return []
    constructor, withs = uses
    edits = LineEdits(source)
    threading_name = _top_level_import(source, "threading")
    removable = _removable_threading_import(source, threading_name)
    if removable is not None:
        edits.replace(removable.lineno, removable.lineno, [])
    alias = _ensure_asyncio(source, edits)
    line_text: dict[int, str] = {}

    def splice(line: int, start: int, end: int, new: str) -> None:
        text = line_text.get(line, source.lines[line - 1])
        line_text[line] = text[:start] + new + text[end:]

    func = constructor.func
    func_span = source.span(func)
    if func_span.line != func_span.end_line:
        return []
    splice(func_span.line, func_span.column, func_span.end_column, f"{alias}.Lock")
    for with_stmt in withs:
        column = source.column(with_stmt.lineno, with_stmt.col_offset)
        splice(with_stmt.lineno, column, column, "async ")
    for line, text in line_text.items():
        edits.replace(line, line, [text])
    return [Fix(f"Use an asyncio.Lock for `{display}` (with `async with`)", edits.result())]


def _lock_uses(
    source: Source, name: str | None, attribute: str | None
) -> tuple[ast.Call, list[ast.With]] | None:
    """The constructor and the ``with`` statements of a lock, when those are *all* its uses: one
    ``threading.Lock()`` assignment, and only ``with <lock>:`` (one item, no ``as``) directly in
    async functions. Anything else (sync users, ``acquire()``, passing it on, rebinding) is None.
    """
    constructors: list[ast.Call] = []
    withs: list[ast.With] = []
    for node in ast.walk(source.tree):
        if isinstance(node, (ast.Global, ast.Nonlocal)) and name in node.names:
            return None
        ref: ast.Name | ast.Attribute | None = None
        if isinstance(node, ast.Name) and node.id == name:
            ref = node
        elif isinstance(node, ast.Name) and node.id == attribute:
            # Only ``_lock = threading.Lock()`` in a class body, read as ``self._lock``.
            parent = source.parent(node)
            if not (
                isinstance(parent, ast.Assign) and isinstance(source.parent(parent), ast.ClassDef)
            ):
                return None
            ref = node
        elif isinstance(node, ast.Attribute) and node.attr == attribute:
            ref = node
        if ref is None:
            continue
        parent = source.parent(ref)
        if isinstance(ref.ctx, ast.Store):
            if not (
                isinstance(parent, ast.Assign)
                and parent.targets == [ref]
                and isinstance(parent.value, ast.Call)
                and _is_threading_lock(source, parent.value)
            ):
                return None
            if name is not None and not isinstance(source.parent(parent), ast.Module):
                return None
            constructors.append(parent.value)
        elif isinstance(ref.ctx, ast.Load):
            with_stmt = source.parent(parent) if isinstance(parent, ast.withitem) else None
            if not (
                isinstance(parent, ast.withitem)
                and parent.context_expr is ref
                and parent.optional_vars is None
                and isinstance(with_stmt, ast.With)
                and len(with_stmt.items) == 1
                and isinstance(source.enclosing_function(with_stmt), ast.AsyncFunctionDef)
            ):
                return None
            withs.append(with_stmt)
        else:
            return None
    if len(constructors) != 1 or not withs:
        return None
    return constructors[0], withs


def _is_threading_lock(source: Source, call: ast.Call) -> bool:
    if call.args or call.keywords:
        return False
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.attr == "Lock" and func.value.id == _top_level_import(source, "threading")
    if isinstance(func, ast.Name):
        return func.id == _from_import(source, ("threading",), "Lock")
    return False


def _removable_threading_import(source: Source, threading_name: str | None) -> ast.Import | None:
    """``import threading`` on its own line, when the lock's constructor is its only use."""
    if threading_name is None:
        return None
    loads = [n for n in ast.walk(source.tree) if isinstance(n, ast.Name) and n.id == threading_name]
    if len(loads) != 1:
        return None
    for stmt in source.tree.body:
        if (
            isinstance(stmt, ast.Import)
            and len(stmt.names) == 1
            and stmt.names[0].name == "threading"
            and stmt.lineno == stmt.end_lineno
            and source.lines[stmt.lineno - 1].strip() == ast.unparse(stmt)
        ):
            return stmt
    return None


# -- 6: coroutine never awaited -------------------------------------------------------------------


@FIXERS.register("RH302", "add-await")
def add_await(site: FixSite) -> list[Fix]:
    source = site.source
    call = _call_at(site)
    if call is None or not _discarded_or_tested(source, call):
        return []
    if _await_blocker(source, call) is not None:
        return []
    text = _await_call(site, call, lambda target, _: target, uses_asyncio=False)
    if text is None:
        return []
    return [Fix("Add `await`", text, preferred=True, safe_for_fix_all=True)]


def _discarded_or_tested(source: Source, call: ast.Call) -> bool:
    parent = source.parent(call)
    if isinstance(parent, ast.Expr):
        return True
    current: ast.AST = call
    while isinstance(parent, (ast.UnaryOp, ast.BoolOp)):
        current, parent = parent, source.parent(parent)
    return isinstance(parent, (ast.If, ast.While, ast.IfExp, ast.Assert)) and (
        getattr(parent, "test", None) is current
    )
