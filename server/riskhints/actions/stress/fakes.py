"""The values a generated stress test passes: arguments inferred from annotations and defaults,
recording fakes (``stress.fake("client")``) for everything else, and the factory of the instance
a method is called on.

An instance is built with its constructor when the arguments can be inferred or faked; the
harness falls back to building it without ``__init__`` and giving it the attributes the analysed
code touches (``touched``), of the kind ``__init__`` gives them (an ``asyncio.Lock`` stays a
lock, a dict stays a dict, a collaborator becomes a fake). Nothing here imports the user's code.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from ...analysis.parse import parse_expression
from .literals import argument_literal, is_plain_value
from .source import FunctionNode, Module, Target, dotted

_PATH_NAME = re.compile(r"(^|_)(path|file|filename|dir|directory|folder)$")
_SHORT_FLOAT_NAME = re.compile(r"delay|timeout|interval|wait|sleep|backoff|period")
_SIMPLE = {
    "int": "1",
    "bool": "False",
    "bytes": 'b"stress"',
    "list": "[]",
    "dict": "{}",
    "set": "set()",
    "tuple": "()",
    "None": "None",
}
_KINDS = {
    "asyncio.Lock": "asyncio.Lock",
    "threading.Lock": "threading.Lock",
    "threading.RLock": "threading.RLock",
    "Lock": "threading.Lock",
    "RLock": "threading.RLock",
    "dict": "dict",
    "defaultdict": "dict",
    "OrderedDict": "dict",
    "list": "list",
    "set": "set",
}


@dataclass
class Arguments:
    """Python source for the arguments of one call, by parameter name, in order."""

    values: list[tuple[str, str, bool]] = field(default_factory=list)  # (name, source, keyword)
    fakes: list[str] = field(default_factory=list)  # names given a fake
    uses_tmp_path: bool = False

    def source(self) -> str:
        return ", ".join(f"{n}={v}" if kw else v for n, v, kw in self.values)


def infer_arguments(
    module: Module, node: FunctionNode, *, skip_first: bool, cls: ast.ClassDef | None = None
) -> Arguments:
    """Arguments of a call of ``node``: from annotations, else a constant the code compares the
    parameter with or looks it up by (see ``literals``), else a fake."""
    args = node.args
    result = Arguments()
    defaults = _defaults_by_name(args)
    positional = [*args.posonlyargs, *args.args]
    if skip_first and positional:
        positional = positional[1:]
    keyword_allowed = False
    for param in positional:
        if param.arg in defaults:
            keyword_allowed = True  # later positional parameters are passed by keyword
            continue
        as_keyword = keyword_allowed and param not in args.posonlyargs
        _add(module, result, param, as_keyword, (node, cls))
    for param in args.kwonlyargs:
        if param.arg not in defaults:
            _add(module, result, param, True, (node, cls))
    return result


def _add(
    module: Module,
    result: Arguments,
    param: ast.arg,
    as_keyword: bool,
    used_in: tuple[FunctionNode, ast.ClassDef | None] | None = None,
) -> None:
    value = infer_value(module, param.annotation, param.arg, depth=0)
    if value is None and param.annotation is None and used_in is not None:
        value = argument_literal(module, used_in[0], used_in[1], param.arg)
        if value is None and is_plain_value(used_in[0], param.arg):
            value = (
                f'str(stress.tmp_path / "{param.arg}")'
                if _PATH_NAME.search(param.arg)
                else f'"{param.arg}-1"'
            )
    if value is None:
        value = f'stress.fake("{param.arg}")'
        result.fakes.append(param.arg)
    result.uses_tmp_path |= "tmp_path" in value
    result.values.append((param.arg, value, as_keyword))


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


def infer_value(module: Module, annotation: ast.expr | None, name: str, depth: int) -> str | None:
    """Python source for a value of the annotated type, or None when it cannot be inferred."""
    if annotation is None:
        return None
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            annotation = parse_expression(annotation.value)
        except SyntaxError:
            return None
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        for side in (annotation.left, annotation.right):
            if not (isinstance(side, ast.Constant) and side.value is None):
                value = infer_value(module, side, name, depth)
                if value is not None:
                    return value
        return "None"
    if isinstance(annotation, ast.Subscript):
        return _infer_generic(module, annotation, name, depth)
    type_name = dotted(annotation)
    if type_name is None:
        return None
    short = type_name.rsplit(".", 1)[-1]
    if short == "str":
        return f'str(stress.tmp_path / "{name}")' if _PATH_NAME.search(name) else '"stress"'
    if short in ("Path", "PurePath") or type_name == "os.PathLike":
        return f'stress.tmp_path / "{name}"'
    if short in _SIMPLE:
        return _SIMPLE[short]
    if short == "float":
        return "0.01" if _SHORT_FLOAT_NAME.search(name) else "1.0"
    if type_name in module.classes and depth < 2:
        constructor = constructor_arguments(module, module.classes[type_name], depth + 1)
        if constructor is not None and not constructor.fakes:
            return f"stress.target.{type_name}({constructor.source()})"
    return None


def _infer_generic(module: Module, annotation: ast.Subscript, name: str, depth: int) -> str | None:
    outer = (dotted(annotation.value) or "").rsplit(".", 1)[-1]
    inner = annotation.slice
    items = list(inner.elts) if isinstance(inner, ast.Tuple) else [inner]
    if outer == "Optional":
        return infer_value(module, items[0], name, depth) or "None"
    if outer == "Union":
        for item in items:
            value = infer_value(module, item, name, depth)
            if value is not None:
                return value
        return None
    if outer == "Annotated":
        return infer_value(module, items[0], name, depth)
    if outer == "Literal":
        first = items[0]
        return ast.unparse(first) if isinstance(first, ast.Constant) else None
    element = infer_value(module, items[0], name, depth) if items else None
    if outer in ("list", "List", "Sequence", "Iterable", "Collection", "MutableSequence"):
        return f"[{element}]" if element is not None else "[]"
    if outer in ("set", "Set", "frozenset", "FrozenSet", "AbstractSet"):
        return f"{{{element}}}" if element is not None else "set()"
    if outer in ("dict", "Dict", "Mapping", "MutableMapping"):
        return "{}"
    if outer in ("tuple", "Tuple"):
        if len(items) == 2 and isinstance(items[1], ast.Constant) and items[1].value is ...:
            return f"({element},)" if element is not None else "()"
        values = [infer_value(module, item, name, depth) for item in items]
        if any(v is None for v in values):
            return None
        return "(" + ", ".join(v for v in values if v) + ("," if len(values) == 1 else "") + ")"
    return None


def constructor_arguments(module: Module, cls: ast.ClassDef, depth: int = 0) -> Arguments | None:
    """Arguments for ``cls(...)`` from its ``__init__`` (or a base's in this module, or its
    dataclass fields), with fakes where nothing can be inferred; None when the constructor comes
    from a class defined elsewhere (then the harness builds the instance without it)."""
    if _is_dataclass(cls):
        result = Arguments()
        for item in cls.body:
            if (
                isinstance(item, ast.AnnAssign)
                and isinstance(item.target, ast.Name)
                and item.value is None
                and "ClassVar" not in ast.unparse(item.annotation)
            ):
                _add(module, result, ast.arg(item.target.id, item.annotation), True)
        return result
    init = init_of(module, cls)
    if init is not None:
        return infer_arguments(module, init, skip_first=True, cls=cls)
    for base in cls.bases:
        name = dotted(base) or ""
        if name in ("object", "ABC", "abc.ABC", "Generic") or name.startswith("typing."):
            continue
        return None  # built elsewhere: its constructor is unknown here
    return Arguments()


def init_of(module: Module, cls: ast.ClassDef, depth: int = 0) -> ast.FunctionDef | None:
    for item in cls.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            return item
    for base in cls.bases:
        name = dotted(base)
        if name in module.classes and module.classes[name] is not cls and depth < 3:
            return init_of(module, module.classes[name], depth + 1)
    return None


def _is_dataclass(cls: ast.ClassDef) -> bool:
    return any(dotted(d) in ("dataclass", "dataclasses.dataclass") for d in cls.decorator_list)


def touched_attributes(module: Module, target: Target) -> dict[str, str]:
    """The attributes of ``self`` that ``target`` and the methods it calls on ``self`` use,
    with the kind of value ``__init__`` gives them (see the module docstring)."""
    cls = target.cls
    if cls is None:
        return {}
    methods = {
        item.name: item
        for item in cls.body
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    kinds = _init_kinds(module, cls)
    seen: dict[str, str] = {}
    queue = [target.node]
    visited: set[str] = set()
    while queue:
        node = queue.pop()
        if node.name in visited:
            continue
        visited.add(node.name)
        for child in ast.walk(node):
            if (
                isinstance(child, ast.Attribute)
                and isinstance(child.value, ast.Name)
                and child.value.id == "self"
            ):
                if child.attr in methods:
                    queue.append(methods[child.attr])
                elif not child.attr.startswith("__"):
                    seen.setdefault(child.attr, kinds.get(child.attr, "fake"))
    return dict(sorted(seen.items()))


def _init_kinds(module: Module, cls: ast.ClassDef) -> dict[str, str]:
    init = init_of(module, cls)
    kinds: dict[str, str] = {}
    if init is None:
        return kinds
    for node in ast.walk(init):
        if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            if (
                isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id == "self"
            ):
                kinds[target.attr] = _kind_of(node.value)
    return kinds


def _kind_of(value: ast.expr) -> str:
    if isinstance(value, ast.Dict) or isinstance(value, ast.DictComp):
        return "dict"
    if isinstance(value, (ast.List, ast.ListComp)):
        return "list"
    if isinstance(value, (ast.Set, ast.SetComp)):
        return "set"
    if isinstance(value, ast.Constant):
        if value.value is None:
            return "none"
        if isinstance(value.value, int) and not isinstance(value.value, bool):
            return "int"
    if isinstance(value, ast.Call):
        name = dotted(value.func) or ""
        if name in _KINDS:
            return _KINDS[name]
        short = name.rsplit(".", 1)[-1]
        if short in ("dict", "defaultdict", "OrderedDict", "list", "set"):
            return _KINDS[short]
    return "fake"
