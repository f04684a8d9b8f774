"""RH402, RH501, RH508 — web servers and threads: where a framework runs our code decides which
hazards are real.

The entry points (routes, dependencies, hooks, handlers) come from the data tables in
``knowledge/web.py``; this module only matches them. Everything here reads
:class:`~riskhints.analysis.facts.ModuleFacts` and :class:`~riskhints.analysis.summaries.Program`
and memoises its summaries in ``program.memo``, so the same code follows entry points and calls
across files once a workspace hands in several modules.

Invariants:
- A pack is active only in modules that import its framework (or, for plain threads, start
  one): nothing here fires on code that merely has the same names.
- Precision first: when the object, the entry point or the lock cannot be resolved, say
  nothing.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from ..facts import CallSite, FunctionFacts, ModuleFacts, Scope, iter_statements
from ..finding import Evidence, Finding, Severity, Span
from ..knowledge import web
from ..knowledge.primitives import THREAD_RUNNERS
from ..summaries import Chain, Program
from .registry import RuleContext, rule

UNSYNCHRONISED_RMW = "RH402"
SYNC_SESSION_IN_ASYNC = "RH501"
CLIENT_SESSION_LEAK = "RH508"

_MODULE_SCOPE = "<module>"
# A single ``Thread``/``Timer`` is one thread; pools and ``to_thread`` run many calls at once.
_SINGLE_THREAD_RUNNERS = frozenset({"threading.Thread", "threading.Timer"})
# How far the thread context follows sync helpers (route -> service -> repository).
_MAX_HELPER_DEPTH = 4
_LOOP_NODES = (ast.For, ast.While, ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryPoint:
    """A function a web framework calls for us, and where it was registered."""

    qualname: str
    framework: web.Framework
    kind: web.EntryKind
    method: str
    route: str | None
    span: Span  # the decorator or registration call
    path: str

    @property
    def evidence(self) -> Evidence:
        return Evidence(self.span, f"registered as {self.label} here", self.path)

    @property
    def label(self) -> str:
        """``FastAPI route GET /users/{id}``, ``FastAPI dependency``, ``aiohttp handler ...``."""
        name = web.FRAMEWORK_LABELS[self.framework]
        if self.kind not in ("route", "websocket"):
            return f"{name} {self.kind}"
        noun = {"flask": "view", "aiohttp": "handler"}.get(self.framework, "route")
        if self.kind == "websocket":
            noun = "websocket route"
        where = " ".join(part for part in (self.method, self.route) if part)
        return f"{name} {noun} {where}".rstrip()


def entry_points(program: Program) -> dict[str, EntryPoint]:
    """Every web entry point of the program by function qualname (first registration wins)."""
    memo = program.memo.get("web.entry_points")
    if isinstance(memo, dict):
        return memo
    found: dict[str, EntryPoint] = {}
    for module in program.modules.values():
        # A route module may import only the router it decorates (``from . import router``).
        if module.imports_module(*web.FRAMEWORK_MODULES) or _imported_app_objects(program, module):
            for entry in _module_entry_points(program, module):
                found.setdefault(entry.qualname, entry)
    program.memo["web.entry_points"] = found
    return found


def module_scope(module: ModuleFacts) -> Scope | None:
    body = module.functions.get(f"{module.module}.{_MODULE_SCOPE}")
    return body.scope if body is not None else None


def _module_entry_points(program: Program, module: ModuleFacts) -> Iterator[EntryPoint]:
    scope = module_scope(module)
    if scope is None:
        return
    apps = {**_imported_app_objects(program, module), **_app_objects(module, scope)}
    yield from _decorated_entries(module, apps)
    yield from _registered_entries(program, module, apps)
    yield from _dependency_entries(program, module, scope)
    yield from _class_view_entries(program, module)


def _app_objects(module: ModuleFacts, scope: Scope) -> dict[str, web.Framework]:
    """Names bound to an application or router (``app = FastAPI()``), anywhere in the module:
    ``create_app()`` factories bind them locally."""
    apps: dict[str, web.Framework] = {}
    for stmt in iter_statements(module.tree.body):
        value: ast.expr | None = None
        target: ast.expr | None = None
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, value = stmt.targets[0], stmt.value
        elif isinstance(stmt, ast.AnnAssign):
            target, value = stmt.target, stmt.value
        if not isinstance(target, ast.Name) or not isinstance(value, ast.Call):
            continue
        framework = web.APP_FACTORIES.get(scope.qualify(value.func) or "")
        if framework is not None:
            apps[target.id] = framework
    return apps


def _exported_app_objects(program: Program) -> dict[str, web.Framework]:
    """Application and router objects bound at module level anywhere in the program, by
    qualified name (``orders.api.router``): route modules import the router they decorate."""

    def compute() -> dict[str, web.Framework]:
        exported: dict[str, web.Framework] = {}
        for module in program.modules.values():
            scope = module_scope(module)
            if scope is None or not module.imports_module(*web.FRAMEWORK_MODULES):
                continue
            for stmt in module.tree.body:
                value: ast.expr | None
                if isinstance(stmt, ast.Assign):
                    targets, value = stmt.targets, stmt.value
                elif isinstance(stmt, ast.AnnAssign):
                    targets, value = [stmt.target], stmt.value
                else:
                    continue
                if not isinstance(value, ast.Call):
                    continue
                framework = web.APP_FACTORIES.get(scope.qualify(value.func) or "")
                for target in targets:
                    if framework is not None and isinstance(target, ast.Name):
                        exported[f"{module.module}.{target.id}"] = framework
        return exported

    return program.memoized("web.exported_app_objects", compute)


def _imported_app_objects(program: Program, module: ModuleFacts) -> dict[str, web.Framework]:
    """Names this module imports that are another module's application or router
    (``from . import router``, ``from .routes import routes``), re-exports followed."""
    exported = _exported_app_objects(program)
    if not exported:
        return {}
    found: dict[str, web.Framework] = {}
    for name, target in module.imports.items():
        for _ in range(8):  # a chain of re-exports, without looping on a cycle
            if target in exported:
                found[name] = exported[target]
                break
            owner, _, attr = target.rpartition(".")
            source = program.modules.get(owner)
            if source is None or attr not in source.imports:
                break
            target = source.imports[attr]
    return found


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _string(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _methods_keyword(call: ast.Call, default: str) -> str:
    for keyword in call.keywords:
        if keyword.arg == "methods" and isinstance(keyword.value, (ast.List, ast.Tuple)):
            verbs = [_string(e) for e in keyword.value.elts]
            return "|".join(v.upper() for v in verbs if v) or default
    return default


def _argument(call: ast.Call, index: int, keyword: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    return call.args[index] if len(call.args) > index else None


def _decorated_entries(module: ModuleFacts, apps: dict[str, web.Framework]) -> Iterator[EntryPoint]:
    for fn in module.iter_functions():
        node = fn.node
        if isinstance(node, ast.Module):
            continue
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if not isinstance(target, ast.Attribute):
                continue
            framework = apps.get(_root_name(target.value) or "")
            if framework is None:
                continue
            known = web.DECORATORS[framework].get(target.attr)
            if known is None:
                continue
            kind, method = known
            route = None
            if isinstance(decorator, ast.Call):
                route = _string(decorator.args[0]) if decorator.args else None
                if not method and kind == "route":
                    method = _methods_keyword(decorator, "GET" if framework == "flask" else "")
            span = module.positions.head_span(decorator)
            yield EntryPoint(fn.qualname, framework, kind, method, route, span, module.path)


def _registered_entries(
    program: Program, module: ModuleFacts, apps: dict[str, web.Framework]
) -> Iterator[EntryPoint]:
    """``app.add_api_route("/x", view)``, ``app.router.add_get(...)``, ``Route("/", view)``,
    ``web.get("/", handler)`` and ``FastAPI(lifespan=...)``."""
    for fn in module.iter_functions():
        for call in fn.calls:
            node = call.node
            handler: ast.expr | None = None
            spec: tuple[web.Framework, web.EntryKind, str, str | None] | None = None
            constructor = web.ROUTE_CONSTRUCTORS.get(call.callee or "")
            if constructor is not None:
                framework, kind, method, index, keyword = constructor
                handler = _argument(node, index, keyword)
                route = _string(node.args[0]) if node.args else None
                if framework == "aiohttp" and index == 2:  # web.route(method, path, handler)
                    method = (_string(node.args[0]) or "").upper()
                    route = _string(node.args[1]) if len(node.args) > 1 else None
                spec = (framework, kind, method or _methods_keyword(node, ""), route)
            elif isinstance(node.func, ast.Attribute):
                framework_of_app = apps.get(_root_name(node.func.value) or "")
                registration = (
                    web.REGISTRATION_METHODS[framework_of_app].get(node.func.attr)
                    if framework_of_app is not None
                    else None
                )
                if framework_of_app is not None and registration is not None:
                    kind, method, index, path_index, keyword = registration
                    handler = _argument(node, index, keyword)
                    route = _string(node.args[path_index]) if len(node.args) > path_index else None
                    if framework_of_app == "aiohttp" and path_index == 1 and node.args:
                        method = (_string(node.args[0]) or "").upper()
                    spec = (framework_of_app, kind, method or _methods_keyword(node, ""), route)
            if call.callee in web.APP_FACTORIES:
                for keyword_arg in node.keywords:
                    if keyword_arg.arg in web.LIFESPAN_KEYWORDS:
                        handler = keyword_arg.value
                        spec = (web.APP_FACTORIES[call.callee or ""], "lifespan", "", None)
            if spec is None or handler is None:
                continue
            target = program.function(fn.scope.qualify(handler))
            if target is None:
                continue
            framework, kind, method, route = spec
            span = module.positions.head_span(node)
            yield EntryPoint(target.qualname, framework, kind, method, route, span, module.path)


def _dependency_entries(
    program: Program, module: ModuleFacts, scope: Scope
) -> Iterator[EntryPoint]:
    """``Depends(get_db)`` anywhere (parameter defaults, ``Annotated[...]``, ``dependencies=``):
    the framework calls ``get_db`` once per request."""
    for node in ast.walk(module.tree):
        if not isinstance(node, ast.Call) or scope.qualify(node.func) not in web.DEPENDENCY_MARKERS:
            continue
        argument = _argument(node, 0, "dependency")
        if argument is None:
            continue
        target = program.function(scope.qualify(argument))
        if target is None:
            continue
        span = module.positions.head_span(node)
        yield EntryPoint(target.qualname, "fastapi", "dependency", "", None, span, module.path)


def _class_view_entries(program: Program, module: ModuleFacts) -> Iterator[EntryPoint]:
    for cls in module.classes.values():
        frameworks = [web.VIEW_BASES[b] for b in cls.bases if b in web.VIEW_BASES]
        if not frameworks:
            continue
        for name, qualname in cls.methods.items():
            target = program.function(qualname)
            if name in web.VIEW_METHODS and target is not None:
                span = module.positions.head_span(cls.node)
                yield EntryPoint(
                    qualname, frameworks[0], "route", name.upper(), None, span, module.path
                )


def entry_label(program: Program, fn: FunctionFacts) -> str | None:
    """``FastAPI route GET /users/{id}`` when ``fn`` is a web entry point (for messages)."""
    entry = visible_entry(program, fn)
    return entry.label if entry is not None else None


def visible_entry(program: Program, fn: FunctionFacts) -> EntryPoint | None:
    """``fn``'s entry point, when it is registered in ``fn``'s module or one it imports.

    A view registered by ``app.add_url_rule(...)`` in a module that imports the view's module
    is seen only when the registering module happens to be analysed together with it; the
    view's own file never imports it. Ignoring such registrations keeps a file's findings
    the same whichever files are analysed together (the CLI batches them)."""
    entry = entry_points(program).get(fn.qualname)
    if entry is None:
        return None
    return entry if entry.path in _import_closure_paths(program, program.module_of(fn)) else None


def _import_closure_paths(program: Program, module: ModuleFacts) -> frozenset[str]:
    """Paths of ``module`` and the program's modules it imports, transitively."""
    memo = program.memoized("web.import_closures", dict[str, frozenset[str]])
    if module.module in memo:
        return memo[module.module]
    seen = {module.module}
    pending = [module]
    while pending:
        current = pending.pop()
        for target in current.imports.values():
            name = target
            while name and name not in program.modules:
                name = name.rpartition(".")[0]
            if name and name not in seen:
                seen.add(name)
                pending.append(program.modules[name])
    memo[module.module] = frozenset(program.modules[m].path for m in seen)
    return memo[module.module]


