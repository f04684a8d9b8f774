"""RH1xx — the event loop: blocking calls, waits on the loop's own thread, async callables
passed where a sync callable is expected."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from ..blocking_context import first_use
from ..facts import CallSite, FunctionFacts, position_key
from ..finding import Evidence, Finding, Severity
from ..knowledge import blocking
from ..knowledge.primitives import CALLBACK_PARAMS, FILE_TYPE, THREAD_RUNNERS
from ..summaries import LOOP_RUNNERS, Chain, Program, memoised, sorted_calls
from .frameworks.entries import entry_label
from .registry import RuleContext, rule

BLOCKING_CALL = "RH101"
BLOCKING_VIA_HELPER = "RH102"
LOOP_SELF_WAIT = "RH103"
ASYNC_AS_SYNC_CALLBACK = "RH104"

# On the loop's thread (in async code, or sync code called from it) both name the running loop.
_RUNNING_LOOP_GETTERS = frozenset({"asyncio.get_running_loop", "asyncio.get_event_loop"})
_ASYNC_TO_SYNC = "asgiref.sync.async_to_sync"
# Patches asyncio so that run()/run_until_complete() may re-enter a running loop (notebooks).
_NESTED_LOOP_PATCHES = frozenset({"nest_asyncio.apply"})
# APIs whose (sync) callable argument is later called on the event loop's own thread.
_LOOP_CALLBACK_APIS = frozenset(
    {
        "asyncio.AbstractEventLoop.call_soon",
        "asyncio.AbstractEventLoop.call_soon_threadsafe",
        "asyncio.AbstractEventLoop.call_later",
        "asyncio.AbstractEventLoop.call_at",
        "asyncio.AbstractEventLoop.add_signal_handler",
        "asyncio.AbstractEventLoop.add_reader",
        "asyncio.AbstractEventLoop.add_writer",
        "asyncio.Future.add_done_callback",
        "asyncio.Task.add_done_callback",
    }
)


def _async_where(ctx: RuleContext, fn: FunctionFacts) -> str:
    """``FastAPI route GET /users/{id} (`read_user`)`` for a web entry point, else ``async
    function `read_user```: the user recognises the route before the function."""
    label = entry_label(ctx.program, fn)
    if label:
        return f"{label} (`{fn.display}`)"
    if not fn.is_async:
        return f"asyncio protocol callback `{fn.display}`"
    return f"async function `{fn.display}`"


#: Bases whose callback methods the event loop calls on its own thread.
_PROTOCOL_BASES = frozenset(
    {
        "asyncio.Protocol",
        "asyncio.BaseProtocol",
        "asyncio.DatagramProtocol",
        "asyncio.BufferedProtocol",
        "asyncio.SubprocessProtocol",
        "asyncio.protocols.Protocol",
        "asyncio.protocols.BaseProtocol",
        "asyncio.protocols.DatagramProtocol",
        "asyncio.protocols.BufferedProtocol",
        "asyncio.protocols.SubprocessProtocol",
    }
)
_PROTOCOL_CALLBACKS = frozenset(
    {
        "connection_made",
        "connection_lost",
        "data_received",
        "eof_received",
        "datagram_received",
        "error_received",
        "buffer_updated",
        "get_buffer",
        "pause_writing",
        "resume_writing",
        "pipe_data_received",
        "process_exited",
    }
)


def loop_functions(ctx: RuleContext) -> Iterator[FunctionFacts]:
    """Code that runs on the event loop's thread: every ``async def``, and the callback
    methods of ``asyncio.Protocol`` subclasses (``data_received`` ...), which the loop calls
    directly: a blocking call there stalls the loop as surely as in a coroutine."""
    for fn in ctx.functions():
        if fn.is_async or _is_protocol_callback(ctx, fn):
            yield fn


def _is_protocol_callback(ctx: RuleContext, fn: FunctionFacts) -> bool:
    if fn.class_qualname is None or fn.name not in _PROTOCOL_CALLBACKS:
        return False
    bases = ctx.program.class_bases(fn.class_qualname)
    return bool(bases & _PROTOCOL_BASES)


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
    timeouts elsewhere fire for no visible reason.

    Not reported where the call cannot block: a non-blocking argument (``wait=False``,
    ``os.WNOHANG``, ``AI_NUMERICHOST``, ``sleep(0)``), a non-blocking socket
    (``setblocking(False)``, used with ``loop.sock_*`` or inside ``except BlockingIOError``), a
    lazy iterator only created here (``path.iterdir()`` handed on), ``future.result()`` after
    the future was awaited. A call that only fills a memo on first use (``if self._cfg is None:
    self._cfg = load()``, ``@lru_cache``) or runs only for a local host is a note (info)."""
    loop_waits = LoopWaits.of(ctx.program)
    for fn in loop_functions(ctx):
        self_waits = {id(wait.call.node) for wait in loop_waits.direct(fn)}
        for call in sorted_calls(fn, lambda c: True):
            if id(call.node) in self_waits:
                continue
            api = ctx.program.blocking_api(call, fn)
            if api is None or _opened_here(fn, call) or _offloaded_elsewhere(fn, call):
                continue
            once = first_use(ctx.module, fn, call, ctx.program.resolver(fn))
            yield ctx.finding(
                BLOCKING_CALL,
                call.span,
                f"`{call.text}()` {api.what} and blocks the event loop inside "
                f"{_async_where(ctx, fn)}" + _only_once(once),
                function=fn,
                severity=Severity.INFO if once else None,
                evidence=_inferred_receiver(ctx, call),
                assumptions=(
                    f"`{call.text}()` returns quickly enough that stalling every other task on "
                    f"the loop while `{fn.display}` waits is acceptable",
                ),
                fix={
                    "kind": "blocking-call",
                    "callee": call.callee,
                    "alternative": api.alternative,
                },
            )
        yield from _hidden_blocking(ctx, fn)


