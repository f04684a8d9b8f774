"""Which async functions run in several tasks at once, and on which objects: the concurrency
evidence the shared-state rules need before they speak.

A check-then-act across an ``await`` is only a race when two tasks can be between the check
and the act at the same time. On real code most such checks are in per-request or
per-connection objects that one task drives (a parser, a stream, a response), where they are
correct. So a race is reported only with evidence that the function runs in several tasks at
once — and, for state on ``self``, on the *same* object:

- **roots**: an async web entry point (every request runs it in a task of its own); a
  coroutine handed to ``create_task``/``ensure_future``/``TaskGroup.create_task``/``gather``
  several times (in a loop, in a comprehension, twice in one ``gather``); a connection handler
  of ``asyncio.start_server``/``websockets.serve`` (a task per connection);
- **propagation**: what a root awaits (through workspace async functions, up to
  :data:`_MAX_DEPTH` calls down) runs in those tasks too, unless it is awaited while a lock
  is held (one task at a time gets past that call); ``self`` stays the same object through
  ``self.method()`` calls and through module-level singletons;
- **design**: a function that takes an asyncio lock, semaphore or condition somewhere is
  written for concurrent tasks — its author says so (a class that merely owns a lock is not
  enough: its ``connect()``/``close()`` are usually called once, by one owner).

Everything is computed once per :class:`~riskhints.analysis.summaries.Program` and memoised in
its ``memo``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from ..facts import CallSite, FunctionFacts, Held, ModuleFacts, Scope
from ..finding import Evidence
from ..summaries import Chain, Program, is_stub, sorted_calls
from .frameworks.entries import entry_points

#: Calls whose coroutine arguments each become a task running concurrently with the caller.
SPAWNERS: frozenset[str] = frozenset(
    {
        "asyncio.create_task",
        "asyncio.ensure_future",
        "asyncio.AbstractEventLoop.create_task",
        "asyncio.TaskGroup.create_task",
        "asyncio.gather",
        "asyncio.as_completed",
        "asyncio.wait_for",
    }
)
#: Method names that spawn a task on an object we cannot type (a task group, a nursery).
_SPAWN_METHODS = frozenset({"create_task", "start_soon"})
#: Servers that run a handler in a task of its own for every connection: callee -> (position,
#: keyword) of the handler argument.
CONNECTION_HANDLERS: dict[str, tuple[int, str]] = {
    "asyncio.start_server": (0, "client_connected_cb"),
    "asyncio.start_unix_server": (0, "client_connected_cb"),
    "asyncio.streams.start_server": (0, "client_connected_cb"),
    "websockets.serve": (0, "handler"),
    "websockets.asyncio.server.serve": (0, "handler"),
    "websockets.server.serve": (0, "handler"),
    "websockets.legacy.server.serve": (0, "ws_handler"),
    "websockets.unix_serve": (0, "handler"),
}
_MAX_DEPTH = 6
_LOOP_NODES = (
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.ListComp,
    ast.SetComp,
    ast.GeneratorExp,
    ast.DictComp,
)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


@dataclass(frozen=True)
class TaskContext:
    """Why a function runs in several tasks at once."""

    how: str  # "asyncio.gather() runs `Cache.get` in several tasks"
    chain: Chain  # where the tasks start, then the calls down to the function
    shared_self: bool  # ``self`` is one object seen by all those tasks

    @property
    def origin_path(self) -> str | None:
        return self.chain[0].path


#: qualname -> the file where the concurrent tasks start -> why the function runs in them.
TaskContexts = dict[str, dict[str | None, TaskContext]]


def task_contexts(program: Program) -> TaskContexts:
    """Every async function of the program that runs in several tasks at once, by qualname and
    by the file where those tasks start (the shortest evidence from each file wins): a file's
    findings rest only on evidence in that file, whichever files are analysed with it."""
    return program.memoized("concurrency.task_contexts", lambda: _propagate(program))


def _propagate(program: Program) -> TaskContexts:
    contexts: TaskContexts = {}
    pending: list[tuple[str, str | None, int]] = []
    for qualname, context in _roots(program):
        by_origin = contexts.setdefault(qualname, {})
        if context.origin_path not in by_origin:
            by_origin[context.origin_path] = context
            pending.append((qualname, context.origin_path, 0))
    while pending:
        qualname, origin, depth = pending.pop(0)
        fn = program.function(qualname)
        if fn is None or depth >= _MAX_DEPTH:
            continue
        context = contexts[qualname][origin]
        for call in sorted_calls(fn, lambda c: c.awaited or _is_spawn(c)):
            if call.awaited and any(_excludes(program, held) for held in call.held):
                continue  # awaited under a lock: one task at a time gets past this call
            for target, node in _coroutines_run_by(program, fn, call):
                by_origin = contexts.setdefault(target.qualname, {})
                if origin in by_origin:
                    continue
                shared = _receiver_shared(program, fn, node, context.shared_self)
                hop = program.hop(fn, call, f"{fn.display}() runs {target.display}()")
                by_origin[origin] = TaskContext(context.how, (*context.chain, hop), shared)
                pending.append((target.qualname, origin, depth + 1))
    return contexts


def _excludes(program: Program, held: Held) -> bool:
    """Does holding this primitive keep other tasks out? A ``Semaphore(10)`` does not."""
    if held.lock.primitive.family != "semaphore":
        return True
    return any(held.lock.key in m.binary_semaphores for m in program.modules.values())


def _coroutines_run_by(
    program: Program, fn: FunctionFacts, call: CallSite
) -> Iterator[tuple[FunctionFacts, ast.Call]]:
    """The workspace coroutine functions a call awaits or spawns, with the call expression
    that creates each coroutine."""
    if _is_spawn(call):
        for argument in _coroutine_arguments(call.node):
            target = _async_target(program, fn, argument)
            if target is not None:
                yield target, argument
        return
    callee = program.callee_function(call)
    if callee is not None and callee.is_async:
        yield callee, call.node


def _roots(program: Program) -> Iterator[tuple[str, TaskContext]]:
    for entry in entry_points(program).values():
        fn = program.function(entry.qualname)
        if fn is not None and fn.is_async:
            how = f"{entry.label} runs once per request, in concurrent tasks"
            yield fn.qualname, TaskContext(how, (entry.evidence,), False)
    for fn in program.iter_functions():
        for call in fn.calls:
            if _is_spawn(call):
                yield from _spawned_many(program, fn, call)
            elif call.callee in CONNECTION_HANDLERS:
                yield from _connection_handler(program, fn, call)


def _is_spawn(call: CallSite) -> bool:
    if call.callee in SPAWNERS:
        return True
    func = call.node.func
    return isinstance(func, ast.Attribute) and func.attr in _SPAWN_METHODS


def _spawned_many(
    program: Program, spawner: FunctionFacts, call: CallSite
) -> Iterator[tuple[str, TaskContext]]:
    """Coroutines of one function spawned as several tasks by this call: in a loop, from a
    comprehension, or twice among the arguments of one ``gather``."""
    arguments = list(_coroutine_arguments(call.node))
    in_loop = inside_loop(spawner, call.node)
    seen: dict[str, int] = {}
    targets: list[tuple[FunctionFacts, ast.Call, bool]] = []
    for argument in arguments:
        target = _async_target(program, spawner, argument)
        if target is None:
            continue
        seen[target.qualname] = seen.get(target.qualname, 0) + 1
        targets.append((target, argument, _in_comprehension(call.node, argument)))
    for target, argument, from_comprehension in targets:
        if not (in_loop or from_comprehension or seen[target.qualname] > 1):
            continue
        shared = _spawn_receiver_shared(program, spawner, call.node, argument)
        api = call.text
        how = f"`{api}()` runs `{target.display}` in several tasks at once"
        where = "in a loop" if in_loop else "for each element" if from_comprehension else "twice"
        evidence = program.hop(spawner, call, f"{api}() starts {target.display}() {where} here")
        yield target.qualname, TaskContext(how, (evidence,), shared)


def _connection_handler(
    program: Program, fn: FunctionFacts, call: CallSite
) -> Iterator[tuple[str, TaskContext]]:
    position, keyword = CONNECTION_HANDLERS[call.callee or ""]
    handler: ast.expr | None = None
    for kw in call.node.keywords:
        if kw.arg == keyword:
            handler = kw.value
    if handler is None and len(call.node.args) > position:
        handler = call.node.args[position]
    if handler is None:
        return
    target = program.function(fn.scope.qualify(handler))
    if target is None or not target.is_async:
        return
    how = f"`{call.text}()` runs `{target.display}` in a task per connection"
    shared = isinstance(handler, ast.Attribute) and _receiver_shared_node(
        program, fn, handler.value, True
    )
    evidence = program.hop(fn, call, f"{call.text}() runs {target.display}() per connection")
    yield target.qualname, TaskContext(how, (evidence,), shared)


def _coroutine_arguments(node: ast.Call) -> Iterator[ast.Call]:
    """Coroutine-creating call expressions among a spawner's arguments, also inside
    ``*[f(x) for x in xs]`` and ``*(f(x) for x in xs)``."""
    for argument in node.args:
        value = argument.value if isinstance(argument, ast.Starred) else argument
        if isinstance(value, ast.Call):
            yield value
        elif isinstance(value, (ast.ListComp, ast.SetComp, ast.GeneratorExp)) and isinstance(
            value.elt, ast.Call
        ):
            yield value.elt
        elif isinstance(value, (ast.List, ast.Tuple)):
            yield from (e for e in value.elts if isinstance(e, ast.Call))
    for keyword in node.keywords:
        if keyword.arg in ("coro", "fut", "aw") and isinstance(keyword.value, ast.Call):
            yield keyword.value


def _async_target(program: Program, fn: FunctionFacts, node: ast.Call) -> FunctionFacts | None:
    target = program.function(fn.scope.qualify(node.func))
    if target is None or not target.is_async or not program.preserves_body(target):
        return None
    return target


def _in_comprehension(call: ast.Call, argument: ast.Call) -> bool:
    for value in call.args:
        value = value.value if isinstance(value, ast.Starred) else value
        if isinstance(value, _COMPREHENSIONS) and getattr(value, "elt", None) is argument:
            return True
    return False


def inside_loop(fn: FunctionFacts, target: ast.AST) -> bool:
    """Is ``target`` inside a loop (or a comprehension) of ``fn``'s own body? By position, over
    the function's own nodes: a parent map of the whole module would cost more."""
    start = (getattr(target, "lineno", 0), getattr(target, "col_offset", 0))
    end = (
        getattr(target, "end_lineno", None) or start[0],
        getattr(target, "end_col_offset", None) or 0,
    )
    for node in fn.own_nodes:
        if isinstance(node, _LOOP_NODES) and node is not target:
            node_start = (node.lineno, node.col_offset)
            node_end = (node.end_lineno or node.lineno, node.end_col_offset or 0)
            if node_start <= start and end <= node_end:
                return True
    return False