# ---------------------------------------------------------------------------------------------
# RH402: read-modify-write from threads
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThreadContext:
    """Why a function runs on several threads: the root that starts it and the calls down."""

    root: str  # display name of the function the framework / runner starts
    how: str  # "FastAPI runs sync `def` routes in its thread pool (route POST /hit)"
    chain: Chain
    many: bool  # several threads run it at once (a pool, a route, threads started in a loop)
    shared_self: bool  # ``self`` is one object seen by all those threads


def thread_contexts(program: Program) -> dict[str, ThreadContext]:
    memo = program.memo.get("web.thread_contexts")
    if isinstance(memo, dict):
        return memo
    roots = _thread_roots(program)
    contexts: dict[str, ThreadContext] = dict(roots)
    pending = [(qualname, 0) for qualname in roots]
    while pending:
        qualname, depth = pending.pop(0)
        fn = program.function(qualname)
        context = contexts[qualname]
        if fn is None or depth >= _MAX_HELPER_DEPTH:
            continue
        for call in sorted(fn.calls, key=lambda c: (c.span.line, c.span.column)):
            if call.held:
                continue  # the helper runs under the caller's lock
            callee = program.callee_function(call)
            if callee is None or callee.is_async or callee.qualname in contexts:
                continue
            shared_self = callee.class_qualname is not None and _receiver_is_shared(
                program, fn, call, context.shared_self
            )
            hop = program.hop(fn, call, f"{fn.display}() calls {callee.display}()")
            contexts[callee.qualname] = ThreadContext(
                context.root,
                context.how,
                (*context.chain, hop),
                context.many,
                shared_self,
            )
            pending.append((callee.qualname, depth + 1))
    program.memo["web.thread_contexts"] = contexts
    return contexts


