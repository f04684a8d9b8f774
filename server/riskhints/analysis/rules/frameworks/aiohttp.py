"""aiohttp: its handlers (always on the event loop) and RH508 (a ``ClientSession`` never closed,
closed outside a ``finally``, or created anew for every request).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ...facts import CallSite, FunctionFacts, ModuleFacts, Scope
from ...finding import Finding, Severity
from ...knowledge import web
from ...summaries import Chain, Program
from ..registry import RuleContext, rule
from .common import contains
from .entries import AppObjects, EntryPoint, entry_finder, table_entries, visible_entry

CLIENT_SESSION_LEAK = "RH508"


@entry_finder("aiohttp")
def aiohttp_entries(
    program: Program, module: ModuleFacts, scope: Scope, apps: AppObjects
) -> Iterator[EntryPoint]:
    """Handlers of ``app.router.add_*``, ``RouteTableDef`` decorators, ``web.get(...)`` route
    definitions and ``web.View`` subclasses: all run on the event loop."""
    yield from table_entries(program, module, apps, "aiohttp")


# ---------------------------------------------------------------------------------------------
# RH508: aiohttp ClientSession never closed / created per request
# ---------------------------------------------------------------------------------------------


@rule(
    CLIENT_SESSION_LEAK,
    "aiohttp-session-not-closed",
    Severity.WARNING,
    "An `aiohttp.ClientSession` is never closed, or is created anew for every request.",
    "Use `async with aiohttp.ClientSession() as session:`, or create one session at startup, "
    "reuse it, and close it on shutdown.",
)
def aiohttp_session_not_closed(ctx: RuleContext) -> Iterator[Finding]:
    """A ``ClientSession`` owns a connector: a pool of open sockets (and TLS state). Never
    closed, the sockets leak until the process exits and aiohttp logs "Unclosed client
    session"; closed after the work but not in a ``finally``, it leaks whenever that work
    raises. Created inside a request handler, even when closed, every request pays for a new
    pool: no keep-alive, a new DNS lookup and TLS handshake per call, and a burst of requests
    opens a burst of sockets. The session is meant to live as long as the application:
    ``async with`` for one-off scripts; one session created in ``on_startup``/``cleanup_ctx``
    or a lifespan, stored on the app or a client object, closed on shutdown.

    Across files: a handler awaiting a client helper that opens its own session on every call
    is reported at the handler's call; a startup hook from another module that stores a
    session on the app is reported where it is registered, unless a cleanup handler the
    registering module can see closes it."""
    module = ctx.module
    if not module.imports_module("aiohttp", *web.FRAMEWORK_MODULES):
        return
    yield from _hooks_storing_unclosed_sessions(ctx)
    for fn in ctx.functions():
        entry = visible_entry(ctx.program, fn)
        per_request = entry is not None and fn.is_async and entry.kind in ("route", "websocket")
        if per_request and entry is not None:
            yield from _sessions_per_request_in_helpers(ctx, fn, entry)
        for call in sorted(fn.calls, key=lambda c: (c.span.line, c.span.column)):
            if call.callee not in web.CLIENT_SESSION_TYPES:
                continue
            problem = _closing_problem(ctx, fn, call)
            if per_request and entry is not None:
                lead = f"`{call.text}()` is created per request in {entry.label} (`{fn.display}`)"
                if problem is not None:
                    message = f"{lead} and {problem}"
                else:
                    message = (
                        f"{lead}: every request opens a new connection pool (no keep-alive, a new "
                        f"TLS handshake per call); create one session at startup and reuse it"
                    )
                yield ctx.finding(
                    CLIENT_SESSION_LEAK,
                    call.span,
                    message,
                    function=fn,
                    evidence=(entry.evidence,),
                    assumptions=(f"{entry.label} is called rarely enough to afford a new pool",),
                )
            elif problem is not None:
                where = "at import time" if fn.is_module_scope else f"in `{fn.display}`"
                yield ctx.finding(
                    CLIENT_SESSION_LEAK,
                    call.span,
                    f"`{call.text}()` created {where} {problem}",
                    function=fn,
                    assumptions=("the session is closed in code this analysis does not see",),
                )


def _sessions_per_request_in_helpers(
    ctx: RuleContext, fn: FunctionFacts, entry: EntryPoint
) -> Iterator[Finding]:
    """A handler awaiting a helper (often in a ``clients/`` module) that opens and closes its
    own ``ClientSession`` on every call: each request pays for a new pool all the same."""
    program = ctx.program
    for call in sorted(fn.calls, key=lambda c: (c.span.line, c.span.column)):
        callee = program.callee_function(call)
        if callee is None or not callee.is_async or not call.awaited or callee is fn:
            continue
        found = _session_per_call(program, callee, depth=1, seen={fn.qualname})
        if found is None:
            continue
        hops, creation, creator = found
        creator_module = program.module_of(creator)
        where = f"{creator_module.path}:{creation.span.line}"
        yield ctx.finding(
            CLIENT_SESSION_LEAK,
            call.span,
            f"`{call.text}()` creates a new `{creation.text}` on every call ({where}), and "
            f"{entry.label} (`{fn.display}`) calls it for every request: each request opens a "
            f"new connection pool (no keep-alive, a new TLS handshake per call); create one "
            f"session at startup and pass it in",
            function=fn,
            evidence=(
                entry.evidence,
                ctx.evidence(call.span, f"{fn.display}() awaits {callee.display}()"),
                *hops,
                program.hop(creator, creation, f"`{creation.text}()` created here, per call"),
            ),
            assumptions=(f"{entry.label} is called rarely enough to afford a new pool",),
        )


def _session_per_call(
    program: Program, fn: FunctionFacts, depth: int, seen: set[str]
) -> tuple[Chain, CallSite, FunctionFacts] | None:
    """The ``ClientSession`` that ``fn`` (or an async helper it awaits) creates and drops on
    every call — ``async with ClientSession()`` or a local session — with the hops to it."""
    seen.add(fn.qualname)
    module = program.module_of(fn)
    for call in sorted(fn.calls, key=lambda c: (c.span.line, c.span.column)):
        if call.callee in web.CLIENT_SESSION_TYPES and _lives_for_one_call(module, fn, call):
            return (), call, fn
    if depth >= 3:
        return None
    for call in sorted(fn.calls, key=lambda c: (c.span.line, c.span.column)):
        callee = program.callee_function(call)
        if callee is None or not callee.is_async or not call.awaited or callee.qualname in seen:
            continue
        inner = _session_per_call(program, callee, depth + 1, seen)
        if inner is not None:
            hop = program.hop(fn, call, f"{fn.display}() awaits {callee.display}()")
            return (hop, *inner[0]), inner[1], inner[2]
    return None


def _lives_for_one_call(module: ModuleFacts, fn: FunctionFacts, call: CallSite) -> bool:
    """Is this session created and dropped by one call of ``fn`` (not stored for reuse, not
    returned to the caller)?"""
    if fn.is_module_scope:
        return False
    if isinstance(module.parents.get(id(call.node)), ast.withitem):
        return True
    stmt = call.stmt
    if call.usage != "assigned" or not isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        return False
    target = stmt.targets[0] if isinstance(stmt, ast.Assign) else stmt.target
    if not isinstance(target, ast.Name) or _declared_global(fn, target):
        return False
    return not _handed_on(fn, target.id)


def _handed_on(fn: FunctionFacts, name: str) -> bool:
    """Does the local session ``name`` outlive the call: returned, yielded, stored elsewhere or
    passed to something that may keep it?"""
    for node in fn.own_nodes:
        if isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom)) and _mentions(node, name):
            return True
        if isinstance(node, ast.Assign) and _is_name(node.value, name):
            return True
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and _is_name(func.value, name):
                continue  # ``session.get(...)``: using it, not handing it on
            if any(_is_name(a, name) for a in (*node.args, *(k.value for k in node.keywords))):
                return True
    return False


def _closing_problem(ctx: RuleContext, fn: FunctionFacts, call: CallSite) -> str | None:
    """What is wrong with how this session is released, or None when it is released (or
    handed to someone else who may release it)."""
    parent = ctx.module.parents.get(id(call.node))
    if isinstance(parent, ast.withitem):
        return None  # ``async with ClientSession() as session``
    if call.usage in ("returned", "argument"):
        return None  # a factory, or ownership handed over
    if call.usage != "assigned":
        if isinstance(parent, ast.Attribute):
            return "is used inline and never closed: its connector leaks"
        return None
    stmt = call.stmt
    target: ast.expr | None = None
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target = stmt.targets[0]
    elif isinstance(stmt, ast.AnnAssign):
        target = stmt.target
    if target is None:
        return None
    if isinstance(target, ast.Name) and not fn.is_module_scope and not _declared_global(fn, target):
        return _local_session_problem(fn, target.id)
    stored = ast.unparse(target)
    if _closed_in_program(ctx.program, target):
        return None
    if (
        isinstance(target, (ast.Subscript, ast.Attribute))
        and not fn.is_module_scope
        and not _on_self(fn, target)
        and not _referenced_in_module(ctx.module, fn)
    ):
        # Application storage (``app[HTTP]``) filled by a hook that another module wires up:
        # that module sees the cleanup handlers too, and reports there when none closes it.
        return None
    return (
        f"is stored in `{stored}` and never closed in this module (no `{stored}.close()` in a "
        f"shutdown/cleanup handler): its connector leaks"
    )


def _declared_global(fn: FunctionFacts, target: ast.Name) -> bool:
    return any(isinstance(n, ast.Global) and target.id in n.names for n in fn.own_nodes)


def _local_session_problem(fn: FunctionFacts, name: str) -> str | None:
    closes: list[ast.Call] = []
    for node in fn.own_nodes:
        if isinstance(node, ast.AsyncWith) and any(
            isinstance(item.context_expr, ast.Name) and item.context_expr.id == name
            for item in node.items
        ):
            return None
        if isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom)) and _mentions(node, name):
            return None  # handed to the caller
        if isinstance(node, ast.Call):
            func = node.func
            receiver = func.value if isinstance(func, ast.Attribute) else None
            if isinstance(receiver, ast.Name) and receiver.id == name:
                if isinstance(func, ast.Attribute) and func.attr in web.CLOSE_METHODS:
                    closes.append(node)
                continue
            if any(_is_name(a, name) for a in (*node.args, *(k.value for k in node.keywords))):
                return None  # ownership handed over (a client object, a container)
        if isinstance(node, ast.Assign) and _is_name(node.value, name):
            return None  # stored somewhere else (``self.session = session``)
    if not closes:
        return f"is assigned to `{name}` and never closed: its connector leaks"
    if any(_in_finally(fn, close) for close in closes):
        return None
    return (
        f"is closed with `{name}.close()` only when nothing raises before it: the connector "
        f"leaks on every error (use `async with`, or close it in `finally`)"
    )


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _mentions(node: ast.AST, name: str) -> bool:
    return any(_is_name(sub, name) for sub in ast.walk(node))


def _in_finally(fn: FunctionFacts, call: ast.Call) -> bool:
    for node in fn.own_nodes:
        if isinstance(node, ast.Try) and any(contains(stmt, call) for stmt in node.finalbody):
            return True
    return False


def _on_self(fn: FunctionFacts, target: ast.expr) -> bool:
    root: ast.expr = target
    while isinstance(root, (ast.Attribute, ast.Subscript)):
        root = root.value
    return isinstance(root, ast.Name) and root.id == fn.scope.self_name


def _referenced_in_module(module: ModuleFacts, fn: FunctionFacts) -> bool:
    """Is ``fn`` used (registered, called, passed) anywhere in its own module?"""
    return any(
        (isinstance(node, ast.Name) and node.id == fn.name)
        or (isinstance(node, ast.Attribute) and node.attr == fn.name)
        for node in ast.walk(module.tree)
    )


def _closed_in_program(program: Program, target: ast.expr) -> bool:
    """Closed in this module or in any other module the analysis sees (a cleanup handler in
    ``lifecycle.py`` closing what a startup hook in ``clients/http.py`` stored)."""
    return any(_closed_anywhere(m, target) for m in program.modules.values())


def _hooks_storing_unclosed_sessions(ctx: RuleContext) -> Iterator[Finding]:
    """``app.on_startup.append(open_reviews_session)`` wiring a hook from another module that
    stores a session on the app, with no cleanup handler closing it anywhere in sight."""
    program = ctx.program
    for fn in ctx.functions():
        for call in fn.calls:
            func = call.node.func
            if not (
                isinstance(func, ast.Attribute)
                and func.attr == "append"
                and isinstance(func.value, ast.Attribute)
                and func.value.attr in web.LIFECYCLE_HOOK_LISTS
                and call.node.args
            ):
                continue
            hook = program.function(fn.scope.qualify(call.node.args[0]))
            if hook is None or program.module_of(hook) is ctx.module:
                continue
            for creation, target in _stored_sessions(program, hook):
                if _closed_in_program(program, target):
                    continue
                stored = ast.unparse(target)
                hook_module = program.module_of(hook)
                where = f"{hook_module.path}:{creation.span.line}"
                yield ctx.finding(
                    CLIENT_SESSION_LEAK,
                    call.span,
                    f"`{hook.display}` ({where}) stores a new `{creation.text}` in `{stored}` and "
                    f"no shutdown/cleanup handler closes it (no `{stored}.close()`): its "
                    f"connector leaks",
                    function=fn,
                    evidence=(
                        ctx.evidence(call.span, f"{hook.display}() registered as a hook here"),
                        program.hop(hook, creation, f"`{creation.text}()` stored in `{stored}`"),
                    ),
                    assumptions=("the session is closed in code this analysis does not see",),
                )


def _stored_sessions(
    program: Program, fn: FunctionFacts
) -> Iterator[tuple[CallSite, ast.Subscript | ast.Attribute]]:
    """Sessions ``fn`` stores outside itself and outside ``self``: on the app, on an object."""
    for call in fn.calls:
        stmt = call.stmt
        if call.callee not in web.CLIENT_SESSION_TYPES or call.usage != "assigned":
            continue
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0]
        elif isinstance(stmt, ast.AnnAssign):
            target = stmt.target
        else:
            continue
        if isinstance(target, (ast.Subscript, ast.Attribute)) and not _on_self(fn, target):
            yield call, target


def _closed_anywhere(module: ModuleFacts, target: ast.expr) -> bool:
    """Is a session stored in ``target`` (``self._session``, ``app["client"]``, a global)
    closed somewhere in the module: ``<...>._session.close()``, or a name read from it closed?"""
    suffix = _storage_suffix(target)
    if suffix is None:
        return False
    for fn in module.iter_functions():
        aliases: set[str] = set()
        for node in fn.own_nodes:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                if isinstance(node.targets[0], ast.Name) and _storage_suffix(node.value) == suffix:
                    aliases.add(node.targets[0].id)
        for node in fn.own_nodes:
            if isinstance(node, ast.AsyncWith) and any(
                _storage_suffix(item.context_expr) == suffix for item in node.items
            ):
                return True
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in web.CLOSE_METHODS
            ):
                continue
            receiver = node.func.value
            if _storage_suffix(receiver) == suffix:
                return True
            if isinstance(receiver, ast.Name) and receiver.id in aliases:
                return True
    return False


def _storage_suffix(node: ast.AST) -> str | None:
    """What identifies a storage place independently of the object holding it: ``._session``
    for ``self._session`` / ``client._session``, ``["client"]`` for ``app["client"]``, the name
    for a global."""
    if isinstance(node, ast.Attribute):
        return f".{node.attr}"
    if isinstance(node, ast.Subscript):
        return f"[{ast.unparse(node.slice)}]"
    if isinstance(node, ast.Name):
        return node.id
    return None
