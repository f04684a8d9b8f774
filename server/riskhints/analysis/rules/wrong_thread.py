"""RH105 — asyncio objects used from a thread that is not the event loop's.

Code that runs on another thread: functions started with ``Thread(target=...)``, executor jobs,
``asyncio.to_thread`` and ``run_in_executor`` (``Program.thread_entry_points``), and callbacks a
library calls on threads of its own (an SDK's events, audio streams, the worker completing a
``concurrent.futures.Future``: ``LIBRARY_THREAD_CALLBACKS``), with the sync helpers they call.
There, ``queue.put_nowait()``, ``event.set()``, ``future.set_result()``, ``loop.call_soon()`` and
``create_task()`` on the loop's objects are not thread-safe and do not wake the loop.

Invariants:
- Only objects that outlive the call are reported (attributes, globals, parameters): a queue
  or loop the thread makes for itself is its own.
- A thread function that runs a loop of its own (``asyncio.run``, ``new_event_loop``,
  ``run_until_complete``) is the loop's thread for what it does: not followed.
"""

from __future__ import annotations

import ast
import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass

from ..facts import CallSite, FunctionFacts
from ..finding import Evidence, Finding, Severity
from ..knowledge.primitives import LIBRARY_THREAD_CALLBACKS, LOOP_THREAD_ONLY
from ..summaries import Chain, Program, sorted_calls
from .registry import RuleContext, rule

WRONG_THREAD = "RH105"
# How far the thread context follows sync helpers (callback -> handler -> emitter).
_MAX_DEPTH = 5
# A function calling one of these runs an event loop of its own on its thread.
_OWN_LOOP = frozenset(
    {
        "asyncio.run",
        "asyncio.new_event_loop",
        "asyncio.set_event_loop",
        "asyncio.AbstractEventLoop.run_until_complete",
        "asyncio.AbstractEventLoop.run_forever",
        "anyio.run",
        "trio.run",
    }
)


@dataclass(frozen=True)
class _OffLoop:
    """Why a function runs off the loop: the hop that starts it, then the calls down from
    ``root``, the function started."""

    root: str
    chain: Chain


def _library_callbacks(program: Program) -> dict[str, Evidence]:
    """Functions registered with a library that calls them on a thread of its own."""
    found: dict[str, Evidence] = {}
    patterns = list(LIBRARY_THREAD_CALLBACKS.items())
    for fn in program.iter_functions():
        for call in fn.calls:
            if call.callee is None:
                continue
            param = next(
                (p for pattern, p in patterns if fnmatch.fnmatchcase(call.callee, pattern)), None
            )
            if param is None:
                continue
            candidates: list[ast.expr] = []
            if param.position is not None and len(call.node.args) > param.position:
                candidates.append(call.node.args[param.position])
            candidates += [kw.value for kw in call.node.keywords if kw.arg == param.keyword]
            for argument in candidates:
                target = fn.scope.qualify(argument)
                if target is None and isinstance(argument, ast.Call) and argument.args:
                    if fn.scope.qualify(argument.func) == "functools.partial":
                        target = fn.scope.qualify(argument.args[0])
                callback = program.function(target)
                if callback is not None and not callback.is_async:
                    found.setdefault(
                        callback.qualname,
                        program.hop(fn, call, f"`{call.text}()`: {param.runs}"),
                    )
    return found


def off_loop_functions(program: Program) -> dict[str, _OffLoop]:
    """Every sync function that runs on a thread other than the loop's, with why."""
    memo = program.memo.get("wrong_thread.off_loop")
    if isinstance(memo, dict):
        return memo
    roots = dict(program.thread_entry_points())
    for qualname, evidence in _library_callbacks(program).items():
        roots.setdefault(qualname, evidence)
    found: dict[str, _OffLoop] = {}
    pending: list[tuple[str, str, Chain, int]] = [(q, q, (e,), 0) for q, e in sorted(roots.items())]
    while pending:
        root, qualname, chain, depth = pending.pop(0)
        fn = program.function(qualname)
        if fn is None or fn.is_async or fn.qualname in found or _runs_own_loop(fn):
            continue
        found[fn.qualname] = _OffLoop(root, chain)
        if depth >= _MAX_DEPTH:
            continue
        for call in sorted_calls(fn, lambda c: True):
            callee = program.callee_function(call)
            if callee is None or callee.is_async or callee.qualname in found:
                continue
            hop = program.hop(fn, call, f"{fn.display}() calls {callee.display}()")
            pending.append((root, callee.qualname, (*chain, hop), depth + 1))
    program.memo["wrong_thread.off_loop"] = found
    return found


