"""Helpers the framework packs share.

- ``reach_site``: the first operation of a kind (an ORM query, a task enqueue, a result wait)
  that a sync function reaches, itself or through sync helpers, with the call hops.
- Definitions read from every module of the program, once per program: classes and their bases
  across files, re-exports through package ``__init__`` modules, program-wide name sets, whether
  a module (or a workspace module it imports) uses a framework.
- Local bindings: a local name has a kind (``QuerySet``, Celery result, session ...) only when
  *every* binding of it in the function says so, so a rebinding to something else makes the
  name unknown rather than wrong.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ...facts import CallSite, ClassFacts, FunctionFacts, ModuleFacts
from ...finding import Evidence
from ...summaries import Chain, Program, sorted_calls

COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


@dataclass(frozen=True)
class Site:
    """One operation found in a function body: where, and what it does in words."""

    node: ast.AST
    text: str  # ``Order.objects.filter(...).count()``
    what: str  # "runs a COUNT query"
    alternative: str  # "await ....acount()"


# =============================================================================================
# Shared helpers
# =============================================================================================


def node_text(module: ModuleFacts, node: ast.AST, limit: int = 60) -> str:
    return module.positions.segment(node, limit)


def position(node: ast.AST) -> tuple[int, int]:
    return (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))


def ordered(nodes: list[ast.AST]) -> list[ast.AST]:
    return sorted(nodes, key=position)


def single_bindings(fn: FunctionFacts) -> list[tuple[str, ast.AST | None]]:
    """``(name, value)`` for every binding of a local name, in source order; ``value`` is None
    when the bound value is not one expression (tuple unpacking, ``for`` targets ...)."""
    bindings: list[tuple[str, ast.AST | None]] = []
    for node in ordered(fn.own_nodes):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    bindings.append((target.id, node.value if len(node.targets) == 1 else None))
                else:
                    bindings.extend((n.id, None) for n in names_in(target))
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
            value = node.value if isinstance(node, ast.AnnAssign) else None
            bindings.append((node.target.id, value))
        elif isinstance(node, ast.NamedExpr):
            bindings.append((node.target.id, node.value))
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            bindings.extend((n.id, None) for n in names_in(node.target))
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    bindings.extend((n.id, None) for n in names_in(item.optional_vars))
    return bindings


def names_in(target: ast.AST) -> list[ast.Name]:
    """Names a target binds: ``a, (b, *c)`` binds three; ``obj.attr`` and ``d[k]`` bind none."""
    if isinstance(target, ast.Name):
        return [target]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for element in target.elts for n in names_in(element)]
    if isinstance(target, ast.Starred):
        return names_in(target.value)
    return []


def typed_names(
    fn: FunctionFacts,
    classify: Callable[[ast.AST | None], bool],
    found: set[str],
    rounds: int = 3,
) -> None:
    """Fill ``found`` with the local names all of whose bindings ``classify`` accepts, to a
    small fixpoint: ``classify`` may read ``found`` (``qs2 = qs.filter(...)``)."""
    bindings = single_bindings(fn)
    for _ in range(rounds):
        by_name: dict[str, bool] = {}
        for name, value in bindings:
            by_name[name] = by_name.get(name, True) and classify(value)
        updated = {name for name, ok in by_name.items() if ok}
        if updated == found:
            return
        found.clear()
        found.update(updated)


def reach_site(
    program: Program,
    fn: FunctionFacts,
    memo_key: str,
    direct: Callable[[FunctionFacts], Site | None],
    follow: Callable[[FunctionFacts, CallSite], FunctionFacts | None] | None = None,
) -> tuple[Site, Chain] | None:
    """The first ``direct`` site a *sync* function reaches, itself or through sync helpers (the
    call hops, then the site), memoised per program; recursion is cut. ``follow`` resolves a
    call to the function it runs (default: :meth:`Program.callee_function`)."""
    memo = program.memo.setdefault(memo_key, {})
    assert isinstance(memo, dict)
    if fn.qualname in memo:
        found: tuple[Site, Chain] | None = memo[fn.qualname]
        return found
    memo[fn.qualname] = None
    result: tuple[Site, Chain] | None = None
    site = direct(fn)
    module = program.module_of(fn)
    if site is not None:
        hop = Evidence(
            module.positions.head_span(site.node), f"{site.text} {site.what}", module.path
        )
        result = (site, (hop,))
    else:
        for call in sorted_calls(fn, lambda c: True):
            callee = follow(fn, call) if follow is not None else program.callee_function(call)
            if callee is None or callee.is_async or callee is fn:
                continue
            inner = reach_site(program, callee, memo_key, direct, follow)
            if inner is not None:
                hop = program.hop(fn, call, f"{fn.display}() calls {callee.display}()")
                result = (inner[0], (hop, *inner[1]))
                break
    memo[fn.qualname] = result
    return result


# =============================================================================================
# The workspace around a module: frameworks, classes and globals defined in other modules
# =============================================================================================
#
# A model, a relationship, a session factory or a Celery app is usually defined in one module
# (``models.py``, ``db.py``, ``celery_app.py``) and used in another. These helpers read every
# module of the :class:`Program` (the module analysed and the workspace modules it imports),
# once per program, so each rule sees definitions wherever they live.


def memo_table(program: Program, key: str) -> dict[str, object]:
    table = program.memo.setdefault(key, {})
    assert isinstance(table, dict)
    return table


def owning_module(program: Program, qualified: str) -> ModuleFacts | None:
    """``app.db.SessionLocal`` -> the facts of ``app.db`` (the longest module prefix)."""
    name = qualified
    while name:
        found = program.modules.get(name)
        if found is not None:
            return found
        name = name.rpartition(".")[0]
    return None


def uses_framework(
    program: Program, module: ModuleFacts, key: str, test: Callable[[ModuleFacts], bool]
) -> bool:
    """Does ``module``, or a workspace module it imports (transitively), pass ``test``? A pack
    is active in ``views.py`` when ``views.py`` imports Django itself, and also when it only
    imports ``services.py``, which does."""
    memo = memo_table(program, f"data.uses.{key}")
    if module.module in memo:
        return memo[module.module] is True
    seen = {module.module}
    pending = [module]
    found = False
    while pending and not found:
        current = pending.pop()
        found = test(current)
        for target in current.imports.values():
            owner = owning_module(program, target)
            if owner is not None and owner.module not in seen:
                seen.add(owner.module)
                pending.append(owner)
    memo[module.module] = found
    return found


def resolve_reexports(
    program: Program, qualified: str | None, known: Callable[[str], bool]
) -> str | None:
    """Follow re-exports (``from .models import Order`` in a package ``__init__``) until a
    name ``known`` accepts; the name itself when it is known, None when no hop is."""
    for _ in range(8):  # chains of re-exports, without looping forever on a cycle
        if qualified is None or known(qualified):
            return qualified
        module_name, _, name = qualified.rpartition(".")
        module = program.modules.get(module_name)
        if module is None or name not in module.imports:
            return None
        qualified = module.imports[name]
    return None


def program_classes(program: Program) -> dict[str, tuple[ModuleFacts, ClassFacts]]:
    def compute() -> dict[str, tuple[ModuleFacts, ClassFacts]]:
        return {q: (m, c) for m in program.modules.values() for q, c in m.classes.items()}

    return program.memoized("data.classes", compute)


def program_bases(program: Program, class_qualname: str | None) -> set[str]:
    """Every base of a class, following bases defined in any module of the program."""
    classes = program_classes(program)
    found: set[str] = set()
    pending = [class_qualname] if class_qualname else []
    while pending:
        current = resolve_reexports(program, pending.pop(), classes.__contains__)
        entry = classes.get(current) if current is not None else None
        if entry is None:
            continue
        for base in entry[1].bases:
            resolved = resolve_reexports(program, base, classes.__contains__) or base
            if resolved not in found:
                found.add(resolved)
                pending.append(resolved)
    return found


def evidence_in(module: ModuleFacts, node: ast.AST, message: str) -> Evidence:
    """Evidence at a node of any module of the program (it keeps that module's path)."""
    return Evidence(module.positions.head_span(node), message, module.path)


def is_false(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def keyword_value(call: ast.Call, name: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def string_value(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def call_argument(call: ast.Call, index: int, keyword: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    return call.args[index] if len(call.args) > index else None


def contains(outer: ast.AST, inner: ast.AST) -> bool:
    return any(node is inner for node in ast.walk(outer))


def class_assignment(stmt: ast.stmt) -> tuple[str | None, ast.AST | None]:
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target = stmt.targets[0]
        if isinstance(target, ast.Name):
            return target.id, stmt.value
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        return stmt.target.id, stmt.value
    return None, None


def lambda_nodes(root: ast.AST) -> list[ast.AST]:
    nodes: list[ast.AST] = []
    stack: list[ast.AST] = [root.body if isinstance(root, ast.Lambda) else root]
    while stack:
        node = stack.pop()
        nodes.append(node)
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef)):
                stack.append(child)
    return nodes


def program_names(
    program: Program, key: str, names_of: Callable[[ModuleFacts], Iterable[str]]
) -> frozenset[str]:
    """``names_of`` every module of the program, qualified, computed once per program."""

    def compute() -> frozenset[str]:
        return frozenset(
            f"{module.module}.{name}"
            for module in program.modules.values()
            for name in names_of(module)
        )

    return program.memoized(key, compute)


def last_values(fn: FunctionFacts) -> dict[str, ast.AST]:
    """Local names bound exactly once to one expression: name -> that expression."""
    values: dict[str, ast.AST | None] = {}
    for name, value in single_bindings(fn):
        values[name] = value if name not in values else None
    return {name: value for name, value in values.items() if value is not None}