def _thread_roots(program: Program) -> dict[str, ThreadContext]:
    roots: dict[str, ThreadContext] = {}
    for entry in entry_points(program).values():
        fn = program.function(entry.qualname)
        template = web.THREADED_SYNC_ENTRIES.get(entry.framework)
        if fn is None or fn.is_async or template is None:
            continue
        what = {"dependency": "dependencies", "hook": "hooks"}.get(entry.kind, "routes")
        how = template.format(what=what)
        if entry.framework != "flask" and entry.kind in ("route", "websocket"):
            how = f"{how} ({entry.label})"
        roots[fn.qualname] = ThreadContext(fn.display, how, (entry.evidence,), True, False)
    started = program.thread_entry_points()
    if not started:
        return roots
    runners: dict[tuple[str, int, int], tuple[FunctionFacts, CallSite]] = {}
    for fn in program.iter_functions():
        for call in fn.calls:
            if call.callee in THREAD_RUNNERS:
                runners[(program.path_of(fn), call.span.line, call.span.column)] = (fn, call)
    for qualname, evidence in started.items():
        fn = program.function(qualname)
        runner = runners.get((evidence.path or "", evidence.span.line, evidence.span.column))
        if fn is None or runner is None or qualname in roots:
            continue
        starter, call = runner
        many = call.callee not in _SINGLE_THREAD_RUNNERS or _inside_loop(program, starter, call)
        how = f"`{call.text}()` runs it in {'worker threads' if many else 'a thread'}"
        shared_self = fn.class_qualname is not None and _bound_to_shared_object(
            program, starter, _callable_argument(call)
        )
        roots[qualname] = ThreadContext(fn.display, how, (evidence,), many, shared_self)
    return roots


