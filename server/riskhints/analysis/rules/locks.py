"""RH2xx — locks: thread locks on the event loop, locks held across awaits, re-entry through a
call chain, lock-order inversion, Condition.wait without a loop, blocking waits under a lock,
Queue.join without task_done (RH205, acquire without release, is in ``release.py``)."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..blocking_context import has_capacity
from ..facts import CallSite, FunctionFacts, Held, LockOp, LockRef
from ..finding import Evidence, Finding, Severity, Span
from ..knowledge.primitives import primitive
from ..summaries import sorted_calls
from .registry import RuleContext, rule

THREAD_LOCK_IN_ASYNC = "RH201"
THREAD_LOCK_ACROSS_AWAIT = "RH202"
LOCK_REENTRY = "RH203"
LOCK_ORDER_INVERSION = "RH204"
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


def _is_thread_lock(lock: LockRef) -> bool:
    return lock.primitive.flavor in ("thread", "process")


def _thread_locks_used_with_blocking(ctx: RuleContext) -> dict[str, Evidence]:
    """Thread locks that some *sync* code holds while it blocks (waits, sleeps or does I/O)."""
    return ctx.program.memoized("locks.blocking-holders", lambda: _blocking_holders(ctx))


def _blocking_holders(ctx: RuleContext) -> dict[str, Evidence]:
    result: dict[str, Evidence] = {}
    for fn in ctx.program.iter_functions():
        if fn.is_async:
            continue
        for call in fn.calls:
            if not call.held:
                continue
            api = ctx.program.blocking_api(call, fn)
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
    "Split the helper into a locked entry point and an unlocked `_locked` variant that "
    "callers already holding the lock use.",
)
def lock_reentry(ctx: RuleContext) -> Iterator[Finding]:
    """``asyncio.Lock``, ``threading.Lock`` and a ``Semaphore(1)`` are not re-entrant: the task
    or thread that holds one and asks for it again waits for itself forever. It rarely looks
    like that in one place — the second acquisition sits in a helper (``upsert()`` holds
    ``self._lock`` and calls ``_save()``, which takes it again). The evidence follows every
    hop. A counting semaphore taken again by its holder starves instead: under load every
    permit is held by a task waiting for its second one (reported as a warning)."""
    for fn in ctx.functions():
        for op in fn.lock_ops:
            if op.is_try_acquire:
                continue
            for held in op.held_before:
                if held.lock.key == op.lock.key and _self_deadlocks(ctx, op.lock):
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
            acquisitions = ctx.program.acquisitions_at(fn, call, callee)
            for held in call.held:
                acq = acquisitions.get(held.lock.key)
                if acq is None or not _self_deadlocks(ctx, held.lock):
                    continue
                hop = ctx.evidence(call.span, f"{fn.display}() calls {callee.display}()")
                yield _reentry_finding(ctx, fn, held, call.span, (hop, *acq.chain))


def _self_deadlocks(ctx: RuleContext, lock: LockRef) -> bool:
    """Taking it again while holding it can wait forever: a non-reentrant lock at once, a
    counting semaphore once its permits run out (each holder waiting for a second one)."""
    return ctx.program.is_non_reentrant(lock) or lock.primitive.family == "semaphore"


def _reentry_finding(
    ctx: RuleContext,
    fn: FunctionFacts,
    held: Held,
    where: Span,
    chain: tuple[Evidence, ...],
) -> Finding:
    lock = held.lock
    who = "task" if lock.primitive.flavor == "async" else "thread"
    if not ctx.program.is_non_reentrant(lock):  # a counting semaphore
        return ctx.finding(
            LOCK_REENTRY,
            where,
            f"`{lock.display}` ({lock.type}) is already held here and a second permit is "
            f"requested through this call: once every permit is held by a {who} doing the "
            f"same, none gets its second one and all of them wait forever",
            function=fn,
            severity=Severity.WARNING,
            evidence=(ctx.evidence(held.span, f"{lock.display} taken here"), *chain),
            assumptions=(
                f"fewer {who}s than `{lock.display}` has permits ever run `{fn.display}` at once",
            ),
        )
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
    # Other mutexes held around both: two paths sharing one of them cannot interleave.
    guards: frozenset[str]


def _guards(ctx: RuleContext, held: tuple[Held, ...], *excluded: str) -> frozenset[str]:
    return frozenset(
        h.lock.key for h in held if h.lock.key not in excluded and _is_mutex(ctx, h.lock)
    )


def _is_mutex(ctx: RuleContext, lock: LockRef) -> bool:
    """Lets one holder in at a time (a counting semaphore does not serialise its holders)."""
    if lock.primitive.family == "semaphore":
        return ctx.program.is_non_reentrant(lock)
    return lock.primitive.family in ("lock", "condition")


def _order_edges(ctx: RuleContext) -> list[_OrderEdge]:
    """Lock-order edges of every function of the program (other modules too: an inversion
    may take one order here and the other in a module this one imports)."""
    return ctx.program.memoized("locks.order-edges", lambda: _all_order_edges(ctx))


def _all_order_edges(ctx: RuleContext) -> list[_OrderEdge]:
    edges: list[_OrderEdge] = []
    for fn in ctx.program.iter_functions():
        path = ctx.program.path_of(fn)

        def hop(span: Span, message: str, path: str = path) -> Evidence:
            return Evidence(span, message, path)

        for op in fn.lock_ops:
            if op.is_try_acquire:
                continue
            for held in op.held_before:
                if held.lock.key != op.lock.key:
                    edges.append(
                        _OrderEdge(
                            held.lock,
                            op.lock,
                            fn,
                            op.span,
                            (
                                hop(held.span, f"{fn.display}() takes {held.lock.display}"),
                                hop(op.span, f"then {op.lock.display}"),
                            ),
                            _guards(ctx, op.held_before, held.lock.key, op.lock.key),
                        )
                    )
        for call in sorted_calls(fn, lambda c: bool(c.held)):
            callee = ctx.program.callee_function(call)
            if callee is None or not ctx.program.runs_synchronously(call, callee):
                continue
            # ``other.method()`` taking another object's lock is left out by acquisitions_at.
            for key, acq in ctx.program.acquisitions_at(fn, call, callee).items():
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
                                hop(held.span, f"{fn.display}() takes {held.lock.display}"),
                                hop(call.span, f"then calls {callee.display}()"),
                                *acq.chain,
                            ),
                            _guards(ctx, call.held, held.lock.key, key),
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
    path, with both orders as evidence (through helper calls too). Two paths that both hold a
    third lock around the pair (a "gate") cannot interleave and are left alone; so are
    try-locks (``acquire(blocking=False)``), which back off instead of waiting."""
    edges = [e for e in _order_edges(ctx) if _orderable(e.outer) and _orderable(e.inner)]
    by_order: dict[tuple[str, str], list[_OrderEdge]] = {}
    for edge in sorted(edges, key=lambda e: (e.where.line, e.where.column)):
        by_order.setdefault((edge.outer.key, edge.inner.key), []).append(edge)
    reported: set[frozenset[str]] = set()
    for (outer, inner), forward in by_order.items():
        pair = frozenset((outer, inner))
        if pair in reported:
            continue
        inverted = _first_unguarded_pair(
            forward,
            by_order.get((inner, outer), []),
            lambda e: ctx.program.module_of(e.function) is ctx.module,
        )
        if inverted is None:
            continue
        reported.add(pair)
        later, earlier = inverted
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