def _runs_own_loop(fn: FunctionFacts) -> bool:
    return any(call.callee in _OWN_LOOP for call in fn.calls)


def _shared_receiver(fn: FunctionFacts, call: CallSite) -> bool:
    """The object the call is made on lives beyond this call (not a local it made itself)."""
    func = call.node.func
    if not isinstance(func, ast.Attribute):
        return True  # ``asyncio.create_task(...)``: the thread has no loop of its own
    key = fn.scope.storage_key(func.value)
    if key is None:
        return True
    if f"{fn.qualname}.<locals>." in key:
        name = key.rpartition(".")[2]
        return _is_parameter(fn, name)
    return True


def _is_parameter(fn: FunctionFacts, name: str) -> bool:
    node = fn.node
    if isinstance(node, ast.Module):
        return False
    args = node.args
    return any(a.arg == name for a in (*args.posonlyargs, *args.args, *args.kwonlyargs))


@rule(
    WRONG_THREAD,
    "asyncio-object-from-another-thread",
    Severity.WARNING,
    "An asyncio object (queue, event, future, loop) is used from a thread that is not the "
    "event loop's.",
    "Hand the call to the loop: `loop.call_soon_threadsafe(queue.put_nowait, item)`, or "
    "`asyncio.run_coroutine_threadsafe(coro, loop)`.",
)
def asyncio_object_from_another_thread(ctx: RuleContext) -> Iterator[Finding]:
    """asyncio's queues, events, futures and the loop itself are not thread-safe: they must be
    touched from the loop's own thread. A thread target, an executor job or a callback that a
    library runs on its own thread (a speech SDK's events, an audio stream) calling
    ``queue.put_nowait(item)`` or ``event.set()`` corrupts their state under contention and, above
    all, does not wake the loop — a waiter may sleep until something else happens to wake it.
    ``create_task()`` and ``get_running_loop()`` there find no running loop and raise. The
    evidence names what starts the thread and the calls down to the asyncio call."""
    off_loop = off_loop_functions(ctx.program)
    for qualname, context in off_loop.items():
        root = ctx.program.function(context.root)
        fn = ctx.program.function(qualname)
        if root is None or fn is None or ctx.program.module_of(root) is not ctx.module:
            continue
        module = ctx.program.module_of(fn)
        for call in sorted_calls(fn, lambda c: c.callee in LOOP_THREAD_ONLY):
            if call.callee is None or not _shared_receiver(fn, call):
                continue
            why = LOOP_THREAD_ONLY[call.callee]
            final = Evidence(call.span, f"{call.text}() called here", module.path)
            # Reported in the module of the function the thread starts (its imports reach the
            # whole chain): at the last hop still in it, else at the call itself.
            where = final
            for hop in (*context.chain[1:], final):
                if hop.path != ctx.path:
                    break
                where = hop
            if where.path != ctx.path:
                continue
            yield ctx.finding(
                WRONG_THREAD,
                where.span,
                f"`{call.text}()` runs off the event loop's thread (in `{fn.display}`): {why}; "
                f"hand it to the loop with `loop.call_soon_threadsafe(...)`",
                function=fn if fn is root else root,
                evidence=(*context.chain, final),
                assumptions=(
                    f"`{fn.display}` only ever runs on the event loop's thread",
                    "the loop is woken by something else soon after this call",
                ),
            )
