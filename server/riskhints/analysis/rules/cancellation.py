"""RH303 — swallowed cancellation: ``CancelledError`` caught around an ``await`` and not
re-raised.

Cancellation is an exception delivered at an await point; swallowing it turns ``cancel()``,
timeouts and TaskGroup shutdown into no-ops. What is *not* the hazard, and stays quiet:

- awaiting only tasks and futures held in variables (their own cancellation arrives as
  ``CancelledError`` too, by design); awaiting tasks this function cancelled itself is a note
  (info): the caller's own cancellation arriving there is absorbed too, unless the handler
  checks ``asyncio.current_task().cancelling()``;
- handlers that re-raise, directly or through a helper that always raises (``NoReturn``, or a
  body that ends in ``raise`` on every path), or that hand the exception on (stored on the
  object and raised by another method, ``future.set_exception(exc)``);
- a broad handler after an earlier clause of the same ``try`` that already catches
  cancellation (the later one never sees it);
- cleanup code (inside a ``finally`` or an ``except`` block, or a teardown method such as
  ``close()``/``aclose()``/``__aexit__``, which is expected to finish once started);
- the body of a background task (its coroutine is only ever handed to ``create_task``,
  ``asyncio.run`` ...) that *ends* when cancelled: nobody awaits it for a result. The same
  task body catching cancellation and carrying on with its loop is reported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..facts import TRY_NODES, FunctionFacts
from ..finding import Finding, Severity
from ..knowledge.primitives import TASK_FACTORIES
from ..summaries import LOOP_RUNNERS, Program
from .registry import RuleContext, rule
from .syntax import await_points, own_nodes

SWALLOWED_CANCELLATION = "RH303"

_CANCELLATION = frozenset(
    {
        "asyncio.CancelledError",
        "asyncio.exceptions.CancelledError",
        "concurrent.futures.CancelledError",
        "builtins.BaseException",
        "trio.Cancelled",
    }
)


#: Calls that run a coroutine as a task (or as the program's main task) rather than awaiting it.
_TASK_STARTERS = TASK_FACTORIES | frozenset(LOOP_RUNNERS) | {"asyncio.TaskGroup.create_task"}
_TASK_STARTER_METHODS = frozenset({"create_task", "start_soon", "ensure_future", "spawn"})
#: Methods that tear an object down: a close path is expected to finish even when the task
#: running it is being cancelled (the cancellation is usually what triggered it).
_TEARDOWN_NAMES = frozenset(
    {"close", "aclose", "_close", "stop", "shutdown", "disconnect", "_disconnect", "cleanup"}
    | {"terminate", "wait_closed", "__aexit__", "_cleanup", "_shutdown", "_stop"}
)
#: ``await asyncio.wait(tasks)`` and friends wait for objects they are given.
_WAITERS = frozenset({"wait", "shield", "gather", "wait_for"})
_NO_RETURN = frozenset(
    {"typing.NoReturn", "typing.Never", "typing_extensions.NoReturn", "typing_extensions.Never"}
)


@rule(
    SWALLOWED_CANCELLATION,
    "swallowed-cancellation",
    Severity.WARNING,
    "`CancelledError` (or `BaseException`, or a bare `except`) around an `await` is not re-raised.",
    "Re-raise the cancellation after cleanup (`raise`), or catch `Exception` instead.",
)
def swallowed_cancellation(ctx: RuleContext) -> Iterator[Finding]:
    """Cancellation is an exception delivered at an ``await``. A handler that catches it
    (``except CancelledError``, ``except BaseException`` or a bare ``except``) and does not
    re-raise turns ``task.cancel()``, ``asyncio.timeout()`` and TaskGroup shutdown into no-ops:
    the task keeps running, and whoever cancelled it waits forever — or, in a function other
    code awaits, the caller carries on as if the call had succeeded. Raising another exception
    instead of the cancellation breaks the same machinery.

    Left alone: awaiting only tasks and futures held in variables; handlers that re-raise
    through a helper that always raises, or store the exception for another method to raise;
    broad handlers after an earlier clause that already catches cancellation; cleanup code
    inside ``finally``/``except`` and teardown methods (``close()``, ``aclose()``,
    ``__aexit__`` ...); background task bodies (only ever started with ``create_task`` or
    ``asyncio.run``) that end when cancelled. Awaiting a task you just cancelled yourself is a
    note (info): a cancellation of the caller arriving there is absorbed too, unless the
    handler checks ``asyncio.current_task().cancelling()``."""
    task_bodies = _task_bodies(ctx.program)
    for fn in ctx.async_functions():
        if fn.name in _TEARDOWN_NAMES:
            continue
        cancelled = _cancelled_names(fn)
        task_body = fn.qualname in task_bodies
        for node in fn.own_nodes:
            if isinstance(node, TRY_NODES):
                awaits = await_points(node.body)
                own_tasks = bool(awaits) and _awaits_cancelled_task(awaits, cancelled)
                if not own_tasks and _expected_cancellation(ctx, fn, node, awaits):
                    continue
                handler = _first_cancellation_handler(fn, node)
                if handler is None or _reraises(handler) or _hands_on(ctx, fn, handler):
                    continue
                if _trio_redelivers(ctx, fn, handler):
                    continue
                caught = _catches_cancellation(fn, handler) or "except"
                if own_tasks:
                    if not _in_cleanup(ctx, fn, node) and not _checks_cancelling(handler):
                        yield _own_task_note(ctx, fn, handler, caught, awaits[0])
                    continue
                replaced = _replaced_by(handler)
                if replaced is not None:
                    yield ctx.finding(
                        SWALLOWED_CANCELLATION,
                        handler,
                        f"`{caught}` in `{fn.display}` replaces the cancellation with "
                        f"`{replaced}`: the task is not cancelled, and TaskGroup shutdown, "
                        f"asyncio.timeout() and whoever called cancel() get another error",
                        function=fn,
                        evidence=(ctx.evidence(awaits[0], "cancellation is delivered here"),),
                        assumptions=(
                            f"nothing that cancels `{fn.display}` needs to see CancelledError",
                        ),
                        fix={"kind": "reraise"},
                    )
                    continue
                if task_body and not _keeps_running(ctx, fn, node, handler.body):
                    continue
                yield ctx.finding(
                    SWALLOWED_CANCELLATION,
                    handler,
                    f"`{caught}` in `{fn.display}` swallows cancellation of the awaits in "
                    f"its `try`: cancel() and timeouts stop working and the canceller waits",
                    function=fn,
                    evidence=(ctx.evidence(awaits[0], "cancellation is delivered here"),),
                    assumptions=(
                        f"`{fn.display}` is never cancelled (no timeout, no TaskGroup, no "
                        f"shutdown) while it waits here",
                    ),
                    fix={"kind": "reraise"},
                )
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                expr = _suppressing_cancellation(fn, node)
                if expr is None:
                    continue
                awaits = await_points(node.body)
                if _awaits_cancelled_task(awaits, cancelled) or _expected_cancellation(
                    ctx, fn, node, awaits
                ):
                    continue
                if task_body and not _keeps_running(ctx, fn, node, []):
                    continue
                yield ctx.finding(
                    SWALLOWED_CANCELLATION,
                    expr,
                    f"`{ctx.positions.segment(expr)}` in `{fn.display}` swallows "
                    f"cancellation: cancel() and timeouts stop working",
                    function=fn,
                    evidence=(ctx.evidence(awaits[0], "cancellation is delivered here"),),
                    assumptions=(f"`{fn.display}` is never cancelled while it waits here",),
                )


def _expected_cancellation(
    ctx: RuleContext, fn: FunctionFacts, node: ast.AST, awaits: list[ast.AST]
) -> bool:
    """No await here, or cancellation that is expected: of tasks and futures this function
    merely waits for, or while cleaning up."""
    return not awaits or _awaits_only_tasks(awaits) or _in_cleanup(ctx, fn, node)


def _checks_cancelling(handler: ast.ExceptHandler) -> bool:
    """``if asyncio.current_task().cancelling(): raise``: the handler tells its own
    cancellation from the awaited task's."""
    return any(
        isinstance(n, ast.Attribute) and n.attr == "cancelling"
        for stmt in handler.body
        for n in ast.walk(stmt)
    )


