"""RH2xx — locks: thread locks on the event loop, locks held across awaits, re-entry through a
call chain, lock-order inversion, acquire without release, Condition.wait without a loop,
blocking waits under a lock, Queue.join without task_done."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from ..facts import CallSite, FunctionFacts, Held, LockOp, LockRef
from ..finding import Evidence, Finding, Severity, Span
from ..knowledge.primitives import primitive
from ..summaries import sorted_calls
from .registry import RuleContext, rule

THREAD_LOCK_IN_ASYNC = "RH201"
THREAD_LOCK_ACROSS_AWAIT = "RH202"
LOCK_REENTRY = "RH203"
LOCK_ORDER_INVERSION = "RH204"
ACQUIRE_WITHOUT_RELEASE = "RH205"
CONDITION_WAIT_NOT_IN_LOOP = "RH206"
BLOCKING_WAIT_UNDER_LOCK = "RH207"
QUEUE_JOIN_WITHOUT_TASK_DONE = "RH208"

_WAITING = frozenset(
    {
        "sleeps",
        "waits on a thread primitive",
        "waits for a concurrent future",
        "waits for a thread",
        "waits for a process",
    }
)
_CONDITION_WAITS = frozenset(
    {
        "threading.Condition.wait",
        "asyncio.Condition.wait",
        "anyio.Condition.wait",
        "trio.Condition.wait",
    }
)
# Waits that release the (thread) condition they are called on while they block.
_RELEASING_WAITS = frozenset({"threading.Condition.wait", "threading.Condition.wait_for"})
# Functions that exist to acquire (their caller releases): Lock wrappers, context managers.
_ACQUIRING_FUNCTIONS = frozenset({"acquire", "__enter__", "__aenter__", "lock", "_acquire"})


def _is_thread_lock(lock: LockRef) -> bool:
    return lock.primitive.flavor in ("thread", "process")


def _thread_locks_used_with_blocking(ctx: RuleContext) -> dict[str, Evidence]:
    """Thread locks that some *sync* code holds while it blocks (waits, sleeps or does I/O)."""
    result: dict[str, Evidence] = {}
    for fn in ctx.program.iter_functions():
        if fn.is_async:
            continue
        for call in fn.calls:
            if not call.held:
                continue
            api = ctx.program.blocking_api(call)
            # ``cond.wait()`` releases the condition while it blocks.
            released: str | None = None
            if api is None:
                callee = ctx.program.callee_function(call)
                reach = ctx.program.blocking_reach(callee) if callee else None
                if reach is None:
                    continue
                what = f"{call.text}() {reach.api.what}"
                if reach.callee in _RELEASING_WAITS:
                    released = "any condition"  # a helper waits on some condition: not sure
            else:
                what = f"{call.text}() {api.what}"
                if call.callee in _RELEASING_WAITS and isinstance(call.node.func, ast.Attribute):
                    own = fn.scope.lock_ref(call.node.func.value)
                    released = own.key if own is not None else "any condition"
            for held in call.held:
                if released is not None and (
                    held.lock.key == released
                    or (released == "any condition" and held.lock.primitive.family == "condition")
                ):
                    continue
                if _is_thread_lock(held.lock) and held.lock.key not in result:
                    result[held.lock.key] = Evidence(
                        call.span,
                        f"{fn.display}() holds {held.lock.display} while {what}",
                        ctx.program.path_of(fn),
                    )
    return result


def _used_outside_async(ctx: RuleContext, lock: LockRef) -> bool:
    for fn in ctx.program.iter_functions():
        if fn.is_async:
            continue
        if any(op.lock.key == lock.key for op in fn.lock_ops):
            return True
    return False


@rule(
    THREAD_LOCK_IN_ASYNC,
    "thread-lock-in-async",
    Severity.WARNING,
    "A threading lock is taken on the event loop while other code holds it for long.",
    "Use an `asyncio.Lock` for code that runs on the loop; keep thread locks for threads.",
)
def thread_lock_in_async(ctx: RuleContext) -> Iterator[Finding]:
    """Taking a ``threading.Lock`` in an ``async def`` blocks the whole event loop whenever the
    lock is contended. riskhints reports it when that is a real risk: some sync code holds the
    same lock while it blocks (sleeps, waits, does I/O), so the loop freezes for that long; or
    the lock is only ever used from async code, where an ``asyncio.Lock`` is the right tool. A
    thread lock shared with worker threads that hold it only briefly is left alone. (Holding it
    across an ``await`` is RH202.)"""
    blocking_holders = _thread_locks_used_with_blocking(ctx)
    for fn in ctx.async_functions():
        for op in fn.lock_ops:
            if not _is_thread_lock(op.lock):
                continue
            if _await_under(fn, op) is not None:
                continue  # RH202 reports it, with the await
            holder = blocking_holders.get(op.lock.key)
            if holder is not None:
                message = (
                    f"`{op.lock.display}` is a thread lock taken on the event loop in "
                    f"`{fn.display}`, and other code holds it while blocking: the loop freezes "
                    f"until it is released"
                )
                evidence: tuple[Evidence, ...] = (holder,)
            elif not _used_outside_async(ctx, op.lock):
                message = (
                    f"`{op.lock.display}` is a {op.lock.type} used only from async code: "
                    f"taking it blocks the event loop whenever it is contended; use asyncio.Lock"
                )
                evidence = ()
            else:
                continue
            yield ctx.finding(
                THREAD_LOCK_IN_ASYNC,
                op.span,
                message,
                function=fn,
                evidence=evidence,
                assumptions=(
                    f"`{op.lock.display}` is never held for long by anyone while "
                    f"`{fn.display}` waits for it on the event loop",
                ),
                fix={"kind": "asyncio-lock", "lock": op.lock.display, "key": op.lock.key},
            )


def _await_under(fn: FunctionFacts, op: LockOp) -> Span | None:
    for site in sorted(fn.awaits, key=lambda a: (a.span.line, a.span.column)):
        if any(h.lock.key == op.lock.key and h.span == op.span for h in site.held):
            return site.span
    return None


@rule(
    THREAD_LOCK_ACROSS_AWAIT,
    "thread-lock-held-across-await",
    Severity.ERROR,
    "A threading lock is held across an `await`: the loop can freeze or deadlock.",
    "Use `asyncio.Lock` with `async with`, or release the thread lock before awaiting.",
)
def thread_lock_held_across_await(ctx: RuleContext) -> Iterator[Finding]:
    """A ``threading.Lock`` (or RLock, Semaphore, multiprocessing lock) stays held while the
    coroutine is suspended at an ``await``. Any other task that then tries to take it blocks
    the event loop's thread — so the holder can never resume to release it: the loop
    deadlocks. Threads contending for the lock wait for as long as the awaited I/O takes."""
    for fn in ctx.async_functions():
        for op in fn.lock_ops:
            if not _is_thread_lock(op.lock):
                continue
            await_span = _await_under(fn, op)
            if await_span is None:
                continue
            yield ctx.finding(
                THREAD_LOCK_ACROSS_AWAIT,
                await_span,
                f"thread lock `{op.lock.display}` ({op.lock.type}) is held across this await "
                f"in `{fn.display}`: another task taking it blocks the loop, which then can "
                f"never resume this one to release it",
                function=fn,
                evidence=(ctx.evidence(op.span, f"{op.lock.display} taken here"),),
                assumptions=(
                    f"no other task or thread ever takes `{op.lock.display}` while `{fn.display}` "
                    f"is suspended at this await",
                ),
                fix={"kind": "asyncio-lock", "lock": op.lock.display, "key": op.lock.key},
            )


@rule(
    LOCK_REENTRY,
    "lock-reentry",
    Severity.ERROR,
    "A non-reentrant lock is acquired again, through a call chain, by the code that holds it.",
    "Split the helper into a locked entry point and an unlocked `_locked` variant, or use RLock.",
)
def lock_reentry(ctx: RuleContext) -> Iterator[Finding]:
    """``asyncio.Lock``, ``threading.Lock`` and a ``Semaphore(1)`` are not re-entrant: the task
    or thread that holds one and asks for it again waits for itself forever. It rarely looks
    like that in one place — the second acquisition sits in a helper (``upsert()`` holds
    ``self._lock`` and calls ``_save()``, which takes it again). The evidence follows every
    hop."""
    for fn in ctx.functions():
        for op in fn.lock_ops:
            for held in op.held_before:
                if held.lock.key == op.lock.key and ctx.program.is_non_reentrant(op.lock):
                    yield _reentry_finding(
                        ctx,
                        fn,
                        held,
                        op.span,
                        (ctx.evidence(op.span, f"takes {op.lock.display} again here"),),
                    )
        for call in sorted_calls(fn, lambda c: bool(c.held)):
            callee = ctx.program.callee_function(call)
            if callee is None or not ctx.program.runs_synchronously(call, callee):
                continue
            same_instance = ctx.program.is_self_call(fn, call)
            acquisitions = ctx.program.acquisitions(callee)
            for held in call.held:
                acq = acquisitions.get(held.lock.key)
                if acq is None or not ctx.program.is_non_reentrant(held.lock):
                    continue
                if not same_instance and ctx.program.is_instance_lock(held.lock):
                    continue
                hop = ctx.evidence(call.span, f"{fn.display}() calls {callee.display}()")
                yield _reentry_finding(ctx, fn, held, call.span, (hop, *acq.chain))


def _reentry_finding(
    ctx: RuleContext,
    fn: FunctionFacts,
    held: Held,
    where: Span,
    chain: tuple[Evidence, ...],
) -> Finding:
    lock = held.lock
    who = "task" if lock.primitive.flavor == "async" else "thread"
    return ctx.finding(
        LOCK_REENTRY,
        where,
        f"`{lock.display}` ({lock.type}) is already held here and is acquired again through "
        f"this call: the {who} waits for itself forever",
        function=fn,
        evidence=(ctx.evidence(held.span, f"{lock.display} taken here"), *chain),
        assumptions=(
            f"nothing called while `{fn.display}` holds `{lock.display}` tries to take it again",
        ),
    )


@dataclass(frozen=True)
class _OrderEdge:
    outer: LockRef
    inner: LockRef
    function: FunctionFacts
    where: Span  # where the inner lock is taken (or the call that takes it)
    chain: tuple[Evidence, ...]


def _order_edges(ctx: RuleContext) -> list[_OrderEdge]:
    edges: list[_OrderEdge] = []
    for fn in ctx.functions():
        for op in fn.lock_ops:
            for held in op.held_before:
                if held.lock.key != op.lock.key:
                    edges.append(
                        _OrderEdge(
                            held.lock,
                            op.lock,
                            fn,
                            op.span,
                            (
                                ctx.evidence(held.span, f"{fn.display}() takes {held.lock.display}"),
                                ctx.evidence(op.span, f"then {op.lock.display}"),
                            ),
                        )
                    )
        for call in sorted_calls(fn, lambda c: bool(c.held)):
            callee = ctx.program.callee_function(call)
            if callee is None or not ctx.program.runs_synchronously(call, callee):
                continue
            for key, acq in ctx.program.acquisitions(callee).items():
                for held in call.held:
                    if held.lock.key == key:
                        continue
                    edges.append(
                        _OrderEdge(
                            held.lock,
                            acq.lock,
                            fn,
                            call.span,
                            (
                                ctx.evidence(held.span, f"{fn.display}() takes {held.lock.display}"),
                                ctx.evidence(call.span, f"then calls {callee.display}()"),
                                *acq.chain,
                            ),
                        )
                    )
    return edges


def _orderable(lock: LockRef) -> bool:
    return lock.primitive.family in ("lock", "condition")


@rule(
    LOCK_ORDER_INVERSION,
    "lock-order-inversion",
    Severity.ERROR,
    "Two code paths take the same two locks in opposite orders (ABBA deadlock).",
    "Take the locks in one global order everywhere (or merge them into one lock).",
)
def lock_order_inversion(ctx: RuleContext) -> Iterator[Finding]:
    """One path takes lock A then lock B; another takes B then A. When both run at once, each
    holds the lock the other needs: a deadlock that appears only under concurrency, which no
    single-threaded test shows. riskhints reports it once per pair of locks, at the second
    path, with both orders as evidence (through helper calls too)."""
    edges = [e for e in _order_edges(ctx) if _orderable(e.outer) and _orderable(e.inner)]
    first: dict[tuple[str, str], _OrderEdge] = {}
    for edge in sorted(edges, key=lambda e: (e.where.line, e.where.column)):
        first.setdefault((edge.outer.key, edge.inner.key), edge)
    reported: set[frozenset[str]] = set()
    for (outer, inner), edge in first.items():
        reverse = first.get((inner, outer))
        pair = frozenset((outer, inner))
        if reverse is None or pair in reported:
            continue
        reported.add(pair)
        later, earlier = (
            (edge, reverse)
            if (edge.where.line, edge.where.column) > (reverse.where.line, reverse.where.column)
            else (reverse, edge)
        )
        yield ctx.finding(
            LOCK_ORDER_INVERSION,
            later.where,
            f"lock-order inversion: `{later.function.display}` takes `{later.outer.display}` then "
            f"`{later.inner.display}`, but `{earlier.function.display}` takes them in the "
            f"opposite order — run together they deadlock",
            function=later.function,
            evidence=(*later.chain, *earlier.chain),
            assumptions=(
                f"`{later.function.display}` and `{earlier.function.display}` never run at the "
                f"same time",
                f"every path takes `{earlier.outer.display}` before `{earlier.inner.display}`",
            ),
        )


@rule(
    ACQUIRE_WITHOUT_RELEASE,
    "acquire-without-release",
    Severity.WARNING,
    "`acquire()` without `with` or `try/finally`: an exception or cancellation leaks the lock.",
    "Use `with lock:` / `async with lock:`, or release in a `finally` block.",
)
def acquire_without_release(ctx: RuleContext) -> Iterator[Finding]:
    """A lock or semaphore taken with ``acquire()`` and released by a later ``release()`` that
    is not in a ``finally``: an exception in between — or, in async code, a cancellation at any
    ``await`` — skips the release, and the lock (or semaphore permit) is gone for good. Every
    later acquirer hangs."""
    for fn in ctx.functions():
        if fn.name in _ACQUIRING_FUNCTIONS:
            continue
        for op in fn.lock_ops:
            if op.form != "acquire" or op.released_on_all_paths:
                continue
            what = "cancellation or exception" if fn.is_async else "exception"
            yield ctx.finding(
                ACQUIRE_WITHOUT_RELEASE,
                op.span,
                f"`{op.lock.display}.acquire()` in `{fn.display}` is not released in a "
                f"`finally`: an {what} before release() leaks it and every later acquirer hangs",
                function=fn,
                assumptions=(
                    f"nothing between `{op.lock.display}.acquire()` and its release() can raise"
                    + (" or be cancelled" if fn.is_async else ""),
                ),
                fix={"kind": "with-lock", "lock": op.lock.display},
            )


@rule(
    CONDITION_WAIT_NOT_IN_LOOP,
    "condition-wait-not-in-loop",
    Severity.WARNING,
    "`Condition.wait()` outside a `while` loop re-checking its predicate.",
    "`while not predicate(): cond.wait()`, or `cond.wait_for(predicate)`.",
)
def condition_wait_not_in_loop(ctx: RuleContext) -> Iterator[Finding]:
    """A condition variable's ``wait()`` can return when the predicate is false: a spurious
    wake-up, a ``notify_all`` meant for someone else, or another consumer that took the item
    first. Code after an ``if``-guarded ``wait()`` then acts on state that is not there. The
    predicate must be re-checked in a ``while`` loop (or use ``wait_for``)."""
    for fn in ctx.functions():
        for call in sorted_calls(fn, lambda c: c.callee in _CONDITION_WAITS):
            if call.in_loop:
                continue
            receiver = ctx.positions.segment(call.node.func)
            yield ctx.finding(
                CONDITION_WAIT_NOT_IN_LOOP,
                call.span,
                f"`{receiver}()` is not in a `while` loop re-checking its predicate in "
                f"`{fn.display}`: a spurious or stolen wake-up proceeds on a false condition",
                function=fn,
                assumptions=(
                    f"whenever `{receiver}()` returns, the condition it waited for still holds",
                ),
            )


@rule(
    BLOCKING_WAIT_UNDER_LOCK,
    "blocking-wait-under-lock",
    Severity.WARNING,
    "A blocking wait (sleep, event, queue, future, join) while holding a thread lock.",
    "Release the lock before waiting; wait on a Condition tied to the lock if you need both.",
)
def blocking_wait_under_lock(ctx: RuleContext) -> Iterator[Finding]:
    """Waiting — sleeping, ``Event.wait()``, ``Queue.get()``, ``Future.result()``,
    ``Thread.join()`` — while holding a lock makes every other thread that needs the lock wait
    as long, and deadlocks outright when the awaited thread needs the same lock to make
    progress. (``Condition.wait()`` on the held condition is fine: it releases the lock.)"""
    for fn in ctx.functions():
        if fn.is_async:
            continue  # blocking calls in async code are RH101/RH102
        for call in sorted_calls(fn, lambda c: bool(c.held)):
            held_locks = [h for h in call.held if _is_thread_lock(h.lock)]
            if not held_locks:
                continue
            waited = _waiting_call(ctx, fn, call)
            if waited is None:
                continue
            what, chain = waited
            # cond.wait() releases the condition it waits on.
            if call.callee in _CONDITION_WAITS and isinstance(call.node.func, ast.Attribute):
                own = fn.scope.lock_ref(call.node.func.value)
                held_locks = [h for h in held_locks if own is None or h.lock.key != own.key]
                if not held_locks:
                    continue
            held = held_locks[-1]
            yield ctx.finding(
                BLOCKING_WAIT_UNDER_LOCK,
                call.span,
                f"`{call.text}()` {what} while `{fn.display}` holds `{held.lock.display}`: "
                f"every thread needing the lock waits too, and deadlocks if the awaited work "
                f"needs it",
                function=fn,
                evidence=(ctx.evidence(held.span, f"{held.lock.display} taken here"), *chain),
                assumptions=(
                    f"whatever `{call.text}()` waits for never needs `{held.lock.display}`",
                ),
            )


def _waiting_call(
    ctx: RuleContext, fn: FunctionFacts, call: CallSite
) -> tuple[str, tuple[Evidence, ...]] | None:
    api = ctx.program.blocking_api(call)
    if api is not None:
        return (api.what, ()) if api.what in _WAITING else None
    callee = ctx.program.callee_function(call)
    if callee is None or callee.is_async:
        return None
    reach = ctx.program.blocking_reach(callee)
    if reach is None or reach.api.what not in _WAITING:
        return None
    return (f"reaches `{reach.callee}()`, which {reach.api.what},", reach.chain)


@rule(
    QUEUE_JOIN_WITHOUT_TASK_DONE,
    "queue-join-without-task-done",
    Severity.WARNING,
    "`Queue.join()` waits for `task_done()` calls that no consumer makes: it hangs.",
    "Call `queue.task_done()` once per item, in a `finally`, in every consumer.",
)
def queue_join_without_task_done(ctx: RuleContext) -> Iterator[Finding]:
    """``Queue.join()`` (asyncio, ``queue`` and ``multiprocessing.JoinableQueue``) returns when
    every item put has been marked done with ``task_done()``. If no consumer ever calls it,
    ``join()`` waits forever — typically the graceful-shutdown path that hangs in production."""
    if _module_calls_task_done(ctx):
        return
    consumers = _queue_gets(ctx)
    for fn in ctx.functions():
        for call in sorted_calls(fn, lambda c: c.node.func is not None):
            func = call.node.func
            if not (isinstance(func, ast.Attribute) and func.attr == "join"):
                continue
            prim = primitive(call.receiver_type)
            if prim is None or prim.family != "queue":
                continue
            receiver = ctx.positions.segment(func.value)
            yield ctx.finding(
                QUEUE_JOIN_WITHOUT_TASK_DONE,
                call.span,
                f"`{receiver}.join()` waits until every item is marked done, but nothing in this "
                f"module calls `task_done()`: it never returns",
                function=fn,
                evidence=tuple(consumers[:3]),
                assumptions=(
                    f"every consumer of `{receiver}` calls `task_done()` once per item it takes",
                ),
            )


def _module_calls_task_done(ctx: RuleContext) -> bool:
    for node in ast.walk(ctx.module.tree):
        if isinstance(node, ast.Attribute) and node.attr == "task_done":
            return True
    return False


def _queue_gets(ctx: RuleContext) -> list[Evidence]:
    found: list[Evidence] = []
    for fn in ctx.functions():
        for call in sorted_calls(fn, lambda c: True):
            func = call.node.func
            if isinstance(func, ast.Attribute) and func.attr in ("get", "get_nowait"):
                prim = primitive(call.receiver_type)
                if prim is not None and prim.family == "queue":
                    found.append(
                        ctx.evidence(call.span, f"{fn.display}() takes items here, no task_done()")
                    )
    return found