#: Builtins that call the function they are given right away, on the caller's thread.
_CALLING_BUILTINS = frozenset(
    f"builtins.{name}" for name in ("sorted", "min", "max", "map", "filter", "list", "sum")
)


def _hidden_blocking(ctx: RuleContext, fn: FunctionFacts) -> Iterator[Finding]:
    """Blocking work in an async function that is not a call of its own: inside a lambda that a
    builtin calls on the spot (``sorted(paths, key=lambda p: os.path.getmtime(p))``), and
    the iteration of a file object that came from elsewhere (``for line in self._log:``)."""
    for node in fn.own_nodes:
        if isinstance(node, ast.Call) and fn.scope.qualify(node.func) in _CALLING_BUILTINS:
            for lam in [*node.args, *(k.value for k in node.keywords)]:
                if isinstance(lam, ast.Lambda):
                    yield from _blocking_in_lambda(ctx, fn, node, lam)
        elif (
            isinstance(node, (ast.For, ast.comprehension))
            and fn.scope.type_of(node.iter) == FILE_TYPE
        ):
            if isinstance(node.iter, ast.Name) and node.iter.id in fn.scope.local_types:
                continue  # opened in this function: the open() is reported
            shown = ctx.positions.segment(node.iter)
            yield ctx.finding(
                BLOCKING_CALL,
                node.iter,
                f"iterating the file `{shown}` reads the disk and blocks the event loop inside "
                f"{_async_where(ctx, fn)}",
                function=fn,
                assumptions=(f"reading `{shown}` line by line in `{fn.display}` is quick",),
            )