def _own_task_note(
    ctx: RuleContext, fn: FunctionFacts, handler: ast.ExceptHandler, caught: str, await_at: ast.AST
) -> Finding:
    """``task.cancel(); try: await task; except CancelledError: pass`` — right for the task
    it cancelled, but a cancellation of ``fn`` itself arriving at that await is swallowed
    too. A note: the usual pattern, with a precise fix."""
    return ctx.finding(
        SWALLOWED_CANCELLATION,
        handler,
        f"`{caught}` in `{fn.display}` absorbs the cancelled task's CancelledError, and also "
        f"a cancellation of `{fn.display}` itself while it waits: re-raise when "
        f"`asyncio.current_task().cancelling()`",
        function=fn,
        severity=Severity.INFO,
        evidence=(ctx.evidence(await_at, "the caller's own cancellation can arrive here too"),),
        assumptions=(f"`{fn.display}` itself is never cancelled while it waits for the task",),
    )


def _suppressing_cancellation(fn: FunctionFacts, node: ast.With | ast.AsyncWith) -> ast.AST | None:
    for item in node.items:
        expr = item.context_expr
        if isinstance(expr, ast.Call) and fn.scope.qualify(expr.func) == "contextlib.suppress":
            if {fn.scope.qualify(a) for a in expr.args} & _CANCELLATION:
                return expr
    return None


