"""SQLAlchemy: RH501 (a sync ``Session`` used in an async route), RH505 (one ``AsyncSession``
used by concurrent tasks) and RH506 (lazy loads on objects from an async query).

Sessions come from ``sessionmaker``/``async_sessionmaker`` factories (usually in ``db.py``),
``Session(engine)``, ``Depends`` providers that yield one, and attributes set in ``__init__``;
relationships and their loader options from the models of every module of the program.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from ...facts import (
    CallSite,
    ClassFacts,
    FunctionFacts,
    ModuleFacts,
    Scope,
    iter_statements,
    parameter_defaults,
)
from ...finding import Evidence, Finding, Severity
from ...knowledge import data as kb
from ...knowledge import web
from ...summaries import TRANSPARENT_DECORATORS, Chain, Program, sorted_calls
from ..registry import RuleContext, rule
from .common import (
    COMPREHENSIONS,
    call_argument,
    class_assignment,
    evidence_in,
    keyword_value,
    lambda_nodes,
    last_values,
    memo_table,
    node_text,
    ordered,
    position,
    program_bases,
    program_classes,
    program_names,
    resolve_reexports,
    uses_framework,
)
from .entries import module_scope, visible_entry

SYNC_SESSION_IN_ASYNC = "RH501"
SHARED_ASYNC_SESSION = "RH505"
LAZY_LOAD_ON_ASYNC_RESULT = "RH506"

# ---------------------------------------------------------------------------------------------
# RH501: sync SQLAlchemy Session in an async route
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionUse:
    call: CallSite
    chain: Chain  # the hops down to the session call when it is in a helper
    what: str  # "db.query()"


@rule(
    SYNC_SESSION_IN_ASYNC,
    "sync-db-session-in-async-route",
    Severity.WARNING,
    "A sync SQLAlchemy `Session` is used inside an `async def` route: each query blocks the loop.",
    "Use `AsyncSession` with `await`, make the route a plain `def` (it then runs in the "
    "thread pool), or `await run_in_threadpool(...)` the database work.",
)
def sync_session_in_async_route(ctx: RuleContext) -> Iterator[Finding]:
    """A SQLAlchemy ``Session`` (from ``sessionmaker()``, ``Session(engine)`` or a ``get_db``
    dependency that yields one) does blocking database I/O in ``execute``, ``query``,
    ``commit``, ``get`` ... Inside an ``async def`` route or dependency that runs on the event
    loop's thread: while the database answers, no other request is served. A plain ``def``
    route with the same session is fine (FastAPI runs it in the thread pool), and so is an
    ``AsyncSession`` used with ``await``. Calls passed to ``run_in_threadpool`` or
    ``asyncio.to_thread`` are not reported."""
    module = ctx.module
    program = ctx.program
    if not module.imports_module("fastapi", "starlette", "aiohttp"):
        return
    # The session may come from a dependency or factory in another module: a route module
    # that imports only its models and ``get_db`` still gets a sync session.
    if not module.imports_module("sqlalchemy", "sqlmodel") and not _program_uses_sqlalchemy(
        program
    ):
        return
    for fn in ctx.async_functions():
        entry = visible_entry(program, fn)
        if entry is None or entry.framework == "flask":
            continue
        sessions = _sync_sessions_in(program, module, fn)
        reported: set[str] = set()
        for name, origin in sessions.items():
            if name in reported:
                continue
            uses = list(_session_uses(program, fn, name, depth=0))
            if not uses:
                continue
            reported.add(name)
            first = uses[0]
            more = f" (and {len(uses) - 1} more use)" if len(uses) == 2 else ""
            if len(uses) > 2:
                more = f" (and {len(uses) - 1} more uses)"
            yield ctx.finding(
                SYNC_SESSION_IN_ASYNC,
                first.call.span,
                f"sync SQLAlchemy Session `{name}` used in async {entry.label} "
                f"(`{fn.display}`): `{first.what}` blocks the event loop while the database "
                f"answers{more}",
                function=fn,
                evidence=(entry.evidence, origin, *first.chain),
                assumptions=(
                    f"`{name}` is a sync `sqlalchemy.orm.Session`, and its queries in "
                    f"`{fn.display}` are fast enough to stall every other request",
                ),
            )


def _program_uses_sqlalchemy(program: Program) -> bool:
    return program.memoized(
        "web.uses_sqlalchemy",
        lambda: any(m.imports_module("sqlalchemy", "sqlmodel") for m in program.modules.values()),
    )


def _sync_session_factories(module: ModuleFacts) -> frozenset[str]:
    """Module names bound to ``sessionmaker(...)`` (not ``class_=AsyncSession``) or
    ``scoped_session(...)`` of one."""
    scope = module_scope(module)
    names: set[str] = set()
    for stmt in iter_statements(module.tree.body, enter_defs=False):
        if (
            scope is not None
            and isinstance(stmt, ast.Assign)
            and isinstance(stmt.value, ast.Call)
            and _makes_sync_sessions(scope, stmt.value)
        ):
            names.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
    return frozenset(names)


def _makes_sync_sessions(scope: Scope, call: ast.Call) -> bool:
    callee = scope.qualify(call.func)
    if callee in web.SCOPED_SESSION_FACTORIES and call.args and isinstance(call.args[0], ast.Call):
        return _makes_sync_sessions(scope, call.args[0])
    if callee not in web.SYNC_SESSION_FACTORIES:
        return False
    for keyword in call.keywords:
        if keyword.arg == "class_" and scope.qualify(keyword.value) not in web.SYNC_SESSION_TYPES:
            return False
    return True


def _is_sync_session_value(
    program: Program, module: ModuleFacts, scope: Scope, value: ast.AST | None
) -> bool:
    """``SessionLocal()``, ``Session(engine)``, ``db_session`` (a scoped_session); the factory
    may live in another module (``from ..db import SessionLocal``, ``db.SessionLocal()``)."""
    if not isinstance(value, ast.Call):
        return False
    callee = scope.qualify(value.func)
    if callee in web.SYNC_SESSION_TYPES:
        return True
    if isinstance(value.func, ast.Name) and value.func.id in _sync_session_factories(module):
        return True
    owner_name, _, name = (callee or "").rpartition(".")
    owner = program.modules.get(owner_name)
    return owner is not None and owner is not module and name in _sync_session_factories(owner)


def _sync_sessions_in(
    program: Program, module: ModuleFacts, fn: FunctionFacts
) -> dict[str, Evidence]:
    """Names of sync sessions in ``fn``, with where each comes from."""
    node = fn.node
    found: dict[str, Evidence] = {}
    if isinstance(node, ast.Module):
        return found
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    defaults = parameter_defaults(args)
    for arg in [*positional, *args.kwonlyargs]:
        reason = _session_parameter(program, module, fn, arg, defaults.get(arg.arg))
        if reason is not None:
            found[arg.arg] = Evidence(module.positions.span(arg), reason, module.path)
    for stmt in fn.own_nodes:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0]
            if isinstance(target, ast.Name) and _is_sync_session_value(
                program, module, fn.scope, stmt.value
            ):
                found.setdefault(target.id, _origin(module, stmt.value))
        elif isinstance(stmt, ast.With):
            for item in stmt.items:
                if isinstance(item.optional_vars, ast.Name) and _is_sync_session_value(
                    program, module, fn.scope, item.context_expr
                ):
                    found.setdefault(item.optional_vars.id, _origin(module, item.context_expr))
    return found


def _origin(module: ModuleFacts, value: ast.AST) -> Evidence:
    text = module.positions.segment(value)
    return Evidence(module.positions.span(value), f"sync session created by `{text}`", module.path)


def _session_parameter(
    program: Program,
    module: ModuleFacts,
    fn: FunctionFacts,
    arg: ast.arg,
    default: ast.expr | None,
) -> str | None:
    scope = fn.scope.parent or fn.scope
    annotation = _resolve_alias(module, arg.annotation)
    parts: list[ast.AST | None] = [annotation, default]
    if isinstance(annotation, ast.Subscript) and scope.qualify(annotation.value) in (
        "typing.Annotated",
        "typing_extensions.Annotated",
    ):
        parts.extend(ast.walk(annotation.slice))
    for part in parts:
        if part is None:
            continue
        if scope.qualify(part) in web.SYNC_SESSION_TYPES:
            return f"`{arg.arg}` is annotated as a sync `Session`"
        if isinstance(part, ast.Call) and scope.qualify(part.func) in web.DEPENDENCY_MARKERS:
            provider = program.function(scope.qualify(call_argument(part, 0, "dependency") or part))
            if provider is not None and _provides_sync_session(program, provider):
                return f"`{arg.arg}` comes from `Depends({provider.display})`, a sync Session"
    return None


def _resolve_alias(module: ModuleFacts, annotation: ast.expr | None) -> ast.expr | None:
    """``SessionDep = Annotated[Session, Depends(get_session)]`` then ``db: SessionDep``."""
    if not isinstance(annotation, ast.Name):
        return annotation
    for stmt in module.tree.body:
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id == annotation.id
        ):
            return stmt.value
    return annotation


def _provides_sync_session(program: Program, provider: FunctionFacts) -> bool:
    """A dependency that yields or returns a sync session (``get_db``)."""
    module = program.module_of(provider)
    bound: set[str] = set()
    for node in provider.own_nodes:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and _is_sync_session_value(
                program, module, provider.scope, node.value
            ):
                bound.add(target.id)
        elif isinstance(node, ast.With):
            for item in node.items:
                if isinstance(item.optional_vars, ast.Name) and _is_sync_session_value(
                    program, module, provider.scope, item.context_expr
                ):
                    bound.add(item.optional_vars.id)
    for node in provider.own_nodes:
        if isinstance(node, (ast.Yield, ast.Return)) and node.value is not None:
            if isinstance(node.value, ast.Name) and node.value.id in bound:
                return True
            if _is_sync_session_value(program, module, provider.scope, node.value):
                return True
    return False


def _session_uses(
    program: Program, fn: FunctionFacts, name: str, depth: int
) -> Iterator[SessionUse]:
    """Calls on the session ``name`` in ``fn`` and in the sync helpers it is passed to."""
    for call in sorted(fn.calls, key=lambda c: (c.span.line, c.span.column)):
        func = call.node.func
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == name
            and func.attr in web.SESSION_IO_METHODS
            and not call.awaited
        ):
            yield SessionUse(call, (), f"{name}.{func.attr}()")
            continue
        if depth >= 3:
            continue
        parameter = _parameter_receiving(program, call, name)
        if parameter is None:
            continue
        callee, param = parameter
        inner = next(iter(_session_uses(program, callee, param, depth + 1)), None)
        if inner is not None:
            hop = program.hop(fn, call, f"{fn.display}() passes `{name}` to {callee.display}()")
            what = f"{callee.display}() -> {inner.what}"
            yield SessionUse(call, (hop, *inner.chain, _use_evidence(program, callee, inner)), what)


def _use_evidence(program: Program, fn: FunctionFacts, use: SessionUse) -> Evidence:
    return program.hop(fn, use.call, f"{use.what.rpartition('-> ')[2]} blocks here")


def _parameter_receiving(
    program: Program, call: CallSite, name: str
) -> tuple[FunctionFacts, str] | None:
    """The sync function a call runs and the parameter the name ``name`` is bound to."""
    callee = program.callee_function(call)
    if callee is None or callee.is_async or isinstance(callee.node, ast.Module):
        return None
    params = [a.arg for a in (*callee.node.args.posonlyargs, *callee.node.args.args)]
    if params and callee.scope.self_name == params[0]:
        params = params[1:]
    for index, argument in enumerate(call.node.args):
        if isinstance(argument, ast.Name) and argument.id == name and index < len(params):
            return callee, params[index]
    for keyword in call.node.keywords:
        if isinstance(keyword.value, ast.Name) and keyword.value.id == name and keyword.arg:
            return callee, keyword.arg
    return None


# =============================================================================================
# SQLAlchemy asyncio: sessions (RH505) and lazy loads (RH506)
# =============================================================================================


def _session_factories(module: ModuleFacts) -> set[str]:
    """Module globals bound to an async session factory (``async_sessionmaker(engine)``, or
    ``sessionmaker(engine, class_=AsyncSession)``)."""
    scope = module.functions[f"{module.module}.<module>"].scope
    factories: set[str] = set()
    for stmt in module.tree.body:
        target, value = class_assignment(stmt)
        if target is None or not isinstance(value, ast.Call):
            continue
        callee = scope.qualify(value.func)
        if callee in kb.ASYNC_SESSION_FACTORIES:
            factories.add(target)
        elif callee == kb.SYNC_SESSION_FACTORY:
            class_ = keyword_value(value, "class_")
            if class_ is not None and scope.qualify(class_) in kb.ASYNC_SESSION_TYPES:
                factories.add(target)
    return factories


def sqlalchemy_active(program: Program, module: ModuleFacts) -> bool:
    """SQLAlchemy is imported here or by a workspace module this one imports."""
    return uses_framework(
        program, module, "sqlalchemy", lambda m: m.imports_module(*kb.SQLALCHEMY_MODULES)
    )


def _program_session_factories(program: Program) -> frozenset[str]:
    """Qualified names of the async session factories of every module (``app.db.SessionLocal``):
    ``async with SessionLocal() as session`` in ``repositories.py`` opens an AsyncSession."""
    return program_names(program, "data.session_factories", _session_factories)


class AsyncSessions:
    """Which expressions of a function name an ``AsyncSession``: annotated parameters and
    attributes, ``async with Session() as s`` on a known factory (of this module or another),
    ``AsyncSession(engine)``; and which objects hold one (a repository whose methods use its
    ``self.session``)."""

    def __init__(self, program: Program, module: ModuleFacts, fn: FunctionFacts) -> None:
        self.program = program
        self.module = module
        self.fn = fn
        self.factories = _session_factories(module)
        self.program_factories = _program_session_factories(program)
        self.names: set[str] = set()
        for node in fn.own_nodes:
            if isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if isinstance(item.optional_vars, ast.Name) and self.creates(item.context_expr):
                        self.names.add(item.optional_vars.id)
            elif (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and self.creates(node.value)
            ):
                self.names.add(node.targets[0].id)

    def creates(self, node: ast.AST) -> bool:
        if not isinstance(node, ast.Call):
            return False
        if isinstance(node.func, ast.Name) and node.func.id in self.factories:
            return True
        factories = self.program_factories
        callee = resolve_reexports(
            self.program, self.fn.scope.qualify(node.func), factories.__contains__
        )
        return callee in factories or callee in kb.ASYNC_SESSION_TYPES

    def key(self, node: ast.AST) -> str | None:
        """The session an expression names (``session``, ``self.session``), or None."""
        if isinstance(node, ast.Name) and node.id in self.names:
            return node.id
        if isinstance(node, (ast.Name, ast.Attribute)):
            if self.fn.scope.type_of(node) in kb.ASYNC_SESSION_TYPES:
                return ast.unparse(node)
        return None

    def used_in(self, expr: ast.AST) -> set[str]:
        """Sessions a coroutine expression uses: as a method receiver (``s.execute(...)``) or
        handed to the coroutine function (``load_users(s)``)."""
        used: set[str] = set()
        for node in lambda_nodes(expr):
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Attribute) and func.attr in kb.ASYNC_SESSION_METHODS:
                    key = self.key(func.value)
                    if key is not None:
                        used.add(key)
                if isinstance(func, ast.Attribute):
                    used |= self.held_by(func.value, func.attr)
                for argument in (*node.args, *(kw.value for kw in node.keywords)):
                    key = self.key(argument)
                    if key is not None:
                        used.add(key)
        return used

    def held_by(self, receiver: ast.AST, method: str) -> set[str]:
        """``repo.recent()``: the session attributes of ``repo``'s class (defined in any
        module) that the async method ``recent`` reads through ``self``."""
        owner = self.fn.scope.type_of(receiver)
        target = self.program.function(f"{owner}.{method}") if owner is not None else None
        if target is None or not target.is_async or target.scope.self_name is None:
            return set()
        attributes = _session_attributes(self.program, target.class_qualname)
        self_name = target.scope.self_name
        read = {
            node.attr
            for node in target.own_nodes
            if isinstance(node, ast.Attribute)
            and node.attr in attributes
            and isinstance(node.value, ast.Name)
            and node.value.id == self_name
        }
        return {f"{ast.unparse(receiver)}.{attr}" for attr in read}


def _session_attributes(program: Program, class_qualname: str | None) -> set[str]:
    """Attributes typed ``AsyncSession`` on a class or its bases, in any module."""
    classes = program_classes(program)
    found: set[str] = set()
    for qualname in (class_qualname, *program_bases(program, class_qualname)):
        entry = classes.get(qualname) if qualname is not None else None
        if entry is not None:
            found |= {
                attr
                for attr, type_name in entry[1].attr_types.items()
                if type_name in kb.ASYNC_SESSION_TYPES
            }
    return found


def _loops_of(module: ModuleFacts, fn: FunctionFacts, node: ast.AST) -> bool:
    """Is ``node`` inside a loop (``for``, ``while``, a comprehension) of ``fn``?"""
    parents = module.parents
    current = parents.get(id(node))
    while current is not None and current is not fn.node:
        if isinstance(current, (ast.For, ast.AsyncFor, ast.While, *COMPREHENSIONS)):
            return True
        current = parents.get(id(current))
    return False


@dataclass(frozen=True)
class _Spawn:
    call: CallSite
    sessions: frozenset[str]
    joined_at: int  # the line by which the task is known to be finished


@rule(
    SHARED_ASYNC_SESSION,
    "async-session-shared-across-tasks",
    Severity.ERROR,
    "One SQLAlchemy `AsyncSession` is used by concurrent tasks (or shared at module level).",
    "One session per task: `async with Session() as session:` inside each task; await "
    "session calls one after another.",
)
def async_session_shared_across_tasks(ctx: RuleContext) -> Iterator[Finding]:
    """An ``AsyncSession`` is a unit of work over one connection; it is not safe for concurrent
    use. ``asyncio.gather(session.execute(a), session.execute(b))``, two tasks handed the same
    session, or a task using it while the creator keeps using it, interleave on one connection:
    ``InvalidRequestError: This session is provisioning a new connection; concurrent operations
    are not permitted``, or a corrupted identity map and flush. The same holds for a session
    stored at module level (or on a class) and used by every request, including one created in
    another module (``from .db import session``). Sessions come from a factory defined anywhere
    in the workspace (``async with SessionLocal() as session``, ``SessionLocal`` in ``db.py``);
    a repository object whose async methods use its ``self.session`` shares that session
    (``gather(repo.count(), repo.recent())``). A session per task, or awaiting the calls one
    after another, is safe."""
    module = ctx.module
    if not sqlalchemy_active(ctx.program, module):
        return
    yield from _shared_sessions(ctx)
    yield from _imported_sessions(ctx)
    for fn in ctx.async_functions():
        sessions = AsyncSessions(ctx.program, module, fn)
        for call in sorted_calls(fn, lambda c: c.callee in kb.CONCURRENT_GATHERERS):
            shared = _gathered_session(sessions, call.node)
            if shared is not None:
                yield ctx.finding(
                    SHARED_ASYNC_SESSION,
                    call.span,
                    f"`{shared}` is used by several coroutines that `{call.text}()` runs "
                    f"concurrently in `{fn.display}`: an AsyncSession allows one operation "
                    f"at a time",
                    function=fn,
                    assumptions=(f"the coroutines given `{shared}` never use it concurrently",),
                    fix={"kind": "session-per-task"},
                )
        yield from _spawned_sessions(ctx, fn, sessions)


def _gathered_session(sessions: AsyncSessions, call: ast.Call) -> str | None:
    counts: dict[str, int] = {}
    for argument in call.args:
        if isinstance(argument, ast.Starred):
            inner = argument.value
            if isinstance(inner, (ast.ListComp, ast.GeneratorExp)):
                for key in sessions.used_in(inner.elt):
                    counts[key] = counts.get(key, 0) + 2  # one coroutine per element
            continue
        for key in sessions.used_in(argument):
            counts[key] = counts.get(key, 0) + 1
    return next((key for key, n in sorted(counts.items()) if n > 1), None)


def _spawned_sessions(
    ctx: RuleContext, fn: FunctionFacts, sessions: AsyncSessions
) -> Iterator[Finding]:
    task_groups = _task_group_blocks(fn)
    spawns: list[_Spawn] = []
    for call in sorted_calls(fn, lambda c: True):
        func = call.node.func
        group_end = (
            task_groups.get(func.value.id)
            if isinstance(func, ast.Attribute)
            and func.attr in kb.TASK_GROUP_METHODS
            and isinstance(func.value, ast.Name)
            else None
        )
        if call.callee not in kb.TASK_SPAWNERS and group_end is None:
            continue
        used: set[str] = set()
        for argument in (*call.node.args, *(kw.value for kw in call.node.keywords)):
            used |= sessions.used_in(argument)
            key = sessions.key(argument)
            if key is not None:
                used.add(key)
        if not used:
            continue
        joined = group_end if group_end is not None else _joined_line(fn, call)
        spawns.append(_Spawn(call, frozenset(used), joined))
    reported: set[int] = set()
    for index, spawn in enumerate(spawns):
        why: str | None = None
        if _loops_of(ctx.module, fn, spawn.call.node):
            why = "every loop iteration starts a task that shares it"
        for other in spawns[index + 1 :]:
            if why is None and other.call.span.line <= spawn.joined_at:
                if spawn.sessions & other.sessions:
                    why = f"another task (line {other.call.span.line}) uses it too"
        if why is None:
            other_use = _direct_use_before(fn, sessions, spawn, spawns)
            if other_use is not None:
                why = f"`{fn.display}` keeps using it (line {other_use}) while the task runs"
        if why is None or id(spawn.call.node) in reported:
            continue
        reported.add(id(spawn.call.node))
        shared = ", ".join(f"`{s}`" for s in sorted(spawn.sessions))
        yield ctx.finding(
            SHARED_ASYNC_SESSION,
            spawn.call.span,
            f"{shared} is handed to a task by `{spawn.call.text}()` in `{fn.display}`, and "
            f"{why}: an AsyncSession allows one operation at a time",
            function=fn,
            assumptions=(f"{shared} is never used by two tasks at once",),
            fix={"kind": "session-per-task"},
        )


def _task_group_blocks(fn: FunctionFacts) -> dict[str, int]:
    """``async with asyncio.TaskGroup() as tg:`` -> ``{"tg": <last line of the block>}``."""
    groups: dict[str, int] = {}
    for node in fn.own_nodes:
        if isinstance(node, ast.AsyncWith):
            for item in node.items:
                expr = item.context_expr
                if (
                    isinstance(expr, ast.Call)
                    and fn.scope.qualify(expr.func) in kb.TASK_GROUP_CLASSES
                    and isinstance(item.optional_vars, ast.Name)
                ):
                    groups[item.optional_vars.id] = node.end_lineno or node.lineno
    return groups


def _joined_line(fn: FunctionFacts, call: CallSite) -> int:
    """The first line after a ``create_task`` where the task (by its local name) is awaited,
    or the end of the function when it is not kept or never awaited here."""
    end = getattr(fn.node, "end_lineno", None) or call.span.line
    stmt = call.stmt
    if not (
        isinstance(stmt, ast.Assign)
        and stmt.value is call.node
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
    ):
        return end
    name = stmt.targets[0].id
    lines = [
        node.lineno
        for node in fn.own_nodes
        if isinstance(node, ast.Await)
        and node.lineno > call.span.line
        and any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node.value))
    ]
    return min(lines) if lines else end


def _direct_use_before(
    fn: FunctionFacts, sessions: AsyncSessions, spawn: _Spawn, spawns: list[_Spawn]
) -> int | None:
    """A line where the function itself uses a spawned task's session before the task is
    known to have finished."""
    inside_spawns = {id(n) for s in spawns for arg in s.call.node.args for n in ast.walk(arg)}
    for node in ordered(fn.own_nodes):
        if not isinstance(node, ast.Await) or id(node) in inside_spawns:
            continue
        if not (spawn.call.span.line < node.lineno < spawn.joined_at):
            continue
        if isinstance(node.value, ast.Call) and id(node.value) in {id(s.call.node) for s in spawns}:
            continue
        if sessions.used_in(node.value) & spawn.sessions:
            return node.lineno
    return None


def _stored_sessions(
    program: Program, module: ModuleFacts, class_bodies: bool = True
) -> Iterator[tuple[str, ast.stmt, str]]:
    """``(name, statement, owner)`` for each AsyncSession bound at module level (or in a class
    body): created from a factory or the class, or annotated ``AsyncSession`` and not None."""
    module_fn = module.functions[f"{module.module}.<module>"]
    sessions = AsyncSessions(program, module, module_fn)
    bodies: list[tuple[list[ast.stmt], str]] = [(module.tree.body, "module")]
    if class_bodies:
        bodies.extend((cls.node.body, f"class `{cls.name}`") for cls in module.classes.values())
    for body, owner in bodies:
        for stmt in body:
            target, value = class_assignment(stmt)
            if target is None or value is None:
                continue
            annotated = isinstance(stmt, ast.AnnAssign) and (
                module_fn.scope.annotation_type(stmt.annotation) in kb.ASYNC_SESSION_TYPES
            )
            if sessions.creates(value) or (annotated and not _is_none(value)):
                yield target, stmt, owner


def _shared_sessions(ctx: RuleContext) -> Iterator[Finding]:
    """A session bound at module level or in a class body, and read by async code."""
    used_names = {
        node.id if isinstance(node, ast.Name) else node.attr
        for fn in ctx.async_functions()
        for node in fn.own_nodes
        if isinstance(node, (ast.Name, ast.Attribute))
    }
    for target, stmt, owner in _stored_sessions(ctx.program, ctx.module):
        if target not in used_names:
            continue
        yield ctx.finding(
            SHARED_ASYNC_SESSION,
            stmt,
            f"`{target}` is one AsyncSession stored on the {owner} and used by async code: "
            f"every concurrent request shares it, and an AsyncSession allows one operation "
            f"at a time",
            assumptions=(f"only one task at a time ever uses `{target}`",),
            fix={"kind": "session-per-task"},
        )


def _program_stored_sessions(program: Program) -> dict[str, tuple[ModuleFacts, ast.stmt]]:
    """Module-level AsyncSessions of every module, by qualified name (``app.db.session``)."""

    def compute() -> dict[str, tuple[ModuleFacts, ast.stmt]]:
        return {
            f"{module.module}.{name}": (module, stmt)
            for module in program.modules.values()
            for name, stmt, _ in _stored_sessions(program, module, class_bodies=False)
        }

    return program.memoized("data.stored_sessions", compute)


def _imported_sessions(ctx: RuleContext) -> Iterator[Finding]:
    """A module-level AsyncSession of another module (``from .db import session``), read by
    async code here: reported where it is imported (or first read, through its module),
    with the evidence pointing at where it is created."""
    stored = _program_stored_sessions(ctx.program)
    if not stored:
        return
    module = ctx.module
    first_use: dict[str, ast.AST] = {}
    for fn in ctx.async_functions():
        for node in fn.own_nodes:
            if not isinstance(node, (ast.Name, ast.Attribute)):
                continue
            qualified = resolve_reexports(ctx.program, fn.scope.qualify(node), stored.__contains__)
            if qualified in stored and stored[qualified][0] is not module:
                if qualified not in first_use or position(node) < position(first_use[qualified]):
                    first_use[qualified] = node
    imports = {
        resolve_reexports(
            ctx.program, module.imports.get(alias.asname or alias.name), stored.__contains__
        ): (stmt)
        for stmt in module.tree.body
        if isinstance(stmt, ast.ImportFrom)
        for alias in stmt.names
    }
    for qualified, use in sorted(first_use.items()):
        owner, created = stored[qualified]
        name = qualified.rpartition(".")[2]
        where: ast.AST = imports.get(qualified) or use
        yield ctx.finding(
            SHARED_ASYNC_SESSION,
            where,
            f"`{name}` is one AsyncSession created at module level in {owner.path} and used "
            f"by async code here: every concurrent request shares it, and an AsyncSession "
            f"allows one operation at a time",
            evidence=(
                evidence_in(owner, created, f"`{name}` is created once, at import time"),
                ctx.evidence(use, f"async code here uses `{name}`"),
            ),
            assumptions=(f"only one task at a time ever uses `{name}`",),
            fix={"kind": "session-per-task"},
        )


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


# -- RH506 ----------------------------------------------------------------------------------


#: A relationship declaration: the module it is in, and the class-body statement.
Declaration = tuple[ModuleFacts, ast.stmt]


def _own_lazy_relationships(module: ModuleFacts, cls: ClassFacts) -> dict[str, Declaration]:
    """Relationships declared in one class body that load lazily on attribute access (no
    ``lazy="selectin"``/``"joined"``/``"raise"`` ...)."""
    scope = module.functions[f"{module.module}.<module>"].scope
    found: dict[str, Declaration] = {}
    for stmt in cls.node.body:
        target, value = class_assignment(stmt)
        if target is None or not isinstance(value, ast.Call):
            continue
        if scope.qualify(value.func) not in kb.RELATIONSHIP_CALLS:
            continue
        lazy = keyword_value(value, "lazy")
        if lazy is None and scope.qualify(value.func) == "sqlmodel.Relationship":
            kwargs = keyword_value(value, "sa_relationship_kwargs")
            if isinstance(kwargs, ast.Dict):
                lazy = next(
                    (
                        v
                        for k, v in zip(kwargs.keys, kwargs.values, strict=True)
                        if isinstance(k, ast.Constant) and k.value == "lazy"
                    ),
                    None,
                )
        if lazy is not None and not (
            isinstance(lazy, ast.Constant) and lazy.value in ("select", True)
        ):
            continue  # an eager or raising strategy, or one we cannot read
        found[target] = (module, stmt)
    return found


def _lazy_relationships(program: Program) -> dict[str, dict[str, Declaration]]:
    """Mapped class -> {relationship attribute -> its declaration}, for the lazy relationships
    of every module's classes, inherited through bases in any module: the models are in
    ``models.py``, the queries and attribute reads elsewhere."""

    def compute() -> dict[str, dict[str, Declaration]]:
        classes = program_classes(program)
        own = {q: _own_lazy_relationships(m, c) for q, (m, c) in classes.items()}
        result: dict[str, dict[str, Declaration]] = {}
        for qualname in classes:
            merged: dict[str, Declaration] = {}
            for base in (*program_bases(program, qualname), qualname):
                merged.update(own.get(base, {}))
            if merged:
                result[qualname] = merged
        return result

    return program.memoized("data.lazy_relationships", compute)


@dataclass
class _Loaded:
    """What an ``AsyncSession`` query loaded: the mapped class, and attributes loaded eagerly
    with it (``options(selectinload(Order.items))``); ``every`` for wildcard options."""

    entity: str
    eager: set[str]
    every: bool = False
    # The ``return`` of the helper (in any module) that handed the objects over, if one did.
    source: Evidence | None = None


class AsyncResults:
    """Local names bound to ORM objects loaded through an awaited session call, directly or by
    an async helper of any module that returns them (``order = await repo.get(order_id)``)."""

    def __init__(
        self, program: Program, module: ModuleFacts, fn: FunctionFacts, mapped: set[str]
    ) -> None:
        self.program = program
        self.module = module
        self.fn = fn
        self.mapped = mapped
        self.values = last_values(fn)
        self.objects: dict[str, _Loaded] = {}
        self.lists: dict[str, _Loaded] = {}
        for name, value in self.values.items():
            loaded = self.loaded_one(value)
            if loaded is not None:
                self.objects[name] = loaded
                continue
            loaded = self.loaded_many(value)
            if loaded is not None:
                self.lists[name] = loaded
        for node in fn.own_nodes:
            if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)) and isinstance(
                node.target, ast.Name
            ):
                loaded = self.loaded_many(node.iter)
                if loaded is not None and node.target.id not in self.values:
                    self.objects[node.target.id] = loaded
        self._refreshed()

    def _refreshed(self) -> None:
        """``await session.refresh(order, ["items"])`` loads those attributes."""
        for node in self.fn.own_nodes:
            if not (
                isinstance(node, ast.Await)
                and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Attribute)
                and node.value.func.attr == "refresh"
                and node.value.args
                and isinstance(node.value.args[0], ast.Name)
            ):
                continue
            loaded = self.objects.get(node.value.args[0].id)
            if loaded is None:
                continue
            names = node.value.args[1] if len(node.value.args) > 1 else None
            names = names or keyword_value(node.value, "attribute_names")
            if names is None:
                loaded.every = True
            else:
                loaded.eager |= {
                    n.value
                    for n in ast.walk(names)
                    if isinstance(n, ast.Constant) and isinstance(n.value, str)
                }

    def _value(self, node: ast.AST) -> ast.AST:
        if isinstance(node, ast.Name) and node.id in self.values:
            return self.values[node.id]
        return node

    def statement(self, node: ast.AST) -> _Loaded | None:
        """``select(Order).where(...).options(selectinload(Order.items))``."""
        node = self._value(node)
        eager: set[str] = set()
        every = False
        while isinstance(node, ast.Call):
            func = node.func
            if self.fn.scope.qualify(func) in kb.SELECT_CALLS:
                if not node.args:
                    return None
                entity = self.fn.scope.qualify(node.args[0])
                if entity not in self.mapped:
                    return None
                return _Loaded(entity, eager, every)
            if not isinstance(func, ast.Attribute):
                return None
            if func.attr == "options":
                more, wildcard = _eager_attributes(node)
                eager |= more
                every = every or wildcard
            node = func.value
        return None

    def _awaited_session_call(self, node: ast.AST, methods: frozenset[str]) -> ast.Call | None:
        node = self._value(node)
        if (
            isinstance(node, ast.Await)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute)
            and node.value.func.attr in methods
            and node.value.args
        ):
            return node.value
        return None

    def loaded_one(self, node: ast.AST) -> _Loaded | None:
        # ``await session.get(Order, id)`` / ``await session.scalar(select(Order)...)``
        direct = self._awaited_session_call(node, kb.OBJECT_SESSION_METHODS)
        if direct is not None:
            if ast.unparse(direct.func).rpartition(".")[2] in kb.GET_BY_KEY_METHODS:
                entity = self.fn.scope.qualify(direct.args[0])
                if entity in self.mapped:
                    options = keyword_value(direct, "options")
                    eager, every = (
                        _eager_attributes(options) if options is not None else (set(), False)
                    )
                    return _Loaded(entity, eager, every)
            else:
                found = self.statement(direct.args[0])
                if found is not None:
                    return found
        # ``(await session.execute(stmt)).scalar_one()`` / ``.scalars().first()``
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in kb.ONE_OBJECT_RESULT_METHODS:
                return self._result(node.func.value)
        return self._returned(node, "one")

    def _returned(self, node: ast.AST, kind: str) -> _Loaded | None:
        """``await repo.get(order_id)``: what the awaited async helper returns (a copy: a
        ``refresh`` here must not change the helper's summary)."""
        node = self._value(node)
        if not (isinstance(node, ast.Await) and isinstance(node.value, ast.Call)):
            return None
        target = self.program.function(self.fn.scope.qualify(node.value.func))
        if target is None or not target.is_async or target is self.fn:
            return None
        if any(d not in TRANSPARENT_DECORATORS for d in target.decorators):
            return None
        summary = _returned_objects(self.program, target, self.mapped)
        if summary is None or summary[0] != kind:
            return None
        loaded = summary[1]
        return _Loaded(loaded.entity, set(loaded.eager), loaded.every, loaded.source)

    def loaded_many(self, node: ast.AST) -> _Loaded | None:
        node = self._value(node)
        if isinstance(node, ast.Name) and node.id in self.lists:
            return self.lists[node.id]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in kb.MANY_OBJECT_RESULT_METHODS:
                return self._result(node.func.value)
        if isinstance(node, ast.Await):
            # ``for order in await session.scalars(select(Order))`` / ``await repo.recent()``
            return self._result(node) or self._returned(node, "many")
        return None

    def _result(self, node: ast.AST) -> _Loaded | None:
        """A Result / ScalarResult of an awaited ``execute``/``scalars`` of a select."""
        node = self._value(node)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("scalars", "unique")
        ):
            return self._result(node.func.value)
        call = self._awaited_session_call(node, kb.RESULT_SESSION_METHODS)
        return self.statement(call.args[0]) if call is not None else None


