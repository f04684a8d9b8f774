"""Values the analysed code names itself, so that a generated call takes the path to the hazard
instead of a fake's default path:

- ``argument_literal``: a constant an unannotated parameter is compared against (``kind ==
  "refund"``, ``kind in ("a", "b")``) or looked up with in a dict the code builds from literals
  (``self.stock.get(sku)`` with ``self.stock = {"sku-1": 1}`` in ``__init__``, a module-level
  table): a fake is equal to nothing and a key of nothing, so the check would always fail;
- ``handled_errors``: the exception types of the ``except`` clauses whose body holds the
  finding's line: the hazard happens only on that path, so the test's fakes raise them (on a
  seeded schedule; see the harness's ``Stress.fakes_raise``).

Pure: AST in, Python source out; nothing of the user's is imported or run.
"""

from __future__ import annotations

import ast
import builtins

from .source import FunctionNode, Module, dotted

_NOT_RAISED = frozenset(
    {"CancelledError", "asyncio.CancelledError", "KeyboardInterrupt", "SystemExit", "GeneratorExit"}
)
_LOOKUPS = frozenset({"get", "pop", "setdefault", "__getitem__"})


def argument_literal(
    module: Module, node: FunctionNode, cls: ast.ClassDef | None, name: str
) -> str | None:
    """Python source of the first constant (in source order) that ``node`` compares parameter
    ``name`` with or looks it up by; None when the code names none."""
    found: list[tuple[int, int, str]] = []
    for child in ast.walk(node):
        for value in _candidates(module, cls, child, name):
            found.append((getattr(child, "lineno", 0), getattr(child, "col_offset", 0), value))
    return min(found)[2] if found else None


def _candidates(module: Module, cls: ast.ClassDef | None, node: ast.AST, name: str) -> list[str]:
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        left, op, right = node.left, node.ops[0], node.comparators[0]
        if isinstance(op, (ast.Eq, ast.NotEq)):
            if _is_name(left, name) and _constant(right) is not None:
                return [_constant(right) or ""]
            if _is_name(right, name) and _constant(left) is not None:
                return [_constant(left) or ""]
        if isinstance(op, (ast.In, ast.NotIn)) and _is_name(left, name):
            if isinstance(right, (ast.Tuple, ast.List, ast.Set)):
                return [c for c in map(_constant, right.elts) if c is not None][:1]
            return _dict_keys(module, cls, right)[:1]
    if isinstance(node, ast.Subscript) and _is_name(node.slice, name):
        return _dict_keys(module, cls, node.value)[:1]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in _LOOKUPS
        and node.args
        and _is_name(node.args[0], name)
    ):
        return _dict_keys(module, cls, node.func.value)[:1]
    return []


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _constant(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, bytes)):
        value = node.value
        if isinstance(value, str) and value.isprintable() and not set(value) & {'"', "\\"}:
            return f'"{value}"'  # the quotes ruff format writes
        if not isinstance(value, bool):
            return repr(value)
    return None


def _dict_keys(module: Module, cls: ast.ClassDef | None, owner: ast.AST) -> list[str]:
    """The constant keys of the dict literal ``owner`` names: ``self.attr`` (set in the class
    body or ``__init__``) or a module-level name."""
    value: ast.AST | None = None
    if (
        isinstance(owner, ast.Attribute)
        and isinstance(owner.value, ast.Name)
        and owner.value.id in ("self", "cls")
        and cls is not None
    ):
        value = _assigned_in_class(cls, owner.attr)
    elif isinstance(owner, ast.Name):
        value = _assigned_at_module(module.tree, owner.id)
    if not isinstance(value, ast.Dict):
        return []
    return [c for c in (_constant(k) for k in value.keys if k is not None) if c is not None]


def _assigned_in_class(cls: ast.ClassDef, attr: str) -> ast.AST | None:
    for stmt in cls.body:
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if any(_is_name(t, attr) for t in targets):
                return stmt.value
    for stmt in cls.body:
        if isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__":
            for child in ast.walk(stmt):
                if isinstance(child, (ast.Assign, ast.AnnAssign)) and child.value is not None:
                    targets = child.targets if isinstance(child, ast.Assign) else [child.target]
                    for target in targets:
                        if (
                            isinstance(target, ast.Attribute)
                            and _is_name(target.value, "self")
                            and target.attr == attr
                        ):
                            return child.value
    return None


def _assigned_at_module(tree: ast.Module, name: str) -> ast.AST | None:
    for stmt in tree.body:
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if any(_is_name(t, name) for t in targets):
                return stmt.value
    return None


def handled_errors(module: Module, line: int) -> list[str]:
    """Python source (in the test, where the module is ``target``) of the exception types that
    the ``except`` clauses holding ``line`` in their body catch, innermost first. A bare
    ``except`` or ``except BaseException`` is reached by any ``Exception``."""
    handlers: list[ast.ExceptHandler] = []
    for node in ast.walk(module.tree):
        if isinstance(node, ast.ExceptHandler) and node.body:
            start, end = node.body[0].lineno, node.body[-1].end_lineno or node.body[-1].lineno
            if start <= line <= end:
                handlers.append(node)
    handlers.sort(key=lambda h: -h.lineno)
    found: list[str] = []
    for handler in handlers:
        kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        for kind in kinds:
            source = _error_source(module, kind)
            if source is not None and source not in found:
                found.append(source)
    return found


def _error_source(module: Module, kind: ast.expr | None) -> str | None:
    name = dotted(kind) if kind is not None else "BaseException"
    if name is None or name in _NOT_RAISED:
        return None
    if name == "BaseException":
        return "Exception"
    root = name.split(".", 1)[0]
    if module.defines(root):
        qualified = module.imports.get(root, "")
        if qualified.rsplit(".", 1)[-1] in _NOT_RAISED:
            return None
        return f"target.{name}"
    value = getattr(builtins, name, None)
    if isinstance(value, type) and issubclass(value, Exception):
        return name
    return None


def is_plain_value(node: FunctionNode, name: str) -> bool:
    """Is parameter ``name`` used by ``node`` only as data: a keyword argument's value, in an
    f-string, a comparison, a dict, a subscript's index, ``str()``/``int()``? Then a text
    serves better than a fake (a library given a fake as a value probes it, and a fake answers
    every probe). Any other use (an attribute, a call, a positional argument, an assignment)
    may be a collaborator's: no."""
    parents: dict[int, ast.AST] = {}
    for outer in ast.walk(node):
        for child in ast.iter_child_nodes(outer):
            parents[id(child)] = outer
    uses = [
        n
        for n in ast.walk(node)
        if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)
    ]
    if not uses:
        return False
    for use in uses:
        parent = parents.get(id(use))
        if isinstance(parent, (ast.keyword, ast.FormattedValue, ast.Compare, ast.Dict)):
            continue
        if isinstance(parent, ast.Subscript) and parent.slice is use:
            continue
        if (
            isinstance(parent, ast.Call)
            and isinstance(parent.func, ast.Name)
            and parent.func.id in ("str", "int", "float")
        ):
            continue
        return False
    return True