def _first_cancellation_handler(fn: FunctionFacts, node: ast.Try) -> ast.ExceptHandler | None:
    """The clause of a ``try`` that receives a cancellation: the first one that catches it
    (later clauses, even ``except BaseException``, never see it)."""
    for handler in node.handlers:
        if _catches_cancellation(fn, handler) is not None:
            return handler
    return None


def _awaits_only_tasks(awaits: list[ast.AST]) -> bool:
    """Every await point waits for a task or future held in a variable (``await self._task``,
    ``await asyncio.wait(self._tasks)``, ``await asyncio.shield(self._closing)``): a
    ``CancelledError`` there is what those tasks end with when they are cancelled."""
    for node in awaits:
        if not isinstance(node, ast.Await):
            return False
        value = node.value
        if isinstance(value, ast.Call):
            func = value.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arguments = [a.value if isinstance(a, ast.Starred) else a for a in value.args]
            if name not in _WAITERS or not arguments:
                return False
            if not all(isinstance(a, (ast.Name, ast.Attribute)) for a in arguments[:1]):
                return False
        elif not isinstance(value, (ast.Name, ast.Attribute)):
            return False
    return True


def _ancestors(ctx: RuleContext, fn: FunctionFacts, node: ast.AST) -> Iterator[ast.AST]:
    """Parents of ``node`` up to (not including) the function."""
    parents = ctx.module.parents
    current = parents.get(id(node))
    while current is not None and current is not fn.node:
        yield current
        current = parents.get(id(current))


def _in_cleanup(ctx: RuleContext, fn: FunctionFacts, node: ast.AST) -> bool:
    """Inside a ``finally`` block or an ``except`` handler of this function."""
    child = node
    for parent in _ancestors(ctx, fn, node):
        if isinstance(parent, ast.ExceptHandler):
            return True
        if isinstance(parent, TRY_NODES) and any(child is s for s in parent.finalbody):
            return True
        child = parent
    return False


