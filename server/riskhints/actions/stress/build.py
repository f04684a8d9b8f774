"""One generated test: its name, docstring (the finding it comes from, what it checks), setup
(factories, instances, probes) and the oracle call, as Python source.

The test is written once from the finding on the code as it is, and must pass unchanged once
the hazard is fixed: it names functions and attributes, never line numbers of the fixed code
(the cancellation oracle names the lines of the handler's ``try`` as written; a fix that moves
them makes the test inconclusive, not failing).
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass
from pathlib import PurePosixPath

from .drivers import TestParts, call_of
from .entry import Plan
from .literals import handled_errors
from .oracles import CANCELLATION, CHECK_THEN_ACT, CLIENT_SESSION, LOST_UPDATE
from .source import Module, StressError, Target, dotted, escape, import_name_for

_CHECKED_STATE = re.compile(r"`(?P<state>[^`]+)` is checked")
_UPDATED_STATE = re.compile(r"read-modify-write of `(?P<state>[^`]+)`")
_SESSION_CLASSES = ("ClientSession",)


@dataclass(frozen=True)
class BuiltTest:
    name: str
    factories: dict[str, str]
    text: str  # the test function


def build_test(module: Module, plan: Plan, taken: set[str]) -> BuiltTest:
    parts = TestParts()
    calls = [call_of(parts, module, plan, plan.target)]
    if plan.partner is not None:
        calls.append(call_of(parts, module, plan, plan.partner))
    errors = handled_errors(module, plan.finding.span.line) if plan.finding else []
    if errors:
        parts.setup.append(
            "# the hazard is in an `except` clause: fakes raise what it catches (seeded schedule)"
        )
        parts.setup.append(f"stress.fakes_raise({', '.join(errors)})")
    oracle = _oracle_call(parts, module, plan, calls)
    base = f"test_{plan.target.name.strip('_') or 'call'}_{plan.family.slug}"
    name = base
    number = 2
    while name in taken:
        name, number = f"{base}_{number}", number + 1
    lines = [f"def {name}(tmp_path: Path) -> None:", *_docstring(plan)]
    lines.append("    with stress_run(tmp_path) as stress:")
    if any("target" in line for line in [*parts.setup, *oracle]):
        lines.append("        target = stress.target")
    lines.extend(f"        {line}" for line in parts.setup)
    lines.extend(f"        {line}" for line in oracle)
    return BuiltTest(name, parts.factories, "\n".join(lines) + "\n")


def _oracle_call(parts: TestParts, module: Module, plan: Plan, calls: list[str]) -> list[str]:
    method = f"stress.{plan.family.method}"
    threads = (
        ", threads=True"
        if plan.threads
        and plan.family.method
        in (
            "expect_no_deadlock",
            "expect_one_at_a_time",
            "expect_no_unawaited_coroutine",
            "expect_lock_released",
            "expect_wait_rechecked",
        )
        else ""
    )
    if plan.family is LOST_UPDATE:
        reader = _state_reader(parts, module, plan)
        if reader is not None:
            return [
                f'{method}(lambda: {reader[0]}, {", ".join(calls)}, name="{escape(reader[1])}")'
            ]
        return [f"stress.expect_no_deadlock({', '.join(calls)}, threads=True)"]
    if plan.family is CHECK_THEN_ACT:
        probe = _probe(parts, module, plan)
        state = _CHECKED_STATE.search(plan.finding.message if plan.finding else "")
        shown = state.group("state") if state else "the shared state"
        if probe is not None:
            parts.setup.append(
                f"# `{plan.target.display}` checks `{shown}`, awaits this call, then updates it:"
            )
            parts.setup.append(f'probe = stress.probe({probe[0]}, "{probe[1]}")')
            return [f'{method}(probe, {", ".join(calls)}, state="{escape(shown)}"{threads})']
        return [f"stress.expect_no_deadlock({', '.join(calls)}{threads})"]
    if plan.family is CANCELLATION:
        lines = _try_lines(plan)
        if lines is not None:
            return [f"{method}({calls[0]}, file=target.__file__, lines={lines})"]
        return [f"stress.expect_no_deadlock({', '.join(calls)})"]
    if plan.family is CLIENT_SESSION:
        owner = _session_owner(module)
        if owner is not None:
            return [f'{method}({owner[0]}, "{owner[1]}", {", ".join(calls)})']
        return [f"stress.expect_no_deadlock({', '.join(calls)})"]
    return [f"{method}({', '.join(calls)}{threads})"]


def _probe(parts: TestParts, module: Module, plan: Plan) -> tuple[str, str] | None:
    """(owner in the test, attribute) of the call awaited between the check and the update."""
    finding = plan.finding
    if finding is None:
        return None
    checked = [e.span.line for e in finding.evidence if e.message.endswith("checked here")]
    call = _awaited_call_at(plan.target.node, finding.span.line, min(checked, default=0))
    if call is None:
        return None
    chain: list[str] = []
    func: ast.expr = call.func
    while isinstance(func, ast.Attribute):
        chain.append(func.attr)
        func = func.value
    if not isinstance(func, ast.Name):
        return None
    chain.append(func.id)
    chain.reverse()
    root, rest = chain[0], chain[1:]
    target = plan.target
    params = [a.arg for a in target.node.args.args]
    if target.binding == "method" and params and root == params[0] and rest:
        assert target.cls is not None
        owner = [parts.variables.get(target.cls.name, "target")]
    elif root in params and rest and target.display in parts.arguments:
        owner = [f'{parts.arguments[target.display]}["{root}"]']
    elif module.defines(root):
        owner, rest = ["target"], chain
    else:
        return None
    return ".".join([*owner, *rest[:-1]]), rest[-1]


def _state_reader(parts: TestParts, module: Module, plan: Plan) -> tuple[str, str] | None:
    """(expression in the test, name shown) of the state a read-modify-write updates: a module
    global (of this module or the one the update is in), an attribute of the shared instance;
    the whole dict or list for an element (``counts[sid]`` is read as ``counts``)."""
    finding = plan.finding
    found = _UPDATED_STATE.search(finding.message) if finding else None
    if finding is None or found is None:
        return None
    state = found.group("state")
    base = re.match(r"[A-Za-z_][\w.]*", state)
    if base is None:
        return None
    chain = base.group(0).split(".")
    written = next((e for e in finding.evidence if e.message.endswith("written back here")), None)
    path = written.path if written is not None and written.path else finding.path
    if chain[0] == "self":
        target = plan.target
        if path != finding.path or target.cls is None or len(chain) < 2:
            return None
        owner = parts.variables.get(target.cls.name)
        return (f"{owner}.{'.'.join(chain[1:])}", state) if owner else None
    if path != finding.path:
        name = _module_at(module.name, finding.path, path)
        return (f'stress.module("{name}").{".".join(chain)}', state) if name else None
    if not module.defines(chain[0]):
        return None
    return f"target.{'.'.join(chain)}", state


def _module_at(target_module: str, target_path: str, path: str) -> str | None:
    """The dotted name of the module at ``path``, from where the module under test
    (``target_module`` at ``target_path``) is: both are below the same import root."""
    here = PurePosixPath(target_path.replace("\\", "/"))
    depth = len(target_module.split(".")) - (0 if here.name == "__init__.py" else 1)
    if depth >= len(here.parents):
        return None
    root = here.parents[depth]
    try:
        relative = PurePosixPath(path.replace("\\", "/")).relative_to(root)
        return import_name_for(relative.as_posix())[0]
    except (ValueError, StressError):
        return None


def _awaited_call_at(node: ast.AST, line: int, checked: int) -> ast.Call | None:
    """The call awaited at ``line``, else the last one awaited after the check (``checked``)
    and before it: the step that other tasks interleave with."""
    best: ast.Call | None = None
    for child in ast.walk(node):
        if not isinstance(child, ast.Await) or not isinstance(child.value, ast.Call):
            continue
        if child.lineno <= line <= (child.end_lineno or child.lineno):
            return child.value
        if checked <= child.lineno < line and (best is None or child.lineno > best.lineno):
            best = child.value
    return best


def _try_lines(plan: Plan) -> tuple[int, int] | None:
    """The lines of the ``try`` body whose handler swallows the cancellation."""
    if plan.finding is None:
        return None
    line = plan.finding.span.line
    best: tuple[int, int] | None = None
    for node in ast.walk(plan.target.node):
        if not isinstance(node, ast.Try) or not node.body:
            continue
        start, end = node.lineno, node.end_lineno or node.lineno
        if start <= line <= end:
            body = (node.body[0].lineno, node.body[-1].end_lineno or node.body[-1].lineno)
            if best is None or body[0] >= best[0]:
                best = body
    return best


def _session_owner(module: Module) -> tuple[str, str] | None:
    for local, qualified in module.imports.items():
        if qualified == "aiohttp":
            return f"target.{local}", "ClientSession"
        if qualified.rsplit(".", 1)[-1] in _SESSION_CLASSES:
            return "target", local
    return None


def _docstring(plan: Plan) -> list[str]:
    target: Target = plan.target
    summary = f"Stress `{target.display}()`"
    if plan.partner is not None:
        summary += f" together with `{plan.partner.display}()`"
    if plan.wrapper_of is not None:
        summary = f"Stress the wrapper that `@{target.name}` returns"
    lines = [f'    """{summary}.', ""]
    lines.extend(
        textwrap.wrap(plan.family.says, 92, initial_indent="    ", subsequent_indent="    ")
    )
    if plan.finding is not None:
        lines.append("")
        finding = plan.finding
        text = f"riskhints found {finding.rule} (line {finding.span.line}): {finding.message}"
        lines.extend(
            textwrap.wrap(
                text,
                92,
                initial_indent="    ",
                subsequent_indent="      ",
                break_on_hyphens=False,
            )
        )
    lines.append('    """')
    return lines


def _decorated(node: ast.AST) -> str | None:
    return dotted(node)
