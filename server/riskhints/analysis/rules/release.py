"""RH205 — what is acquired is given back on every path: locks and semaphores taken with
``acquire()``, pool leases (``conn = await pool.acquire()`` ... ``pool.release(conn)``), and the
cleanup after the ``yield`` of a ``@contextmanager``.

A release that runs only on the normal path is skipped by an exception — or, in async code, by
a cancellation at any ``await`` — and the lock, the permit or the connection is gone for good.
Left alone: code that hands the lock on (an acquire wrapper, a function that releases only to
bail out), releases in ``finally`` (also through a helper that releases), and catch-all
handlers that release and re-raise.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..facts import TRY_NODES, FunctionFacts, LockOp, LockRef
from ..finding import Finding, Severity
from ..summaries import Program
from .registry import RuleContext, rule

ACQUIRE_WITHOUT_RELEASE = "RH205"

_ACQUIRING_FUNCTIONS = frozenset({"acquire", "__enter__", "__aenter__", "lock", "_acquire"})


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
    later acquirer hangs.

    A function that never calls ``release()`` on the lock itself hands it on (an ``acquire()``
    wrapper, a ``begin()``/``commit()`` pair, a done-callback that releases): that is left
    alone. So is a ``try`` whose catch-all handler releases and re-raises (``except
    Exception`` is not catch-all in async code: cancellation is a ``BaseException``), and a
    function whose every ``release()`` comes right before a ``raise``: it gives the lock back
    only when it bails out and otherwise hands it on to its caller."""
    for fn in ctx.functions():
        if fn.name in _ACQUIRING_FUNCTIONS:
            continue
        for op in fn.lock_ops:
            if op.form != "acquire" or op.released_on_all_paths:
                continue
            helpers = _releasing_helpers(ctx.program, fn, op.lock)
            if not (_releases_itself(fn, op.lock) or helpers) or _released_by_handler(
                fn, op, helpers
            ):
                continue
            if _released_only_to_leave(fn, op.lock) or _helper_in_finally(fn, op, helpers):
                continue
            what = "a cancellation or exception" if fn.is_async else "an exception"
            yield ctx.finding(
                ACQUIRE_WITHOUT_RELEASE,
                op.span,
                f"`{op.lock.display}.acquire()` in `{fn.display}` is not released in a "
                f"`finally`: {what} before release() leaks it and every later acquirer hangs",
                function=fn,
                assumptions=(
                    f"nothing between `{op.lock.display}.acquire()` and its release() can raise"
                    + (" or be cancelled" if fn.is_async else ""),
                ),
                fix={"kind": "with-lock", "lock": op.lock.display},
            )
        yield from _leases_not_returned(ctx, fn)
        yield from _cleanup_after_yield(ctx, fn)


def _is_release_of(fn: FunctionFacts, node: ast.AST, lock: LockRef) -> bool:
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "release"
    ):
        return False
    other = fn.scope.lock_ref(node.func.value)
    return other is not None and other.key == lock.key


def _releases_itself(fn: FunctionFacts, lock: LockRef) -> bool:
    """Does ``fn``'s own body (not a callback it defines) call ``release()`` on the lock?"""
    return any(_is_release_of(fn, call.node, lock) for call in fn.calls)


def _released_by_handler(fn: FunctionFacts, op: LockOp, helpers: set[str]) -> bool:
    """``acquire()`` then ``try: ... except BaseException: release(); raise``: the exception
    paths give the lock back, the success path releases (or hands it to a callback) after.
    The release may be a helper's (``except (Exception, CancelledError): self.close();
    raise`` where ``close()`` releases: a lock held for a connection's lifetime)."""
    if isinstance(op.stmt, ast.If):
        following = op.stmt.body[:1]
    else:
        following = _next_statement(fn.node, op.stmt)
    for stmt in following:
        if not isinstance(stmt, ast.Try):
            continue
        for handler in stmt.handlers:
            if not _catches_everything(fn, handler.type):
                continue
            releases = any(
                _is_release_of(fn, n, op.lock)
                or (isinstance(n, ast.Call) and fn.scope.qualify(n.func) in helpers)
                for s in handler.body
                for n in ast.walk(s)
            )
            reraises = any(isinstance(s, ast.Raise) for s in handler.body)
            if releases and reraises:
                return True
    return False