def _keeps_running(
    ctx: RuleContext, fn: FunctionFacts, node: ast.AST, handler_body: list[ast.stmt]
) -> bool:
    """After swallowing the cancellation, does the task go on with its loop? (A task body
    that returns, breaks out or falls off its end has been stopped, as asked.)"""
    if handler_body and isinstance(handler_body[-1], (ast.Return, ast.Break, ast.Raise)):
        return False
    return any(
        isinstance(parent, (ast.For, ast.AsyncFor, ast.While))
        for parent in _ancestors(ctx, fn, node)
    )


def _task_bodies(program: Program) -> frozenset[str]:
    """Async functions whose coroutines are only ever started as tasks (``create_task(f())``,
    ``asyncio.run(main())``, ``tg.create_task(...)``) and never awaited or handed elsewhere."""

    def compute() -> frozenset[str]:
        started: set[str] = set()
        other: set[str] = set()
        # ``create_task(sub._state.watch())`` on a receiver we cannot type: the method name
        started_names: set[str] = set()
        other_names: set[str] = set()
        for fn in program.iter_functions():
            for call in fn.calls:
                parent = call.parent
                starts = isinstance(parent, ast.Call) and _starts_task(fn, parent)
                target = program.callee_function(call)
                func = call.node.func
                if target is None and isinstance(func, ast.Attribute):
                    (started_names if starts else other_names).add(func.attr)
                    continue
                if target is None or not target.is_async:
                    continue
                if starts:
                    started.add(target.qualname)
                else:
                    other.add(target.qualname)
                    other_names.add(target.name)
        by_name = {
            fn.qualname
            for fn in program.iter_functions()
            if fn.is_async
            and fn.class_qualname is not None
            and fn.name in started_names - other_names
        }
        return frozenset((started | by_name) - other)

    return program.memoized("cancellation.task_bodies", compute)


def _starts_task(fn: FunctionFacts, call: ast.Call) -> bool:
    if fn.scope.qualify(call.func) in _TASK_STARTERS:
        return True
    func = call.func
    return isinstance(func, ast.Attribute) and func.attr in _TASK_STARTER_METHODS


def _hands_on(ctx: RuleContext, fn: FunctionFacts, handler: ast.ExceptHandler) -> bool:
    """The handler raises through a helper that always raises, or passes the exception on:
    ``future.set_exception(exc)``, or ``self._error = exc`` that another method raises."""
    for stmt in handler.body:
        for node in own_nodes(stmt):
            if not isinstance(node, ast.Call):
                continue
            target = ctx.program.function(fn.scope.qualify(node.func))
            if target is not None and _always_raises(target):
                return True
            if target is None and _raising_helper_of(node, handler.name):
                return True
            func = node.func
            if (
                handler.name
                and isinstance(func, ast.Attribute)
                and func.attr in ("set_exception", "throw")
                and any(isinstance(a, ast.Name) and a.id == handler.name for a in node.args)
            ):
                return True
        if handler.name and isinstance(stmt, ast.Assign):
            if isinstance(stmt.value, ast.Name) and stmt.value.id == handler.name:
                for target_node in stmt.targets:
                    if _raised_elsewhere(ctx, fn, ast.unparse(target_node)):
                        return True
                    if isinstance(target_node, ast.Name) and _raised_later(
                        fn, handler, target_node.id
                    ):
                        return True
    return False


def _raised_later(fn: FunctionFacts, handler: ast.ExceptHandler, local: str) -> bool:
    """``except CancelledError as e: cancelled = e`` ... ``if cancelled: raise cancelled``:
    the handler keeps the exception in a local that the function raises after its clean-up."""
    inside = {id(n) for stmt in handler.body for n in ast.walk(stmt)}
    return any(
        isinstance(node, ast.Raise)
        and id(node) not in inside
        and isinstance(node.exc, ast.Name)
        and node.exc.id == local
        for node in fn.own_nodes
    )