def _blocking_in_lambda(
    ctx: RuleContext, fn: FunctionFacts, caller: ast.Call, lam: ast.Lambda
) -> Iterator[Finding]:
    params = {a.arg for a in (*lam.args.posonlyargs, *lam.args.args, *lam.args.kwonlyargs)}
    for node in ast.walk(lam.body):
        if not isinstance(node, ast.Call):
            continue
        root = node.func
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Name) and root.id in params:
            continue  # a method of the lambda's argument: its type is unknown
        callee = fn.scope.qualify(node.func)
        api = blocking.lookup(callee, ctx.program.extra_blocking) if callee else None
        if api is None:
            continue
        builtin = ctx.positions.segment(caller.func)
        yield ctx.finding(
            BLOCKING_CALL,
            node,
            f"`{ctx.positions.segment(node.func)}()` {api.what} in a lambda that `{builtin}()` "
            f"calls at once, blocking the event loop inside {_async_where(ctx, fn)}",
            function=fn,
            assumptions=(f"the lambda's `{callee}()` calls are quick",),
        )


def _offloaded_elsewhere(fn: FunctionFacts, call: CallSite) -> bool:
    """``if small: self.file.write(data) else: await run_in_threadpool(self.file.write, data)``:
    the function hands the same callable to a thread elsewhere, so the direct call is its
    deliberate fast path (an in-memory buffer, a small payload)."""
    wanted = ast.unparse(call.node.func)
    for other in fn.calls:
        if other.callee in THREAD_RUNNERS and any(
            ast.unparse(argument) == wanted for argument in other.node.args[:2]
        ):
            return True
    return False


def _opened_here(fn: FunctionFacts, call: CallSite) -> bool:
    """``with open(p) as f: f.write(...)``: the ``open()`` in this function is reported
    already; the handle's own methods would only repeat it. A handle passed in (a parameter)
    or kept on an object is reported at its method calls."""
    func = call.node.func
    if call.receiver_type != FILE_TYPE or not isinstance(func, ast.Attribute):
        return False
    receiver = func.value
    node = fn.node
    if not isinstance(receiver, ast.Name) or isinstance(node, ast.Module):
        return False
    params = {a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)}
    if receiver.id not in fn.scope.local_types or receiver.id in params:
        return False
    return not _wrapped_descriptor(fn, receiver.id)


def _wrapped_descriptor(fn: FunctionFacts, name: str) -> bool:
    """``pipe = os.fdopen(fd)``: the handle came from a call that opens nothing (it is not
    reported), so its reads and writes are what blocks."""
    for node in fn.own_nodes:
        value: ast.expr | None = None
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            value = node.value
        elif isinstance(node, ast.withitem) and isinstance(node.optional_vars, ast.Name):
            if node.optional_vars.id == name:
                value = node.context_expr
        if isinstance(value, ast.Call) and fn.scope.qualify(value.func) in blocking.FILE_WRAPPERS:
            return True
    return False


_GETTER_DECORATORS = frozenset({"builtins.property", "functools.cached_property"})


def _is_getter(fn: FunctionFacts) -> bool:
    return bool(_GETTER_DECORATORS & set(fn.decorators))


def _only_once(reason: str | None) -> str:
    """The note a finding gets when it blocks only on first use (it is then info, not a
    warning: a one-off stall at start-up is rarely worth a thread)."""
    return f" — on first use only: {reason}" if reason else ""