def _spawn_receiver_shared(
    program: Program, spawner: FunctionFacts, call: ast.Call, argument: ast.Call
) -> bool:
    """Do the tasks started by one spawn call all run on the same object? ``self.f()``, a
    module singleton's or a parameter's method: yes; ``worker.run()`` for each ``worker`` of a
    loop or a comprehension, or a method of a new object (``Client().fetch()``): no."""
    func = argument.func
    if not isinstance(func, ast.Attribute):
        return False
    root = func.value
    while isinstance(root, (ast.Attribute, ast.Subscript)):
        root = root.value
    return isinstance(root, ast.Name) and root.id not in _loop_targets(spawner, call)


def _loop_targets(fn: FunctionFacts, call: ast.Call) -> set[str]:
    """Names bound by the loops and comprehensions around (or inside) ``call``."""
    names: set[str] = set()
    for node in [*fn.own_nodes, *ast.walk(call)]:
        targets: list[ast.AST] = []
        if isinstance(node, (ast.For, ast.AsyncFor)):
            targets = [node.target]
        elif isinstance(node, ast.comprehension):
            targets = [node.target]
        for target in targets:
            names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def _receiver_shared(
    program: Program, fn: FunctionFacts, node: ast.Call, caller_self_shared: bool
) -> bool:
    func = node.func
    if not isinstance(func, ast.Attribute):
        return False
    return _receiver_shared_node(program, fn, func.value, caller_self_shared)


