"""RH301-RH302 — tasks: dropped tasks and coroutines never awaited (RH303, swallowed
cancellation, is in ``cancellation.py``)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from ..facts import CallSite, FunctionFacts, FunctionNode, parameter_defaults
from ..finding import Finding, Severity
from ..knowledge.primitives import TASK_FACTORIES
from ..positions import Positions
from ..summaries import Program, sorted_calls
from .registry import RuleContext, rule

DANGLING_TASK = "RH301"
COROUTINE_NOT_AWAITED = "RH302"

# Calls that look at a value without keeping it.
_NON_RETAINING_CALLEES = frozenset(
    {"builtins.print", "builtins.repr", "builtins.str", "builtins.id", "builtins.bool"}
)
_TASK_OUTCOME_READS = frozenset({"cancel", "result", "exception"})
_LOOP_RUNS = frozenset(
    {
        "asyncio.AbstractEventLoop.run_until_complete",
        "asyncio.AbstractEventLoop.run_forever",
        "asyncio.run",
    }
)
_LOGGER_METHODS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}
)


@rule(
    DANGLING_TASK,
    "dangling-task",
    Severity.WARNING,
    "A task is created and no strong reference to it is kept: it can vanish mid-flight.",
    "Keep tasks in a set and discard them in a done-callback, or use `asyncio.TaskGroup`.",
)
def dangling_task(ctx: RuleContext) -> Iterator[Finding]:
    """The event loop keeps only a *weak* reference to tasks. A task whose result is dropped —
    or kept only in a local variable of a function that then returns — can be garbage-collected
    before it finishes, silently, and its exceptions are never seen. Linters accept any
    assignment; riskhints follows the local to see whether anything keeps it.
    ``ensure_future(fut)`` of a future (or of a name that may hold one) creates no task and is
    left alone; ``ensure_future(coro())`` is a task like any other."""
    for fn in ctx.functions():
        calls = sorted_calls(fn, lambda c: c.callee in TASK_FACTORIES)
        if not calls:
            continue
        parents = ctx.module.parents
        for call in calls:
            if call.callee == _ENSURE_FUTURE and not _creates_task(ctx, fn, call):
                continue
            name = call.callee.rpartition(".")[2] if call.callee else "create_task"
            reason = _dropped_reason(ctx, fn, call, parents)
            if reason is None:
                continue
            yield ctx.finding(
                DANGLING_TASK,
                call.span,
                f"the task from `{name}()` {reason}: the loop holds only a weak reference, so it "
                f"can be garbage-collected before it finishes",
                function=fn,
                assumptions=(
                    f"something else keeps a strong reference to the task created in "
                    f"`{fn.display}` until it is done",
                ),
                fix={"kind": "keep-task"},
            )
    yield from _returned_tasks_dropped(ctx)


def _returned_tasks_dropped(ctx: RuleContext) -> Iterator[Finding]:
    """``def start(): return asyncio.create_task(...)`` keeps the task only if its callers
    do: a caller that discards what ``start()`` returns drops the task."""
    factories = _returners(ctx.program)
    parents = ctx.module.parents
    for fn in ctx.functions():
        for call in fn.calls:
            target = ctx.program.callee_function(call)
            made = factories.get(target.qualname) if target is not None else None
            if target is None or made is None or made[0] != "task":
                continue
            if call.awaited != target.is_async:
                continue
            if _no_task_here(call, made[2], target.scope.self_name is not None):
                continue
            if target.is_async:
                # ``await self._trigger_event(...)`` as a statement: the task is dropped.
                statement = _await_parent(ctx.program, fn, call)
                reason = "is discarded" if isinstance(statement, ast.Expr) else None
            else:
                reason = _dropped_reason(ctx, fn, call, parents)
            if reason is None:
                continue
            yield ctx.finding(
                DANGLING_TASK,
                call.span,
                f"the task `{target.display}()` returns {reason}: the loop holds only a weak "
                f"reference, so it can be garbage-collected before it finishes",
                function=fn,
                evidence=(
                    ctx.evidence_of(target, made[1], f"{target.display}() makes the task here"),
                ),
                assumptions=(f"something keeps the task `{target.display}()` returns until done",),
                fix={"kind": "keep-task"},
            )


def _returners(program: Program) -> dict[str, tuple[str, ast.AST, _TaskCondition | None]]:
    """Functions that hand a new task or a fresh coroutine to their caller: qualname ->
    (``"task"`` or ``"coroutine"``, where the task is made or the ``return`` that hands it
    out, and the flag a caller must pass for the task to be made, if any). A coroutine counts
    only for sync functions (an ``async def`` returning one is RH302 itself). A function
    returning what a task returner returns is one too (``start_background_task()`` wrapping
    ``ensure_future``, ``_trigger_event()`` returning its result)."""

    def compute() -> dict[str, tuple[str, ast.AST, _TaskCondition | None]]:
        found: dict[str, tuple[str, ast.AST, _TaskCondition | None]] = {}
        for _ in range(4):  # helpers of helpers, without a fixpoint loop on cycles
            changed = False
            for fn in program.iter_functions():
                if fn.qualname in found:
                    continue
                kind = _returned_kind(program, fn, found)
                if kind is not None:
                    found[fn.qualname] = kind
                    changed = True
            if not changed:
                break
        return found

    return program.memoized("tasks.returners", compute)


@dataclass(frozen=True)
class _TaskCondition:
    """The task is made only when the flag ``name`` (a parameter, or a key popped from
    ``**kwargs``) is true; ``default`` is its value when the caller does not pass it."""

    name: str
    position: int | None
    default_false: bool


def _makes_task(
    program: Program, call: CallSite, found: dict[str, tuple[str, ast.AST, _TaskCondition | None]]
) -> bool:
    if call.callee in TASK_FACTORIES:
        return True
    target = program.callee_function(call)
    if target is None:
        return False
    made = found.get(target.qualname)
    return made is not None and made[0] == "task" and call.awaited == target.is_async


def _returned_kind(
    program: Program,
    fn: FunctionFacts,
    found: dict[str, tuple[str, ast.AST, _TaskCondition | None]],
) -> tuple[str, ast.AST, _TaskCondition | None] | None:
    task_locals: dict[str, CallSite] = {}
    for call in fn.calls:
        if isinstance(call.stmt, ast.Assign) and _makes_task(program, call, found):
            if call.stmt.value is call.node or (
                isinstance(call.stmt.value, ast.Await) and call.stmt.value.value is call.node
            ):
                for t in call.stmt.targets:
                    if isinstance(t, ast.Name):
                        task_locals.setdefault(t.id, call)
    returns = [node for node in fn.own_nodes if isinstance(node, ast.Return)]
    coroutine_returns: list[ast.Return] = []
    for call in fn.calls:
        if call.usage not in ("returned", "awaited"):
            continue
        returned = call.parent if call.usage == "returned" else _await_parent(program, fn, call)
        if not isinstance(returned, ast.Return):
            continue
        if _makes_task(program, call, found):
            return "task", call.node, _task_condition(program, fn, call)
        if call.usage != "returned":
            continue
        callee = program.callee_function(call)
        if callee is not None and callee.is_async and not fn.is_async and not _is_generator(callee):
            coroutine_returns.append(returned)
    # A sync/async facade (``if self.is_async: return self._wait_async()`` then a sync path)
    # hands out a coroutine only on some paths: a caller on the sync path gets a plain value.
    if coroutine_returns and len(coroutine_returns) == len(returns):
        return "coroutine", coroutine_returns[0], None
    for node in fn.own_nodes:
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Name):
            made = task_locals.get(node.value.id)
            if made is not None and not _kept_besides(program, fn, node.value.id):
                return "task", made.node, _task_condition(program, fn, made)
    return None


def _await_parent(program: Program, fn: FunctionFacts, call: CallSite) -> ast.AST | None:
    await_node = call.parent if isinstance(call.parent, ast.Await) else None
    return program.module_of(fn).parents.get(id(await_node)) if await_node is not None else None


def _task_condition(program: Program, fn: FunctionFacts, made: CallSite) -> _TaskCondition | None:
    """``if run_async: ret = self.start_background_task(...)``: the flag the task needs."""
    node = fn.node
    if isinstance(node, ast.Module):
        return None
    parents = program.module_of(fn).parents
    current: ast.AST | None = made.stmt
    while current is not None and current is not node:
        parent = parents.get(id(current))
        if isinstance(parent, ast.If) and current in parent.body:
            test = parent.test
            if isinstance(test, ast.Name):
                return _flag(node, test.id)
            return None
        current = parent
    return None


def _flag(node: FunctionNode, name: str) -> _TaskCondition | None:
    params = [*node.args.posonlyargs, *node.args.args]
    defaults = parameter_defaults(node.args)
    names = [a.arg for a in params]
    if name in names or name in {a.arg for a in node.args.kwonlyargs}:
        position = names.index(name) if name in names else None
        default = defaults.get(name)
        return _TaskCondition(name, position, _falsy(default))
    # ``run_async = kwargs.pop("run_async", False)``
    for stmt in ast.walk(node):
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id == name
            and isinstance(stmt.value, ast.Call)
            and isinstance(stmt.value.func, ast.Attribute)
            and stmt.value.func.attr in ("pop", "get")
            and node.args.kwarg is not None
            and isinstance(stmt.value.func.value, ast.Name)
            and stmt.value.func.value.id == node.args.kwarg.arg
            and stmt.value.args
            and isinstance(stmt.value.args[0], ast.Constant)
            and isinstance(stmt.value.args[0].value, str)
        ):
            default = stmt.value.args[1] if len(stmt.value.args) > 1 else None
            return _TaskCondition(
                stmt.value.args[0].value, None, default is None or _falsy(default)
            )
    return None


def _falsy(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and not node.value


def _no_task_here(call: CallSite, condition: _TaskCondition | None, is_method: bool) -> bool:
    """The caller passes the flag as a false constant, or leaves it at a false default."""
    if condition is None:
        return False
    for keyword in call.node.keywords:
        if keyword.arg == condition.name:
            return _falsy(keyword.value)
        if keyword.arg is None:
            return False  # ``**options``: who knows
    if condition.position is not None:
        index = condition.position - (1 if is_method else 0)
        if 0 <= index < len(call.node.args):
            if any(isinstance(a, ast.Starred) for a in call.node.args[: index + 1]):
                return False
            return _falsy(call.node.args[index])
    return condition.default_false


def _kept_besides(program: Program, fn: FunctionFacts, local: str) -> bool:
    """``task = create_task(...); self._tasks.add(task); return task``: the function keeps
    the task itself before handing it out, so a caller that drops it loses nothing."""
    module = program.module_of(fn)
    parents = module.parents
    for node in ast.walk(fn.node):
        if isinstance(node, ast.Name) and node.id == local and isinstance(node.ctx, ast.Load):
            if isinstance(parents.get(id(node)), ast.Return):
                continue
            if _retains(module.positions, fn, node, parents):
                return True
    return False


_ENSURE_FUTURE = "asyncio.ensure_future"
#: Calls returning a future: ``ensure_future`` hands such a future back instead of a new task.
_FUTURE_RETURNING = frozenset(
    {
        "asyncio.gather",
        "asyncio.wrap_future",
        "asyncio.shield",
        "asyncio.AbstractEventLoop.create_future",
        "asyncio.AbstractEventLoop.run_in_executor",
        "asyncio.run_coroutine_threadsafe",
    }
)


def _creates_task(ctx: RuleContext, fn: FunctionFacts, call: CallSite) -> bool:
    """``ensure_future(coro())`` wraps a coroutine in a new task; ``ensure_future(fut)`` of a
    future returns it unchanged: no task to lose. A name counts as a coroutine when it is bound
    to a call of a workspace ``async def``, or checked with ``inspect.isawaitable``/
    ``iscoroutine`` around the call."""
    argument = call.node.args[0] if call.node.args else None
    for keyword in call.node.keywords:
        if keyword.arg in ("coro_or_future", "coro"):
            argument = keyword.value
    if isinstance(argument, ast.Call):
        return fn.scope.qualify(argument.func) not in _FUTURE_RETURNING
    if not isinstance(argument, ast.Name):
        return False
    for node in fn.own_nodes:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            if any(isinstance(t, ast.Name) and t.id == argument.id for t in node.targets):
                target = ctx.program.function(fn.scope.qualify(node.value.func))
                if target is not None and target.is_async:
                    return True
        if isinstance(node, ast.If) and _tests_coroutine(fn, node.test, argument.id):
            if any(n is call.node for b in node.body for n in ast.walk(b)):
                return True
    return False


def _tests_coroutine(fn: FunctionFacts, test: ast.expr, name: str) -> bool:
    for node in ast.walk(test):
        if isinstance(node, ast.Call) and fn.scope.qualify(node.func) in _COROUTINE_TESTS:
            if any(isinstance(a, ast.Name) and a.id == name for a in node.args):
                return True
    return False


_COROUTINE_TESTS = frozenset({"inspect.isawaitable", "inspect.iscoroutine", "asyncio.iscoroutine"})


def _dropped_reason(
    ctx: RuleContext, fn: FunctionFacts, call: CallSite, parents: dict[int, ast.AST]
) -> str | None:
    if call.usage == "discarded":
        return "is discarded"
    parent = call.parent
    if isinstance(parent, ast.Attribute):
        # ``create_task(...).add_done_callback(cb)`` as a statement: the task is still dropped.
        grand = parents.get(id(parent))
        if isinstance(grand, ast.Call) and isinstance(parents.get(id(grand)), ast.Expr):
            return f"is dropped after `.{parent.attr}()`"
        return None
    if call.usage != "assigned" or fn.is_module_scope or _runs_the_loop(fn, call):
        # A sync function that runs the loop after creating the task
        # (``loop.run_until_complete(...)``) keeps the local alive while the task runs.
        return None
    stmt = call.stmt
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
    if len(targets) != 1 or not isinstance(targets[0], ast.Name):
        return None
    local = targets[0].id
    if _declared_global(fn, local):
        return None
    for node in ast.walk(fn.node):  # nested scopes too: a closure may capture the task
        if isinstance(node, ast.Name) and node.id == local and isinstance(node.ctx, ast.Load):
            if _retains(ctx.positions, fn, node, parents):
                return None
    return f"is kept only in local `{local}`, which dies when `{fn.display}` returns"


def _runs_the_loop(fn: FunctionFacts, created: CallSite) -> bool:
    if fn.is_async:
        return False
    return any(
        c.callee in _LOOP_RUNS and (c.span.line, c.span.column) > (created.span.line, 0)
        for c in fn.calls
    )


def _declared_global(fn: FunctionFacts, name: str) -> bool:
    for node in fn.own_nodes:
        if isinstance(node, (ast.Global, ast.Nonlocal)) and name in node.names:
            return True
    return False


def _retains(
    positions: Positions, fn: FunctionFacts, node: ast.Name, parents: dict[int, ast.AST]
) -> bool:
    """Does this use of the task variable keep (or await) the task, or end its life?"""
    if _in_nested_scope(fn, node, parents):
        return True  # a closure captures the task: whoever keeps the closure keeps the task
    parent = parents.get(id(node))
    if isinstance(parent, ast.Attribute):
        grand = parents.get(id(parent))
        if isinstance(grand, ast.Call) and grand.func is parent:
            # ``t.get_name()`` and ``t.add_done_callback(cb)`` look at the task and let it go;
            # ``t.cancel()`` ends it (typically in a ``finally``), and ``t.result()`` or
            # ``t.exception()`` read its outcome: the author expects it to be finished by then.
            return parent.attr in _TASK_OUTCOME_READS
        # A bound method handed on (``loop.call_later(5, t.cancel)``) holds the task.
        return isinstance(grand, (ast.Call, ast.keyword, ast.Assign, ast.Return))
    if isinstance(parent, ast.FormattedValue):
        return False
    if isinstance(parent, ast.Call) and node is not parent.func:
        callee = fn.scope.qualify(parent.func)
        if callee in _NON_RETAINING_CALLEES:
            return False
        func = parent.func
        if isinstance(func, ast.Attribute) and func.attr in _LOGGER_METHODS:
            owner = positions.segment(func.value).lower()
            if "log" in owner:
                return False
        return True
    return True


def _in_nested_scope(fn: FunctionFacts, node: ast.AST, parents: dict[int, ast.AST]) -> bool:
    current = parents.get(id(node))
    while current is not None and current is not fn.node:
        if isinstance(current, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef)):
            return True
        current = parents.get(id(current))
    return False


@rule(
    COROUTINE_NOT_AWAITED,
    "coroutine-never-awaited",
    Severity.ERROR,
    "An `async def` is called but its coroutine is never awaited: the body never runs.",
    "`await` the call (or schedule it with `asyncio.create_task` and keep the task).",
)
def coroutine_never_awaited(ctx: RuleContext) -> Iterator[Finding]:
    """Calling an ``async def`` only creates a coroutine object. Dropping it, testing it in an
    ``if`` (a coroutine object is always true) or passing it to a sync function that does not
    await it means the body never runs — the write never happens, the permission check always
    passes."""
    for fn in ctx.functions():
        for call in sorted_calls(fn, lambda c: not c.awaited):
            callee = ctx.program.callee_function(call)
            if callee is None or not callee.is_async or _is_generator(callee):
                continue
            name = callee.display
            if call.usage == "discarded":
                message = (
                    f"`{call.text}()` creates a coroutine that is never awaited: the body of "
                    f"`{name}` never runs"
                )
            elif call.usage == "condition":
                message = (
                    f"`{call.text}()` is tested without `await`: a coroutine object is always "
                    f"true, so this condition never checks anything"
                )
            elif call.usage == "argument" and _sync_consumer(ctx, fn, call):
                message = (
                    f"the coroutine from `{call.text}()` is passed to a sync call that never "
                    f"awaits it: the body of `{name}` never runs"
                )
            elif call.usage == "returned" and fn.is_async and isinstance(call.parent, ast.Return):
                message = (
                    f"`{call.text}()` is returned from async function `{fn.display}` without "
                    f"`await`: awaiting `{fn.display}()` gives a coroutine object, and the body "
                    f"of `{name}` never runs"
                )
            elif call.usage == "other" and _read_as_result(call.node, call.parent):
                message = (
                    f"`{call.text}()` is used as its result without `await`: a coroutine "
                    f"has no items or attributes of the result, and the body of `{name}` "
                    f"never runs"
                )
            elif call.usage == "assigned" and _never_used_as_coroutine(ctx, fn, call):
                message = (
                    f"the coroutine from `{call.text}()` is kept in a local that is never "
                    f"awaited, scheduled or handed on: the body of `{name}` never runs"
                )
            else:
                continue
            yield ctx.finding(
                COROUTINE_NOT_AWAITED,
                call.span,
                message,
                function=fn,
                evidence=(ctx.evidence_of(callee, callee.node, f"{name} is declared async here"),),
                assumptions=(f"the result of `{name}()` is awaited somewhere",),
                fix={"kind": "add-await"} if fn.is_async else None,
            )
    yield from _returned_coroutines_dropped(ctx)


def _returned_coroutines_dropped(ctx: RuleContext) -> Iterator[Finding]:
    """``def refresh(self): return self._refresh_async()`` (a sync function handing out a
    coroutine) called as a statement: nobody awaits what it returns."""
    factories = _returners(ctx.program)
    for fn in ctx.functions():
        for call in fn.calls:
            target = ctx.program.callee_function(call)
            made = factories.get(target.qualname) if target is not None else None
            if target is None or made is None or made[0] != "coroutine":
                continue
            if call.usage != "discarded":
                continue
            yield ctx.finding(
                COROUTINE_NOT_AWAITED,
                call.span,
                f"`{call.text}()` returns a coroutine that is dropped here: nothing awaits it, "
                f"so the work it stands for never runs",
                function=fn,
                evidence=(
                    ctx.evidence_of(target, made[1], f"{target.display}() returns a coroutine"),
                ),
                assumptions=(f"what `{target.display}()` returns is awaited somewhere",),
            )


_LOOKING_CALLEES = frozenset({"builtins.len", "builtins.isinstance"})
#: What a coroutine object has of its own: reading anything else reads it as its result.
_COROUTINE_ATTRS = frozenset(
    {"send", "throw", "close", "__await__", "cr_await", "cr_frame", "cr_running", "cr_code"}
    | {"cr_origin", "cr_suspended", "__name__", "__qualname__", "__class__"}
)


def _read_as_result(node: ast.AST, parent: ast.AST | None) -> bool:
    """``self.client.get_me().user_id`` / ``me["id"]``: an attribute or an item read off the
    coroutine object, as if it were the value the coroutine returns."""
    if isinstance(parent, ast.Subscript) and parent.value is node:
        return isinstance(parent.ctx, ast.Load)
    return (
        isinstance(parent, ast.Attribute)
        and parent.value is node
        and parent.attr not in _COROUTINE_ATTRS
    )


def _is_generator(fn: FunctionFacts) -> bool:
    """An ``async def`` with ``yield`` is an async generator: calling it returns an iterator for
    ``async for``, not a coroutine to await."""
    return any(isinstance(node, (ast.Yield, ast.YieldFrom)) for node in fn.own_nodes)


def _never_used_as_coroutine(ctx: RuleContext, fn: FunctionFacts, call: CallSite) -> bool:
    """``result = self.save(order)`` then only ``if result:`` / ``for x in result`` /
    ``print(result)``: the local is never awaited, scheduled, returned, stored or passed on."""
    stmt = call.stmt
    if not (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
    ):
        return False
    name = stmt.targets[0].id
    parents = ctx.module.parents
    for node in ast.walk(fn.node):
        if not (isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load)):
            continue
        parent = parents.get(id(node))
        if isinstance(parent, (ast.If, ast.While, ast.IfExp, ast.Compare, ast.BoolOp)):
            continue  # tested: always true, nothing runs
        if isinstance(parent, ast.UnaryOp) or isinstance(parent, ast.comprehension):
            continue
        if isinstance(parent, (ast.For, ast.AsyncFor)) and parent.iter is node:
            continue
        if isinstance(parent, ast.Call) and node is not parent.func:
            callee = fn.scope.qualify(parent.func)
            if callee in _NON_RETAINING_CALLEES or callee in (
                "builtins.len",
                "builtins.isinstance",
            ):
                continue
        if isinstance(parent, ast.FormattedValue) or _read_as_result(node, parent):
            continue  # formatted, or read as if it were the result
        return False  # awaited, returned, stored, passed on: someone may await it
    return True


def _sync_consumer(ctx: RuleContext, fn: FunctionFacts, call: CallSite) -> bool:
    parent = call.parent
    if isinstance(parent, ast.keyword):
        return False
    if not isinstance(parent, ast.Call):
        return False
    callee = fn.scope.qualify(parent.func)
    if callee in _NON_RETAINING_CALLEES or callee in ("builtins.len", "builtins.isinstance"):
        return True
    func = parent.func
    if isinstance(func, ast.Attribute) and func.attr in _LOGGER_METHODS:
        return "log" in ctx.positions.segment(func.value).lower()
    return False