def _first_unguarded_pair(
    forward: list[_OrderEdge],
    backward: list[_OrderEdge],
    local: Callable[[_OrderEdge], bool],
) -> tuple[_OrderEdge, _OrderEdge] | None:
    """The first two edges in opposite orders that no common gate lock serialises, as
    (reported, other): the reported one is in this module (the later one when both are),
    so a cross-file inversion shows up in each of its two files."""

    def position(edge: _OrderEdge) -> tuple[bool, int, int]:
        return (local(edge), edge.where.line, edge.where.column)

    candidates = [
        (max(a, b, key=position), min(a, b, key=position))
        for a in forward
        for b in backward
        if not a.guards & b.guards and (local(a) or local(b))
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda pair: (position(pair[0]), position(pair[1])))


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
    predicate must be re-checked in a ``while`` loop (or use ``wait_for``). Inside a loop, the
    ``wait()`` must lead straight back to the loop's check (it is the last thing the body does,
    or it is followed by ``continue``), not fall through to code that uses the state."""
    for fn in ctx.functions():
        parents: dict[int, tuple[ast.AST, list[ast.stmt]]] | None = None
        for call in sorted_calls(fn, lambda c: c.callee in _CONDITION_WAITS):
            parents = parents if parents is not None else _statement_parents(fn.node)
            if _timed_wait_then_recheck(call, parents):
                continue
            if not call.in_loop and _helper_called_in_rechecking_loops(ctx, fn, call, parents):
                continue
            if call.in_loop:
                parents = parents if parents is not None else _statement_parents(fn.node)
                if _returns_to_loop_check(call, parents):
                    continue
                where = "does not go back to the loop's check after it wakes"
            else:
                where = "is not in a `while` loop re-checking its predicate"
            receiver = ctx.positions.segment(call.node.func)
            yield ctx.finding(
                CONDITION_WAIT_NOT_IN_LOOP,
                call.span,
                f"`{receiver}()` {where} in `{fn.display}`: a spurious or stolen wake-up "
                f"proceeds on a false condition",
                function=fn,
                assumptions=(
                    f"whenever `{receiver}()` returns, the condition it waited for still holds",
                ),
            )


def _timed_wait_then_recheck(
    call: CallSite, parents: dict[int, tuple[ast.AST, list[ast.stmt]]]
) -> bool:
    """``cond.wait(timeout)`` followed by an ``if`` that re-checks the state (the pattern of
    ``concurrent.futures.Future.result``): one bounded wait, then the predicate decides."""
    node = call.node
    timed = bool(node.args) or any(kw.arg == "timeout" for kw in node.keywords)
    if not timed or not isinstance(call.stmt, ast.Expr):
        return False
    found = parents.get(id(call.stmt))
    if found is None:
        return False
    _, block = found
    index = next(i for i, s in enumerate(block) if s is call.stmt)
    return index + 1 < len(block) and isinstance(block[index + 1], ast.If)


def _helper_called_in_rechecking_loops(
    ctx: RuleContext,
    fn: FunctionFacts,
    call: CallSite,
    parents: dict[int, tuple[ast.AST, list[ast.stmt]]],
) -> bool:
    """A private helper that only wraps the wait (``_wait_for_change(timeout)``: the wait is the
    last thing it does), and every call of it in this module sits in a ``while`` loop whose
    body goes back to the loop's test after recomputing it: the predicate is re-checked one
    frame up. Other modules do not call a private helper; a call of a same-named method
    counts (an override of the helper in a subclass is called the same way)."""
    if not fn.name.startswith("_") or fn.name.startswith("__"):
        return False
    if not _ends_function(fn, call.stmt, parents):
        return False
    uses = [
        (caller, site)
        for caller in ctx.functions()
        for site in caller.calls
        if _calls_name(site.node.func, fn.name)
    ]
    return bool(uses) and all(_recomputed_loop_test(caller, site) for caller, site in uses)


def _calls_name(func: ast.expr, name: str) -> bool:
    if isinstance(func, ast.Attribute):
        return func.attr == name
    return isinstance(func, ast.Name) and func.id == name


def _ends_function(
    fn: FunctionFacts, stmt: ast.stmt, parents: dict[int, tuple[ast.AST, list[ast.stmt]]]
) -> bool:
    """Is ``stmt`` the last thing ``fn`` runs (through ``try`` bodies, ``with``, ``if``)?"""
    current = stmt
    while True:
        found = parents.get(id(current))
        if found is None:
            return False
        parent, block = found
        if block[-1] is not current:
            return False
        if parent is fn.node:
            return True
        if isinstance(parent, (ast.For, ast.AsyncFor, ast.While)):
            return False
        if isinstance(parent, ast.Try) and block is parent.body and parent.orelse:
            return False
        if not isinstance(parent, ast.stmt):
            return False
        current = parent


def _recomputed_loop_test(caller: FunctionFacts, site: CallSite) -> bool:
    """``while left > 0: await self._wait(left); ...; left = recompute()``: the call is a
    statement of a ``while`` body that neither leaves the loop (``break``/``return``) nor skips
    the recomputation, and assigns a name the loop's test reads."""
    parents = _statement_parents(caller.node)
    current: ast.stmt = site.stmt
    while True:
        found = parents.get(id(current))
        if found is None:
            return False
        parent, block = found
        if isinstance(parent, ast.While) and block is parent.body:
            break
        if not isinstance(parent, (ast.If, ast.Try, ast.With, ast.AsyncWith)):
            return False
        current = parent
    rest = block[block.index(current) + 1 :]
    if any(isinstance(n, (ast.Break, ast.Return)) for s in rest for n in ast.walk(s)):
        return False
    read = {n.id for n in ast.walk(parent.test) if isinstance(n, ast.Name)}
    read |= {ast.unparse(n) for n in ast.walk(parent.test) if isinstance(n, ast.Attribute)}
    written: set[str] = set()
    for stmt in rest:
        for node in ast.walk(stmt):
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                written |= {ast.unparse(t) for t in targets}
    return bool(read & written)