def _callable_argument(call: CallSite) -> ast.expr | None:
    for keyword in call.node.keywords:
        if keyword.arg in ("target", "fn", "func", "function"):
            return keyword.value
    for argument in call.node.args[:2]:
        if isinstance(argument, (ast.Name, ast.Attribute)):
            return argument
    return None


def _bound_to_shared_object(
    program: Program, starter: FunctionFacts, argument: ast.expr | None
) -> bool:
    """``Thread(target=self._run)`` in a loop runs one object's method on many threads;
    ``Thread(target=worker.run)`` with a fresh ``worker`` per thread does not share it."""
    if not isinstance(argument, ast.Attribute) or not isinstance(argument.value, ast.Name):
        return False
    name = argument.value.id
    if name == starter.scope.self_name:
        return True
    module = program.module_of(starter)
    return _is_global(starter, module, name) and not _per_thread(program, module, name)


def _inside_loop(program: Program, fn: FunctionFacts, call: CallSite) -> bool:
    """Is the call inside a loop of its function? (By position, over the function's own nodes:
    a parent map of the whole module would cost more than the rest of the rule.)"""
    if call.in_loop:
        return True
    target = call.node
    start = (target.lineno, target.col_offset)
    end = (target.end_lineno or target.lineno, target.end_col_offset or 0)
    for node in fn.own_nodes:
        if isinstance(node, _LOOP_NODES):
            node_start = (node.lineno, node.col_offset)
            node_end = (node.end_lineno or node.lineno, node.end_col_offset or 0)
            if node_start <= start and end <= node_end:
                return True
    return False


def _receiver_is_shared(
    program: Program, fn: FunctionFacts, call: CallSite, caller_self_shared: bool
) -> bool:
    """Is the object a method is called on seen by every thread? ``self.x()`` on a shared
    ``self``, or a module-level singleton (``stats.record()``)."""
    func = call.node.func
    if not isinstance(func, ast.Attribute):
        return False
    receiver = func.value
    if isinstance(receiver, ast.Name) and receiver.id == fn.scope.self_name:
        return caller_self_shared
    if isinstance(receiver, ast.Name):
        module = program.module_of(fn)
        return _is_global(fn, module, receiver.id) and not _per_thread(program, module, receiver.id)
    return _is_app_state(receiver)


def _is_global(fn: FunctionFacts, module: ModuleFacts, name: str) -> bool:
    scope: Scope | None = fn.scope
    while scope is not None:
        if name in scope.local_names or name in scope.local_types or name in scope.local_functions:
            return False
        scope = scope.parent
    if name in module.imports:
        return module.imports[name] not in web.PER_REQUEST_NAMES
    return name in module.global_names


