"""RH4xx — shared state: check-then-act across an ``await``.

A "check" is an ``if`` whose test reads module, class or instance state; the "act" is the first
write to that state on the path that follows the check — inside the ``if`` (or its ``else``),
or, when the ``if`` is a guard clause that always leaves (``return``/``raise``), after it. The
hazard is an ``await`` between the two with no lock held across it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from ..facts import FunctionFacts, Held, Scope
from ..finding import Finding, Severity
from .registry import RuleContext, rule
from .tasks import _is_await_point, _own_nodes

CHECK_THEN_ACT = "RH401"

_MUTATORS = frozenset(
    {
        "append",
        "add",
        "update",
        "setdefault",
        "extend",
        "insert",
        "pop",
        "popitem",
        "remove",
        "discard",
        "clear",
    }
)
_EXITS = (ast.Return, ast.Raise, ast.Continue, ast.Break)


@dataclass(frozen=True)
class Race:
    state: str
    check: ast.expr
    await_point: ast.AST
    write: ast.AST


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
    while an ``asyncio.Lock`` is held is safe, and so is a re-check of the same state under a
    lock taken after the first check (double-checked locking)."""
    for fn in ctx.async_functions():
        if fn.is_module_scope:
            continue
        excluded_at = {
            id(site.node) for site in fn.awaits if any(_excludes(ctx, h) for h in site.held)
        }
        reported: set[int] = set()
        for race in races_in(ctx, fn):
            if id(race.await_point) in reported | excluded_at:
                continue  # a lock is held across the whole check-await-update
            reported.add(id(race.await_point))
            yield ctx.finding(
                CHECK_THEN_ACT,
                race.await_point,
                f"check-then-act across an await in `{fn.display}`: `{race.state}` is checked, "
                f"then other tasks run at this await before it is updated — two tasks can "
                f"both pass the check",
                function=fn,
                evidence=(
                    ctx.evidence(race.check, f"{race.state} checked here"),
                    ctx.evidence(race.write, f"{race.state} updated here, after the await"),
                ),
                assumptions=(
                    f"only one task at a time runs `{fn.display}` past the check of `{race.state}`",
                ),
            )


def _excludes(ctx: RuleContext, held: Held) -> bool:
    """Does holding this primitive keep other tasks out? A ``Semaphore(10)`` does not."""
    if held.lock.primitive.family != "semaphore":
        return True
    return any(held.lock.key in m.binary_semaphores for m in ctx.program.modules.values())


def races_in(ctx: RuleContext, fn: FunctionFacts) -> Iterator[Race]:
    """Every check of shared state followed by an await and then a write to that state."""
    globals_ = _declared_globals(fn)
    for block in _statement_blocks(fn.node):
        for index, stmt in enumerate(block):
            if not isinstance(stmt, ast.If):
                continue
            states = _shared_reads(ctx, fn, stmt.test, globals_)
            if not states:
                continue
            paths = [stmt.body, stmt.orelse]
            if not stmt.orelse and _always_exits(stmt.body):
                paths.append(block[index + 1 :])  # a guard clause: the act follows the ``if``
            for path in paths:
                race = _race_on_path(ctx, fn, stmt.test, path, states, globals_)
                if race is not None:
                    yield race


def _race_on_path(
    ctx: RuleContext,
    fn: FunctionFacts,
    check: ast.expr,
    path: list[ast.stmt],
    states: set[str],
    globals_: set[str],
) -> Race | None:
    found = _first_write(path, states)
    if found is None:
        return None
    write, state = found
    if _rechecked(ctx, fn, path, write, state, globals_):
        return None  # the inner check is judged on its own (double-checked locking)
    awaits = _awaits_before(path, write)
    if not awaits:
        return None
    if _is_teardown(write, state, awaits):
        return None
    return Race(state, check, awaits[0], write)


def _declared_globals(fn: FunctionFacts) -> set[str]:
    names: set[str] = set()
    for node in fn.own_nodes:
        if isinstance(node, ast.Global):
            names.update(node.names)
    return names


def _statement_blocks(root: ast.AST) -> Iterator[list[ast.stmt]]:
    """Every statement list of a function body, not entering nested scopes."""
    for node in _own_nodes(root):
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                yield block
        for handler in getattr(node, "handlers", ()):
            yield handler.body
        for case in getattr(node, "cases", ()):
            yield case.body


def _always_exits(body: list[ast.stmt]) -> bool:
    return bool(body) and isinstance(body[-1], _EXITS)