def _statement_parents(root: ast.AST) -> dict[int, tuple[ast.AST, list[ast.stmt]]]:
    """Each statement of a function (not of nested scopes) -> (parent node, its block)."""
    parents: dict[int, tuple[ast.AST, list[ast.stmt]]] = {}
    stack: list[ast.AST] = [root]
    while stack:
        node = stack.pop()
        blocks: list[list[ast.stmt]] = [
            block
            for name in ("body", "orelse", "finalbody")
            if isinstance(block := getattr(node, name, None), list)
        ]
        blocks.extend(h.body for h in getattr(node, "handlers", ()))
        blocks.extend(c.body for c in getattr(node, "cases", ()))
        for block in blocks:
            for stmt in block:
                parents[id(stmt)] = (node, block)
                if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    stack.append(stmt)
    return parents


def _returns_to_loop_check(
    call: CallSite, parents: dict[int, tuple[ast.AST, list[ast.stmt]]]
) -> bool:
    """After ``wait()`` returns, is the next thing that runs the enclosing ``while`` test?"""
    current: ast.stmt = call.stmt
    if isinstance(current, ast.While) and any(n is call.node for n in ast.walk(current.test)):
        return True
    continues = False  # a ``continue`` after the wait jumps straight to the loop
    while True:
        found = parents.get(id(current))
        if found is None:
            return False
        parent, block = found
        if not continues:
            index = next(i for i, s in enumerate(block) if s is current)
            if index + 1 < len(block):
                if not isinstance(block[index + 1], ast.Continue):
                    return False  # falls through to code that trusts the predicate
                continues = True
        if isinstance(parent, ast.While) and block is parent.body:
            return True
        if isinstance(parent, (ast.For, ast.AsyncFor)) and block is parent.body:
            return False  # the next iteration of the inner loop does not re-check
        if not continues and isinstance(parent, ast.Try) and block is parent.body and parent.orelse:
            return False  # the ``else`` runs after the wait
        if not isinstance(parent, ast.stmt):
            return False
        current = parent


