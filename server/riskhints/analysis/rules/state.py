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
from ..finding import Evidence, Finding, Severity, Span
from ..summaries import Chain
from .concurrency import (
    TaskContext,
    awaits_without_suspending,
    takes_async_lock,
    task_contexts,
)
from .registry import RuleContext, rule
from .syntax import is_await_point, own_nodes

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
    lock taken after the first check (double-checked locking).

    It is a race only when two tasks can be there at once, so the finding needs evidence that
    the function runs in several tasks concurrently — on the same object, for state on
    ``self``: an async route or handler, a coroutine started several times with
    ``create_task``/``gather`` (or a task group), a per-connection server handler, or a
    function that takes an asyncio lock itself and is therefore written for concurrent tasks. A
    per-request object driven by one task, or an await that can never give the loop away (a
    workspace coroutine with no await point inside), is not reported. When the tasks start in
    another file, the finding is reported there, at the call that leads here."""
    program = ctx.program
    contexts = task_contexts(program)
    for fn in ctx.async_functions():
        if fn.is_module_scope:
            continue
        for race in _reportable_races(ctx, fn):
            reason = _local_reason(ctx, fn, race, contexts.get(fn.qualname, {}).get(ctx.path))
            if reason is None:
                continue
            yield _race_finding(ctx, ctx.span(race.await_point), fn, race, ctx, reason)
    for qualname, by_origin in contexts.items():
        context = by_origin.get(ctx.path)
        target = program.function(qualname)
        if context is None or target is None or program.module_of(target) is ctx.module:
            continue  # only tasks started here whose function lives in another file
        home = RuleContext(program.module_of(target), program)
        for race in _reportable_races(home, target):
            if not _needs_shared_self(target, race) or context.shared_self:
                if _design_reason(home, target, race) is not None:
                    continue  # reported in its own file already
                crossing = _crossing_call(ctx, context)
                yield _race_finding(ctx, crossing, target, race, home, context.chain)


def _reportable_races(ctx: RuleContext, fn: FunctionFacts) -> Iterator[Race]:
    """The races of ``fn`` not excluded by a lock held across them, one per await point."""
    excluded_at = {id(site.node) for site in fn.awaits if any(_excludes(ctx, h) for h in site.held)}
    reported: set[int] = set()
    for race in races_in(ctx, fn):
        if id(race.await_point) in reported | excluded_at:
            continue  # a lock is held across the whole check-await-update
        reported.add(id(race.await_point))
        yield race


def _local_reason(
    ctx: RuleContext, fn: FunctionFacts, race: Race, context: TaskContext | None
) -> Chain | None:
    """The evidence, in this file, that two tasks can run ``fn`` past the check at once."""
    if context is not None:
        if context.shared_self or not _needs_shared_self(fn, race):
            return context.chain
    design = _design_reason(ctx, fn, race)
    return (design,) if design is not None else None


def _design_reason(ctx: RuleContext, fn: FunctionFacts, race: Race) -> Evidence | None:
    return takes_async_lock(ctx.program, fn)


def _needs_shared_self(fn: FunctionFacts, race: Race) -> bool:
    """State on ``self`` is shared only when the tasks share the object."""
    self_name = fn.scope.self_name
    if self_name is None or "builtins.classmethod" in fn.decorators:
        return False
    return race.state == self_name or race.state.startswith(self_name + ".")


def _crossing_call(ctx: RuleContext, context: TaskContext) -> Span:
    """The last step of the chain still in this file: the call that leads into the other one."""
    span = context.chain[0].span
    for step in context.chain:
        if step.path != ctx.path:
            break
        span = step.span
    return span


def _race_finding(
    ctx: RuleContext,
    where: Span,
    fn: FunctionFacts,
    race: Race,
    home: RuleContext,
    reason: Chain,
) -> Finding:
    elsewhere = home.path != ctx.path
    subject = f"`{fn.display}`" + (f" (in {home.path})" if elsewhere else "")
    return ctx.finding(
        CHECK_THEN_ACT,
        where,
        f"check-then-act across an await in {subject}: `{race.state}` is checked, then other "
        f"tasks run at the await before it is updated — two tasks can both pass the check",
        function=fn if not elsewhere else None,
        evidence=(
            *reason,
            *(
                (home.evidence(race.await_point, "other tasks run at this await"),)
                if elsewhere
                else ()
            ),
            home.evidence(race.check, f"{race.state} checked here"),
            home.evidence(race.write, f"{race.state} updated here, after the await"),
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
    awaits = [
        point
        for point in _awaits_before(path, write)
        if not awaits_without_suspending(ctx.program, fn, point)
    ]
    if not awaits:
        return None
    if _is_teardown(write, state, awaits):
        return None
    if _ownership_test(fn, check) and all(_acquires_async_lock(fn, a) for a in awaits):
        return None
    return Race(state, check, awaits[0], write)


_CURRENT_TASK = frozenset({"asyncio.current_task", "asyncio.tasks.current_task"})


def _ownership_test(fn: FunctionFacts, check: ast.expr) -> bool:
    """``if self._owner is not task:`` with ``task = asyncio.current_task()``: a re-entrant
    lock asking whether the running task holds it. No other task can make the state name *this*
    task, so the answer cannot go stale while the task waits for the inner lock."""
    tasks = {
        target.id
        for node in fn.own_nodes
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Call)
        and fn.scope.qualify(node.value.func) in _CURRENT_TASK
        for target in node.targets
        if isinstance(target, ast.Name)
    }

    def is_current(node: ast.expr) -> bool:
        if isinstance(node, ast.Name):
            return node.id in tasks
        return isinstance(node, ast.Call) and fn.scope.qualify(node.func) in _CURRENT_TASK

    return any(
        isinstance(node, ast.Compare)
        and isinstance(node.ops[0], (ast.Is, ast.IsNot, ast.Eq, ast.NotEq))
        and (is_current(node.left) or any(is_current(c) for c in node.comparators))
        for node in ast.walk(check)
    )


def _acquires_async_lock(fn: FunctionFacts, point: ast.AST) -> bool:
    """``await self._lock.acquire()`` on an asyncio lock: the write after it runs holding it."""
    if not isinstance(point, ast.Await) or not isinstance(point.value, ast.Call):
        return False
    func = point.value.func
    if not isinstance(func, ast.Attribute) or func.attr != "acquire":
        return False
    lock = fn.scope.lock_ref(func.value)
    return lock is not None and lock.primitive.flavor == "async"


def _declared_globals(fn: FunctionFacts) -> set[str]:
    names: set[str] = set()
    for node in fn.own_nodes:
        if isinstance(node, ast.Global):
            names.update(node.names)
    return names


def _statement_blocks(root: ast.AST) -> Iterator[list[ast.stmt]]:
    """Every statement list of a function body, not entering nested scopes."""
    for node in own_nodes(root, enter=True):
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
        for node in own_nodes(stmt):
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
        for node in own_nodes(stmt)
        if is_await_point(node) and _position(node) < end
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
    """Is ``write`` inside an inner ``if`` (or ``while``) that checks ``state`` again?"""
    for stmt in path:
        for node in own_nodes(stmt):
            if (
                isinstance(node, (ast.If, ast.While))
                and _contains(node, write)
                and state in _shared_reads(ctx, fn, node.test, globals_)
            ):
                return True
    return False


#: ``await asyncio.gather(self._task)`` and friends wait for the objects they are given.
_WAITERS = frozenset({"gather", "wait", "wait_for", "shield"})


def _is_teardown(write: ast.AST, state: str, awaits: list[ast.AST]) -> bool:
    """``if self._task: self._task.cancel(); await self._task; self._task = None`` — clearing
    state after awaiting the object itself (a method on it, like ``close()``, or
    ``asyncio.gather``/``wait`` on it) is an idempotent shutdown, not a race worth reporting.
    The first await must be on the checked object; the write must clear it (``None``, an
    empty container, ``.clear()``, ``del``)."""
    if not _clears(write, state) or not isinstance(awaits[0], ast.Await):
        return False
    awaited = awaits[0].value
    if isinstance(awaited, ast.Call):
        func = awaited.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in _WAITERS:
            arguments = [a.value if isinstance(a, ast.Starred) else a for a in awaited.args]
            return any(ast.unparse(a) == state for a in arguments)
        if isinstance(func, ast.Attribute):
            awaited = func.value
    return ast.unparse(awaited) == state


def _clears(write: ast.AST, state: str) -> bool:
    if isinstance(write, ast.Delete):
        return True
    if isinstance(write, ast.Call) and isinstance(write.func, ast.Attribute):
        return write.func.attr == "clear" and ast.unparse(write.func.value) == state
    if not isinstance(write, (ast.Assign, ast.AnnAssign)) or write.value is None:
        return False
    value = write.value
    if isinstance(value, ast.Constant):
        return value.value is None or value.value is False
    if isinstance(value, (ast.List, ast.Dict, ast.Set, ast.Tuple)):
        return not getattr(value, "elts", getattr(value, "keys", None))
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id in ("set", "dict", "list")
        and not value.args
    )


def _contains(outer: ast.AST, inner: ast.AST) -> bool:
    return any(node is inner for node in ast.walk(outer))