def _receiver_shared_node(
    program: Program, fn: FunctionFacts, receiver: ast.AST, caller_self_shared: bool
) -> bool:
    """Is the object a method runs on the same for every task that gets here? ``self`` when the
    caller's ``self`` is; ``self._pool`` (an object the shared instance owns); a module-level
    singleton; a local bound once from one of those."""
    root = receiver
    while isinstance(root, (ast.Attribute, ast.Subscript)):
        root = root.value
    if not isinstance(root, ast.Name):
        return False
    if fn.scope.self_name is not None and root.id == fn.scope.self_name:
        return caller_self_shared
    return _is_module_global(fn, program.module_of(fn), root.id)


def _is_module_global(fn: FunctionFacts, module: ModuleFacts, name: str) -> bool:
    scope: Scope | None = fn.scope
    while scope is not None:
        if name in scope.local_names or name in scope.local_types or name in scope.local_functions:
            return False
        scope = scope.parent
    return name in module.global_names or name in module.imports


# ---------------------------------------------------------------------------------------------
# Design evidence: the author expects concurrent tasks
# ---------------------------------------------------------------------------------------------


def takes_async_lock(program: Program, fn: FunctionFacts) -> Evidence | None:
    """``async with self._lock:`` (or a semaphore, a condition, ``await lock.acquire()``)
    somewhere in ``fn``: its author expects other tasks to run it at the same time."""
    for op in fn.lock_ops:
        if op.lock.primitive.flavor == "async":
            return Evidence(
                op.span,
                f"{fn.display}() takes {op.lock.display}: it expects concurrent tasks",
                program.path_of(fn),
            )
    return None