@rule(
    BLOCKING_WAIT_UNDER_LOCK,
    "blocking-wait-under-lock",
    Severity.WARNING,
    "A blocking wait (sleep, event, queue, future, join) while holding a thread lock.",
    "Release the lock before waiting; wait on a Condition tied to the lock if you need both.",
)
def blocking_wait_under_lock(ctx: RuleContext) -> Iterator[Finding]:
    """Waiting — sleeping, ``Event.wait()``, ``Queue.get()``, ``Future.result()``,
    ``Thread.join()``, ``Popen.wait()`` — while holding a lock makes every other thread that
    needs the lock wait as long, and deadlocks outright when the awaited thread needs the same
    lock to make progress. Helpers are followed: a lock held around a call whose callee (or
    its callee) sleeps is reported at the call.

    Not waits in this sense: ``Condition.wait()``/``wait_for()`` on the held condition (they
    release it), ``put()`` on a queue created without ``maxsize`` (it never blocks),
    ``result()`` on the future a done-callback receives (it is finished), and running a
    command (``subprocess.run``) under a lock that serialises it."""
    waits = ctx.program.memoized("locks.wait-finder", lambda: _WaitFinder(ctx))
    for fn in ctx.functions():
        if fn.is_async:
            continue  # blocking calls in async code are RH101/RH102
        for call in sorted_calls(fn, lambda c: bool(c.held)):
            held_locks = [h for h in call.held if waits.is_mutex(h.lock)]
            if not held_locks:
                continue
            waited = waits.at(fn, call)
            if waited is None:
                continue
            what, api, chain = waited
            if api in _RELEASING_WAITS:
                # cond.wait() releases the condition it waits on (and the lock under it); when
                # a helper waits, we do not know which condition: assume any held one.
                func = call.node.func
                own = (
                    fn.scope.lock_ref(func.value)
                    if not chain and isinstance(func, ast.Attribute)
                    else None
                )
                held_locks = [h for h in held_locks if not waits.released_by(own, h.lock)]
                if not held_locks:
                    continue
            held = held_locks[-1]
            # No await here (sync code): the call waits, for a timer or for other work.
            if what == "sleeps" or what.endswith("which sleeps,"):
                consequence = "every thread needing the lock waits for the whole sleep"
                assumption = f"no other thread needs `{held.lock.display}` while this sleeps"
            else:
                consequence = (
                    "every thread needing the lock waits too, and it deadlocks if the work "
                    "this waits for needs the lock"
                )
                assumption = f"whatever `{call.text}()` waits for never needs `{held.lock.display}`"
            yield ctx.finding(
                BLOCKING_WAIT_UNDER_LOCK,
                call.span,
                f"`{call.text}()` {what} while `{fn.display}` holds `{held.lock.display}`: "
                f"{consequence}",
                function=fn,
                evidence=(ctx.evidence(held.span, f"{held.lock.display} taken here"), *chain),
                assumptions=(assumption,),
            )


