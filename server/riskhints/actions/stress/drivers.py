"""How a generated test calls its entry point: the Python source of one call (a ``lambda`` the
harness runs many times at once) and the setup lines it needs.

- a function or method: ``target.fn(...)`` / ``instance.method(...)``, the instance built once by
  a factory and shared by every call (sharing is what exposes the hazard);
- a context manager: entered and left (``stress.enter(target.scope(...))``);
- a decorator: the wrapper it returns around a fake function;
- a FastAPI / Starlette route: an in-process ASGI request, with ``dependency_overrides`` giving
  fakes to the dependencies outside the finding's chain; a Flask view: the test client.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from ...analysis.finding import Finding
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
    route = _route(module, target)
    if route is not None:
        return _route_call(parts, module, plan, target, *route)
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
        value = infer_value(module, param.annotation, param.arg, 0)
        if value is not None and _literal(value) is not None:
            query.append(f'"{param.arg}": {value}')
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
    return f'lambda: stress.request(app, "{method}", "{escape(url)}"{extra})'


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
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return None
    if isinstance(parsed, bool):
        return str(parsed).lower()
    if isinstance(parsed, (str, int, float)):
        return str(parsed)
    return None
