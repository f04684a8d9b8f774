"""What the stress-test generator reads from the module under test: its functions and classes
(with nested functions mapped to the top-level function that holds them), its imports, its web
apps and routers, and the dotted name a test imports it by.

Pure: AST in, plain data out; nothing is imported or run.
"""

from __future__ import annotations

import ast
import keyword
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from ...analysis.parse import parse_python

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
APP_FACTORIES = {
    "FastAPI": "fastapi",
    "APIRouter": "router",
    "Starlette": "starlette",
    "Flask": "flask",
    "Blueprint": "blueprint",
    "Application": "aiohttp",
    "RouteTableDef": "aiohttp_routes",
}
TASK_DECORATORS = ("task", "shared_task")
CONTEXT_DECORATORS = ("contextmanager", "asynccontextmanager")


class StressError(ValueError):
    """The stress test cannot be generated; the message says why, in the user's names."""


@dataclass(frozen=True)
class Target:
    """A module-level function or a method of a module-level class."""

    node: FunctionNode
    cls: ast.ClassDef | None

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def display(self) -> str:
        return f"{self.cls.name}.{self.node.name}" if self.cls else self.node.name

    @property
    def is_async(self) -> bool:
        return isinstance(self.node, ast.AsyncFunctionDef)

    @property
    def binding(self) -> str:
        """ "function", "method", "classmethod" or "staticmethod"."""
        if self.cls is None:
            return "function"
        for decorator in self.node.decorator_list:
            name = dotted(decorator)
            if name in ("classmethod", "staticmethod"):
                return name
        return "method"

    @property
    def context_manager(self) -> str | None:
        """ "contextmanager" or "asynccontextmanager" when the function is decorated so."""
        for decorator in self.node.decorator_list:
            short = (dotted(decorator) or "").rsplit(".", 1)[-1]
            if short in CONTEXT_DECORATORS:
                return short
        return None

    @property
    def is_celery_task(self) -> bool:
        """Decorated ``@app.task``, ``@shared_task`` or ``@celery.task(...)``."""
        return self.cls is None and any(
            (dotted(d) or "").rsplit(".", 1)[-1] in TASK_DECORATORS
            for d in self.node.decorator_list
        )


@dataclass
class Module:
    tree: ast.Module
    name: str  # dotted, as the test imports it
    classes: dict[str, ast.ClassDef]
    functions: dict[str, FunctionNode]
    imports: dict[str, str]  # local name -> what it names ("aiohttp", "aiohttp.ClientSession")
    apps: dict[str, str]  # name -> "fastapi" | "router" | "starlette" | "flask" | "blueprint"
    prefixes: dict[str, str]  # name -> the prefix= / url_prefix= of a router or blueprint

    def uses(self, package: str) -> bool:
        """Does the module import ``package`` (or a module of it)?"""
        return any(q == package or q.startswith(package + ".") for q in self.imports.values())

    def targets(self) -> list[Target]:
        found: list[Target] = []
        for node in self.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append(Target(node, None))
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        found.append(Target(item, node))
        return found

    def defines(self, name: str) -> bool:
        return (
            name in self.classes
            or name in self.functions
            or name in self.imports
            or any(
                isinstance(node, (ast.Assign, ast.AnnAssign))
                and any(
                    isinstance(t, ast.Name) and t.id == name
                    for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                )
                for node in self.tree.body
            )
        )


def parse(text: str) -> ast.Module:
    try:
        return parse_python(text)
    except (SyntaxError, ValueError) as error:
        raise StressError(f"the module does not parse ({error}); fix that first") from None