def _inferred_receiver(ctx: RuleContext, call: CallSite) -> tuple[Evidence, ...]:
    """Why a receiver the module never types is a blocking client: inference followed the
    assignment into another module (``self.client = make_client()``), so say so."""
    func = call.node.func
    if not isinstance(func, ast.Attribute) or not ctx.module.external.receivers:
        return ()
    receiver = func.value
    key = position_key(receiver)
    inferred = ctx.module.external.receivers.get(key) if key is not None else None
    if inferred is None or call.receiver_type != inferred:
        return ()
    shown = ast.unparse(receiver)
    return (ctx.evidence(receiver, f"`{shown}` is a `{inferred}` (inferred across modules)"),)


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
    call. A helper the same function also hands to a thread (``if needs_files: await
    to_thread(self._build) else: self._build()``) is called directly on its deliberate fast
    path, as for RH101."""
    loop_waits = LoopWaits.of(ctx.program)
    for fn in loop_functions(ctx):
        for call in sorted_calls(fn, lambda c: True):
            callee = ctx.program.callee_function(call) or ctx.program.initializer(call)
            if callee is None or callee.is_async or _offloaded_elsewhere(fn, call):
                continue
            dispatched = ctx.program.dispatch_reach(fn, call, callee)
            if dispatched is None:
                continue
            callee, reach = dispatched
            if loop_waits.reach(callee) is not None:
                continue  # it waits for this very loop: RH103 says so, more precisely
            depth = len(reach.chain)
            down = f" ({depth} calls down)" if depth > 1 else ""
            once = (
                reach.first_use
                or memoised(callee)
                or first_use(ctx.module, fn, call, ctx.program.resolver(fn))
            )
            subject = (
                f"reading `{call.text}` (a property)"
                if _is_getter(callee)
                else f"`{callee.display}()`"
            )
            yield ctx.finding(
                BLOCKING_VIA_HELPER,
                call.span,
                f"{subject} blocks the event loop in {_async_where(ctx, fn)}: "
                f"it reaches `{reach.callee}()`{down}, which {reach.api.what}" + _only_once(once),
                function=fn,
                severity=Severity.INFO if once else None,
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
    for fn, cb in _loop_callbacks(ctx):
        scheduled = ctx.program.blocking_reach(cb.target)
        if scheduled is None or loop_waits.reach(cb.target) is not None:
            continue
        reach = scheduled
        yield ctx.finding(
            BLOCKING_VIA_HELPER,
            cb.argument,
            f"`{cb.target.display}()` runs on the event loop (scheduled with `{cb.api}`) and "
            f"blocks it: it reaches `{reach.callee}()`, which {reach.api.what}",
            function=fn,
            evidence=(
                ctx.evidence(cb.argument, f"{cb.api} runs {cb.target.display}() on the loop"),
                *reach.chain,
            ),
            assumptions=(f"`{cb.api}` is called on an asyncio event loop, future or task",),
            fix={"kind": "to-thread", "callee": cb.target.display},
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
    do: ``asyncio.run()`` / ``loop.run_until_complete()`` / asgiref's ``async_to_sync`` (a
    ``RuntimeError`` at best), or ``asyncio.run_coroutine_threadsafe(coro, loop).result()``
    with the running loop (the loop is blocked waiting for a coroutine it can no longer run: a
    deadlock). The same holds when the call is reached through sync helpers: a sync helper
    called from an ``async def`` runs on the loop's thread too."""
    loop_waits = LoopWaits.of(ctx.program)
    for fn in ctx.async_functions():
        for wait in loop_waits.direct(fn):
            yield ctx.finding(
                LOOP_SELF_WAIT,
                wait.call.span,
                _direct_wait_message(ctx, fn, wait),
                function=fn,
                assumptions=(f"`{fn.display}` never runs on a thread with a running event loop",),
            )
        for call in sorted_calls(fn, lambda c: True):
            callee = ctx.program.callee_function(call) or ctx.program.initializer(call)
            if callee is None or callee.is_async:
                continue
            chain = loop_waits.reach(callee)
            if chain is None:
                continue
            yield ctx.finding(
                LOOP_SELF_WAIT,
                call.span,
                f"`{callee.display}()` waits synchronously for an event loop, but async function "
                f"`{fn.display}` already runs on one: RuntimeError or deadlock",
                function=fn,
                evidence=(
                    ctx.evidence(call.span, f"async {fn.display}() calls {callee.display}()"),
                    *chain,
                ),
                assumptions=(f"`{callee.display}()` is never called while a loop is running",),
            )
    for fn, cb in _loop_callbacks(ctx):
        chain = loop_waits.reach(cb.target)
        if chain is None:
            continue
        yield ctx.finding(
            LOOP_SELF_WAIT,
            cb.argument,
            f"`{cb.target.display}()` runs on the event loop (scheduled with `{cb.api}`) and "
            f"waits synchronously for an event loop there: RuntimeError or deadlock",
            function=fn,
            evidence=(
                ctx.evidence(cb.argument, f"{cb.api} runs {cb.target.display}() on the loop"),
                *chain,
            ),
            assumptions=(f"`{cb.api}` is called on an asyncio event loop, future or task",),
        )