def _per_thread(program: Program, module: ModuleFacts, name: str) -> bool:
    """Is the global ``name`` a ``threading.local``/``ContextVar``, here or in the workspace
    module it is imported from (``from .context import request_state``)?"""
    if name in _per_thread_globals(program, module):
        return True
    owner_name, _, attr = module.imports.get(name, "").rpartition(".")
    owner = program.modules.get(owner_name)
    return owner is not None and attr in _per_thread_globals(program, owner)


def _per_thread_globals(program: Program, module: ModuleFacts) -> frozenset[str]:
    """Module names bound to ``threading.local()`` (or a subclass) or a ``ContextVar``."""
    memo = program.memoized("web.per_thread_globals", dict[str, frozenset[str]])
    if module.module not in memo:
        memo[module.module] = _find_per_thread_globals(module)
    return memo[module.module]


def _find_per_thread_globals(module: ModuleFacts) -> frozenset[str]:
    scope = module_scope(module)
    local_classes = {
        qualname
        for qualname, cls in module.classes.items()
        if any(base in web.PER_THREAD_TYPES for base in cls.bases)
    }
    names: set[str] = set()
    for stmt in module.tree.body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call) and scope:
            callee = scope.qualify(stmt.value.func)
            if callee in web.PER_THREAD_TYPES or callee in local_classes:
                names.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
    return frozenset(names)


def _is_app_state(node: ast.AST) -> bool:
    text = "." + ast.unparse(node) + "."
    return any(path in text for path in web.APP_STATE_PATHS)


@dataclass(frozen=True)
class ReadModifyWrite:
    state: str  # "counts[sid]", "self.hits", "total"
    read: ast.AST
    write: ast.stmt


@dataclass(frozen=True)
class RemoteWrite:
    """A read-modify-write in another module, reached from a thread in this one."""

    fn: FunctionFacts  # the function doing it
    rmw: ReadModifyWrite
    hops: Chain  # the calls from the launched function down to ``fn``


@rule(
    UNSYNCHRONISED_RMW,
    "unsynchronised-read-modify-write-from-threads",
    Severity.WARNING,
    "Shared state is read, changed and written back on several threads without a lock.",
    "Hold a `threading.Lock` around the read and the write, or use a thread-safe structure "
    "(`queue.Queue`, `itertools.count`, `collections.Counter` under a lock).",
)
def unsynchronised_read_modify_write(ctx: RuleContext) -> Iterator[Finding]:
    """``counts[k] = counts.get(k, 0) + 1``, ``total += n``, ``self.hits += 1`` are three steps
    (read, compute, write back), and another thread can run between them: two threads read 41,
    both write 42, one update is lost. It happens in code that runs on several threads at once:
    functions started with ``Thread(target=...)``, executor tasks and ``asyncio.to_thread``;
    plain ``def`` routes and dependencies of FastAPI and Starlette (run in a thread pool); Flask
    views (one thread per request); and the sync helpers those call. Module globals, shared
    singletons' attributes and application state (``request.app.state``) count; locals,
    ``threading.local`` and ``flask.g`` are per thread. A lock held around both the read and
    the write makes it safe; ``list.append``, ``dict.setdefault`` and ``next(counter)`` are
    single atomic steps and are not reported.

    When the thread is started (or the route registered) in one file and the update happens in
    another, the finding is reported where the thread's work enters the other file (the call
    to the helper, or the registration of a view defined elsewhere), with the update itself in
    the evidence."""
    program = ctx.program
    if not _program_may_run_threads(program):
        return
    module = ctx.module
    contexts = thread_contexts(program)
    for fn in ctx.functions():
        context = contexts.get(fn.qualname)
        if context is None or fn.is_async or fn.is_module_scope:
            continue
        # A module's analysis sees only what it imports: the file that starts the thread (or
        # registers the route) sees the whole path, the helper's file does not. Reporting
        # from there keeps the result the same whichever files are analysed together.
        if _origin_path(context) != ctx.path:
            continue
        for rmw in _unsafe_writes(program, fn, context.shared_self, context.many):
            yield _local_finding(ctx, fn, context, rmw)
        for call in sorted(fn.calls, key=lambda c: (c.span.line, c.span.column)):
            callee = program.callee_function(call)
            if (
                call.held
                or callee is None
                or callee.is_async
                or program.module_of(callee) is module
            ):
                continue
            shared_self = callee.class_qualname is not None and _receiver_is_shared(
                program, fn, call, context.shared_self
            )
            remote = _remote_writes(program, module, callee, shared_self, context)
            if remote:
                hop = ctx.evidence(call.span, f"{fn.display}() calls {callee.display}()")
                subject = f"`{call.text}()`"
                yield _remote_finding(ctx, call.span, subject, fn, context, (hop,), remote)
    for qualname, context in contexts.items():
        root = program.function(qualname)
        if (
            root is None
            or len(context.chain) != 1
            or _origin_path(context) != ctx.path
            or program.module_of(root) is module
        ):
            continue  # only roots defined elsewhere and registered or started here
        remote = _remote_writes(program, module, root, context.shared_self, context)
        if remote:
            subject = f"`{root.display}`"
            span = context.chain[0].span
            yield _remote_finding(ctx, span, subject, None, context, (), remote)