def import_name_for(path: str) -> tuple[str, str]:
    """(dotted module name, import root below the workspace root) for a workspace-relative path:
    ``app/events.py`` -> ``("app.events", "")``, ``src/app/events.py`` -> ``("app.events",
    "src")``. Raises :class:`StressError` when the path cannot be imported by a dotted name."""
    parts = list(PurePosixPath(path.replace("\\", "/")).parts)
    if not parts or not parts[-1].endswith(".py") or any(p in ("..", "/") for p in parts):
        raise StressError(f"`{path}` is not a Python module inside the workspace")
    parts[-1] = parts[-1][: -len(".py")]
    subdir = ""
    if len(parts) > 1 and parts[0] == "src":
        subdir, parts = "src", parts[1:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if not parts or not all(p.isidentifier() and not keyword.iskeyword(p) for p in parts):
        raise StressError(
            f"`{path}` cannot be imported by a dotted name (every folder and the file name must "
            "be Python identifiers), so a test cannot import it"
        )
    return ".".join(parts), subdir


def module_context(tree: ast.Module, module_name: str) -> Module:
    classes: dict[str, ast.ClassDef] = {}
    functions: dict[str, FunctionNode] = {}
    imports: dict[str, str] = {}
    apps: dict[str, str] = {}
    prefixes: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            classes[node.name] = node
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions[node.name] = node
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    imports[alias.asname] = alias.name
                else:
                    imports[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            for alias in node.names:
                imports[alias.asname or alias.name] = f"{base}.{alias.name}".lstrip(".")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Call):
            factory = (dotted(node.value.func) or "").rsplit(".", 1)[-1]
            assigned = node.targets if isinstance(node, ast.Assign) else [node.target]
            if factory in functions and _builds_aiohttp_app(functions[factory]):
                factory = "Application"  # ``app = create_app()``
            for target in assigned:
                if isinstance(target, ast.Name) and factory in APP_FACTORIES:
                    apps[target.id] = APP_FACTORIES[factory]
                    prefixes[target.id] = _route_prefix(node.value)
    module = Module(tree, module_name, classes, functions, imports, apps, prefixes)
    if not module.uses("aiohttp"):  # another framework's ``Application``
        for name in [n for n, kind in apps.items() if kind.startswith("aiohttp")]:
            del apps[name]
    return module


def _builds_aiohttp_app(function: FunctionNode) -> bool:
    """An app factory of the module: it builds a ``web.Application()`` and returns it."""
    builds = any(
        isinstance(node, ast.Call) and (dotted(node.func) or "").endswith("Application")
        for node in ast.walk(function)
    )
    return builds and any(isinstance(node, ast.Return) for node in ast.walk(function))


def _route_prefix(call: ast.Call) -> str:
    for kw in call.keywords:
        if kw.arg in ("prefix", "url_prefix") and isinstance(kw.value, ast.Constant):
            return str(kw.value.value)
    return ""


def find_target(module: Module, target: str | int) -> Target:
    """``target``: a name (``handle``, ``Cache.refresh``, ``outer.<locals>.inner``) or a 1-based
    line inside a function. A nested function is reached through the top-level function (or
    method) that holds it."""
    candidates = module.targets()
    if isinstance(target, int):
        for candidate in candidates:
            first = min([candidate.node.lineno, *(d.lineno for d in candidate.node.decorator_list)])
            if first <= target <= (candidate.node.end_lineno or candidate.node.lineno):
                return candidate
        raise StressError(
            f"line {target} is not inside a module-level function or a method of a module-level "
            "class"
        )
    name = target.split(".<locals>", 1)[0]
    matches = [c for c in candidates if name in (c.display, c.name)]
    if not matches:
        raise StressError(f"no function or method `{target}` at the top level of the module")
    if len(matches) > 1 and not any(m.display == name for m in matches):
        names = ", ".join(f"`{m.display}`" for m in matches)
        raise StressError(f"`{target}` is ambiguous ({names}): name the class too")
    return next((m for m in matches if m.display == name), matches[0])


def nested_function(target: Target, name: str) -> FunctionNode | None:
    """The function ``name`` defined inside ``target`` (``retry.<locals>.wrapper``)."""
    short = name.rsplit(".", 1)[-1]
    for node in ast.walk(target.node):
        if node is not target.node and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name == short:
                return node
    return None


def dotted(node: ast.AST | None) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Call):
        return dotted(node.func)
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def snake(name: str) -> str:
    text = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower().strip("_") or "instance"
    return f"{text}_" if keyword.iskeyword(text) else text


def escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
