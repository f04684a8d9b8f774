"""Stress-test generation: a pytest module that runs a function under concurrent load so that the
hazard riskhints flagged in it (a deadlock, a blocked event loop, a lock-order inversion, a
check-then-act race) shows up as a failing test with a report.

Pure: module text, its workspace-relative path, the target function and the findings in; the
text of a test file (or of a test to append to an existing one) out. Nothing is imported or run.

Scenarios, chosen from the code itself (so that the test still means the same thing once the
code is fixed and the findings are gone):
- an endpoint (``@app.get(...)`` on a FastAPI/APIRouter/Starlette object): concurrent requests
  through ``httpx.AsyncClient`` with ``ASGITransport`` on a fresh loop;
- a coroutine function: concurrent calls on a fresh loop, watched from outside the loop;
- any other function: concurrent calls from many threads.
Findings add to the scenario: a lock-order inversion (RH204) runs both code paths at once; a
check-then-act across an await (RH401) counts the calls inside the awaited call.

Arguments and instances are inferred from annotations and defaults; what cannot be inferred goes
into a clearly marked factory that raises ``NotImplementedError``, and the test skips with that
message until it is filled in (never a silent pass).
"""

from __future__ import annotations

import ast
import keyword
import re
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from ..analysis.finding import Finding
from ..analysis.parse import parse_python
from .stress_template import HARNESS_MARKER, MODULE_MARKER, render_header

ASYNC_CALLS = 50
THREAD_CALLS = 16
TIMEOUT_S = 3.0
MAX_LOOP_BLOCK_S = 0.25
DEFAULT_STRESS_DIR = "tests/stress"

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
_HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
_APP_FACTORIES = {"FastAPI": "fastapi", "APIRouter": "router", "Starlette": "starlette"}
_FRAMEWORK_PARAMS = frozenset(
    {"Request", "Response", "BackgroundTasks", "WebSocket", "HTTPConnection", "Session"}
)
_PATH_NAME = re.compile(r"(^|_)(path|file|filename|dir|directory|folder)$")
_SHORT_FLOAT_NAME = re.compile(r"delay|timeout|interval|wait|sleep|backoff|period")
_PARTNER = re.compile(r"but `(?P<other>[^`]+)` takes")
_LOCK_NAME = re.compile(r"lock|mutex|sem|cond", re.IGNORECASE)
_CHECKED_STATE = re.compile(r"`(?P<state>[^`]+)` is checked")
# Names the generated file itself binds: the module under test is aliased around them.
_HARNESS_NAMES = frozenset(
    {
        "asyncio",
        "functools",
        "sys",
        "threading",
        "time",
        "traceback",
        "pytest",
        "field",
        "dataclass",
        "Path",
        "Any",
        "Awaitable",
        "Callable",
        "Sequence",
        "IMPORT_ROOT",
        "OverlapProbe",
    }
)


class StressError(ValueError):
    """The stress test cannot be generated; the message says why, in the user's names."""


@dataclass(frozen=True)
class GeneratedTest:
    """``text`` is the whole new file, or (``appended``) the text to add to the existing one."""

    file_name: str
    test_name: str
    text: str
    appended: bool
    skipped_until: tuple[str, ...]  # the factories the user must fill in first


@dataclass(frozen=True)
class _Target:
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
            name = _dotted(decorator)
            if name in ("classmethod", "staticmethod"):
                return name
        return "method"


@dataclass
class _Arguments:
    """Python source for the arguments of one call, or what could not be inferred."""

    positional: list[str] = field(default_factory=list)
    keyword: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    uses_tmp_path: bool = False

    def source(self) -> str:
        return ", ".join([*self.positional, *(f"{k}={v}" for k, v in self.keyword)])


@dataclass
class _Module:
    tree: ast.Module
    alias: str
    classes: dict[str, ast.ClassDef]
    functions: dict[str, FunctionNode]
    imported_modules: set[str]  # names bound by ``import x``: never patched by a probe
    apps: dict[str, str]  # name -> "fastapi" | "router" | "starlette"
    prefixes: dict[str, str]  # name -> the prefix= of an APIRouter


@dataclass
class _Test:
    """The pieces of one generated test, rendered by :func:`_render_test`."""

    name: str
    docstring: list[str]
    fixtures: list[str] = field(default_factory=list)
    factories: list[str] = field(default_factory=list)
    setup: list[str] = field(default_factory=list)
    body: list[str] = field(default_factory=list)
    factory_names: list[str] = field(default_factory=list)


# -- public entry points -------------------------------------------------------------------------


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