# Running a command to completion under a lock is how a shared checkout or tool is serialised;
# waiting for a process started elsewhere (``Popen.wait()``) is a wait.
_COMMAND_RUNNERS = frozenset(
    {
        "subprocess.run",
        "subprocess.call",
        "subprocess.check_call",
        "subprocess.check_output",
        "subprocess.getoutput",
        "subprocess.getstatusoutput",
        "os.system",
        "os.popen",
    }
)
_QUEUE_PUTS = frozenset({"queue.Queue.put", "queue.LifoQueue.put", "queue.PriorityQueue.put"})
_FUTURE_READS = frozenset(
    {"concurrent.futures.Future.result", "concurrent.futures.Future.exception"}
)
_Wait = tuple[str, str, tuple[Evidence, ...]]  # (what it does, the waiting API, call hops)


class _WaitFinder:
    """Which calls wait (directly or through sync helpers), with the program-wide facts that
    decide it: bounded queues and done-callbacks."""

    def __init__(self, ctx: RuleContext) -> None:
        self._ctx = ctx
        self._reach: dict[str, _Wait | None] = {}
        self._bounded_queues: set[str] = set()
        self._done_callbacks: set[str] = set()
        self._condition_locks: dict[str, str] = {}  # condition key -> key of its lock
        for fn in ctx.program.iter_functions():
            for call in fn.calls:
                self._note(fn, call)

    def is_mutex(self, lock: LockRef) -> bool:
        """A thread lock that excludes: a Lock, RLock, Condition or a Semaphore(1). Waiting
        while holding one permit of a wider semaphore is what a concurrency limit is for."""
        if not _is_thread_lock(lock):
            return False
        if lock.primitive.family == "semaphore":
            return self._ctx.program.is_non_reentrant(lock)
        return True

    def released_by(self, condition: LockRef | None, held: LockRef) -> bool:
        """Does waiting on ``condition`` (``None``: some condition) release ``held``?"""
        if condition is None:
            return (
                held.primitive.family == "condition" or held.key in self._condition_locks.values()
            )
        own = self._condition_locks.get(condition.key, condition.key)
        return self._condition_locks.get(held.key, held.key) == own

    def _note(self, fn: FunctionFacts, call: CallSite) -> None:
        node = call.node
        if call.callee == "threading.Condition" and node.args:
            # ``Condition(self._lock)``: holding the lock is holding the condition.
            target = _assigned_target(call)
            lock = fn.scope.lock_ref(node.args[0])
            key = fn.scope.storage_key(target) if target is not None else None
            if key is not None and lock is not None:
                self._condition_locks[key] = lock.key
        if isinstance(node.func, ast.Attribute) and node.func.attr == "add_done_callback":
            target = node.args[0] if node.args else None
            name = fn.scope.qualify(target) if target is not None else None
            if name is not None:
                self._done_callbacks.add(name)
        prim = primitive(call.callee)
        if prim is None or prim.family != "queue" or not has_capacity(node):
            return
        target = _assigned_target(call)
        key = fn.scope.storage_key(target) if target is not None else None
        if key is not None:
            self._bounded_queues.add(key)

    def at(self, fn: FunctionFacts, call: CallSite) -> _Wait | None:
        """What ``call`` waits for, directly or through the sync helpers it runs."""
        direct = self._direct(fn, call)
        if direct is not None:
            return direct, call.callee or "", ()
        callee = self._ctx.program.callee_function(call)
        if callee is None or callee.is_async:
            return None
        inner = self._reaches(callee)
        if inner is None:
            return None
        what, api, chain = inner
        hop = self._ctx.program.hop(fn, call, f"{fn.display}() calls {callee.display}()")
        return f"reaches `{api}()`, which {what},", api, (hop, *chain)

    def _reaches(self, fn: FunctionFacts) -> _Wait | None:
        if fn.qualname in self._reach:
            return self._reach[fn.qualname]
        self._reach[fn.qualname] = None  # cut recursion
        result: _Wait | None = None
        for call in sorted_calls(fn, lambda c: True):
            direct = self._direct(fn, call)
            if direct is not None and call.callee is not None:
                hop = self._ctx.program.hop(fn, call, f"{call.text}() {direct}")
                result = (direct, call.callee, (hop,))
                break
            callee = self._ctx.program.callee_function(call)
            if callee is None or callee.is_async or callee is fn:
                continue
            inner = self._reaches(callee)
            if inner is not None:
                hop = self._ctx.program.hop(fn, call, f"{fn.display}() calls {callee.display}()")
                result = (inner[0], inner[1], (hop, *inner[2]))
                break
        self._reach[fn.qualname] = result
        return result

    def _direct(self, fn: FunctionFacts, call: CallSite) -> str | None:
        api = self._ctx.program.blocking_api(call, fn)
        if api is None or api.what not in _WAITING or call.callee in _COMMAND_RUNNERS:
            return None
        func = call.node.func
        if call.callee in _QUEUE_PUTS and isinstance(func, ast.Attribute):
            if fn.scope.storage_key(func.value) not in self._bounded_queues:
                return None  # an unbounded (or unknown) queue: put() does not wait
        if call.callee in _FUTURE_READS and self._is_done_future(fn, func):
            return None
        return api.what

    def _is_done_future(self, fn: FunctionFacts, func: ast.expr) -> bool:
        """``future.result()`` on the future a done-callback was called with."""
        if fn.qualname not in self._done_callbacks or not isinstance(fn.node, ast.FunctionDef):
            return False
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
            return False
        params = [a.arg for a in (*fn.node.args.posonlyargs, *fn.node.args.args)]
        if params and params[0] == fn.scope.self_name:
            params = params[1:]
        return bool(params) and params[0] == func.value.id