def _trio_redelivers(ctx: RuleContext, fn: FunctionFacts, handler: ast.ExceptHandler) -> bool:
    """Trio's cancellation is level-triggered: inside a cancelled scope every checkpoint raises
    ``Cancelled`` again. A handler of trio code that awaits before it leaves (``await
    trio.aclose_forcefully(stream)``) gets the cancellation back at that await, so what comes
    after it (``raise AssertionError(...)``, a ``return``) never runs on cancellation. Only in
    modules that use trio and not asyncio (whose cancellation is delivered once)."""
    imported = {target.partition(".")[0] for target in ctx.module.imports.values()}
    if "trio" not in imported or "asyncio" in imported:
        return False
    for stmt in handler.body:
        if any(isinstance(n, ast.Await) for n in own_nodes(stmt)):
            return True
        if isinstance(stmt, (ast.Return, ast.Raise, ast.Break, ast.Continue)):
            return False
    return False


#: Name prefixes of helpers that raise the exception they are given (``reraise(exc)``,
#: ``raise_single_exception_from_group(group)``): an exception handed to one comes back out.
_RAISING_HELPER_PREFIXES = ("raise_", "_raise_", "reraise", "_reraise")


def _raising_helper_of(call: ast.Call, name: str | None) -> bool:
    func = call.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return (
        name is not None
        and called.startswith(_RAISING_HELPER_PREFIXES)
        and any(isinstance(a, ast.Name) and a.id == name for a in call.args)
    )


def _always_raises(fn: FunctionFacts) -> bool:
    node = fn.node
    if isinstance(node, ast.Module):
        return False
    if node.returns is not None and fn.scope.qualify(node.returns) in _NO_RETURN:
        return True
    return _block_raises(node.body)


def _block_raises(body: list[ast.stmt]) -> bool:
    """Does every path through ``body`` end in ``raise``?"""
    if not body:
        return False
    last = body[-1]
    if isinstance(last, ast.Raise):
        return True
    if isinstance(last, ast.If):
        return _block_raises(last.body) and _block_raises(last.orelse)
    if isinstance(last, (ast.With, ast.AsyncWith)):
        return _block_raises(last.body)
    return False


def _raised_elsewhere(ctx: RuleContext, fn: FunctionFacts, stored: str) -> bool:
    """``self._error = exc`` here and ``raise self._error`` in a method of the same class."""
    self_name = fn.scope.self_name
    if self_name is None or fn.class_qualname is None or not stored.startswith(self_name + "."):
        return False
    attribute = stored[len(self_name) + 1 :]
    for other in ctx.module.iter_functions():
        if other.class_qualname != fn.class_qualname or other.scope.self_name is None:
            continue
        wanted = f"{other.scope.self_name}.{attribute}"
        for node in other.own_nodes:
            if isinstance(node, ast.Raise) and node.exc is not None:
                raised = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                text = ast.unparse(raised)
                if text == wanted or text.startswith(wanted + "."):
                    return True
    return False


def _catches_cancellation(fn: FunctionFacts, handler: ast.ExceptHandler) -> str | None:
    if handler.type is None:
        return "except:"
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    anyio_names = _anyio_cancelled_names(fn)
    for node in types:
        if (
            fn.scope.qualify(node) in _CANCELLATION
            or (isinstance(node, ast.Call) and fn.scope.qualify(node.func) == _ANYIO_CANCELLED)
            or (isinstance(node, ast.Name) and node.id in anyio_names)
        ):
            return f"except {ast.unparse(handler.type)}"
    return None


_ANYIO_CANCELLED = "anyio.get_cancelled_exc_class"


def _anyio_cancelled_names(fn: FunctionFacts) -> set[str]:
    """``cancelled = anyio.get_cancelled_exc_class()``: names of the backend's cancellation."""
    names: set[str] = set()
    for call in fn.calls:
        if call.callee == _ANYIO_CANCELLED and isinstance(call.stmt, ast.Assign):
            names.update(t.id for t in call.stmt.targets if isinstance(t, ast.Name))
    return names