def stress_file_name(module: str, existing_modules: dict[str, str | None]) -> str:
    """The stress file for ``module``: ``test_stress_<name>.py``, or a longer name when that file
    already belongs to another module. ``existing_modules`` maps existing file names to the
    module their marker names (None for a file without one)."""
    short = module.rsplit(".", 1)[-1]
    candidates = [f"test_stress_{short}.py", f"test_stress_{module.replace('.', '_')}.py"]
    for name in candidates:
        if name not in existing_modules or existing_modules[name] == module:
            return name
    base = candidates[-1][: -len(".py")]
    number = 2
    while f"{base}_{number}.py" in existing_modules:
        number += 1
    return f"{base}_{number}.py"


def file_module(text: str) -> str | None:
    """The module a generated stress file tests, from its marker; None if it has none, or if
    its harness is of another version (then nothing is appended to it)."""
    if HARNESS_MARKER not in text:
        return None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(f"# {MODULE_MARKER}"):
            return stripped[len(f"# {MODULE_MARKER}") :].strip()
    return None


def find_target(text: str, target: str | int) -> tuple[str, int]:
    """(display name, 1-based line of the ``def``) of ``target``: a name (``handle_event`` or
    ``EventHandler.handle_event``) or a 1-based line inside the function (or its decorators)."""
    found = _find_target(_parse(text), target)
    return found.display, found.node.lineno


def stress_target_at(text: str, line: int, findings: Sequence[Finding]) -> str | None:
    """The function at 1-based ``line`` worth a stress test (a coroutine, a user of locks, or
    one with findings), by display name; None otherwise or when the module does not parse."""
    try:
        found = _find_target(parse_python(text), line)
    except (StressError, SyntaxError, ValueError, RecursionError):
        return None
    if found.is_async or any(f.function == found.display for f in findings):
        return found.display
    for node in ast.walk(found.node):
        if isinstance(node, ast.With) and any(
            _LOCK_NAME.search(_dotted(item.context_expr) or "") for item in node.items
        ):
            return found.display
        if isinstance(node, ast.Call) and (_dotted(node.func) or "").endswith(".acquire"):
            return found.display
    return None


def generate_stress_test(
    text: str,
    path: str,
    target: str | int,
    findings: Sequence[Finding],
    *,
    stress_dir: str = DEFAULT_STRESS_DIR,
    existing: dict[str, str] | None = None,
) -> GeneratedTest:
    """The stress test of ``target`` (a name, or a 1-based line inside the function) in the
    module ``text`` at workspace-relative ``path``.

    ``existing`` maps the names of the files already in ``stress_dir`` to their text: the test
    is appended to the module's stress file when there is one, else a new file is made.
    """
    existing = existing or {}
    tree = _parse(text)
    module_name, subdir = import_name_for(path)
    found = _find_target(tree, target)
    module = _module_context(tree, module_name)
    markers = {name: file_module(body) for name, body in existing.items()}
    file_name = stress_file_name(module_name, markers)
    current = existing.get(file_name)
    taken = _defined_names(current) if current is not None else set()
    test = _build_test(module, found, findings, taken)
    section = _render_test(test)
    if current is not None:
        separator = "" if current.endswith("\n\n\n") else "\n" * (3 - _trailing_newlines(current))
        return GeneratedTest(file_name, test.name, separator + section, True, _skips(test))
    stress = PurePosixPath(_clean_stress_dir(stress_dir))
    depth = len(stress.parts)
    header = render_header(
        path=path,
        test_path=(stress / file_name).as_posix(),
        module=module_name,
        depth=depth,
        subdir=subdir,
        import_line=_import_line(module_name, module.alias),
    )
    return GeneratedTest(file_name, test.name, header + "\n\n" + section, False, _skips(test))


# -- target and module ---------------------------------------------------------------------------


def _parse(text: str) -> ast.Module:
    try:
        return parse_python(text)
    except (SyntaxError, ValueError) as error:
        raise StressError(f"the module does not parse ({error}); fix that first") from None


def _find_target(tree: ast.Module, target: str | int) -> _Target:
    candidates: list[_Target] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            candidates.append(_Target(node, None))
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    candidates.append(_Target(item, node))
    if isinstance(target, int):
        for candidate in candidates:
            first = min([candidate.node.lineno, *(d.lineno for d in candidate.node.decorator_list)])
            if first <= target <= (candidate.node.end_lineno or candidate.node.lineno):
                return candidate
        raise StressError(
            f"line {target} is not inside a module-level function or a method of a module-level "
            "class"
        )
    matches = [c for c in candidates if target in (c.display, c.name)]
    if not matches:
        raise StressError(f"no function or method `{target}` at the top level of the module")
    if len(matches) > 1 and not any(m.display == target for m in matches):
        names = ", ".join(f"`{m.display}`" for m in matches)
        raise StressError(f"`{target}` is ambiguous ({names}): name the class too")
    return next((m for m in matches if m.display == target), matches[0])


