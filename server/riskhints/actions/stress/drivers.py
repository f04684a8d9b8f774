"""How a generated test calls its entry point: the Python source of one call (a ``lambda`` the
harness runs many times at once) and the setup lines it needs.

- a function or method: ``target.fn(...)`` / ``instance.method(...)``, the instance built once by
  a factory and shared by every call (sharing is what exposes the hazard);
- a context manager: entered and left (``stress.enter(target.scope(...))``);
- a decorator: the wrapper it returns around a fake function;
- a FastAPI / Starlette route: an in-process ASGI request, with ``dependency_overrides`` giving
  fakes to the dependencies outside the finding's chain (and a JSON body for a request model);
  a Flask view: the test client;
- an aiohttp handler (a ``RouteTableDef`` route or one registered with ``add_get`` ...): a
  request from aiohttp's test utilities through the module's app (its startup hooks run);
- a Django view: a ``RequestFactory`` request (URL captures as text);
- a Celery task: ``task.apply()`` in the calling thread, eager.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from ...analysis.finding import Finding
from ...analysis.parse import literal_value
from .entry import Plan
from .fakes import (
    Arguments,
    constructor_arguments,
    infer_arguments,
    infer_value,
    touched_attributes,
)
from .source import Module, Target, dotted, escape, snake

_HTTP_METHODS = ("get", "post", "put", "patch", "delete")
_FRAMEWORK_PARAMS = frozenset(
    {"Request", "Response", "BackgroundTasks", "WebSocket", "HTTPConnection"}
)


@dataclass
class TestParts:
    """The pieces of one generated test, filled in by the drivers and oracles."""

    factories: dict[str, str] = field(default_factory=dict)  # name -> source
    setup: list[str] = field(default_factory=list)
    uses_tmp_path: bool = False
    variables: dict[str, str] = field(default_factory=dict)  # class name -> instance variable
    arguments: dict[str, str] = field(default_factory=dict)  # display -> arguments variable


def call_of(parts: TestParts, module: Module, plan: Plan, target: Target) -> str:
    """``lambda: ...`` calling ``target`` (the plan's entry or its partner)."""
    if plan.wrapper_of is not None and target is plan.wrapper_of:
        variable = "wrapped"
        kind = "True" if plan.wrapper_async else "False"
        parts.setup.append(
            f'{variable} = target.{target.name}(stress.fake_function("decorated", is_async={kind}))'
        )
        return f"lambda: {variable}()"
    route = _route(module, target) or _registered_route(module, target)
    if route is not None:
        return _route_call(parts, module, plan, target, *route)
    if target.is_celery_task:
        return _celery_call(parts, module, target)
    if _is_django_view(module, target):
        return _django_call(parts, module, target)
    owner = _owner(parts, module, target)
    bound = target.binding in ("method", "classmethod")
    arguments = infer_arguments(module, target.node, skip_first=bound, cls=target.cls)
    call = f"{owner}.{target.name}({_arguments(parts, target, arguments)})"
    if target.context_manager:
        return f"lambda: stress.enter({call})"
    return f"lambda: {call}"


def _arguments(parts: TestParts, target: Target, arguments: Arguments) -> str:
    parts.uses_tmp_path |= arguments.uses_tmp_path
    if not arguments.fakes:
        return arguments.source()
    factory = f"{snake(target.display.replace('.', '_'))}_arguments"
    variable = f"{snake(target.name.strip('_') or 'call')}_args"
    entries = ", ".join(f'"{name}": {value}' for name, value, _ in arguments.values)
    parts.factories.setdefault(
        factory,
        "\n".join(
            [
                f"def {factory}(stress: rh.Stress) -> dict[str, Any]:",
                f'    """FAKES: the arguments of one `{target.display}()` call (every call of a',
                '    test shares them)."""',
                f"    return {{{entries}}}",
            ]
        ),
    )
    if variable not in parts.arguments.values():
        parts.setup.append(f"{variable} = {factory}(stress)")
    parts.arguments[target.display] = variable
    return f"**{variable}"


def _owner(parts: TestParts, module: Module, target: Target) -> str:
    if target.cls is None:
        return "target"
    if target.binding != "method":
        return f"target.{target.cls.name}"
    cls = target.cls
    if cls.name in parts.variables:
        return parts.variables[cls.name]
    variable = snake(cls.name)
    factory = f"make_{variable}"
    constructor = constructor_arguments(module, cls)
    touched = touched_attributes(module, target)
    if constructor is not None:
        parts.uses_tmp_path |= constructor.uses_tmp_path
    values = [f"{name}={value}" for name, value, _ in (constructor.values if constructor else [])]
    if touched:
        values.append("touched={" + ", ".join(f'"{k}": "{v}"' for k, v in touched.items()) + "}")
    parts.factories.setdefault(
        factory,
        "\n".join(
            [
                f"def {factory}(stress: rh.Stress) -> Any:",
                f'    """FAKES: the `{cls.name}` that every call of a test shares (built without',
                "    `__init__`, with the attributes the code touches, if the constructor fails on",
                '    the fakes)."""',
                f"    return stress.build(stress.target.{cls.name}, {', '.join(values)})",
            ]
        ),
    )
    parts.setup.append(f"{variable} = {factory}(stress)")
    parts.variables[cls.name] = variable
    return variable


# -- web frameworks ------------------------------------------------------------------------------


def _route(module: Module, target: Target) -> tuple[str, str, str, str] | None:
    """(app name, its kind, HTTP method, path) when ``target`` is a route of an app or router
    the module defines."""
    if target.cls is not None:
        return None
    for decorator in target.node.decorator_list:
        if not isinstance(decorator, ast.Call) or not isinstance(decorator.func, ast.Attribute):
            continue
        owner = decorator.func.value
        if not isinstance(owner, ast.Name) or owner.id not in module.apps:
            continue
        verb = decorator.func.attr
        path = decorator.args[0] if decorator.args else None
        if verb == "route" and module.apps[owner.id] == "aiohttp_routes":
            method_arg, path = (decorator.args + [None, None])[:2]  # route("GET", "/path")
            if isinstance(method_arg, ast.Constant) and isinstance(method_arg.value, str):
                verb = method_arg.value.lower()
        if not (isinstance(path, ast.Constant) and isinstance(path.value, str)):
            continue
        prefix = module.prefixes.get(owner.id, "")
        if verb in _HTTP_METHODS:
            return owner.id, module.apps[owner.id], verb.upper(), prefix + path.value
        if verb in ("route", "api_route"):
            method = "GET"
            for kw in decorator.keywords:
                if kw.arg == "methods" and isinstance(kw.value, (ast.List, ast.Tuple)):
                    first = kw.value.elts[0] if kw.value.elts else None
                    if isinstance(first, ast.Constant) and isinstance(first.value, str):
                        method = first.value.upper()
            return owner.id, module.apps[owner.id], method, prefix + path.value
    return None


def _route_call(
    parts: TestParts,
    module: Module,
    plan: Plan,
    target: Target,
    app: str,
    kind: str,
    method: str,
    route: str,
) -> str:
    url = route
    query: list[str] = []
    args = target.node.args
    params = [*args.args, *args.kwonlyargs]
    defaults = {
        p.arg: d for p, d in zip(reversed(args.args), reversed(args.defaults), strict=False)
    }
    defaults.update(
        {p.arg: d for p, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None}
    )
    for name in re.findall(r"[{<](?:\w+:)?(\w+)(?::\w+)?[}>]", route):
        annotation = next((p.annotation for p in params if p.arg == name), None)
        text = _literal(infer_value(module, annotation, name, 0)) or "1"
        url = re.sub(r"[{<](?:\w+:)?" + re.escape(name) + r"(?::\w+)?[}>]", text, url)
    body: str | None = None  # the JSON of a request model (a pydantic class of the module)
    for param in params:
        if param.arg in route or param.arg in ("self", "request"):
            continue
        default = defaults.get(param.arg)
        dependency = _dependency(default) or _annotated_dependency(param.annotation)
        if dependency is not None:
            if kind in ("fastapi", "router") and not _in_chain(plan.finding, dependency):
                parts.setup.append(
                    f"app.dependency_overrides[target.{dependency}] = "
                    f'lambda: stress.fake("{param.arg}")'
                )
            continue
        annotation_name = (dotted(param.annotation) or "").rsplit(".", 1)[-1]
        if annotation_name in _FRAMEWORK_PARAMS or default is not None:
            continue
        if annotation_name in module.classes and body is None:
            body = _model_body(module, module.classes[annotation_name])
            if body is not None:
                continue
        value = infer_value(module, param.annotation, param.arg, 0)
        if value is not None and _literal(value) is not None:
            query.append(f'"{param.arg}": {value}')
    if kind.startswith("aiohttp"):
        return _aiohttp_call(parts, module, app, kind, method, url)
    if kind in ("flask", "blueprint"):
        setup = f"app = target.{app}"
        if kind == "blueprint":
            parts.setup.append("from flask import Flask  # the blueprint is served by an app")
            setup = f"app = Flask(__name__)\napp.register_blueprint(target.{app})"
        parts.setup[:0] = setup.splitlines()
        return f'lambda: stress.flask_request(app, "{method}", "{escape(url)}")'
    if kind == "router":
        parts.setup[:0] = [
            "from fastapi import FastAPI  # the router is served by an app of its own",
            "app = FastAPI()",
            f"app.include_router(target.{app})",
        ]
    else:
        parts.setup.insert(0, f"app = target.{app}")
    extra = f", query={{{', '.join(query)}}}" if query else ""
    if body is not None:
        extra += f", json_body={body}"
    return f'lambda: stress.request(app, "{method}", "{escape(url)}"{extra})'


def _model_body(module: Module, cls: ast.ClassDef) -> str | None:
    """A JSON body for a request model: a class of the module deriving from pydantic's
    ``BaseModel``, each annotated field without a default given a value of its type."""
    if not any((dotted(b) or "").rsplit(".", 1)[-1] == "BaseModel" for b in cls.bases):
        return None
    fields = []
    for item in cls.body:
        if not isinstance(item, ast.AnnAssign) or not isinstance(item.target, ast.Name):
            continue
        if item.value is not None:
            continue
        value = infer_value(module, item.annotation, item.target.id, 0)
        if value is None or _literal(value) is None:
            value = '"stress"'
        fields.append(f'"{item.target.id}": {value}')
    return "{" + ", ".join(fields) + "}"


def _registered_route(module: Module, target: Target) -> tuple[str, str, str, str] | None:
    """(app or "", "aiohttp", HTTP method, path) of a handler the module registers by name:
    ``app.router.add_get("/path", handler)``, ``web.get("/path", handler)``,
    ``add_route("GET", "/path", handler)``."""
    if target.cls is not None or not module.uses("aiohttp"):
        return None
    for node in ast.walk(module.tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        verb = node.func.attr
        args = list(node.args)
        if verb == "add_route" and len(args) >= 3:
            method_arg, args = args[0], args[1:]
            if not (isinstance(method_arg, ast.Constant) and isinstance(method_arg.value, str)):
                continue
            verb = method_arg.value.lower()
        elif verb.startswith("add_"):
            verb = verb[len("add_") :]
        elif dotted(node.func.value) not in ("web", "aiohttp.web"):
            continue
        if verb not in _HTTP_METHODS or len(args) < 2:
            continue
        path, handler = args[0], args[1]
        if (
            isinstance(path, ast.Constant)
            and isinstance(path.value, str)
            and isinstance(handler, ast.Name)
            and handler.id == target.name
        ):
            owner = node.func.value
            while isinstance(owner, ast.Attribute):  # app.router.add_get -> app
                owner = owner.value
            name = owner.id if isinstance(owner, ast.Name) and owner.id in module.apps else ""
            return name, "aiohttp", verb.upper(), path.value
    return None


def _aiohttp_call(
    parts: TestParts, module: Module, app: str, kind: str, method: str, url: str
) -> str:
    """An aiohttp handler through its application (startup hooks and middlewares run), with a
    request from aiohttp's test utilities: no server, no socket."""
    apps = [name for name, found in module.apps.items() if found == "aiohttp"]
    factory = _app_factory(module)
    if apps:
        setup = [f"app = target.{apps[0]}"]
    elif factory is not None:
        setup = [f"app = target.{factory}()"]
    elif kind == "aiohttp_routes":
        setup = [
            "from aiohttp import web  # the route table is served by an app of its own",
            "app = web.Application()",
            f"app.add_routes(target.{app})",
        ]
    else:
        setup = ["app = None  # no application found: the handler gets a bare request"]
    parts.setup[:0] = setup
    return f'lambda: stress.aiohttp_request(app, "{method}", "{escape(url)}")'


def _app_factory(module: Module) -> str | None:
    """A function of the module without required parameters that builds the aiohttp app."""
    for name, node in module.functions.items():
        required = len(node.args.args) - len(node.args.defaults)
        if required == 0 and any(
            isinstance(child, ast.Call) and (dotted(child.func) or "").endswith("Application")
            for child in ast.walk(node)
        ):
            return name
    return None


def _celery_call(parts: TestParts, module: Module, target: Target) -> str:
    """A Celery task applied eagerly, in the calling thread (no broker, no worker)."""
    bound = any(
        isinstance(d, ast.Call)
        and any(k.arg == "bind" and getattr(k.value, "value", False) is True for k in d.keywords)
        for d in target.node.decorator_list
    )
    arguments = infer_arguments(module, target.node, skip_first=bound)
    passed = _arguments(parts, target, arguments)
    return f"lambda: stress.celery_task(target.{target.name}{', ' if passed else ''}{passed})"


def _is_django_view(module: Module, target: Target) -> bool:
    params = target.node.args.args
    return (
        target.cls is None
        and module.uses("django")
        and bool(params)
        and params[0].arg in ("request", "req")
    )


def _django_call(parts: TestParts, module: Module, target: Target) -> str:
    """A Django view called with a request from ``RequestFactory`` (settings configured by the
    harness when the project has none)."""
    method = "GET"
    for decorator in target.node.decorator_list:
        name = (dotted(decorator) or "").rsplit(".", 1)[-1]
        if name == "require_POST":
            method = "POST"
        elif name == "require_http_methods" and isinstance(decorator, ast.Call):
            allowed = decorator.args[0] if decorator.args else None
            if isinstance(allowed, (ast.List, ast.Tuple)) and allowed.elts:
                first = allowed.elts[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    method = first.value.upper()
    arguments = infer_arguments(module, target.node, skip_first=True)
    # What the URL captures reaches the view as text: never a fake.
    arguments.values = [
        (name, '"1"' if name in arguments.fakes else value, keyword)
        for name, value, keyword in arguments.values
    ]
    arguments.fakes = []
    passed = _arguments(parts, target, arguments)
    path = f"/{target.name.strip('_')}/"
    extra = f", {passed}" if passed else ""
    return f'lambda: stress.django_request(target.{target.name}, "{method}", "{path}"{extra})'


def _dependency(default: ast.expr | None) -> str | None:
    if isinstance(default, ast.Call) and (dotted(default.func) or "").endswith("Depends"):
        if default.args and isinstance(default.args[0], ast.Name):
            return default.args[0].id
    return None


def _annotated_dependency(annotation: ast.expr | None) -> str | None:
    if isinstance(annotation, ast.Subscript) and dotted(annotation.value) in (
        "Annotated",
        "typing.Annotated",
    ):
        items = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else []
        for item in items[1:]:
            found = _dependency(item)
            if found:
                return found
    return None


def _in_chain(finding: Finding | None, name: str) -> bool:
    if finding is None:
        return False
    texts = [finding.message, *(e.message for e in finding.evidence)]
    return any(re.search(rf"\b{re.escape(name)}\b", text) for text in texts)


def _literal(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parsed = literal_value(value)
    except (ValueError, SyntaxError):
        return None
    if isinstance(parsed, bool):
        return str(parsed).lower()
    if isinstance(parsed, (str, int, float)):
        return str(parsed)
    return None