def _reraises(handler: ast.ExceptHandler) -> bool:
    """A reachable ``raise`` of the cancellation itself (bare, the caught name, or a new
    ``CancelledError``), or ``uncancel()`` (a deliberate decision, not an accident)."""
    return _exit_by_raise(handler) == "reraise"


def _replaced_by(handler: ast.ExceptHandler) -> str | None:
    """``except CancelledError: raise ServiceClosed(...)``: the exception that replaces the
    cancellation, when that is how the handler leaves."""
    found = _exit_by_raise(handler)
    return found if found not in (None, "reraise") else None


def _exit_by_raise(handler: ast.ExceptHandler) -> str | None:
    """How the handler's reachable code raises: ``"reraise"``, the text of a replacing
    exception, or None. Statements after a ``return``/``continue``/``break`` in the same block
    never run, so a ``raise`` there does not count."""
    replacement: str | None = None
    for raise_node in _reachable_raises(handler.body):
        if raise_node is _UNCANCEL:
            return "reraise"
        assert isinstance(raise_node, ast.Raise)
        exc = raise_node.exc
        if exc is None or (isinstance(exc, ast.Name) and exc.id == handler.name):
            return "reraise"
        raised = exc.func if isinstance(exc, ast.Call) else exc
        if ast.unparse(raised).rpartition(".")[2] in ("CancelledError", "Cancelled"):
            return "reraise"
        replacement = replacement or ast.unparse(raised)
    return replacement


_UNCANCEL = ast.Pass()  # stands for ``current_task().uncancel()`` among the exits


def _reachable_raises(body: list[ast.stmt]) -> Iterator[ast.AST]:
    for stmt in body:
        if isinstance(stmt, ast.Raise):
            yield stmt
            return
        for node in own_nodes(stmt):
            if isinstance(node, ast.Attribute) and node.attr == "uncancel":
                yield _UNCANCEL
        if isinstance(stmt, (ast.If, ast.With, ast.AsyncWith, ast.For, ast.While, *TRY_NODES)):
            for block in _blocks_of(stmt):
                yield from _reachable_raises(block)
        if isinstance(stmt, (ast.Return, ast.Continue, ast.Break)):
            return


def _blocks_of(stmt: ast.stmt) -> Iterator[list[ast.stmt]]:
    for name in ("body", "orelse", "finalbody"):
        block = getattr(stmt, name, None)
        if isinstance(block, list) and block:
            yield block
    for handler in getattr(stmt, "handlers", ()):
        yield handler.body


def _cancelled_names(fn: FunctionFacts) -> set[str]:
    """Expressions this function calls ``.cancel()`` on; ``for t in tasks: t.cancel()`` (or the
    comprehension form) cancels every element, so ``tasks`` counts as cancelled too."""
    names: set[str] = set()
    loops: list[tuple[ast.AST, ast.AST]] = []
    for node in fn.own_nodes:
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "cancel"
        ):
            names.add(ast.unparse(node.func.value))
        elif isinstance(node, (ast.For, ast.comprehension)):
            loops.append((node.target, node.iter))
    for target, iterable in loops:
        if isinstance(target, ast.Name) and target.id in names:
            names.add(ast.unparse(iterable))
    return names


def _awaits_cancelled_task(awaits: list[ast.AST], cancelled: set[str]) -> bool:
    """Every await point awaits something this function cancelled (``t.cancel(); await t``)."""
    if not cancelled:
        return False
    for node in awaits:
        if not isinstance(node, ast.Await):
            return False
        value = node.value
        if isinstance(value, ast.Call) and (
            isinstance(value.func, ast.Attribute) and value.func.attr in ("gather", "wait")
        ):
            targets = [
                ast.unparse(a.value if isinstance(a, ast.Starred) else a) for a in value.args
            ]
        else:
            targets = [ast.unparse(value)]
        if not targets or not all(t in cancelled for t in targets):
            return False
    return True
