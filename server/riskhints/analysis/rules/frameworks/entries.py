"""Web entry points: the functions a web framework calls for us, and where they are registered.

Application and router objects are found by their constructor (``app = FastAPI()``, also in
other modules and imported: ``from . import router``); decorators, registration calls, route
constructors and class views come from the rows of ``knowledge/web.py``. Each framework's
module registers an :func:`entry_finder`; :func:`entry_points` runs the finders of the
frameworks a module uses and memoises the result per program.

Invariant: :func:`visible_entry` only reports registrations in the function's own module or one
it imports, so a file's findings never depend on which other files are analysed with it.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ...facts import FunctionFacts, ModuleFacts, Scope, iter_statements
from ...finding import Evidence, Span
from ...knowledge import web
from ...summaries import Program
from .common import call_argument, root_name, string_value

MODULE_SCOPE = "<module>"

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


AppObjects = dict[str, web.Framework]
#: ``finder(program, module, module_scope, apps)`` -> the entry points ``module`` registers.
EntryFinder = Callable[[Program, ModuleFacts, Scope, AppObjects], Iterator[EntryPoint]]
_FINDERS: dict[web.Framework, EntryFinder] = {}


def entry_finder(framework: web.Framework) -> Callable[[EntryFinder], EntryFinder]:
    """Register the function that finds ``framework``'s entry points in a module (each
    framework's module under ``frameworks/`` registers one; the package imports them all)."""

    def register(finder: EntryFinder) -> EntryFinder:
        if framework in _FINDERS:
            raise ValueError(f"two entry finders for {framework}")
        _FINDERS[framework] = finder
        return finder

    return register


def module_scope(module: ModuleFacts) -> Scope | None:
    body = module.functions.get(f"{module.module}.{MODULE_SCOPE}")
    return body.scope if body is not None else None


def _module_entry_points(program: Program, module: ModuleFacts) -> Iterator[EntryPoint]:
    scope = module_scope(module)
    if scope is None:
        return
    apps = {**_imported_app_objects(program, module), **_app_objects(module, scope)}
    for framework, finder in _FINDERS.items():
        if framework in apps.values() or module.imports_module(framework):
            yield from finder(program, module, scope, apps)


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


def _methods_keyword(call: ast.Call, default: str) -> str:
    for keyword in call.keywords:
        if keyword.arg == "methods" and isinstance(keyword.value, (ast.List, ast.Tuple)):
            verbs = [string_value(e) for e in keyword.value.elts]
            return "|".join(v.upper() for v in verbs if v) or default
    return default


def decorated_entries(
    module: ModuleFacts, apps: AppObjects, framework: web.Framework
) -> Iterator[EntryPoint]:
    """``@app.get("/x")``, ``@bp.route(...)``, ``@routes.post(...)`` on ``framework``'s objects."""
    for fn in module.iter_functions():
        node = fn.node
        if isinstance(node, ast.Module):
            continue
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if not isinstance(target, ast.Attribute):
                continue
            if apps.get(root_name(target.value) or "") != framework:
                continue
            known = web.DECORATORS[framework].get(target.attr)
            if known is None:
                continue
            kind, method = known
            route = None
            if isinstance(decorator, ast.Call):
                route = string_value(decorator.args[0]) if decorator.args else None
                if not method and kind == "route":
                    method = _methods_keyword(decorator, "GET" if framework == "flask" else "")
            span = module.positions.head_span(decorator)
            yield EntryPoint(fn.qualname, framework, kind, method, route, span, module.path)


def registered_entries(
    program: Program, module: ModuleFacts, apps: AppObjects, framework: web.Framework
) -> Iterator[EntryPoint]:
    """``app.add_api_route("/x", view)``, ``app.router.add_get(...)``, ``Route("/", view)``,
    ``web.get("/", handler)`` and ``FastAPI(lifespan=...)`` — the rows of ``framework``."""
    registrations = web.REGISTRATION_METHODS[framework]
    for fn in module.iter_functions():
        for call in fn.calls:
            node = call.node
            handler: ast.expr | None = None
            spec: tuple[web.EntryKind, str, str | None] | None = None
            constructor = web.ROUTE_CONSTRUCTORS.get(call.callee or "")
            if constructor is not None and constructor[0] == framework:
                _, kind, method, index, keyword = constructor
                handler = call_argument(node, index, keyword)
                route = string_value(node.args[0]) if node.args else None
                if framework == "aiohttp" and index == 2:  # web.route(method, path, handler)
                    method = (string_value(node.args[0]) or "").upper()
                    route = string_value(node.args[1]) if len(node.args) > 1 else None
                spec = (kind, method or _methods_keyword(node, ""), route)
            elif (
                isinstance(node.func, ast.Attribute)
                and apps.get(root_name(node.func.value) or "") == framework
                and node.func.attr in registrations
            ):
                kind, method, index, path_index, keyword = registrations[node.func.attr]
                handler = call_argument(node, index, keyword)
                route = string_value(node.args[path_index]) if len(node.args) > path_index else None
                if framework == "aiohttp" and path_index == 1 and node.args:
                    method = (string_value(node.args[0]) or "").upper()
                spec = (kind, method or _methods_keyword(node, ""), route)
            if web.APP_FACTORIES.get(call.callee or "") == framework:
                for keyword_arg in node.keywords:
                    if keyword_arg.arg in web.LIFESPAN_KEYWORDS:
                        handler = keyword_arg.value
                        spec = ("lifespan", "", None)
            if spec is None or handler is None:
                continue
            target = program.function(fn.scope.qualify(handler))
            if target is None:
                continue
            kind, method, route = spec
            span = module.positions.head_span(node)
            yield EntryPoint(target.qualname, framework, kind, method, route, span, module.path)


def class_view_entries(
    program: Program, module: ModuleFacts, framework: web.Framework
) -> Iterator[EntryPoint]:
    """Methods named after HTTP verbs of a class built on ``framework``'s view base
    (``class Orders(web.View)``, ``HTTPEndpoint``, ``MethodView``)."""
    for cls in module.classes.values():
        if not any(web.VIEW_BASES.get(base) == framework for base in cls.bases):
            continue
        for name, qualname in cls.methods.items():
            target = program.function(qualname)
            if name in web.VIEW_METHODS and target is not None:
                span = module.positions.head_span(cls.node)
                yield EntryPoint(
                    qualname, framework, "route", name.upper(), None, span, module.path
                )


def table_entries(
    program: Program, module: ModuleFacts, apps: AppObjects, framework: web.Framework
) -> Iterator[EntryPoint]:
    """Everything ``knowledge/web.py`` says about ``framework``: decorators, registration
    calls, route constructors, lifespans and class views."""
    yield from decorated_entries(module, apps, framework)
    yield from registered_entries(program, module, apps, framework)
    yield from class_view_entries(program, module, framework)


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