def _origin_path(context: ThreadContext) -> str | None:
    """The file that registers the entry point or starts the thread."""
    return context.chain[0].path


def _program_may_run_threads(program: Program) -> bool:
    return program.memoized(
        "web.may_run_threads",
        lambda: any(
            m.imports_module(*web.FRAMEWORK_MODULES, "threading", "concurrent", "asyncio", "anyio")
            for m in program.modules.values()
        ),
    )


def _unsafe_writes(
    program: Program, fn: FunctionFacts, shared_self: bool, many: bool
) -> Iterator[ReadModifyWrite]:
    """Read-modify-writes of shared state in ``fn`` that no lock covers (and that race: with
    other threads running ``fn``, or with another writer when only one thread runs it)."""
    module = program.module_of(fn)
    for rmw in _read_modify_writes(program, fn, module, shared_self):
        if _share_a_lock(module, fn, rmw.read, rmw.write):
            continue
        if not many and not _written_elsewhere(module, fn, rmw.write):
            continue
        yield rmw


def _remote_writes(
    program: Program,
    home: ModuleFacts,
    start: FunctionFacts,
    shared_self: bool,
    context: ThreadContext,
) -> list[RemoteWrite]:
    """Unsafe read-modify-writes in ``start`` and the sync helpers it calls, outside ``home``
    (functions of ``home`` reached on the way have a thread context of their own)."""
    found: list[RemoteWrite] = []
    pending: list[tuple[FunctionFacts, bool, Chain]] = [(start, shared_self, ())]
    seen = {start.qualname}
    while pending:
        fn, fn_shared_self, hops = pending.pop(0)
        found.extend(
            RemoteWrite(fn, rmw, hops)
            for rmw in _unsafe_writes(program, fn, fn_shared_self, context.many)
        )
        if len(context.chain) + len(hops) >= _MAX_HELPER_DEPTH:
            continue
        for call in sorted(fn.calls, key=lambda c: (c.span.line, c.span.column)):
            callee = program.callee_function(call)
            if (
                call.held
                or callee is None
                or callee.is_async
                or callee.qualname in seen
                or program.module_of(callee) is home
            ):
                continue
            seen.add(callee.qualname)
            callee_shared = callee.class_qualname is not None and _receiver_is_shared(
                program, fn, call, fn_shared_self
            )
            hop = program.hop(fn, call, f"{fn.display}() calls {callee.display}()")
            pending.append((callee, callee_shared, (*hops, hop)))
    return found


def _write_steps(module: ModuleFacts, rmw: ReadModifyWrite) -> tuple[Evidence, ...]:
    def step(node: ast.AST, message: str) -> Evidence:
        return Evidence(module.positions.span(node), message, module.path)

    if rmw.read is rmw.write:
        return (step(rmw.write, f"`{rmw.state}` read and written back here"),)
    return (
        step(rmw.read, f"`{rmw.state}` read here"),
        step(rmw.write, f"`{rmw.state}` written back here"),
    )


def _why_threads(context: ThreadContext, fn_display: str) -> str:
    if context.root == fn_display:
        return context.how
    return f"it is called from `{context.root}`, and {context.how}"


def _local_finding(
    ctx: RuleContext, fn: FunctionFacts, context: ThreadContext, rmw: ReadModifyWrite
) -> Finding:
    return ctx.finding(
        UNSYNCHRONISED_RMW,
        rmw.write,
        f"unsynchronised read-modify-write of `{rmw.state}` in `{fn.display}`: "
        f"{_why_threads(context, fn.display)}, so two threads can read the same value and one "
        f"update is lost",
        function=fn,
        evidence=(*context.chain, *_write_steps(ctx.module, rmw)),
        assumptions=(
            f"only one thread at a time updates `{rmw.state}` "
            f"(no lock is held around the read and the write)",
        ),
    )