def _assigned_target(call: CallSite) -> ast.expr | None:
    """``x`` in ``x = <call>`` / ``x: T = <call>`` (single target)."""
    parent = call.parent
    if isinstance(parent, ast.Assign) and call.usage == "assigned" and len(parent.targets) == 1:
        return parent.targets[0]
    if isinstance(parent, ast.AnnAssign) and call.usage == "assigned":
        return parent.target
    return None


@rule(
    QUEUE_JOIN_WITHOUT_TASK_DONE,
    "queue-join-without-task-done",
    Severity.WARNING,
    "`Queue.join()` waits for `task_done()` calls that no consumer makes: it hangs.",
    "Call `queue.task_done()` once per item, in a `finally`, in every consumer.",
)
def queue_join_without_task_done(ctx: RuleContext) -> Iterator[Finding]:
    """``Queue.join()`` (asyncio, ``queue`` and ``multiprocessing.JoinableQueue``) returns when
    every item put has been marked done with ``task_done()``. If no consumer ever calls it —
    or a consumer calls it only when handling succeeds, and swallows the failures — ``join()``
    waits forever: typically the graceful-shutdown path that hangs in production.

    riskhints reports it when the module shows the consumers (``get()`` on the queue), so
    that a queue handed to workers defined elsewhere is left alone. ``task_done()`` on a
    parameter or an untyped receiver counts for any queue; on another queue attribute or
    global, it does not."""
    if not any(_method(c) == "join" and _is_queue(c) for fn in ctx.functions() for c in fn.calls):
        return  # no queue is joined here (and the module walk below is not free)
    if _task_done_outside_calls(ctx):
        return  # ``task_done`` passed as a callback or called from a lambda: cannot match it
    dones = [(fn, c) for fn in ctx.functions() for c in fn.calls if _method(c) == "task_done"]
    for fn in ctx.functions():
        for call in sorted_calls(fn, lambda c: _method(c) == "join" and _is_queue(c)):
            key = _queue_key(fn, call)
            consumers = [
                ctx.evidence(c.span, f"{f.display}() takes items here")
                for f in ctx.functions()
                for c in sorted_calls(f, _is_queue_get)
                if _same_queue(key, _queue_key(f, c))
            ]
            if not consumers:
                continue  # the consumers are not in this module
            marks = [(f, c) for f, c in dones if _same_queue(key, _queue_key(f, c))]
            skipped = [_skipping_handler(f, c) for f, c in marks]
            if marks and not all(skipped):
                continue
            func = call.node.func
            receiver = (
                ctx.positions.segment(func.value) if isinstance(func, ast.Attribute) else call.text
            )
            if marks:
                handler = next(h for h in skipped if h is not None)
                reason = (
                    "its consumer calls `task_done()` only when handling succeeds: after the "
                    "first failure it never returns"
                )
                evidence = [
                    ctx.evidence(handler, "this handler swallows the error, no task_done()")
                ]
            else:
                reason = "nothing in this module calls `task_done()`: it never returns"
                evidence = consumers[:3]
            yield ctx.finding(
                QUEUE_JOIN_WITHOUT_TASK_DONE,
                call.span,
                f"`{receiver}.join()` waits until every item is marked done, but {reason}",
                function=fn,
                evidence=evidence,
                assumptions=(
                    f"every consumer of `{receiver}` calls `task_done()` once per item it takes",
                ),
            )


