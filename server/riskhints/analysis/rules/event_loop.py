"""RH1xx — the event loop: blocking calls, waits on the loop's own thread, async callables
passed where a sync callable is expected."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..facts import CallSite, FunctionFacts
from ..finding import Finding, Severity
from ..knowledge.primitives import CALLBACK_PARAMS
from ..summaries import LOOP_RUNNERS, sorted_calls
from .registry import RuleContext, rule

BLOCKING_CALL = "RH101"
BLOCKING_VIA_HELPER = "RH102"
LOOP_SELF_WAIT = "RH103"
ASYNC_AS_SYNC_CALLBACK = "RH104"

_RUNNING_LOOP_GETTERS = frozenset({"asyncio.get_running_loop", "asyncio.get_event_loop"})


@rule(
    BLOCKING_CALL,
    "blocking-call-in-async",
    Severity.WARNING,
    "A blocking call inside `async def` stalls every task on the event loop.",
    "Use the async API, or move the call off the loop with `await asyncio.to_thread(...)`.",
)
def blocking_call_in_async(ctx: RuleContext) -> Iterator[Finding]:
    """An ``async def`` runs on the event loop's thread. A call that blocks (sleeps, network or
    file I/O, a subprocess, a thread primitive's wait) stops the loop for its whole duration:
    no other request, timer or callback runs, so latency spikes for every user under load and
    timeouts elsewhere fire for no visible reason."""
    for fn in ctx.async_functions():
        self_waits = {id(call.node) for call, _ in _loop_self_waits(ctx, fn)}
        for call in sorted_calls(fn, lambda c: True):
            if id(call.node) in self_waits:
                continue
            api = ctx.program.blocking_api(call)
            if api is None:
                continue
            yield ctx.finding(
                BLOCKING_CALL,
                call.span,
                f"`{call.text}()` {api.what} and blocks the event loop inside async "
                f"function `{fn.display}`",
                function=fn,
                assumptions=(
                    f"`{call.text}()` returns quickly enough that stalling every other task on "
                    f"the loop while `{fn.display}` waits is acceptable",
                ),
                fix={"kind": "blocking-call", "callee": call.callee, "alternative": api.alternative},
            )


@rule(
    BLOCKING_VIA_HELPER,
    "blocking-call-via-helper",
    Severity.WARNING,
    "An `async def` calls a sync helper that (maybe several calls down) blocks the event loop.",
    "Make the helper async, or call it with `await asyncio.to_thread(helper, ...)`.",
)
def blocking_call_via_helper(ctx: RuleContext) -> Iterator[Finding]:
    """The blocking call is not in the ``async def`` itself but in a synchronous helper it calls,
    possibly several helpers deep. Linters that look only at the body of the ``async def`` miss
    it; the loop is blocked all the same. The evidence lists every hop down to the blocking
    call."""
    for fn in ctx.async_functions():
        for call in sorted_calls(fn, lambda c: True):
            callee = ctx.program.callee_function(call)
            if callee is None or callee.is_async:
                continue
            reach = ctx.program.blocking_reach(callee)
            if reach is None:
                continue
            depth = len(reach.chain)
            down = f" ({depth} calls down)" if depth > 1 else ""
            yield ctx.finding(
                BLOCKING_VIA_HELPER,
                call.span,
                f"`{callee.display}()` blocks the event loop in async function `{fn.display}`: "
                f"it reaches `{reach.callee}()`{down}, which {reach.api.what}",
                function=fn,
                evidence=(
                    ctx.evidence(call.span, f"async {fn.display}() calls {callee.display}()"),
                    *reach.chain,
                ),
                assumptions=(
                    f"`{callee.display}()` never blocks long when called from `{fn.display}` "
                    f"(it reaches `{reach.callee}`)",
                ),
                fix={"kind": "to-thread", "callee": callee.display},
            )


@rule(
    LOOP_SELF_WAIT,
    "sync-wait-on-loop-thread",
    Severity.ERROR,
    "Code on the event loop's thread waits synchronously for work that needs that same loop.",
    "`await` the coroutine instead of running or waiting for it synchronously.",
)
def sync_wait_on_loop_thread(ctx: RuleContext) -> Iterator[Finding]:
    """Code running on the event loop waits, synchronously, for something only that loop can
    do: ``asyncio.run()`` / ``loop.run_until_complete()`` (a ``RuntimeError`` at best), or
    ``asyncio.run_coroutine_threadsafe(coro, loop).result()`` with the running loop (the loop
    is blocked waiting for a coroutine it can no longer run: a deadlock). The same holds when
    the call is reached through sync helpers."""
    for fn in ctx.async_functions():
        for call, message in _loop_self_waits(ctx, fn):
            yield ctx.finding(
                LOOP_SELF_WAIT,
                call.span,
                message,
                function=fn,
                assumptions=(f"`{fn.display}` never runs on a thread with a running event loop",),
            )
        for call in sorted_calls(fn, lambda c: True):
            callee = ctx.program.callee_function(call)
            if callee is None or callee.is_async:
                continue
            chain = ctx.program.loop_runner_reach(callee)
            if chain is None:
                continue
            yield ctx.finding(
                LOOP_SELF_WAIT,
                call.span,
                f"`{callee.display}()` runs an event loop, but async function `{fn.display}` "
                f"already runs on one: RuntimeError or deadlock",
                function=fn,
                evidence=(
                    ctx.evidence(call.span, f"async {fn.display}() calls {callee.display}()"),
                    *chain,
                ),
                assumptions=(f"`{callee.display}()` is never called while a loop is running",),
            )


def _loop_self_waits(ctx: RuleContext, fn: FunctionFacts) -> list[tuple[CallSite, str]]:
    found: list[tuple[CallSite, str]] = []
    running_loops = _names_assigned_from(fn, _RUNNING_LOOP_GETTERS)
    threadsafe_futures: set[str] = set()
    for call in sorted_calls(fn, lambda c: True):
        if call.callee == "asyncio.run_coroutine_threadsafe" and _targets_running_loop(
            fn, call, running_loops
        ):
            if isinstance(call.stmt, ast.Assign) and call.usage == "assigned":
                for target in call.stmt.targets:
                    if isinstance(target, ast.Name):
                        threadsafe_futures.add(target.id)
    for call in sorted_calls(fn, lambda c: True):
        if call.callee in LOOP_RUNNERS and call.callee != "asgiref.sync.async_to_sync":
            found.append(
                (
                    call,
                    f"`{call.text}()` inside async function `{fn.display}`: "
                    f"{LOOP_RUNNERS[call.callee]} while this one is running (RuntimeError)",
                )
            )
            continue
        func = call.node.func
        if not (isinstance(func, ast.Attribute) and func.attr == "result"):
            continue
        receiver = func.value
        from_threadsafe = (
            isinstance(receiver, ast.Call)
            and fn.scope.qualify(receiver.func) == "asyncio.run_coroutine_threadsafe"
            and _targets_running_loop(fn, _call_for(fn, receiver), running_loops)
        ) or (isinstance(receiver, ast.Name) and receiver.id in threadsafe_futures)
        if from_threadsafe:
            found.append(
                (
                    call,
                    f"`{ctx.positions.segment(call.node)}` blocks the event loop waiting for a "
                    f"coroutine scheduled on that same loop: deadlock in `{fn.display}`",
                )
            )
    return found


def _call_for(fn: FunctionFacts, node: ast.Call) -> CallSite | None:
    for call in fn.calls:
        if call.node is node:
            return call
    return None


def _names_assigned_from(fn: FunctionFacts, callees: frozenset[str]) -> set[str]:
    names: set[str] = set()
    for call in fn.calls:
        if call.callee in callees and isinstance(call.stmt, ast.Assign):
            for target in call.stmt.targets:
                if isinstance(target, ast.Name):
                    names.add(target.id)
    return names


def _targets_running_loop(fn: FunctionFacts, call: CallSite | None, running: set[str]) -> bool:
    """``run_coroutine_threadsafe(coro, loop)`` where ``loop`` is the loop we are running on."""
    if call is None:
        return False
    loop_arg: ast.AST | None = call.node.args[1] if len(call.node.args) > 1 else None
    for keyword in call.node.keywords:
        if keyword.arg == "loop":
            loop_arg = keyword.value
    if isinstance(loop_arg, ast.Name):
        return loop_arg.id in running
    if isinstance(loop_arg, ast.Call):
        return fn.scope.qualify(loop_arg.func) in _RUNNING_LOOP_GETTERS
    return False


@rule(
    ASYNC_AS_SYNC_CALLBACK,
    "async-function-as-sync-callback",
    Severity.ERROR,
    "An `async def` is passed where a plain callable is expected: its body never runs.",
    "Pass a sync function, or schedule the coroutine with `asyncio.run_coroutine_threadsafe` / "
    "`loop.create_task`.",
)
def async_function_as_sync_callback(ctx: RuleContext) -> Iterator[Finding]:
    """``Thread(target=...)``, ``executor.submit``, ``loop.call_soon``, ``add_done_callback``,
    ``run_in_executor`` and friends *call* what they are given. Calling an ``async def`` only
    creates a coroutine object; nobody awaits it, so the body never runs (and Python warns
    "coroutine was never awaited" at some later, unrelated moment). Type checkers accept it,
    because a coroutine is an ``object``."""
    for fn in ctx.functions():
        for call in sorted_calls(fn, lambda c: c.callee in CALLBACK_PARAMS):
            param = CALLBACK_PARAMS[call.callee or ""]
            argument = _argument(call.node, param.position, param.keyword)
            if argument is None:
                continue
            target, via = _callable_target(fn, argument)
            if target is None:
                continue
            callee = ctx.program.function(target)
            if callee is None or not callee.is_async:
                continue
            api = call.callee.rpartition(".")[2] if "." in call.callee else call.callee
            shown = call.text if call.text.endswith(api) else api
            yield ctx.finding(
                ASYNC_AS_SYNC_CALLBACK,
                argument,
                f"`{callee.display}` is a coroutine function{via}: `{shown}` {param.runs}, "
                f"which only creates a coroutine and drops it — the body never runs",
                function=fn,
                evidence=(ctx.evidence(callee.node, f"{callee.display} is declared async here"),),
                assumptions=(f"`{shown}` is given a plain callable, not `{callee.display}`",),
            )


def _argument(node: ast.Call, position: int | None, keyword: str | None) -> ast.AST | None:
    for kw in node.keywords:
        if kw.arg == keyword:
            return kw.value
    if position is not None and position < len(node.args):
        arg = node.args[position]
        return None if isinstance(arg, ast.Starred) else arg
    return None


def _callable_target(fn: FunctionFacts, argument: ast.AST) -> tuple[str | None, str]:
    """The function a callable argument stands for: a name, ``partial(f, ...)`` or
    ``lambda: f(...)``."""
    if isinstance(argument, ast.Call) and fn.scope.qualify(argument.func) == "functools.partial":
        if argument.args:
            return fn.scope.qualify(argument.args[0]), " (through functools.partial)"
        return None, ""
    if isinstance(argument, ast.Lambda) and isinstance(argument.body, ast.Call):
        return fn.scope.qualify(argument.body.func), " (the lambda returns its coroutine)"
    return fn.scope.qualify(argument), ""