@dataclass(frozen=True)
class LoopCallback:
    """A sync function handed to an API that calls it on the event loop's thread."""

    argument: ast.AST
    target: FunctionFacts
    api: str  # as written: "self.loop.call_later"


def _loop_callbacks(ctx: RuleContext) -> Iterator[tuple[FunctionFacts, LoopCallback]]:
    for fn in ctx.functions():
        for call in sorted_calls(fn, lambda c: c.callee in _LOOP_CALLBACK_APIS):
            param = CALLBACK_PARAMS[call.callee or ""]
            argument = _argument(call.node, param.position, param.keyword)
            if argument is None:
                continue
            target_name, _ = _callable_target(fn, argument)
            target = ctx.program.function(target_name)
            if target is None or target.is_async or not ctx.program.preserves_body(target):
                continue
            yield fn, LoopCallback(argument, target, call.text)


WaitKind = Literal["runner", "async_to_sync", "decorated", "threadsafe_result"]


@dataclass(frozen=True)
class LoopWait:
    """A call that, on a thread running an event loop, waits for that thread's loop."""

    call: CallSite
    kind: WaitKind
    reason: str  # one evidence line: "asyncio.run() starts a new event loop"


class LoopWaits:
    """Sync functions that wait for the event loop of the thread they run on, directly or through
    the sync helpers they call (memoised; recursion is cut like :class:`Program` does).

    One instance per :class:`Program` (see :meth:`of`), kept in the program's own memo so it
    lives and dies with it: a workspace analyses many modules against the same program, and
    helpers they share are summarised once.
    """

    def __init__(self, program: Program) -> None:
        self._program = program
        self._reach: dict[str, Chain | None] = {}
        self._nested_loops_allowed: bool | None = None

    @classmethod
    def of(cls, program: Program) -> LoopWaits:
        found = program.memo.get(cls.__name__)
        if not isinstance(found, cls):
            found = program.memo[cls.__name__] = cls(program)
        return found

    def direct(self, fn: FunctionFacts) -> list[LoopWait]:
        """Calls in ``fn`` itself that wait for the loop of the thread ``fn`` runs on."""
        waits = _direct_loop_waits(self._program, fn)
        if any(w.kind != "threadsafe_result" for w in waits) and self._nested_loops():
            # Re-entering is allowed; waiting on a future of the blocked loop still deadlocks.
            waits = [w for w in waits if w.kind == "threadsafe_result"]
        return waits

    def _nested_loops(self) -> bool:
        """Does the program patch asyncio to allow nested loops (``nest_asyncio.apply()``)?"""
        if self._nested_loops_allowed is None:
            self._nested_loops_allowed = any(
                call.callee in _NESTED_LOOP_PATCHES
                for fn in self._program.iter_functions()
                for call in fn.calls
            )
        return self._nested_loops_allowed

    def reach(self, fn: FunctionFacts) -> Chain | None:
        if fn.is_async:
            return None
        if fn.qualname in self._reach:
            return self._reach[fn.qualname]
        self._reach[fn.qualname] = None
        program = self._program
        result: Chain | None = None
        direct = self.direct(fn)
        if direct:
            result = (program.hop(fn, direct[0].call, direct[0].reason),)
        else:
            for call in sorted_calls(fn, lambda c: True):
                callee = program.callee_function(call) or program.initializer(call)
                if callee is None or callee.is_async or callee is fn:
                    continue
                inner = self.reach(callee)
                if inner is not None:
                    hop = program.hop(fn, call, f"{fn.display}() calls {callee.display}()")
                    result = (hop, *inner)
                    break
        self._reach[fn.qualname] = result
        return result