def _eager_attributes(node: ast.AST) -> tuple[set[str], bool]:
    """Attributes named in loader options (``selectinload(Order.items)``), and whether a
    wildcard (``selectinload("*")``) loads every relationship."""
    names: set[str] = set()
    every = False
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name):
            if sub.attr not in kb.EAGER_LOADER_OPTIONS:
                names.add(sub.attr)
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            every = every or sub.value == "*"
            names.add(sub.value)
    return names, every


def _returned_objects(
    program: Program, fn: FunctionFacts, mapped: set[str]
) -> tuple[str, _Loaded] | None:
    """What an async function returns when every ``return`` hands back ORM objects it loaded:
    ``("one", loaded)`` or ``("many", loaded)``; attributes count as eager only when every
    return loads them. Memoised per program; recursion is cut."""
    memo = memo_table(program, "RH506.returns")
    if fn.qualname in memo:
        known = memo[fn.qualname]
        return known if isinstance(known, tuple) else None
    memo[fn.qualname] = None
    module = program.module_of(fn)
    results = AsyncResults(program, module, fn, mapped)
    returns = [n for n in fn.own_nodes if isinstance(n, ast.Return) and n.value is not None]
    summary: tuple[str, _Loaded] | None = None
    for ret in sorted(returns, key=position):
        value = ret.value
        if value is None or _is_none(value):
            continue
        one = results.loaded_one(value)
        kind, loaded = ("one", one) if one is not None else ("many", results.loaded_many(value))
        if loaded is None or (summary is not None and summary[1].entity != loaded.entity):
            summary = None
            break
        if summary is not None and summary[0] != kind:
            summary = None
            break
        if summary is None:
            entity = loaded.entity.rpartition(".")[2]
            source = evidence_in(module, ret, f"{fn.display}() returns {entity} objects")
            summary = (kind, _Loaded(loaded.entity, set(loaded.eager), loaded.every, source))
        else:
            summary[1].eager &= loaded.eager
            summary[1].every = summary[1].every and loaded.every
    memo[fn.qualname] = summary
    return summary