def _method(call: CallSite) -> str | None:
    func = call.node.func
    return func.attr if isinstance(func, ast.Attribute) else None


def _is_queue(call: CallSite) -> bool:
    prim = primitive(call.receiver_type)
    return prim is not None and prim.family == "queue"


def _is_queue_get(call: CallSite) -> bool:
    """``q.get()`` on a queue, or an awaited or looping no-argument ``get()`` on an untyped
    receiver (``dict.get`` always takes a key)."""
    if _method(call) not in ("get", "get_nowait"):
        return False
    if call.receiver_type is not None:
        return _is_queue(call)
    # ``ContextVar.get()`` takes no key either: an untyped consumer must look like one.
    return not call.node.args and (call.awaited or call.in_loop)


def _queue_key(fn: FunctionFacts, call: CallSite) -> str | None:
    """Where the receiving queue lives, when that identifies it (a global or an attribute)."""
    func = call.node.func
    key = fn.scope.storage_key(func.value) if isinstance(func, ast.Attribute) else None
    return None if key is None or ".<locals>." in key else key


def _same_queue(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a == b


def _task_done_outside_calls(ctx: RuleContext) -> bool:
    recorded = sum(1 for fn in ctx.functions() for c in fn.calls if _method(c) == "task_done")
    found = sum(
        1
        for node in ast.walk(ctx.module.tree)
        if isinstance(node, ast.Attribute) and node.attr == "task_done"
    )
    return found > recorded


def _skipping_handler(fn: FunctionFacts, call: CallSite) -> ast.ExceptHandler | None:
    """An ``except`` that swallows a failure of the ``try`` whose body holds this
    ``task_done()``, without marking the item done itself."""
    parents = _statement_parents(fn.node)
    current: ast.AST = call.stmt
    while (found := parents.get(id(current))) is not None:
        parent, block = found
        if isinstance(parent, ast.Try) and block is parent.body:
            if any(_mentions_task_done(s) for s in parent.finalbody):
                return None
            for handler in parent.handlers:
                reraises = any(isinstance(s, ast.Raise) for s in handler.body)
                if not reraises and not any(_mentions_task_done(s) for s in handler.body):
                    return handler
        current = parent
    return None


def _mentions_task_done(stmt: ast.stmt) -> bool:
    return any(
        isinstance(node, ast.Attribute) and node.attr == "task_done" for node in ast.walk(stmt)
    )