def _direct_loop_waits(program: Program, fn: FunctionFacts) -> list[LoopWait]:
    """Calls in ``fn`` itself that wait for the loop of the thread ``fn`` runs on."""
    found: list[LoopWait] = []
    running_loops = _names_assigned_from(fn, _RUNNING_LOOP_GETTERS)
    threadsafe_futures: set[str] = set()
    wrappers = _async_to_sync_wrappers(fn)
    for call in sorted_calls(fn, lambda c: True):
        if call.callee == "asyncio.run_coroutine_threadsafe" and _targets_running_loop(
            fn, call, running_loops
        ):
            if isinstance(call.stmt, ast.Assign) and call.usage == "assigned":
                for target in call.stmt.targets:
                    if isinstance(target, ast.Name):
                        threadsafe_futures.add(target.id)
    for call in sorted_calls(fn, lambda c: True):
        if call.callee in LOOP_RUNNERS and call.callee != _ASYNC_TO_SYNC:
            found.append(LoopWait(call, "runner", LOOP_RUNNERS[call.callee]))
            continue
        if call.callee == _ASYNC_TO_SYNC and _wrapper_is_called(fn, call, wrappers):
            found.append(LoopWait(call, "async_to_sync", LOOP_RUNNERS[_ASYNC_TO_SYNC]))
            continue
        target_fn = program.function(call.callee)
        if target_fn is not None and _ASYNC_TO_SYNC in target_fn.decorators:
            reason = f"{target_fn.display}() is wrapped in @async_to_sync, which waits for it"
            found.append(LoopWait(call, "decorated", reason))
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
            reason = "result() waits for a coroutine scheduled on its own thread's loop"
            found.append(LoopWait(call, "threadsafe_result", reason))
    return found


def _direct_wait_message(ctx: RuleContext, fn: FunctionFacts, wait: LoopWait) -> str:
    call = wait.call
    if wait.kind == "runner":
        return (
            f"`{call.text}()` inside async function `{fn.display}`: "
            f"{wait.reason} while this one is running (RuntimeError)"
        )
    if wait.kind == "async_to_sync":
        return (
            f"`{call.text}()` inside async function `{fn.display}`: asgiref refuses to wait for "
            f"a coroutine on the loop's own thread (RuntimeError); await it directly"
        )
    if wait.kind == "decorated":
        return (
            f"`{call.text}()` is wrapped in `@async_to_sync`: called from async function "
            f"`{fn.display}` it raises RuntimeError instead of running"
        )
    return (
        f"`{ctx.positions.segment(call.node)}` blocks the event loop waiting for a "
        f"coroutine scheduled on that same loop: deadlock in `{fn.display}`"
    )


def _async_to_sync_wrappers(fn: FunctionFacts) -> set[str]:
    """Names bound to ``async_to_sync(...)`` in ``fn`` (``send = async_to_sync(layer.send)``)."""
    return _names_assigned_from(fn, frozenset({_ASYNC_TO_SYNC}))


def _wrapper_is_called(fn: FunctionFacts, call: CallSite, wrappers: set[str]) -> bool:
    """``async_to_sync(f)(...)``, or a wrapper kept in a name that ``fn`` then calls. Merely
    creating one (to hand it to a thread) waits for nothing."""
    parent = call.parent
    if isinstance(parent, ast.Call) and parent.func is call.node:
        return True
    if call.usage != "assigned" or not isinstance(call.stmt, ast.Assign):
        return False
    names = {t.id for t in call.stmt.targets if isinstance(t, ast.Name)} & wrappers
    return any(isinstance(c.node.func, ast.Name) and c.node.func.id in names for c in fn.calls)


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
            if callee is None or not callee.is_async or not ctx.program.preserves_body(callee):
                continue
            api = (call.callee or "").rpartition(".")[2]
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
        if keyword is not None and kw.arg == keyword:
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
        called = argument.body.func
        params = {a.arg for a in (*argument.args.posonlyargs, *argument.args.args)}
        if isinstance(called, ast.Name) and called.id in params:
            return None, ""  # ``lambda cb: cb()`` calls its parameter, not a global
        return fn.scope.qualify(called), " (the lambda returns its coroutine)"
    return fn.scope.qualify(argument), ""