def _module_context(tree: ast.Module, module_name: str) -> _Module:
    classes: dict[str, ast.ClassDef] = {}
    functions: dict[str, FunctionNode] = {}
    imported: set[str] = set()
    apps: dict[str, str] = {}
    prefixes: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            classes[node.name] = node
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions[node.name] = node
        elif isinstance(node, ast.Import):
            for imported_name in node.names:
                imported.add(imported_name.asname or imported_name.name.split(".")[0])
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Call):
            factory = (_dotted(node.value.func) or "").rsplit(".", 1)[-1]
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for assigned in targets:
                if isinstance(assigned, ast.Name) and factory in _APP_FACTORIES:
                    apps[assigned.id] = _APP_FACTORIES[factory]
                    prefixes[assigned.id] = _route_prefix(node.value)
    short = module_name.rsplit(".", 1)[-1]
    alias = f"{short}_module" if short in _HARNESS_NAMES else short
    return _Module(tree, alias, classes, functions, imported, apps, prefixes)


def _route_prefix(call: ast.Call) -> str:
    """``APIRouter(prefix="/v1")``: the prefix its routes are served under."""
    for kw in call.keywords:
        if kw.arg == "prefix" and isinstance(kw.value, ast.Constant):
            return str(kw.value.value)
    return ""


def _import_line(module_name: str, alias: str) -> str:
    package, _, short = module_name.rpartition(".")
    if alias != short:
        return f"import {module_name} as {alias}"
    return f"from {package} import {short}" if package else f"import {short}"