def _remote_finding(
    ctx: RuleContext,
    where: Span,
    subject: str,
    caller: FunctionFacts | None,
    context: ThreadContext,
    launch: Chain,
    remote: list[RemoteWrite],
) -> Finding:
    """``stats.record_view()`` does an unsynchronised read-modify-write of ``_views[...]``
    (services/stats.py:11): FastAPI runs sync `def` routes in its thread pool ..."""
    first = remote[0]
    writer_module = ctx.program.module_of(first.fn)
    line = writer_module.positions.span(first.rmw.write).line
    where_written = f"{writer_module.path}:{line}"
    if first.hops:
        where_written = f"in `{first.fn.display}`, {where_written}"
    verb = "reaches" if first.hops else "does"
    more = f" (and {len(remote) - 1} more)" if len(remote) > 1 else ""
    why = _why_threads(context, caller.display if caller is not None else context.root)
    return ctx.finding(
        UNSYNCHRONISED_RMW,
        where,
        f"{subject} {verb} an unsynchronised read-modify-write of `{first.rmw.state}` "
        f"({where_written}){more}: {why}, so two threads can read the same value and one "
        f"update is lost",
        function=caller,
        evidence=(*context.chain, *launch, *first.hops, *_write_steps(writer_module, first.rmw)),
        assumptions=(
            f"only one thread at a time updates `{first.rmw.state}` "
            f"(no lock is held around the read and the write)",
        ),
    )


def _read_modify_writes(
    program: Program, fn: FunctionFacts, module: ModuleFacts, shared_self: bool
) -> Iterator[ReadModifyWrite]:
    declared_globals = {
        name for node in fn.own_nodes if isinstance(node, ast.Global) for name in node.names
    }

    def shared(target: ast.AST) -> bool:
        return _is_shared_state(program, fn, module, target, shared_self, declared_globals)

    # Locals read from shared state: ``stock = inventory[sku]`` ... ``inventory[sku] = stock - n``.
    local_reads: dict[str, tuple[ast.stmt, str]] = {}
    statements = sorted(
        (n for n in fn.own_nodes if isinstance(n, (ast.Assign, ast.AugAssign))),
        key=lambda n: (n.lineno, n.col_offset),
    )
    for stmt in statements:
        if isinstance(stmt, ast.AugAssign):
            if shared(stmt.target):
                yield ReadModifyWrite(ast.unparse(stmt.target), stmt, stmt)
            continue
        if len(stmt.targets) != 1:
            continue
        target = stmt.targets[0]
        if shared(target):
            state = ast.unparse(target)
            if any(_element_text(operand) == state for operand in _arithmetic_operands(stmt.value)):
                yield ReadModifyWrite(state, stmt, stmt)
                continue
            for operand in _arithmetic_operands(stmt.value):
                if isinstance(operand, ast.Name) and operand.id in local_reads:
                    read, state_read = local_reads[operand.id]
                    if state_read == state:
                        yield ReadModifyWrite(state, read, stmt)
                        break
        elif isinstance(target, ast.Name):
            read_state = _element_text(stmt.value)
            if read_state is None:
                read_state = next(
                    (
                        text
                        for text in map(_element_text, _arithmetic_operands(stmt.value))
                        if text is not None
                    ),
                    None,
                )
            if read_state is not None:
                local_reads[target.id] = (stmt, read_state)


def _is_shared_state(
    program: Program,
    fn: FunctionFacts,
    module: ModuleFacts,
    target: ast.AST,
    shared_self: bool,
    declared_globals: set[str],
) -> bool:
    if isinstance(target, ast.Name):
        # Rebinding a name changes a global only under ``global``.
        return target.id in declared_globals and not _per_thread(program, module, target.id)
    if not isinstance(target, (ast.Subscript, ast.Attribute)):
        return False
    if _is_app_state(target):
        return True
    root: ast.AST = target
    first_attribute: str | None = None
    while isinstance(root, (ast.Subscript, ast.Attribute)):
        if isinstance(root, ast.Attribute):
            first_attribute = root.attr
        root = root.value
    if not isinstance(root, ast.Name):
        return False
    if root.id == fn.scope.self_name:
        return shared_self
    if not (root.id in declared_globals or _is_global(fn, module, root.id)):
        return False
    if _per_thread(program, module, root.id):
        return False
    # ``context.request_state.retries += 1`` on an imported workspace module: the module's
    # ``threading.local`` is per thread like any other.
    owner = program.modules.get(module.imports.get(root.id, ""))
    return not (
        owner is not None
        and first_attribute is not None
        and first_attribute in _per_thread_globals(program, owner)
    )


def _element_text(node: ast.AST) -> str | None:
    """The state an expression reads, spelled as its write target: ``counts.get(k, 0)`` reads
    ``counts[k]``."""
    if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript)):
        return ast.unparse(node)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and node.args
    ):
        return f"{ast.unparse(node.func.value)}[{ast.unparse(node.args[0])}]"
    return None