def _released_only_to_leave(fn: FunctionFacts, lock: LockRef) -> bool:
    """Every ``release()`` of the lock in ``fn`` is a bail-out: right before a ``raise``, in a
    plain block (``if closed: release(); raise Closed``). On its normal path the function
    hands the acquired lock on to its caller (``acquire_slot()`` for a later
    ``release_slot()``), like an acquire wrapper. A release in an ``except`` handler is judged
    by :func:`_released_by_handler` instead (does the handler catch everything?)."""
    found = False
    for block, in_handler in _blocks(_body(fn), False):
        for index, stmt in enumerate(block):
            if isinstance(stmt, ast.Expr) and _is_release_of(fn, stmt.value, lock):
                following = block[index + 1 : index + 2]
                if in_handler or not following or not isinstance(following[0], ast.Raise):
                    return False
                found = True
    return found


def _body(fn: FunctionFacts) -> list[ast.stmt]:
    return fn.node.body


def _blocks(region: list[ast.stmt], in_handler: bool) -> Iterator[tuple[list[ast.stmt], bool]]:
    """``region`` and every statement list nested in it (not in nested functions), each with
    whether it is (inside) an ``except`` handler."""
    yield region, in_handler
    for stmt in region:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for name in ("body", "orelse", "finalbody"):
            block = getattr(stmt, name, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                yield from _blocks(block, in_handler)
        for handler in getattr(stmt, "handlers", ()):
            yield from _blocks(handler.body, True)


_CANCELLATIONS = frozenset({"asyncio.CancelledError", "asyncio.exceptions.CancelledError"})


def _catches_everything(fn: FunctionFacts, kind: ast.expr | None) -> bool:
    """A bare ``except:``, ``BaseException``, ``Exception`` in sync code, or ``(Exception,
    CancelledError)`` in async code (what can reach the handler between two awaits)."""
    if kind is None:
        return True
    kinds = kind.elts if isinstance(kind, ast.Tuple) else [kind]
    names = {fn.scope.qualify(k) for k in kinds}
    if "builtins.BaseException" in names:
        return True
    if "builtins.Exception" not in names:
        return False
    return not fn.is_async or bool(names & _CANCELLATIONS)


def _next_statement(root: ast.AST, stmt: ast.stmt) -> list[ast.stmt]:
    """The statement right after ``stmt`` in its block (empty at the end of the block)."""
    for node in ast.walk(root):
        for name in ("body", "orelse", "finalbody", "handlers"):
            block = getattr(node, name, None)
            if isinstance(block, list) and stmt in block:
                index = block.index(stmt)
                return block[index + 1 : index + 2]
    return []


# -- releases through helpers ---------------------------------------------------------------


def _releasing_helpers(program: Program, fn: FunctionFacts, lock: LockRef) -> set[str]:
    """Functions ``fn`` calls that release ``lock`` themselves (``self._release_slot()``)."""
    found: set[str] = set()
    for call in fn.calls:
        callee = program.callee_function(call)
        if callee is None or callee is fn or callee.is_async != call.awaited:
            continue
        if any(_is_release_of(callee, inner.node, lock) for inner in callee.calls):
            found.add(callee.qualname)
    return found


def _helper_in_finally(fn: FunctionFacts, op: LockOp, helpers: set[str]) -> bool:
    """``acquire()`` then ``try: ... finally: self._release_slot()``."""
    if not helpers:
        return False
    following = (
        op.stmt.body[:1] if isinstance(op.stmt, ast.If) else _next_statement(fn.node, op.stmt)
    )
    for stmt in following:
        if isinstance(stmt, TRY_NODES):
            for node in (n for s in stmt.finalbody for n in ast.walk(s)):
                if isinstance(node, ast.Call) and fn.scope.qualify(node.func) in helpers:
                    return True
    return False


# -- pool leases ------------------------------------------------------------------------------

_LEASE_RETURNS = frozenset({"release", "putconn", "put_connection", "return_connection"})


def _leases_not_returned(ctx: RuleContext, fn: FunctionFacts) -> Iterator[Finding]:
    """``conn = await pool.acquire()`` ... ``await pool.release(conn)`` as a plain statement
    after other work, not in a ``finally``: what raises in between keeps the connection."""
    for call in fn.calls:
        func = call.node.func
        stmt = call.stmt
        if (
            not isinstance(func, ast.Attribute)
            or func.attr != "acquire"
            or fn.scope.lock_ref(func.value) is not None
            or not isinstance(stmt, ast.Assign)
            or len(stmt.targets) != 1
            or not isinstance(stmt.targets[0], ast.Name)
        ):
            continue
        lease, pool = stmt.targets[0].id, ast.unparse(func.value)
        block = _rest_of_block(fn.node, stmt)
        for index, later in enumerate(block):
            returned = _returns_lease(later, pool, lease)
            if returned is None:
                continue
            if index == 0 or not any(_does_work(s) for s in block[:index]):
                break
            what = "a cancellation or exception" if fn.is_async else "an exception"
            yield ctx.finding(
                ACQUIRE_WITHOUT_RELEASE,
                call.span,
                f"`{lease}` from `{pool}.acquire()` in `{fn.display}` is given back by "
                f"`{returned}` only on the normal path: {what} in between keeps it, and the "
                f"pool runs dry",
                function=fn,
                evidence=(ctx.evidence(later, f"{lease} given back here, not in a finally"),),
                assumptions=(f"nothing between `{pool}.acquire()` and `{returned}` can raise",),
            )
            break


def _returns_lease(stmt: ast.stmt, pool: str, lease: str) -> str | None:
    if not isinstance(stmt, ast.Expr):
        return None
    value = stmt.value.value if isinstance(stmt.value, ast.Await) else stmt.value
    if (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr in _LEASE_RETURNS
        and ast.unparse(value.func.value) == pool
        and any(isinstance(a, ast.Name) and a.id == lease for a in value.args)
    ):
        return f"{pool}.{value.func.attr}({lease})"
    return None


def _does_work(stmt: ast.stmt) -> bool:
    """A statement that can raise or be cancelled: a call or an await point in it."""
    return any(isinstance(n, (ast.Call, ast.Await, ast.Raise)) for n in ast.walk(stmt))


def _rest_of_block(root: ast.AST, stmt: ast.stmt) -> list[ast.stmt]:
    """The statements after ``stmt`` in its block."""
    for node in ast.walk(root):
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if isinstance(block, list) and stmt in block:
                return block[block.index(stmt) + 1 :]
        handlers: list[ast.ExceptHandler] = getattr(node, "handlers", [])
        for handler in handlers:
            if stmt in handler.body:
                return handler.body[handler.body.index(stmt) + 1 :]
    return []


# -- @contextmanager cleanup ---------------------------------------------------------------

_CONTEXT_MANAGERS = frozenset({"contextlib.contextmanager", "contextlib.asynccontextmanager"})
_CLEANUP_METHODS = frozenset(
    {"release", "close", "aclose", "unlink", "rmdir", "shutdown", "cancel", "rollback"}
    | {"disconnect", "stop", "terminate", "kill", "remove", "cleanup", "__exit__", "__aexit__"}
)
_CLEANUP_CALLS = frozenset({"os.remove", "os.unlink", "shutil.rmtree", "os.rmdir"})


def _cleanup_after_yield(ctx: RuleContext, fn: FunctionFacts) -> Iterator[Finding]:
    """``@contextmanager`` whose ``yield`` is not in ``try``/``finally``: an exception in the
    ``with`` body is raised at the ``yield``, and the cleanup after it never runs."""
    if not _CONTEXT_MANAGERS & set(fn.decorators) or isinstance(fn.node, ast.Module):
        return
    for block in _plain_blocks(fn.node.body):
        for index, stmt in enumerate(block):
            if not _is_yield_statement(stmt):
                continue
            cleanup = next((c for c in _cleanup_calls(fn, block[index + 1 :])), None)
            if cleanup is None:
                continue
            shown = ctx.positions.segment(cleanup.func)
            yield ctx.finding(
                ACQUIRE_WITHOUT_RELEASE,
                stmt,
                f"the `yield` of @contextmanager `{fn.display}` is not in try/finally: when the "
                f"`with` body raises, `{shown}()` after it never runs",
                function=fn,
                evidence=(ctx.evidence(cleanup, "cleanup skipped when the body raises"),),
                assumptions=(f"no `with {fn.display}(...)` body ever raises",),
            )


def _plain_blocks(body: list[ast.stmt]) -> Iterator[list[ast.stmt]]:
    """The function's block and the blocks of its ``if``/``for``/``while`` statements, not
    the bodies of a ``try`` (whose ``finally`` or handlers may clean up) or a ``with`` (whose
    exit runs when the body raises: ``async with task_group: yield``)."""
    yield body
    for stmt in body:
        if isinstance(stmt, (ast.If, ast.For, ast.While)):
            yield from _plain_blocks(stmt.body)
            yield from _plain_blocks(stmt.orelse)


def _is_yield_statement(stmt: ast.stmt) -> bool:
    value = getattr(stmt, "value", None)
    return (
        isinstance(stmt, (ast.Expr, ast.Assign))
        and isinstance(value, (ast.Yield, ast.Await))
        and (isinstance(value, ast.Yield) or isinstance(getattr(value, "value", None), ast.Yield))
    )


def _cleanup_calls(fn: FunctionFacts, statements: list[ast.stmt]) -> Iterator[ast.Call]:
    for stmt in statements:
        for node in ast.walk(stmt):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in _CLEANUP_METHODS:
                yield node
            elif fn.scope.qualify(func) in _CLEANUP_CALLS:
                yield node