def _clean_stress_dir(stress_dir: str) -> str:
    path = PurePosixPath(stress_dir.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise StressError(f"stress-test-dir `{stress_dir}` must be a folder inside the workspace")
    return path.as_posix()


def _defined_names(text: str) -> set[str]:
    try:
        tree = parse_python(text)
    except (SyntaxError, ValueError):
        raise StressError("the existing stress file does not parse; fix it first") from None
    return {
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }


def _trailing_newlines(text: str) -> int:
    return len(text) - len(text.rstrip("\n"))


def _skips(test: _Test) -> tuple[str, ...]:
    return tuple(test.factory_names)


# -- building the test ---------------------------------------------------------------------------


def _build_test(
    module: _Module, target: _Target, findings: Sequence[Finding], taken: set[str]
) -> _Test:
    base = f"test_stress_{target.name.strip('_') or 'function'}"
    suffix = _unique_suffix(base, taken)
    test = _Test(name=f"{base}{suffix}", docstring=[])
    relevant = [f for f in findings if _concerns(f, target)]
    app = _endpoint_app(module, target)
    if app is not None:
        _endpoint_test(test, module, target, app, suffix)
    else:
        calls = [_call_lambda(test, module, target, suffix)]
        partner = _partner(module, target, relevant)
        if partner is not None:
            calls.append(_call_lambda(test, module, partner, suffix))
        if target.is_async:
            probes = _probes(test, module, target, relevant)
            _add_run(test, calls, is_async=True)
            test.body.extend(probes)
        else:
            _add_run(test, calls, is_async=False)
        test.docstring = _docstring(target, partner, relevant, app is not None)
    return test


def _unique_suffix(base: str, taken: set[str]) -> str:
    if base not in taken:
        return ""
    number = 2
    while f"{base}_{number}" in taken:
        number += 1
    return f"_{number}"


def _concerns(finding: Finding, target: _Target) -> bool:
    if finding.function == target.display:
        return True
    return finding.rule == "RH204" and f"`{target.display}`" in finding.message


def _partner(module: _Module, target: _Target, findings: Sequence[Finding]) -> _Target | None:
    """The other code path of a lock-order inversion (RH204) on ``target``, if it is a function
    of the same kind (both coroutines, or both plain functions)."""
    for finding in findings:
        if finding.rule != "RH204":
            continue
        names = re.findall(r"`([^`]+)` takes", finding.message)
        match = _PARTNER.search(finding.message)
        others = [n for n in [*names, match.group("other") if match else ""] if n]
        for other in others:
            if other == target.display:
                continue
            try:
                partner = _find_target(module.tree, other)
            except StressError:
                continue
            if partner.is_async == target.is_async:
                return partner
    return None


def _call_lambda(test: _Test, module: _Module, target: _Target, suffix: str) -> str:
    """``lambda: <call of target>``; instances and arguments set up in ``test``."""
    owner = _owner(test, module, target, suffix)
    bound = target.binding in ("method", "classmethod")
    arguments = _infer_arguments(module, target.node, skip_first=bound)
    if arguments.uses_tmp_path and "tmp_path" not in test.fixtures:
        test.fixtures.append("tmp_path")
    callee = f"{owner}.{target.name}"
    if arguments.missing:
        factory = f"{target.name}_arguments{suffix}"
        args, kwargs = f"{target.name}_args", f"{target.name}_kwargs"
        test.factories.append(_arguments_factory(factory, target, arguments))
        test.factory_names.append(factory)
        test.setup.append(f"{args}, {kwargs} = {factory}()")
        return f"lambda: {callee}(*{args}, **{kwargs})"
    return f"lambda: {callee}({arguments.source()})"


def _owner(test: _Test, module: _Module, target: _Target, suffix: str) -> str:
    """The expression that ``target`` is looked up on: the module, the class, or an instance
    (built once per test and shared by every call: sharing is what exposes the hazard)."""
    if target.cls is None:
        return module.alias
    if target.binding != "method":
        return f"{module.alias}.{target.cls.name}"
    variable = _snake(target.cls.name)
    if any(line.startswith(f"{variable} = ") for line in test.setup):
        return variable
    constructor = _constructor(module, target.cls, depth=0)
    if constructor is None or constructor.missing:
        factory = f"make_{variable}{suffix}"
        missing = constructor.missing if constructor else ["its constructor"]
        test.factories.append(_instance_factory(factory, module, target.cls, missing))
        test.factory_names.append(factory)
        test.setup.append(f"{variable} = {factory}()")
    else:
        if constructor.uses_tmp_path and "tmp_path" not in test.fixtures:
            test.fixtures.append("tmp_path")
        test.setup.append(f"{variable} = {module.alias}.{target.cls.name}({constructor.source()})")
    return variable


def _add_run(test: _Test, calls: list[str], *, is_async: bool) -> None:
    runner, count = (
        ("run_coroutines_concurrently", ASYNC_CALLS)
        if is_async
        else ("run_in_threads", THREAD_CALLS)
    )
    test.body.append(f"{runner}(")
    test.body.append("    [")
    test.body.extend(f"        {call}," for call in calls)
    test.body.append("    ],")
    test.body.append(f"    count={count},")
    test.body.append(f"    timeout_s={TIMEOUT_S},")
    if is_async:
        test.body.append(f"    max_loop_block_s={MAX_LOOP_BLOCK_S},")
    test.body.append(")")


def _probes(
    test: _Test, module: _Module, target: _Target, findings: Sequence[Finding]
) -> list[str]:
    """For each check-then-act (RH401) in ``target``: wrap the awaited call between the check
    and the update so that the test can count how many calls are in there at once."""
    after: list[str] = []
    seen: set[str] = set()
    for finding in findings:
        if finding.rule != "RH401" or finding.function != target.display:
            continue
        call = _awaited_call_at(target.node, finding.span.line)
        patch = _patchable(module, target, call) if call is not None else None
        state = _CHECKED_STATE.search(finding.message)
        state_name = state.group("state") if state else "the shared state"
        if patch is None:
            factory = f"{target.name}_race_check"
            if factory in test.factory_names:
                continue
            test.factories.append(_race_check_factory(factory, target, state_name))
            test.factory_names.append(factory)
            test.setup.append(f"check_race = {factory}()")
            after.append("check_race()")
            continue
        owner, attribute, shown = patch
        if shown in seen:
            continue
        seen.add(shown)
        probe = f"{_snake(attribute.lstrip('_'))}_probe"
        if "monkeypatch" not in test.fixtures:
            test.fixtures.append("monkeypatch")
        test.setup.append(
            f"# `{target.display}` checks `{state_name}`, awaits `{shown}`, then updates it:"
        )
        test.setup.append("# count how many calls are inside that await at once.")
        test.setup.append(f'{probe} = OverlapProbe("{shown}")')
        test.setup.append(
            f'monkeypatch.setattr({owner}, "{attribute}", {probe}.wrap({owner}.{attribute}))'
        )
        after.append(f"{probe}.assert_one_at_a_time(")
        after.append(f'    "check-then-act race in `{target.display}` on `{state_name}`"')
        after.append(")")
    return after


def _awaited_call_at(node: FunctionNode, line: int) -> ast.Call | None:
    for child in ast.walk(node):
        if (
            isinstance(child, ast.Await)
            and child.lineno <= line <= (child.end_lineno or child.lineno)
            and isinstance(child.value, ast.Call)
        ):
            return child.value
    return None


def _patchable(module: _Module, target: _Target, call: ast.Call) -> tuple[str, str, str] | None:
    """(owner expression in the test, attribute, text shown) for the callee of ``call`` when it
    can be replaced on an object the test holds: ``self.x.y`` (on the instance), ``cls.x`` (on
    the class) or a name of the module (``fetch``, ``client.get``)."""
    func = call.func
    chain: list[str] = []
    while isinstance(func, ast.Attribute):
        chain.append(func.attr)
        func = func.value
    if not isinstance(func, ast.Name):
        return None
    chain.append(func.id)
    chain.reverse()
    root, rest = chain[0], chain[1:]
    shown = ".".join(chain) + "()"
    params = [a.arg for a in target.node.args.args]
    first = params[0] if params else None
    if target.binding == "method" and root == first and rest:
        owner_parts = [_snake(target.cls.name)] if target.cls else []
    elif target.binding == "classmethod" and root == first and rest and target.cls:
        owner_parts = [module.alias, target.cls.name]
    elif root in module.imported_modules or root in params:
        return None
    elif _defined_at_module_level(module, root):
        owner_parts, rest = [module.alias], chain
    else:
        return None
    owner = ".".join([*owner_parts, *rest[:-1]])
    return owner, rest[-1], shown


def _defined_at_module_level(module: _Module, name: str) -> bool:
    for node in module.tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name == name:
                return True
        elif isinstance(node, ast.ImportFrom):
            if any((alias.asname or alias.name) == name for alias in node.names):
                return True
        elif isinstance(node, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                return True
        elif isinstance(node, ast.AnnAssign):
            if isinstance(node.target, ast.Name) and node.target.id == name:
                return True
    return False


# -- endpoints -----------------------------------------------------------------------------------


def _endpoint_app(module: _Module, target: _Target) -> tuple[str, str, str, str] | None:
    """(app name, its kind, HTTP method, route path) when ``target`` is a route of an app or a
    router the module defines."""
    if target.cls is not None:
        return None
    for decorator in target.node.decorator_list:
        if not isinstance(decorator, ast.Call) or not isinstance(decorator.func, ast.Attribute):
            continue
        owner = decorator.func.value
        if not isinstance(owner, ast.Name) or owner.id not in module.apps:
            continue
        verb = decorator.func.attr
        route = decorator.args[0] if decorator.args else None
        if not (isinstance(route, ast.Constant) and isinstance(route.value, str)):
            continue
        if verb in _HTTP_METHODS:
            prefix = module.prefixes.get(owner.id, "")
            return owner.id, module.apps[owner.id], verb.upper(), prefix + route.value
        if verb in ("route", "api_route"):
            method = "GET"
            for kw in decorator.keywords:
                if kw.arg == "methods" and isinstance(kw.value, (ast.List, ast.Tuple)):
                    first = kw.value.elts[0] if kw.value.elts else None
                    if isinstance(first, ast.Constant) and isinstance(first.value, str):
                        method = first.value.upper()
            prefix = module.prefixes.get(owner.id, "")
            return owner.id, module.apps[owner.id], method, prefix + route.value
    return None


def _endpoint_test(
    test: _Test,
    module: _Module,
    target: _Target,
    app: tuple[str, str, str, str],
    suffix: str,
) -> None:
    app_name, kind, method, route = app
    url, query, missing = _request_for(module, target, route, kind)
    if kind == "router":
        test.setup.append("from fastapi import FastAPI  # a router is served by an app of its own")
        test.setup.append("")
        test.setup.append("app = FastAPI()")
        test.setup.append(f"app.include_router({module.alias}.{app_name})")
    else:
        test.setup.append(f"app = {module.alias}.{app_name}")
    if missing:
        factory = f"{target.name}_request{suffix}"
        test.factories.append(_request_factory(factory, target, method, url, missing))
        test.factory_names.append(factory)
        test.setup.append(f"method, url, request_kwargs = {factory}()")
        call = "lambda: request_through_asgi(app, method, url, **request_kwargs)"
    else:
        extra = f", params={query}" if query else ""
        call = f'lambda: request_through_asgi(app, "{method}", "{url}"{extra})'
    _add_run(test, [call], is_async=True)
    test.docstring = [
        f"Stress the endpoint `{method} {route}` (`{target.display}`).",
        "",
        f"{ASYNC_CALLS} requests at once through httpx's ASGITransport (in process, no network) on",
        "a fresh event loop; fails on a possible deadlock, a blocked event loop, an error status",
        "or an exception.",
    ]


def _request_for(
    module: _Module, target: _Target, route: str, kind: str
) -> tuple[str, str, list[str]]:
    """(url, query dict source, parameters that need a body or are not inferable)."""
    path_params = dict(re.findall(r"{(\w+)(?::(\w+))?}", route))
    url = route
    query: list[str] = []
    missing: list[str] = []
    args = target.node.args
    defaults = _defaults_by_name(args)
    annotations = {a.arg: a.annotation for a in [*args.args, *args.kwonlyargs]}
    for name, converter in path_params.items():
        value = _infer_value(module, annotations.get(name), name, depth=0)
        text = _literal_text(value) if value is not None else None
        if text is None:
            text = "1" if converter == "int" else "stress"
        url = re.sub(r"\{" + re.escape(name) + r"(?::\w+)?\}", text, url)
    if kind == "starlette":
        return url, "", []
    for name, annotation in annotations.items():
        if name in path_params or name in defaults:
            continue
        annotation_name = (_dotted(annotation) or "").rsplit(".", 1)[-1] if annotation else ""
        if annotation_name in _FRAMEWORK_PARAMS:
            continue
        value = _infer_value(module, annotation, name, depth=0)
        if value is not None and _literal_text(value) is not None:
            query.append(f'"{name}": {value}')
        else:
            missing.append(_describe_param(name, annotation))
    return url, ("{" + ", ".join(query) + "}") if query else "", missing


def _literal_text(value: str) -> str | None:
    """The text a simple literal puts into a URL (``"stress"`` -> ``stress``), else None."""
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return None
    if isinstance(parsed, bool):
        return str(parsed).lower()
    if isinstance(parsed, (str, int, float)):
        return str(parsed)
    return None


# -- argument inference --------------------------------------------------------------------------


def _defaults_by_name(args: ast.arguments) -> dict[str, ast.expr]:
    positional = [*args.posonlyargs, *args.args]
    defaults: dict[str, ast.expr] = {}
    for param, default in zip(
        positional[len(positional) - len(args.defaults) :], args.defaults, strict=True
    ):
        defaults[param.arg] = default
    for param, kw_default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        if kw_default is not None:
            defaults[param.arg] = kw_default
    return defaults


def _infer_arguments(module: _Module, node: FunctionNode, *, skip_first: bool) -> _Arguments:
    args = node.args
    result = _Arguments()
    defaults = _defaults_by_name(args)
    positional = [*args.posonlyargs, *args.args]
    if skip_first and positional:
        positional = positional[1:]
    for param in positional:
        if param.arg in defaults:
            break  # this and every later positional parameter keep their defaults
        value = _infer_value(module, param.annotation, param.arg, depth=0)
        if value is None:
            result.missing.append(_describe_param(param.arg, param.annotation))
            continue
        result.uses_tmp_path |= "tmp_path" in value
        result.positional.append(value)
    for param in args.kwonlyargs:
        if param.arg in defaults:
            continue
        value = _infer_value(module, param.annotation, param.arg, depth=0)
        if value is None:
            result.missing.append(_describe_param(param.arg, param.annotation))
            continue
        result.uses_tmp_path |= "tmp_path" in value
        result.keyword.append((param.arg, value))
    return result


def _constructor(module: _Module, cls: ast.ClassDef, depth: int) -> _Arguments | None:
    """Arguments for ``cls(...)``, from its ``__init__`` (or its bases' in this module, or its
    dataclass fields); None when the constructor comes from a class defined elsewhere."""
    if _is_dataclass(cls):
        result = _Arguments()
        for item in cls.body:
            if (
                isinstance(item, ast.AnnAssign)
                and isinstance(item.target, ast.Name)
                and item.value is None
                and "ClassVar" not in ast.unparse(item.annotation)
            ):
                value = _infer_value(module, item.annotation, item.target.id, depth + 1)
                if value is None:
                    result.missing.append(_describe_param(item.target.id, item.annotation))
                else:
                    result.uses_tmp_path |= "tmp_path" in value
                    result.keyword.append((item.target.id, value))
        return result
    for item in cls.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            return _infer_arguments(module, item, skip_first=True)
    for base in cls.bases:
        name = _dotted(base)
        if name in ("object", "ABC", "abc.ABC") or (name or "").startswith("Generic"):
            continue
        if isinstance(base, ast.Subscript) and _dotted(base.value) in ("Generic", "typing.Generic"):
            continue
        if name in module.classes and module.classes[name] is not cls and depth < 3:
            return _constructor(module, module.classes[name], depth + 1)
        return None
    return _Arguments()


def _is_dataclass(cls: ast.ClassDef) -> bool:
    for decorator in cls.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if _dotted(target) in ("dataclass", "dataclasses.dataclass"):
            return True
    return False


def _infer_value(module: _Module, annotation: ast.expr | None, name: str, depth: int) -> str | None:
    """Python source for a value of the annotated type, or None when it cannot be inferred."""
    if annotation is None:
        return None
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            annotation = ast.parse(annotation.value, mode="eval").body
        except SyntaxError:
            return None
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        for side in (annotation.left, annotation.right):
            if not (isinstance(side, ast.Constant) and side.value is None):
                value = _infer_value(module, side, name, depth)
                if value is not None:
                    return value
        return "None"
    if isinstance(annotation, ast.Subscript):
        return _infer_generic(module, annotation, name, depth)
    type_name = _dotted(annotation)
    if type_name is None:
        return None
    short = type_name.rsplit(".", 1)[-1]
    if short == "str":
        return f'str(tmp_path / "{name}")' if _PATH_NAME.search(name) else '"stress"'
    if short in ("Path", "PurePath") or type_name in ("os.PathLike",):
        return f'tmp_path / "{name}"'
    simple = {
        "int": "1",
        "bool": "False",
        "bytes": 'b"stress"',
        "list": "[]",
        "dict": "{}",
        "set": "set()",
        "tuple": "()",
        "None": "None",
    }
    if short in simple:
        return simple[short]
    if short == "float":
        return "0.01" if _SHORT_FLOAT_NAME.search(name) else "1.0"
    if type_name in module.classes and depth < 2:
        constructor = _constructor(module, module.classes[type_name], depth + 1)
        if constructor is not None and not constructor.missing:
            return f"{module.alias}.{type_name}({constructor.source()})"
    return None


def _infer_generic(module: _Module, annotation: ast.Subscript, name: str, depth: int) -> str | None:
    outer = (_dotted(annotation.value) or "").rsplit(".", 1)[-1]
    inner = annotation.slice
    items = list(inner.elts) if isinstance(inner, ast.Tuple) else [inner]
    if outer == "Optional":
        return _infer_value(module, items[0], name, depth) or "None"
    if outer == "Union":
        for item in items:
            value = _infer_value(module, item, name, depth)
            if value is not None:
                return value
        return None
    if outer == "Annotated":
        return _infer_value(module, items[0], name, depth)
    if outer == "Literal":
        first = items[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return '"' + _escape(first.value) + '"'
        return ast.unparse(first) if isinstance(first, ast.Constant) else None
    element = _infer_value(module, items[0], name, depth) if items else None
    if outer in ("list", "List", "Sequence", "Iterable", "Collection", "MutableSequence"):
        return f"[{element}]" if element is not None else "[]"
    if outer in ("set", "Set", "frozenset", "FrozenSet", "AbstractSet"):
        return f"{{{element}}}" if element is not None else "set()"
    if outer in ("dict", "Dict", "Mapping", "MutableMapping"):
        value = _infer_value(module, items[1], name, depth) if len(items) > 1 else None
        if element is not None and value is not None:
            return f"{{{element}: {value}}}"
        return "{}"
    if outer in ("tuple", "Tuple"):
        if len(items) == 2 and isinstance(items[1], ast.Constant) and items[1].value is ...:
            return f"({element},)" if element is not None else "()"
        values = [_infer_value(module, item, name, depth) for item in items]
        if any(v is None for v in values):
            return None
        return (
            "("
            + ", ".join(v for v in values if v is not None)
            + ("," if len(values) == 1 else "")
            + ")"
        )
    return None


def _describe_param(name: str, annotation: ast.expr | None) -> str:
    if annotation is None:
        return f"`{name}` (no annotation)"
    return f"`{name}: {ast.unparse(annotation)}`"


# -- rendering -----------------------------------------------------------------------------------


def _arguments_factory(factory: str, target: _Target, arguments: _Arguments) -> str:
    missing = ", ".join(arguments.missing)
    inferred = arguments.source()
    hint = f" (inferred so far: {inferred})" if inferred else ""
    return "\n".join(
        [
            f"def {factory}() -> tuple[tuple[Any, ...], dict[str, Any]]:",
            f'    """FILL IN: the positional and keyword arguments of one `{target.display}()`',
            f"    call{hint}. riskhints could not infer {missing}.",
            '    """',
            f'    raise NotImplementedError("{factory}(): arguments of {target.display}() '
            f'({_escape(missing)})")',
        ]
    )


def _instance_factory(factory: str, module: _Module, cls: ast.ClassDef, missing: list[str]) -> str:
    what = ", ".join(missing)
    return "\n".join(
        [
            f"def {factory}() -> {module.alias}.{cls.name}:",
            f'    """FILL IN: the `{cls.name}` that every call of this test shares.',
            f"    riskhints could not infer {what}.",
            '    """',
            f'    raise NotImplementedError("{factory}(): build a {cls.name} ({_escape(what)})")',
        ]
    )


def _request_factory(
    factory: str, target: _Target, method: str, url: str, missing: list[str]
) -> str:
    what = ", ".join(missing)
    return "\n".join(
        [
            f"def {factory}() -> tuple[str, str, dict[str, Any]]:",
            '    """FILL IN: (method, url, httpx request arguments such as json=...) of one',
            f'    request to `{target.display}`, e.g. ("{method}", "{url}", {{"json": {{...}}}}).',
            f"    riskhints could not infer {what}.",
            '    """',
            f'    raise NotImplementedError("{factory}(): a request for {target.display} '
            f'({_escape(what)})")',
        ]
    )


def _race_check_factory(factory: str, target: _Target, state: str) -> str:
    return "\n".join(
        [
            f"def {factory}() -> Callable[[], None]:",
            '    """FILL IN: return a function that fails when concurrent calls of',
            f"    `{target.display}()` both acted on `{state}` (e.g. a value loaded twice).",
            "    riskhints found no call between the check and the update for the test to count.",
            '    """',
            f'    raise NotImplementedError("{factory}(): how to see the race on '
            f'{_escape(state)}")',
        ]
    )


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _docstring(
    target: _Target, partner: _Target | None, findings: Sequence[Finding], endpoint: bool
) -> list[str]:
    del endpoint
    count = ASYNC_CALLS if target.is_async else THREAD_CALLS
    summary = f"Stress `{target.display}()`"
    if partner is not None:
        summary += f" together with `{partner.display}()`"
    where = "on a fresh event loop" if target.is_async else ", each in its own thread"
    paragraph = f"{count} calls at once {where}".replace(" ,", ",")
    if partner is not None:
        paragraph += ", alternating the two code paths of the lock-order inversion"
    paragraph += (
        "; fails on a possible deadlock, a blocked event loop, a check-then-act race or an "
        "exception."
        if target.is_async
        else "; fails on a possible deadlock (calls unfinished) or an exception."
    )
    lines = [summary + ".", "", *textwrap.wrap(paragraph, width=88, break_on_hyphens=False)]
    shown = list(findings)[:4]
    if shown:
        lines.append("")
        lines.append("riskhints found:")
        for finding in shown:
            lines.extend(
                textwrap.wrap(
                    f"- {finding.rule} (line {finding.span.line}): {finding.message}",
                    width=88,
                    subsequent_indent="  ",
                    break_on_hyphens=False,
                )
            )
    return lines


def _render_test(test: _Test) -> str:
    parts: list[str] = []
    for factory in test.factories:
        parts.append("\n".join(fitted for line in factory.splitlines() for fitted in _fit(line)))
    params = ", ".join(
        f"{name}: {'Path' if name == 'tmp_path' else 'pytest.MonkeyPatch'}"
        for name in test.fixtures
    )
    lines = [f"def {test.name}({params}) -> None:", '    """' + test.docstring[0]]
    lines.extend(f"    {line}" if line else "" for line in test.docstring[1:])
    lines.append('    """')
    setup = list(test.setup)
    factory_calls = [line for line in setup if _calls_factory(line, test.factory_names)]
    if factory_calls:
        lines.append("    try:")
        lines.extend(f"        {line}" for line in factory_calls)
        lines.append("    except NotImplementedError as missing:")
        lines.append(
            "        pytest.skip("
            'f"stress test not ready: fill in {missing} in {Path(__file__).name}")'
        )
    lines.extend(f"    {line}" if line else "" for line in setup if line not in factory_calls)
    lines.extend(f"    {line}" for line in test.body)
    parts.append("\n".join(fitted for line in lines for fitted in _fit(line)))
    return "\n\n\n".join(parts) + "\n"


def _fit(line: str, width: int = 100) -> list[str]:
    """A long call split the way ruff format splits it: its arguments on one indented line,
    else one argument per line with a trailing comma."""
    if len(line) <= width:
        return [line]
    opening = line.find("(")
    closing = _matching_paren(line, opening) if opening >= 0 else -1
    if closing < 0 or closing == opening + 1:
        return [line]
    indent = line[: len(line) - len(line.lstrip())]
    head, inner, tail = line[: opening + 1], line[opening + 1 : closing], line[closing:]
    arguments = _split_arguments(inner)
    one_line = f"{indent}    {', '.join(arguments)}"
    if len(one_line) <= width:
        return [head, one_line, indent + tail]
    return [head, *(f"{indent}    {argument}," for argument in arguments), indent + tail]


def _code_characters(text: str) -> Iterator[tuple[int, str, int]]:
    """``(index, character, bracket depth after it)`` for each character outside string
    literals (enough for the one-line calls the generator writes)."""
    depth, quote = 0, ""
    for index, char in enumerate(text):
        if quote:
            if char == quote and text[index - 1] != "\\":
                quote = ""
            continue
        if char in "\"'":
            quote = char
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        yield index, char, depth


def _matching_paren(text: str, opening: int) -> int:
    for index, char, depth in _code_characters(text[opening:]):
        if char in ")]}" and depth == 0:
            return opening + index
    return -1


def _split_arguments(text: str) -> list[str]:
    parts: list[str] = []
    start = 0
    for index, char, depth in _code_characters(text):
        if char == "," and depth == 0:
            parts.append(text[start:index].strip())
            start = index + 1
    parts.append(text[start:].strip())
    return [part for part in parts if part]


def _calls_factory(line: str, factories: Sequence[str]) -> bool:
    return any(f"{name}()" in line and not line.lstrip().startswith("#") for name in factories)


def _snake(name: str) -> str:
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower().strip("_") or "instance"
    return f"{snake}_" if keyword.iskeyword(snake) or snake in _HARNESS_NAMES else snake


def _dotted(node: ast.AST | None) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None
