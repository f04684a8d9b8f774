"""Celery: the program's Celery apps and tasks, and RH507 (a task waiting for another task's
result: ``.get()``/``.join()`` inside a task starves the worker pool, and Celery refuses it at
run time unless ``disable_sync_subtasks=False``).

A task is a function decorated with ``@shared_task``/``@app.task`` (the app may live in
``celery_app.py``), a name imported from a ``tasks`` module, or a function of a module using
Celery; results are followed through locals and through helpers that return them.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator

from ...facts import FunctionFacts, ModuleFacts, iter_statements
from ...finding import Evidence, Finding, Severity
from ...knowledge import data as kb
from ...summaries import TRANSPARENT_DECORATORS, Chain, Program, sorted_calls
from ..registry import RuleContext, rule
from .common import (
    Site,
    class_assignment,
    evidence_in,
    is_false,
    keyword_value,
    last_values,
    memo_table,
    node_text,
    position,
    program_names,
    reach_site,
    resolve_reexports,
    typed_names,
    uses_framework,
)

TASK_WAITS_ON_TASK = "RH507"

# =============================================================================================
# RH507: a Celery task waiting for another task's result
# =============================================================================================


def _module_celery_apps(module: ModuleFacts) -> set[str]:
    """Module globals bound to ``Celery(...)``."""
    apps: set[str] = set()
    for stmt in module.tree.body:
        target, value = class_assignment(stmt)
        if target is not None and isinstance(value, ast.Call):
            func = value.func
            qualified = module.imports.get(func.id) if isinstance(func, ast.Name) else None
            if qualified is None and isinstance(func, ast.Attribute):
                base = func.value
                if isinstance(base, ast.Name) and module.imports.get(base.id) == "celery":
                    qualified = f"celery.{func.attr}"
            if qualified in kb.CELERY_APP_CLASSES:
                apps.add(target)
    return apps


def celery_apps(program: Program) -> frozenset[str]:
    """Qualified names of the Celery apps of the program (``reports.celery_app.worker``):
    ``@worker.task`` in any module that imports one declares a task."""
    return program_names(program, "data.celery_apps", _module_celery_apps)


def imports_celery(program: Program, module: ModuleFacts) -> bool:
    """The module imports Celery, or a Celery app of the workspace."""
    if module.imports_module(*kb.CELERY_MODULES):
        return True
    apps = celery_apps(program)
    return any(
        resolve_reexports(program, target, apps.__contains__) in apps
        for target in module.imports.values()
    )


def celery_active(program: Program, module: ModuleFacts) -> bool:
    """Celery is imported here or by a workspace module this one imports (``tasks.py``
    importing only the app from ``celery_app.py`` and tasks from ``charts.py``)."""
    return uses_framework(program, module, "celery", lambda m: m.imports_module(*kb.CELERY_MODULES))


def is_celery_task(program: Program, fn: FunctionFacts) -> bool:
    if not fn.decorators:
        return False
    module = program.module_of(fn)
    apps = celery_apps(program)
    uses_celery = imports_celery(program, module) or any(
        "celery" in target.split(".") for target in module.imports.values()
    )
    local_apps = _module_celery_apps(module)
    for decorator in fn.decorators:
        if decorator in kb.TASK_DECORATORS and uses_celery:
            return True
        owner, _, attr = decorator.rpartition(".")
        if attr != kb.APP_TASK_DECORATOR_ATTRIBUTE or not owner:
            continue
        if resolve_reexports(program, owner, apps.__contains__) in apps:
            return True  # ``@worker.task`` on the app of ``celery_app.py``
        root = owner.split(".")[0]
        # ``@app.task`` on a local ``app = Celery(...)``, or an app imported from a celery module.
        if uses_celery and (
            root in local_apps or "celery" in owner.split(".") or owner.endswith("app")
        ):
            return True
    return False


class CeleryResults:
    """Which expressions of a function are Celery results (``AsyncResult``, ``GroupResult``),
    and which are lists of them; a call to a sync helper, in any module, that returns one is a
    result too (``pending = start_rendering(report_id)``)."""

    def __init__(self, program: Program, fn: FunctionFacts) -> None:
        self.program = program
        self.fn = fn
        self.results: set[str] = set()
        self.result_lists: set[str] = set()
        typed_names(fn, lambda v: v is not None and self.is_result(v), self.results)
        typed_names(fn, lambda v: v is not None and self.is_list(v), self.result_lists)
        for node in fn.own_nodes:
            if isinstance(node, (ast.For, ast.comprehension)) and isinstance(node.target, ast.Name):
                if self.is_list(node.iter):
                    self.results.add(node.target.id)

    def is_result(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self.results
        if not isinstance(node, ast.Call):
            return False
        func = node.func
        qualified = self.fn.scope.qualify(func)
        if qualified in kb.RESULT_CLASSES:
            return True
        if isinstance(func, ast.Call):  # ``group(...)()``
            return self.fn.scope.qualify(func.func) in kb.CANVAS_CALLS
        if isinstance(func, ast.Attribute) and func.attr in kb.ENQUEUE_METHODS:
            return True
        return self.returned_by(node) is not None

    def returned_by(self, call: ast.Call) -> Evidence | None:
        """Where a sync helper this call runs returns a result (its ``return`` statement)."""
        target = self.program.function(self.fn.scope.qualify(call.func))
        if target is None or target.is_async or target is self.fn:
            return None
        if any(d not in TRANSPARENT_DECORATORS for d in target.decorators):
            return None  # a task called directly, or a wrapper we cannot see through
        return _result_origin(self.program, target)

    def origin(self, node: ast.AST) -> Evidence | None:
        """The helper ``return`` a result handle comes from, if a helper returned it."""
        if isinstance(node, ast.Name):
            node = last_values(self.fn).get(node.id, node)
        return self.returned_by(node) if isinstance(node, ast.Call) else None

    def is_list(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self.result_lists
        if isinstance(node, (ast.ListComp, ast.GeneratorExp, ast.SetComp)):
            return self.is_result(node.elt)
        if isinstance(node, (ast.List, ast.Tuple)):
            return bool(node.elts) and all(self.is_result(e) for e in node.elts)
        return False

    def wait_site(self, module: ModuleFacts, node: ast.AST) -> Site | None:
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            return None
        if node.func.attr in kb.RESULT_WAIT_METHODS and self.is_result(node.func.value):
            text = f"`{node_text(module, node.func, 46)}()`"
            return Site(node, text, "waits for another task's result", "a chain or chord")
        return None


def _allowed_joins(fn: FunctionFacts) -> set[int]:
    """Statements inside ``with allow_join_result():``."""
    inside: set[int] = set()
    for node in fn.own_nodes:
        if isinstance(node, ast.With) and any(
            isinstance(item.context_expr, ast.Call)
            and fn.scope.qualify(item.context_expr.func) in kb.ALLOW_JOIN_RESULT
            for item in node.items
        ):
            inside.update(id(s) for s in iter_statements(node.body, enter_defs=False))
    return inside


def _result_origin(program: Program, fn: FunctionFacts) -> Evidence | None:
    """Does a sync function return a Celery result (annotated so, or every ``return`` gives
    one)? Evidence at the return (or the signature), memoised per program."""
    memo = memo_table(program, "RH507.returns")
    if fn.qualname in memo:
        known = memo[fn.qualname]
        return known if isinstance(known, Evidence) else None
    memo[fn.qualname] = None  # cut recursion
    module = program.module_of(fn)
    found: Evidence | None = None
    node = fn.node
    if isinstance(node, ast.Module):
        return None
    if fn.scope.annotation_type(node.returns) in kb.RESULT_CLASSES:
        found = evidence_in(module, node, f"{fn.display}() returns a Celery result")
    else:
        returns = [n for n in fn.own_nodes if isinstance(n, ast.Return) and n.value is not None]
        results = CeleryResults(program, fn)
        if returns and all(r.value is not None and results.is_result(r.value) for r in returns):
            first = min(returns, key=position)
            text = node_text(module, first.value or first, 50)
            found = evidence_in(module, first, f"{fn.display}() returns the result of `{text}`")
    memo[fn.qualname] = found
    return found


def _wait_direct(program: Program) -> Callable[[FunctionFacts], Site | None]:
    def direct(fn: FunctionFacts) -> Site | None:
        module = program.module_of(fn)
        if not celery_active(program, module) or is_celery_task(program, fn):
            return None
        results = CeleryResults(program, fn)
        sites = [s for n in fn.own_nodes if (s := results.wait_site(module, n)) is not None]
        return min(sites, key=lambda s: position(s.node)) if sites else None

    return direct


@rule(
    TASK_WAITS_ON_TASK,
    "celery-task-waits-on-task",
    Severity.ERROR,
    "A Celery task blocks on another task's result: workers starve, and can deadlock.",
    "Compose with `chain`/`chord` or a `link=` callback instead of waiting inside the task.",
)
def celery_task_waits_on_task(ctx: RuleContext) -> Iterator[Finding]:
    """A task that calls ``.get()`` (or ``.wait()``, ``.join()``) on a subtask's result holds a
    worker slot while waiting for a task that needs a worker slot. With every slot taken by
    waiting parents, the children never run: the pool deadlocks (Celery raises
    ``RuntimeError`` by default for exactly this reason). ``with allow_join_result():`` and
    ``disable_sync_subtasks=False`` only silence that guard, so they are still reported. Chains,
    chords and ``link=`` callbacks express the same flow without blocking; ``.get()`` outside
    tasks (a script, a test, a web view) is not reported. Sync helpers that wait, called from
    the task, are followed, and so are helpers that return a result the task then waits on
    (``pending = start_rendering(id); pending.get()``), in any module of the workspace."""
    module = ctx.module
    if not celery_active(ctx.program, module):
        return
    for fn in ctx.functions():
        if fn.is_async or not is_celery_task(ctx.program, fn):
            continue
        results = CeleryResults(ctx.program, fn)
        allowed = _allowed_joins(fn)
        for call in sorted_calls(fn, lambda c: True):
            site = results.wait_site(module, call.node)
            chain: Chain = ()
            if site is not None:
                assert isinstance(call.node.func, ast.Attribute)
                origin = results.origin(call.node.func.value)
                chain = (origin,) if origin is not None else ()
            else:
                callee = ctx.program.callee_function(call)
                if callee is None or callee.is_async:
                    continue
                reach = reach_site(ctx.program, callee, "RH507.wait", _wait_direct(ctx.program))
                if reach is None:
                    continue
                site = reach[0]
                hop = ctx.evidence(call.span, f"{fn.display}() calls {callee.display}()")
                chain = (hop, *reach[1])
            note = ""
            if id(call.stmt) in allowed:
                note = " (`allow_join_result()` only silences Celery's guard)"
            elif is_false(keyword_value(call.node, "disable_sync_subtasks")):
                note = " (`disable_sync_subtasks=False` only silences Celery's guard)"
            via = "" if site.node is call.node else f" (via `{call.text}()`)"
            yield ctx.finding(
                TASK_WAITS_ON_TASK,
                call.span,
                f"Celery task `{fn.display}` {site.what}: {site.text}{via} holds a worker while "
                f"the subtask needs one — starvation, deadlock once every worker waits{note}",
                function=fn,
                evidence=chain,
                assumptions=("workers outnumber the tasks that wait at any moment",),
                fix={"kind": "celery-canvas"},
            )