def _arithmetic_operands(value: ast.AST) -> Iterator[ast.AST]:
    """Operands of the binary operations in ``value`` (``a + 1``, ``max(a - n, 0)``)."""
    for node in ast.walk(value):
        if isinstance(node, ast.BinOp):
            yield node.left
            yield node.right


def _share_a_lock(module: ModuleFacts, fn: FunctionFacts, read: ast.AST, write: ast.AST) -> bool:
    """Are the read and the write inside one and the same critical section? The same lock taken
    twice, once for the read and once for the write, lets another thread in between."""
    return bool(_locks_around(module, fn, read) & _locks_around(module, fn, write))


def _locks_around(module: ModuleFacts, fn: FunctionFacts, node: ast.AST) -> set[int]:
    """The critical sections (by their acquiring node) that hold a lock at ``node``: ``with
    lock:`` bodies, and the statements between ``lock.acquire()`` and its ``release()``."""
    held: set[int] = set()
    for op in fn.lock_ops:
        if op.form != "acquire":
            if isinstance(op.stmt, (ast.With, ast.AsyncWith)) and any(
                _contains(stmt, node) for stmt in op.stmt.body
            ):
                held.add(id(op.node))
            continue
        if isinstance(op.stmt, ast.If) and _contains(op.stmt.test, op.node):
            region: list[ast.stmt] = list(op.stmt.body)
            if not isinstance(op.stmt.test, ast.UnaryOp):
                if any(_contains(stmt, node) for stmt in region):
                    held.add(id(op.node))
                continue
        region = _statements_after(module, op.stmt, op.lock.display)
        if any(_contains(stmt, node) for stmt in region):
            held.add(id(op.node))
    return held


def _statements_after(module: ModuleFacts, stmt: ast.stmt, lock_text: str) -> list[ast.stmt]:
    parent = module.parents.get(id(stmt))
    if parent is None:
        return []
    for name in ("body", "orelse", "finalbody"):
        block = getattr(parent, name, None)
        if isinstance(block, list) and any(s is stmt for s in block):
            index = next(i for i, s in enumerate(block) if s is stmt)
            following: list[ast.stmt] = []
            for after in block[index + 1 :]:
                if _is_release(after, lock_text):
                    break
                following.append(after)
            return following
    return []


def _is_release(stmt: ast.stmt, lock_text: str) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Call)
        and isinstance(stmt.value.func, ast.Attribute)
        and stmt.value.func.attr == "release"
        and ast.unparse(stmt.value.func.value) == lock_text
    )


def _contains(outer: ast.AST, inner: ast.AST) -> bool:
    return any(node is inner for node in ast.walk(outer))


def _written_elsewhere(module: ModuleFacts, fn: FunctionFacts, write: ast.stmt) -> bool:
    """A single thread races only with another writer: is the same state written by another
    function (not ``__init__``, not import-time code)?"""
    key = _storage_root(fn, _write_target(write))
    if key is None:
        return False
    for other in module.iter_functions():
        if other is fn or other.is_module_scope or other.name == "__init__":
            continue
        for node in other.own_nodes:
            if (
                isinstance(node, (ast.Assign, ast.AugAssign))
                and _storage_root(other, _write_target(node)) == key
            ):
                return True
    return False


def _write_target(stmt: ast.AST) -> ast.AST | None:
    if isinstance(stmt, ast.AugAssign):
        return stmt.target
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        return stmt.targets[0]
    return None


def _storage_root(fn: FunctionFacts, target: ast.AST | None) -> str | None:
    """``self.hits[k]`` -> ``pkg.mod.Stats.hits``; ``counts[k]`` -> ``counts``;
    ``metrics.flushes`` -> ``metrics.flushes`` (another counter of the same module or object
    is another piece of state)."""
    first_attr: str | None = None
    node = target
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        if isinstance(node, ast.Attribute):
            first_attr = node.attr
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    if node.id == fn.scope.self_name and fn.class_qualname and first_attr:
        return f"{fn.class_qualname}.{first_attr}"
    return f"{node.id}.{first_attr}" if first_attr else node.id


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
    defaults: dict[str, ast.expr] = dict(
        zip(
            [a.arg for a in positional][len(positional) - len(args.defaults) :],
            args.defaults,
            strict=True,
        )
    )
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        if default is not None:
            defaults[arg.arg] = default
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
            provider = program.function(scope.qualify(_argument(part, 0, "dependency") or part))
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
        if isinstance(node, ast.Try) and any(_contains(stmt, call) for stmt in node.finalbody):
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