def _state_name(
    ctx: RuleContext, fn: FunctionFacts, node: ast.AST, globals_: set[str]
) -> str | None:
    """``self._conn``, ``cls._cache``, ``_conn`` (global): the shared object an expression
    names."""
    if isinstance(node, ast.Subscript):
        return _state_name(ctx, fn, node.value, globals_)
    if isinstance(node, ast.Attribute):
        root = node.value
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Name) and (
            (fn.scope.self_name is not None and root.id == fn.scope.self_name)
            or root.id in globals_
            or _is_module_global(ctx, fn, root.id)
            or _is_workspace_module(ctx, fn, root.id)
        ):
            return ast.unparse(node)
        return None
    if isinstance(node, ast.Name):
        # A module global is shared by every task; without ``global`` it can only be written
        # through subscripts and mutating methods, which is what a write must match anyway.
        if node.id in globals_ or _is_module_global(ctx, fn, node.id):
            return node.id
    return None


def _is_module_global(ctx: RuleContext, fn: FunctionFacts, name: str) -> bool:
    scope: Scope | None = fn.scope
    while scope is not None:
        if name in scope.local_names or name in scope.local_types:
            return False
        scope = scope.parent
    if name in ctx.module.global_names:
        return True
    # ``from .cache import tokens``: a global of another workspace module, shared all the same.
    owner, _, attr = ctx.module.imports.get(name, "").rpartition(".")
    source = ctx.program.modules.get(owner)
    return source is not None and attr in source.global_names


def _is_workspace_module(ctx: RuleContext, fn: FunctionFacts, name: str) -> bool:
    """``from . import clients`` then ``clients.client``: another module's global, reached
    through its module."""
    scope: Scope | None = fn.scope
    while scope is not None:
        if name in scope.local_names or name in scope.local_types:
            return False
        scope = scope.parent
    return ctx.module.imports.get(name) in ctx.program.modules


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
    return found


def _written_state(target: ast.AST, states: set[str]) -> str | None:
    while isinstance(target, ast.Subscript):
        target = target.value
    text = ast.unparse(target)
    for state in sorted(states, key=len, reverse=True):
        if text == state or text.startswith(state + "."):
            return state
    return None


def _first_write(body: list[ast.stmt], states: set[str]) -> tuple[ast.AST, str] | None:
    """The first statement (in source order) that writes one of ``states``."""
    writes: list[tuple[ast.AST, str]] = []
    for stmt in body:
        for node in _own_nodes(stmt):
            targets: list[ast.AST] = []
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets = [node.target]
            elif isinstance(node, ast.Delete):
                targets = list(node.targets)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in _MUTATORS
            ):
                targets = [node.func.value]
            for target in (leaf for t in targets for leaf in _unpacked(t)):
                state = _written_state(target, states)
                if state is not None:
                    writes.append((node, state))
    if not writes:
        return None
    return min(writes, key=lambda w: _position(w[0]))


def _unpacked(target: ast.AST) -> Iterator[ast.AST]:
    """``self._conn, self._info = ...`` writes both attributes."""
    if isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _unpacked(element)
    elif isinstance(target, ast.Starred):
        yield from _unpacked(target.value)
    else:
        yield target


def _awaits_before(body: list[ast.stmt], write: ast.AST) -> list[ast.AST]:
    """Await points in ``body`` that run before ``write`` completes, in source order (an await
    in the written value, ``self._x = await f()``, counts)."""
    end = (getattr(write, "end_lineno", 0) or 0, getattr(write, "end_col_offset", 0) or 0)
    points = [
        node
        for stmt in body
        for node in _own_nodes(stmt)
        if _is_await_point(node) and _position(node) < end
    ]
    return sorted(points, key=_position)


def _position(node: ast.AST) -> tuple[int, int]:
    return (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))


def _rechecked(
    ctx: RuleContext,
    fn: FunctionFacts,
    path: list[ast.stmt],
    write: ast.AST,
    state: str,
    globals_: set[str],
) -> bool:
    """Is ``write`` inside an inner ``if`` that checks ``state`` again?"""
    for stmt in path:
        for node in _own_nodes(stmt):
            if (
                isinstance(node, ast.If)
                and _contains(node, write)
                and state in _shared_reads(ctx, fn, node.test, globals_)
            ):
                return True
    return False


def _is_teardown(write: ast.AST, state: str, awaits: list[ast.AST]) -> bool:
    """``if self._task: self._task.cancel(); await self._task; self._task = None`` — clearing
    state after awaiting the object itself (or a method on it, like ``close()``) is an
    idempotent shutdown, not a race worth reporting."""
    if not (
        isinstance(write, ast.Assign)
        and isinstance(write.value, ast.Constant)
        and write.value.value is None
    ):
        return False
    for point in awaits:
        if not isinstance(point, ast.Await):
            return False
        awaited = point.value
        if isinstance(awaited, ast.Call) and isinstance(awaited.func, ast.Attribute):
            awaited = awaited.func.value
        if ast.unparse(awaited) != state:
            return False
    return True


def _contains(outer: ast.AST, inner: ast.AST) -> bool:
    return any(node is inner for node in ast.walk(outer))