@rule(
    LAZY_LOAD_ON_ASYNC_RESULT,
    "lazy-load-on-async-result",
    Severity.ERROR,
    "A lazy relationship is read on an object loaded through an `AsyncSession`: `MissingGreenlet`.",
    'Load it with the query (`.options(selectinload(Order.items))`, `lazy="selectin"`), or '
    "`await order.awaitable_attrs.items`.",
)
def lazy_load_on_async_result(ctx: RuleContext) -> Iterator[Finding]:
    """Under asyncio, SQLAlchemy cannot emit SQL from a plain attribute access: reading a
    relationship that was not loaded with the query (``order.items`` with the default
    ``lazy="select"``) raises ``MissingGreenlet: greenlet_spawn has not been called``. Loaded
    objects come from ``await session.get(Order, id)``, ``await session.scalar(select(Order))``
    or ``(await session.execute(select(Order))).scalar_one()``/``.scalars().all()``, or from an
    async helper returning what it loaded that way (``await repo.get(id)``); the relationship
    is declared in a mapped class of any workspace module. Eager loading
    (``selectinload``/``joinedload`` options, ``lazy="selectin"``/``"joined"``/``"raise"``),
    ``session.refresh(obj, ["items"])`` and ``await obj.awaitable_attrs.items`` are safe."""
    module = ctx.module
    if not sqlalchemy_active(ctx.program, module):
        return
    relationships = _lazy_relationships(ctx.program)
    if not relationships:
        return
    for fn in ctx.async_functions():
        loaded = AsyncResults(ctx.program, module, fn, set(relationships))
        if not loaded.objects:
            continue
        reported: set[tuple[str, str]] = set()
        for node in ordered(fn.own_nodes):
            if not (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Load)
                and isinstance(node.value, ast.Name)
                and node.value.id in loaded.objects
            ):
                continue
            obj = loaded.objects[node.value.id]
            lazy = relationships.get(obj.entity, {})
            if node.attr not in lazy or node.attr in obj.eager or obj.every:
                continue
            if (node.value.id, node.attr) in reported:
                continue
            reported.add((node.value.id, node.attr))
            entity = obj.entity.rpartition(".")[2]
            declared_in, declaration = lazy[node.attr]
            evidence = [evidence_in(declared_in, declaration, f"{entity}.{node.attr} loads lazily")]
            if obj.source is not None:
                evidence.insert(0, obj.source)
            yield ctx.finding(
                LAZY_LOAD_ON_ASYNC_RESULT,
                node,
                f"`{node_text(module, node)}` lazy-loads relationship `{entity}.{node.attr}` on an "
                f"object loaded through an AsyncSession in `{fn.display}`: MissingGreenlet; "
                f"add `.options(selectinload({entity}.{node.attr}))` to the query",
                function=fn,
                evidence=evidence,
                assumptions=(f"`{entity}.{node.attr}` is already loaded when this runs",),
                fix={"kind": "eager-load", "entity": entity, "attribute": node.attr},
            )
