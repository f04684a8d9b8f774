"""RH4xx — shared state: check-then-act across an ``await``."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..facts import FunctionFacts
from ..finding import Finding, Severity
from .registry import RuleContext, rule
from .tasks import _is_await_point, _own_nodes

CHECK_THEN_ACT = "RH401"

_MUTATORS = frozenset(
    {"append", "add", "update", "setdefault", "extend", "insert", "pop", "remove", "discard"}
)


@rule(
    CHECK_THEN_ACT,
    "check-then-act-across-await",
    Severity.WARNING,
    "Shared state is checked, then set after an `await`: tasks interleave between the two.",
    "Hold an `asyncio.Lock` across check and update (re-check inside it), or set before awaiting.",
)
def check_then_act_across_await(ctx: RuleContext) -> Iterator[Finding]:
    """``if self._conn is None: self._conn = await connect()`` — the ``await`` lets every other
    task run between the check and the update. Two requests both see ``None``, both connect;
    one connection leaks, or a counter loses an update, or a cache entry is computed twice and
    the slower (older) value wins. Only module, class and instance state counts; a check made
    while an ``asyncio.Lock`` is held is safe."""
    for fn in ctx.async_functions():
        if fn.is_module_scope:
            continue
        globals_ = _declared_globals(fn)
        held_at = {id(site.node): site.held for site in fn.awaits}
        for node in _own_nodes(fn.node):
            if not isinstance(node, ast.If):
                continue
            states = _shared_reads(ctx, fn, node.test, globals_)
            if not states:
                continue
            for state in sorted(states):
                write = _first_write(node.body, state)
                if write is None:
                    continue
                first_await = _first_await_before(node.body, write)
                if first_await is None:
                    continue
                if held_at.get(id(first_await)):
                    continue  # a lock is held across the whole check-await-update
                yield ctx.finding(
                    CHECK_THEN_ACT,
                    first_await,
                    f"check-then-act across an await in `{fn.display}`: `{state}` is checked, "
                    f"then other tasks run at this await before it is updated — two tasks can "
                    f"both pass the check",
                    function=fn,
                    evidence=(
                        ctx.evidence(node.test, f"{state} checked here"),
                        ctx.evidence(write, f"{state} updated here, after the await"),
                    ),
                    assumptions=(
                        f"only one task at a time runs `{fn.display}` past the check of `{state}`",
                    ),
                )


def _declared_globals(fn: FunctionFacts) -> set[str]:
    names: set[str] = set()
    for node in _own_nodes(fn.node):
        if isinstance(node, ast.Global):
            names.update(node.names)
    return names


def _state_name(ctx: RuleContext, fn: FunctionFacts, node: ast.AST, globals_: set[str]) -> str | None:
    """``self._conn``, ``cls._cache``, ``_conn`` (global) — the shared object an expression names."""
    if isinstance(node, ast.Subscript):
        return _state_name(ctx, fn, node.value, globals_)
    if isinstance(node, ast.Attribute):
        root = node
        while isinstance(root, ast.Attribute):
            root = root.value  # type: ignore[assignment]
        if isinstance(root, ast.Name) and (
            (fn.scope.self_name is not None and root.id == fn.scope.self_name)
            or root.id in globals_
            or _is_module_global(ctx, fn, root.id)
        ):
            return ast.unparse(node)
        return None
    if isinstance(node, ast.Name):
        if node.id in globals_:
            return node.id
        if _is_module_global(ctx, fn, node.id) and node.id in ctx.module.global_types:
            return node.id
    return None


def _is_module_global(ctx: RuleContext, fn: FunctionFacts, name: str) -> bool:
    scope = fn.scope
    if name in scope.local_names or name in scope.local_types:
        return False
    return name in ctx.module.global_names


def _shared_reads(
    ctx: RuleContext, fn: FunctionFacts, test: ast.AST, globals_: set[str]
) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(test):
        if isinstance(node, (ast.Attribute, ast.Name, ast.Subscript)) and isinstance(
            getattr(node, "ctx", None), ast.Load
        ):
            name = _state_name(ctx, fn, node, globals_)
            if name is not None:
                found.add(name)
    # Keep the most specific names: ``self._cache`` rather than ``self`` fragments.
    return {n for n in found if not any(o != n and o.startswith(n + ".") for o in found)}


def _first_write(body: list[ast.stmt], state: str) -> ast.stmt | None:
    for stmt in body:
        for node in _own_nodes(stmt):
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    base = target.value if isinstance(target, ast.Subscript) else target
                    if ast.unparse(base) == state:
                        return stmt
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in _MUTATORS
                and ast.unparse(node.func.value) == state
            ):
                return stmt
    return None


def _first_await_before(body: list[ast.stmt], write: ast.stmt) -> ast.AST | None:
    """The first await point in ``body`` that runs before ``write`` completes."""
    for stmt in body:
        awaits = sorted(
            (n for n in _own_nodes(stmt) if _is_await_point(n)),
            key=lambda n: (n.lineno, n.col_offset),  # type: ignore[attr-defined]
        )
        if stmt is write:
            return awaits[0] if awaits else None
        if awaits:
            return awaits[0]
        if _contains(stmt, write):
            return None
    return None


def _contains(outer: ast.AST, inner: ast.AST) -> bool:
    return any(node is inner for node in ast.walk(outer))