# ---------------------------------------------------------------------------------------------
# Awaits that cannot switch tasks
# ---------------------------------------------------------------------------------------------


def never_suspends(program: Program, fn: FunctionFacts) -> bool:
    """Does awaiting ``fn`` finish without ever giving the loop to another task? True for a
    workspace ``async def`` with a real body (not a stub) and no await point, or that awaits
    only such functions; not when a subclass in the program overrides it (the override may
    suspend). Recursion counts as not suspending: precision first."""
    memo = program.memoized("concurrency.never_suspends", dict[str, bool])
    if fn.qualname in memo:
        return memo[fn.qualname]
    memo[fn.qualname] = True
    result = not is_stub(fn) and not _overridden(program, fn)
    if result and any(not isinstance(site.node, ast.Await) for site in fn.awaits):
        result = False  # ``async for`` / ``async with`` on something we cannot see into
    if result:
        result = all(awaits_without_suspending(program, fn, site.node) for site in fn.awaits)
    memo[fn.qualname] = result
    return result


def awaits_without_suspending(program: Program, fn: FunctionFacts, node: ast.AST) -> bool:
    """``await self._helper()`` where the helper never suspends."""
    if not isinstance(node, ast.Await) or not isinstance(node.value, ast.Call):
        return False
    target = program.function(fn.scope.qualify(node.value.func))
    if target is None or not target.is_async or not program.preserves_body(target):
        return False
    return never_suspends(program, target)


def _overridden(program: Program, fn: FunctionFacts) -> bool:
    """Does a class of the program that derives from ``fn``'s class define the same method?"""
    owner = fn.class_qualname
    return owner is not None and bool(program.overrides(fn, owner))
