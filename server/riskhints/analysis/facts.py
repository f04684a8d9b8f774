"""One pass over a module: functions, async-ness, calls (with resolved names), lock operations,
awaits and the locks held at each of them.

Invariants:
- Pure: takes an ``ast.Module`` and its text, reads nothing else, imports nothing of the user's.
- Every qualified name is module-qualified (``app.cache.Cache.refresh``), so that a workspace
  index can join facts of many modules on the same names.
- Module-level code (and class bodies) is collected as a pseudo-function ``<module>``.
- Statements are visited recursively (their depth is bounded by the parser's own indentation
  limit); expressions are walked iteratively, so deeply nested expressions cannot overflow the
  stack here.
"""

from __future__ import annotations

import ast
import builtins
import functools
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, cast

from .finding import Span
from .knowledge.primitives import (
    FILE_OVER_OBJECT,
    KNOWN_CLASSES,
    PRIMITIVES,
    RETURN_TYPES,
    Primitive,
    canonical_type,
    primitive,
)
from .parse import parse_expression
from .positions import Positions

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
Usage = Literal["discarded", "awaited", "assigned", "condition", "argument", "returned", "other"]
LockForm = Literal["with", "async with", "acquire"]

_BUILTIN_NAMES = frozenset(dir(builtins))
# ``try`` and, on 3.11+, ``try``/``except*``: the same fields, so handled as one.
TRY_NODES = cast("tuple[type[ast.Try], ...]", (ast.Try, getattr(ast, "TryStar", ast.Try)))
_MODULE_SCOPE = "<module>"
_PATH_TYPES = frozenset({"pathlib.Path", "pathlib.PurePath"})
# Subscripted annotations from these name containers or callables, not the value's own class.
_CONTAINER_MODULES = ("builtins.", "typing.", "typing_extensions.", "collections.")


@dataclass(frozen=True)
class ExternalTypes:
    """What other workspace modules say about their names: the types of their globals and
    class attributes (``shop.services.ledger.ledger_lock`` -> ``threading.Lock``) and which of
    their names are classes. Given by the workspace, so an imported lock is still a lock.

    ``receivers`` are types inferred (by jedi, see ``analysis.inference``) for this module's
    call receivers the syntax could not type, keyed by the receiver node's position
    ``(lineno, col_offset, end_lineno, end_col_offset)``."""

    types: Mapping[str, str] = field(default_factory=dict)
    classes: frozenset[str] = frozenset()
    receivers: Mapping[tuple[int, int, int, int], str] = field(default_factory=dict)
    # Workspace classes that are locks themselves: class -> the primitive type they wrap.
    lock_classes: Mapping[str, str] = field(default_factory=dict)
    # Workspace functions' return types (``shop.clients.make_client`` -> ``shop.clients.Api``).
    returns: Mapping[str, str] = field(default_factory=dict)
    # Workspace properties (``shop.config.Settings.values``): reading one runs its getter.
    properties: frozenset[str] = frozenset()

    @staticmethod
    def of(modules: Iterable[ModuleFacts]) -> ExternalTypes:
        types: dict[str, str] = {}
        classes: set[str] = set()
        lock_classes: dict[str, str] = {}
        returns: dict[str, str] = {}
        properties: set[str] = set()
        for facts in modules:
            for name, type_name in facts.global_types.items():
                types[f"{facts.module}.{name}"] = type_name
            for qualname, cls in facts.classes.items():
                classes.add(qualname)
                for attr, type_name in cls.attr_types.items():
                    types[f"{qualname}.{attr}"] = type_name
            lock_classes.update(facts.lock_classes)
            returns.update(facts.function_returns)
            for qualname, cls in facts.classes.items():
                properties.update(f"{qualname}.{name}" for name in cls.properties)
        return ExternalTypes(
            types,
            frozenset(classes),
            lock_classes=lock_classes,
            returns=returns,
            properties=frozenset(properties),
        )


_NO_EXTERNAL_TYPES = ExternalTypes()


def position_key(node: ast.AST) -> tuple[int, int, int, int] | None:
    """``(lineno, col_offset, end_lineno, end_col_offset)``: how inferred receiver types name
    their node (``ExternalTypes.receivers``); None for nodes without a position."""
    end_line = getattr(node, "end_lineno", None)
    end_col = getattr(node, "end_col_offset", None)
    if end_line is None or end_col is None:
        return None
    return (getattr(node, "lineno", 0), getattr(node, "col_offset", 0), end_line, end_col)


@dataclass(frozen=True)
class LockRef:
    """A lock-like object, identified by where it lives rather than by the expression."""

    key: str  # "app.cache._lock", "app.cache.Cache._lock", "app.cache.f.<locals>.lock"
    display: str  # as written at the first place we saw it: "self._lock"
    type: str
    primitive: Primitive


@dataclass(frozen=True)
class Held:
    lock: LockRef
    span: Span
    form: LockForm


@dataclass
class CallSite:
    node: ast.Call
    span: Span
    callee: str | None
    text: str
    held: tuple[Held, ...]
    usage: Usage
    in_loop: bool  # inside a ``while`` loop of the same function
    receiver_type: str | None
    stmt: ast.stmt
    parent: ast.AST | None

    @property
    def awaited(self) -> bool:
        return self.usage == "awaited"


@dataclass
class AwaitSite:
    node: ast.AST  # ast.Await, or the ``async for``/``async with`` statement
    span: Span
    held: tuple[Held, ...]


@dataclass
class LockOp:
    lock: LockRef
    span: Span
    form: LockForm
    held_before: tuple[Held, ...]
    node: ast.AST
    released_on_all_paths: bool
    stmt: ast.stmt

    @property
    def is_try_acquire(self) -> bool:
        """``acquire(blocking=False)`` / ``acquire(False)`` / ``acquire(timeout=0)``: fails at
        once when the lock is taken, so it can neither deadlock nor wait for another holder."""
        call = self.node
        if self.form != "acquire" or not isinstance(call, ast.Call):
            return False
        if call.args and isinstance(call.args[0], ast.Constant) and call.args[0].value is False:
            return True
        return any(
            (
                kw.arg == "blocking"
                and isinstance(kw.value, ast.Constant)
                and kw.value.value is False
            )
            or (kw.arg == "timeout" and isinstance(kw.value, ast.Constant) and kw.value.value == 0)
            for kw in call.keywords
        )


@dataclass
class FunctionFacts:
    qualname: str
    name: str
    node: FunctionNode | ast.Module
    is_async: bool
    class_qualname: str | None
    parent: str | None
    scope: Scope
    # Qualified names of decorators (their source text when unresolved).
    decorators: list[str] = field(default_factory=list)
    calls: list[CallSite] = field(default_factory=list)
    awaits: list[AwaitSite] = field(default_factory=list)
    lock_ops: list[LockOp] = field(default_factory=list)

    @property
    def is_module_scope(self) -> bool:
        return self.name == _MODULE_SCOPE

    @functools.cached_property
    def own_nodes(self) -> list[ast.AST]:
        """Every node of the body, not entering nested functions, lambdas or classes (computed
        once, shared by the rules that need more than the recorded calls and awaits)."""
        nodes: list[ast.AST] = []
        stack: list[ast.AST] = [self.node]
        while stack:
            node = stack.pop()
            nodes.append(node)
            for child in ast.iter_child_nodes(node):
                if not isinstance(child, _OPAQUE):
                    stack.append(child)
        return nodes

    @property
    def display(self) -> str:
        """The name a user recognises: ``Cache.refresh`` rather than ``app.cache.Cache.refresh``."""
        return self.scope.module_facts.short(self.qualname)


@dataclass
class ClassFacts:
    qualname: str
    name: str
    node: ast.ClassDef
    bases: list[str]
    attr_types: dict[str, str] = field(default_factory=dict)
    methods: dict[str, str] = field(default_factory=dict)
    # Attributes assigned through ``self.x = ...``: one object per instance.
    instance_attrs: set[str] = field(default_factory=set)
    # Methods decorated with ``@property``/``@cached_property``: reading the attribute runs them.
    properties: set[str] = field(default_factory=set)
    # ``self.client = client`` in ``__init__`` with ``client`` an untyped parameter: attribute
    # -> (the parameter's position after ``self``, or -1 when keyword-only; its name). What the
    # callers construct it with types the attribute (``Program.constructor_types``).
    param_attrs: dict[str, tuple[int, str]] = field(default_factory=dict)


@dataclass
class ModuleFacts:
    module: str
    path: str
    tree: ast.Module
    positions: Positions
    imports: dict[str, str] = field(default_factory=dict)
    global_types: dict[str, str] = field(default_factory=dict)
    global_names: set[str] = field(default_factory=set)
    top_level_defs: dict[str, str] = field(default_factory=dict)
    functions: dict[str, FunctionFacts] = field(default_factory=dict)
    classes: dict[str, ClassFacts] = field(default_factory=dict)
    is_package: bool = False  # an ``__init__`` module
    external: ExternalTypes = field(default_factory=ExternalTypes)
    # Storage keys of semaphores created with a count of one: they deadlock like a plain lock.
    binary_semaphores: set[str] = field(default_factory=set)
    # This module's classes that are locks (their __enter__/__aenter__ takes a primitive of
    # their own): class qualname -> the primitive's type.
    lock_classes: dict[str, str] = field(default_factory=dict)
    # What this module's functions and methods return, when it is one type: from the return
    # annotation, else from every ``return`` agreeing (``return Client(url)``).
    function_returns: dict[str, str] = field(default_factory=dict)

    @functools.cached_property
    def property_names(self) -> frozenset[str]:
        """Names of properties of this module's classes and of the workspace's: a cheap first
        test before an attribute read is typed to see whether it runs a getter."""
        names = {name for cls in self.classes.values() for name in cls.properties}
        names.update(q.rpartition(".")[2] for q in self.external.properties)
        return frozenset(names)

    def property_getter(self, owner: str, attr: str) -> str | None:
        """The qualified getter ``owner.attr`` runs when ``attr`` is a property of ``owner``
        (or of a base of it in this module)."""
        for cls in self.lineage(owner):
            if attr in cls.properties:
                return f"{cls.qualname}.{attr}"
        qualname = f"{owner}.{attr}"
        return qualname if qualname in self.external.properties else None

    def wrapped_primitive(self, type_name: str | None) -> str | None:
        """The primitive type a lock class of the workspace wraps, else ``type_name``."""
        if type_name is None:
            return None
        return self.lock_classes.get(type_name) or self.external.lock_classes.get(
            type_name, type_name
        )

    @functools.cached_property
    def parents(self) -> dict[int, ast.AST]:
        """``id(node)`` -> parent node, for the whole module (built on first use only)."""
        parents: dict[int, ast.AST] = {}
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                parents[id(child)] = node
        return parents

    def release(self) -> None:
        """Drop what ties the facts into cycles (see ``ParsedModule.release``)."""
        self.functions.clear()
        self.classes.clear()
        self.__dict__.pop("parents", None)

    def short(self, qualname: str) -> str:
        prefix = self.module + "."
        return qualname[len(prefix) :] if qualname.startswith(prefix) else qualname

    def imports_module(self, *prefixes: str) -> bool:
        return any(
            target == p or target.startswith(p + ".")
            for target in self.imports.values()
            for p in prefixes
        )

    def lineage(self, class_qualname: str) -> Iterator[ClassFacts]:
        """The class and its bases defined in this module, nearest first (each once)."""
        seen: set[str] = set()
        pending = [class_qualname]
        while pending:
            current = pending.pop(0)
            if current in seen:
                continue
            seen.add(current)
            cls = self.classes.get(current)
            if cls is not None:
                yield cls
                pending.extend(cls.bases)

    def class_attr_type(self, class_qualname: str, attr: str) -> str | None:
        for cls in self.lineage(class_qualname):
            if attr in cls.attr_types:
                return cls.attr_types[attr]
        return None

    def attr_owner(self, class_qualname: str, attr: str) -> str:
        """The class (this one or a base in this module) whose body or methods define ``attr``:
        a lock created in a base's ``__init__`` is the same object in every subclass method."""
        for cls in self.lineage(class_qualname):
            if attr in cls.attr_types or attr in cls.instance_attrs:
                return cls.qualname
        return class_qualname

    def method(self, class_qualname: str, name: str) -> str | None:
        for cls in self.lineage(class_qualname):
            if name in cls.methods:
                return cls.methods[name]
        return None

    def iter_functions(self) -> Iterator[FunctionFacts]:
        return iter(self.functions.values())


class Scope:
    """Name resolution inside one function (or the module body)."""

    def __init__(
        self,
        module_facts: ModuleFacts,
        qualname: str,
        class_qualname: str | None,
        self_name: str | None,
        parent: Scope | None = None,
    ) -> None:
        self.module_facts = module_facts
        self.qualname = qualname
        self.class_qualname = class_qualname
        self.self_name = self_name
        self.parent = parent
        self.local_types: dict[str, str] = {}
        self.local_functions: dict[str, str] = {}
        self.local_names: set[str] = set()

    # -- names -------------------------------------------------------------------------------
    def qualify(self, node: ast.AST) -> str | None:
        """Qualified name of what an expression refers to (a function, class or module member)."""
        if isinstance(node, ast.Name):
            return self._qualify_name(node.id)
        if isinstance(node, ast.Attribute):
            receiver = self.type_of(node.value)
            if receiver is not None:
                return f"{receiver}.{node.attr}"
            base = self.qualify(node.value)
            if base is not None:
                return f"{base}.{node.attr}"
        return None

    def _qualify_name(self, name: str) -> str | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.local_functions:
                return scope.local_functions[name]
            if name in scope.local_types or name in scope.local_names:
                return None
            scope = scope.parent
        facts = self.module_facts
        if name in facts.imports:
            return facts.imports[name]
        if name in facts.top_level_defs:
            return facts.top_level_defs[name]
        if name in facts.global_names:
            return None
        if name in _BUILTIN_NAMES:
            return f"builtins.{name}"
        return None

    def type_of(self, node: ast.AST) -> str | None:
        """The (qualified) type of an expression's value, when the module says it (or, failing
        that, when inference gave one for this very node)."""
        found = self._syntactic_type_of(node)
        inferred = self.module_facts.external.receivers
        if found is None and inferred and isinstance(node, (ast.Name, ast.Attribute, ast.Call)):
            key = position_key(node)
            return inferred.get(key) if key is not None else None
        return found

    def _syntactic_type_of(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return self._type_of_name(node.id)
        if isinstance(node, ast.Attribute):
            owner = self.type_of(node.value)
            if owner is None and isinstance(node.value, ast.Name):
                # ``Cache._lock``: a class attribute read through the class itself.
                named = self.qualify(node.value)
                if named is not None and (
                    named in self.module_facts.classes
                    or named in self.module_facts.external.classes
                ):
                    owner = named
            external = self.module_facts.external.types
            if owner is not None:
                return self.module_facts.class_attr_type(owner, node.attr) or external.get(
                    f"{owner}.{node.attr}"
                )
            # ``ledger.ledger_lock`` on an imported workspace module.
            module_name = self.qualify(node.value)
            return external.get(f"{module_name}.{node.attr}") if module_name else None
        if isinstance(node, ast.Call):
            return self.type_of_call(node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            # ``base / "name"`` (and ``"dir" / base``) is still a path.
            for side in (node.left, node.right):
                side_type = self.type_of(side)
                if side_type in _PATH_TYPES:
                    return side_type
        return None

    def _type_of_name(self, name: str) -> str | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.local_types:
                return scope.local_types[name]
            if scope.self_name is not None and name == scope.self_name:
                return scope.class_qualname
            if name in scope.local_names or name in scope.local_functions:
                return None
            scope = scope.parent
        facts = self.module_facts
        if name in facts.global_types:
            return facts.global_types[name]
        if name in facts.imports:
            return facts.external.types.get(facts.imports[name])
        return None

    def type_of_call(self, node: ast.Call) -> str | None:
        callee = self.qualify(node.func)
        if callee is None:
            return None
        if callee in FILE_OVER_OBJECT and _argument_given(node, *FILE_OVER_OBJECT[callee]):
            return None  # a stream over the caller's object (a buffer): not a file of its own
        return self.returns(callee)

    def returns(self, callee: str) -> str | None:
        canonical = canonical_type(callee)
        if canonical in PRIMITIVES or canonical in KNOWN_CLASSES:
            return canonical
        if (
            canonical in self.module_facts.classes
            or canonical in self.module_facts.external.classes
        ):
            return canonical
        if canonical in RETURN_TYPES:
            return RETURN_TYPES[canonical]
        facts = self.module_facts
        return facts.function_returns.get(canonical) or facts.external.returns.get(canonical)

    def annotation_type(self, annotation: ast.AST | None) -> str | None:
        """``asyncio.Lock``, ``Optional[Lock]``, ``Lock | None`` and string annotations."""
        if annotation is None:
            return None
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            try:
                parsed = parse_expression(annotation.value)
            except SyntaxError:
                return None
            return self.annotation_type(parsed)
        if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
            for side in (annotation.left, annotation.right):
                if not (isinstance(side, ast.Constant) and side.value is None):
                    return self.annotation_type(side)
            return None
        if isinstance(annotation, ast.Subscript):
            outer = self.qualify(annotation.value)
            if outer in ("typing.Optional", "typing.Final", "typing.ClassVar"):
                return self.annotation_type(annotation.slice)
            if outer in ("typing.Annotated", "typing_extensions.Annotated"):
                inner = annotation.slice
                first = inner.elts[0] if isinstance(inner, ast.Tuple) and inner.elts else inner
                return self.annotation_type(first)
            # ``asyncio.Task[None]``, ``Future[int]``, ``queue.Queue[str]``: the generic class.
            if outer is not None and not outer.startswith(_CONTAINER_MODULES):
                return self.annotation_type(annotation.value)
            return None
        qualified = self.qualify(annotation)
        if qualified is None:
            return None
        canonical = canonical_type(qualified)
        if canonical in PRIMITIVES or canonical in KNOWN_CLASSES:
            return canonical
        if canonical in self.module_facts.classes or "." in canonical:
            return canonical
        return None

    def value_type(self, value: ast.AST | None) -> str | None:
        if value is None:
            return None
        if isinstance(value, ast.Await):
            # ``await make_pool()``: what a workspace coroutine function returns (awaiting
            # anything else, a task or a library coroutine, gives a type we do not know).
            if isinstance(value.value, ast.Call):
                callee = self.qualify(value.value.func)
                facts = self.module_facts
                if callee is not None:
                    return facts.function_returns.get(callee) or facts.external.returns.get(callee)
            return None
        return self.type_of(value)

    # -- locks -------------------------------------------------------------------------------
    def lock_ref(self, node: ast.AST) -> LockRef | None:
        """The lock-like primitive an expression names, with a stable identity (a workspace
        class that wraps one, ``async with self._mutex`` on a ``_Mutex()``, counts as it)."""
        type_name = self.type_of(node)
        prim = primitive(self.module_facts.wrapped_primitive(type_name))
        if prim is None or not prim.is_lock_like or type_name is None:
            return None
        key = self.storage_key(node)
        if key is None:
            return None
        return LockRef(key, ast.unparse(node), type_name, prim)

    def storage_key(self, node: ast.AST) -> str | None:
        """Where a value lives: ``mod.name`` (global), ``mod.Class.attr`` (instance or class
        attribute, instance-insensitive) or ``<function>.<locals>.name``."""
        if isinstance(node, ast.Name):
            scope: Scope | None = self
            while scope is not None:
                if node.id in scope.local_types or node.id in scope.local_names:
                    return f"{scope.qualname}.<locals>.{node.id}"
                scope = scope.parent
            if node.id in self.module_facts.imports:
                return self.module_facts.imports[node.id]
            return f"{self.module_facts.module}.{node.id}"
        if isinstance(node, ast.Attribute):
            owner = self.type_of(node.value)
            facts = self.module_facts
            if owner is not None and (owner in facts.classes or owner in facts.external.classes):
                return f"{facts.attr_owner(owner, node.attr)}.{node.attr}"
            base = self.storage_key(node.value) if owner is None else None
            if base is not None:
                return f"{base}.{node.attr}"
        return None


# ---------------------------------------------------------------------------------------------
# The builder
# ---------------------------------------------------------------------------------------------


def build_module_facts(
    tree: ast.Module,
    text: str,
    module: str,
    path: str,
    external: ExternalTypes = _NO_EXTERNAL_TYPES,
) -> ModuleFacts:
    facts = ModuleFacts(module=module, path=path, tree=tree, positions=Positions(text))
    facts.external = external
    facts.is_package = is_package_path(path)
    _collect_module_names(facts, tree)
    module_scope = Scope(facts, f"{module}.{_MODULE_SCOPE}", None, None)
    _collect_types(facts, module_scope, tree)
    builder = _FunctionBuilder(facts)
    builder.build_module(tree, module_scope)
    return facts


def _argument_given(node: ast.Call, keyword: str, position: int) -> bool:
    """Does the call pass this argument, as anything but ``None``?"""
    value: ast.expr | None = next((k.value for k in node.keywords if k.arg == keyword), None)
    if value is None and position < len(node.args):
        value = node.args[position]
    if value is None or isinstance(value, ast.Starred):
        return False
    return not (isinstance(value, ast.Constant) and value.value is None)


def _resolve_import_from(module: str, node: ast.ImportFrom, is_package: bool = False) -> str:
    """The absolute module a ``from ... import`` names. In a package's ``__init__`` the module
    *is* the package, so ``from .x import y`` there means ``<package>.x``."""
    if not node.level:
        return node.module or ""
    parts = module.split(".") if module else []
    drop = node.level - 1 if is_package else node.level
    package_parts = parts[: len(parts) - drop] if drop else parts
    base = ".".join(package_parts)
    if node.module:
        return f"{base}.{node.module}" if base else node.module
    return base


def imported_targets(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    """Qualified names a module imports (cheap: statements only), for the workspace to know
    which modules to read before this one's facts are built."""
    targets: set[str] = set()
    for node in iter_statements(tree.body):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve_import_from(module, node, is_package)
            targets.update(
                f"{source}.{alias.name}" if source else alias.name
                for alias in node.names
                if alias.name != "*"
            )
            if source:
                targets.add(source)
    return targets


def is_package_path(path: str) -> bool:
    return path.replace("\\", "/").rsplit("/", 1)[-1] in ("__init__.py", "__init__.pyi")


def _collect_module_names(facts: ModuleFacts, tree: ast.Module) -> None:
    """Imports anywhere in the module, and top-level definitions (also under if/try)."""
    for node in iter_statements(tree.body):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    facts.imports[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    facts.imports.setdefault(top, top)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve_import_from(facts.module, node, facts.is_package)
            for alias in node.names:
                if alias.name == "*":
                    continue
                facts.imports[alias.asname or alias.name] = (
                    f"{source}.{alias.name}" if source else alias.name
                )

    for stmt in _top_level(tree.body, (ast.If, ast.Try, ast.With)):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            facts.top_level_defs[stmt.name] = f"{facts.module}.{stmt.name}"
        else:
            for target in _assigned_names(stmt):
                facts.global_names.add(target)
    lambdas: dict[str, int] = {}
    for stmt in _top_level(tree.body, (ast.If, ast.Try, ast.With)):
        for target in _assigned_names(stmt):
            lambdas[target] = lambdas.get(target, 0) + (
                1000
                if not (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Lambda))
                else 1
            )
    for name, count in lambdas.items():
        if count == 1:  # bound once, to a lambda: a function of the module
            facts.top_level_defs[name] = f"{facts.module}.{name}"
            facts.global_names.discard(name)
    # ``read_file = open``, ``pause = time.sleep``: a module-level name bound once to an
    # imported or builtin callable is another spelling of it.
    spellings: dict[str, str] = {}
    bound: dict[str, int] = {}
    for stmt in _top_level(tree.body, (ast.If, ast.Try, ast.With)):
        for name in _assigned_names(stmt):
            bound[name] = bound.get(name, 0) + 1
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            lhs = stmt.targets[0]
            spelling = _alias_of(facts, stmt.value)
            if isinstance(lhs, ast.Name) and spelling is not None:
                spellings[lhs.id] = spelling
    for name, spelling in spellings.items():
        if bound.get(name) == 1 and name not in facts.imports:
            facts.imports[name] = spelling
            facts.global_names.discard(name)


def _alias_of(facts: ModuleFacts, value: ast.AST) -> str | None:
    """The qualified callable a module-level value names: an import or a builtin."""
    parts: list[str] = []
    while isinstance(value, ast.Attribute):
        parts.append(value.attr)
        value = value.value
    if not isinstance(value, ast.Name):
        return None
    if value.id in facts.imports:
        root = facts.imports[value.id]
    elif not parts and value.id in _BUILTIN_NAMES and value.id[:1].islower():
        root = f"builtins.{value.id}"
    else:
        return None
    return ".".join([root, *reversed(parts)])


def _top_level(body: list[ast.stmt], through: tuple[type[ast.stmt], ...]) -> Iterator[ast.stmt]:
    """Statements of a block, looking inside the blocks of ``through`` statements (``if``,
    ``try`` ...) but not into functions or classes. Iterative on purpose: a recursive closure
    would tie the facts into a reference cycle that only a full collection frees."""
    stack = list(reversed(body))
    while stack:
        stmt = stack.pop()
        if isinstance(stmt, through):
            for block in reversed(list(_sub_blocks(stmt))):
                stack.extend(reversed(block))
        else:
            yield stmt


def iter_statements(body: list[ast.stmt], enter_defs: bool = True) -> Iterator[ast.stmt]:
    """Every statement in ``body``, nested blocks included, in source order, without walking
    expressions (imports and assignments are statements: an expression walk would cost many
    times more on a large module)."""
    stack = list(reversed(body))
    while stack:
        stmt = stack.pop()
        yield stmt
        if not enter_defs and isinstance(stmt, _SCOPES):
            continue
        nested = list(_sub_blocks(stmt))
        for block in reversed(nested):
            stack.extend(reversed(block))


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_OPAQUE = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def _sub_blocks(stmt: ast.stmt) -> Iterator[list[ast.stmt]]:
    for name in ("body", "orelse", "finalbody"):
        block = getattr(stmt, name, None)
        if block:
            yield block
    for handler in getattr(stmt, "handlers", ()):
        yield handler.body
    for case in getattr(stmt, "cases", ()):
        yield case.body


def _assigned_names(stmt: ast.stmt) -> Iterator[str]:
    targets: list[ast.AST] = []
    if isinstance(stmt, ast.Assign):
        targets = list(stmt.targets)
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        targets = [stmt.target]
    for target in targets:
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                yield node.id


def _collect_types(facts: ModuleFacts, module_scope: Scope, tree: ast.Module) -> None:
    """Types of module globals and class attributes (class body, ``self.x = ...`` anywhere)."""
    # Classes first, so that ``cache = Cache()`` at module level gets a type.
    class_nodes: list[tuple[ast.ClassDef, str]] = []

    pending: list[tuple[list[ast.stmt], str]] = [(tree.body, facts.module)]
    while pending:
        body, prefix = pending.pop(0)
        for stmt in _top_level(body, (ast.If, ast.Try)):
            if isinstance(stmt, ast.ClassDef):
                qualname = f"{prefix}.{stmt.name}"
                class_nodes.append((stmt, qualname))
                pending.append((stmt.body, qualname))
    for node, qualname in class_nodes:
        bases = [b for b in (module_scope.qualify(base) for base in node.bases) if b]
        facts.classes[qualname] = ClassFacts(qualname, node.name, node, bases)
    _collect_returns(facts, module_scope, tree, class_nodes)

    for stmt in _top_level(tree.body, (ast.If, ast.Try)):
        typed = _typed_name(stmt, module_scope)
        if typed is not None:
            global_name, global_type, binary = typed
            facts.global_types[global_name] = global_type
            if binary:
                facts.binary_semaphores.add(f"{facts.module}.{global_name}")

    for node, qualname in class_nodes:
        cls = facts.classes[qualname]
        class_scope = Scope(facts, qualname, qualname, None, module_scope)
        for stmt in node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                cls.methods[stmt.name] = f"{qualname}.{stmt.name}"
                if {ast.unparse(d) for d in stmt.decorator_list} & _PROPERTY_DECORATORS:
                    cls.properties.add(stmt.name)
            elif (typed := _typed_name(stmt, class_scope)) is not None:
                attr, attr_type, binary = typed
                cls.attr_types[attr] = attr_type
                if binary:
                    facts.binary_semaphores.add(f"{qualname}.{attr}")
        # ``self.x = <typed value>`` in any method; __init__ first so it wins.
        methods = [s for s in node.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
        methods.sort(key=lambda m: m.name != "__init__")
        for method in methods:
            self_name = _self_parameter(method)
            if self_name is None:
                continue
            method_scope = Scope(
                facts, f"{qualname}.{method.name}", qualname, self_name, module_scope
            )
            _bind_parameters(method_scope, method)
            for sub in iter_statements(method.body):
                value: ast.AST | None = None
                annotation: ast.AST | None = None
                if isinstance(sub, ast.Assign) and len(sub.targets) == 1:
                    target, value = sub.targets[0], sub.value
                elif isinstance(sub, ast.AnnAssign):
                    target, value, annotation = sub.target, sub.value, sub.annotation
                else:
                    continue
                if (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == self_name
                    and target.attr not in cls.attr_types
                ):
                    type_name = method_scope.annotation_type(annotation) or _value_type_in(
                        method_scope, value
                    )
                    if type_name:
                        cls.attr_types[target.attr] = type_name
                        if _is_binary_semaphore(type_name, value):
                            facts.binary_semaphores.add(f"{qualname}.{target.attr}")
                    elif method.name == "__init__" and isinstance(value, ast.Name):
                        position = _parameter_position(method, value.id)
                        if position is not None:
                            cls.param_attrs.setdefault(target.attr, (position, value.id))
                if (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == self_name
                ):
                    cls.instance_attrs.add(target.attr)
        _property_types(facts, module_scope, cls, methods)
        wrapped = _wrapped_lock(cls, methods)
        if wrapped is not None:
            facts.lock_classes[qualname] = wrapped


def _collect_returns(
    facts: ModuleFacts,
    module_scope: Scope,
    tree: ast.Module,
    class_nodes: list[tuple[ast.ClassDef, str]],
) -> None:
    """``def make_client() -> Api`` or ``def make_client(): return Api(url)``: the type a call of
    a module function or method gives (two rounds, so a factory calling a factory resolves)."""
    functions: list[tuple[FunctionNode, str, str | None]] = []
    for stmt in _top_level(tree.body, (ast.If, ast.Try)):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions.append((stmt, f"{facts.module}.{stmt.name}", None))
    for class_node, class_qualname in class_nodes:
        for member in class_node.body:
            if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions.append((member, f"{class_qualname}.{member.name}", class_qualname))
    for _ in range(2):
        for node, qualname, owner in functions:
            if qualname in facts.function_returns:
                continue
            found = _return_type(facts, module_scope, node, qualname, owner)
            if found is not None:
                facts.function_returns[qualname] = found


def _return_type(
    facts: ModuleFacts,
    module_scope: Scope,
    node: FunctionNode,
    qualname: str,
    class_qualname: str | None,
    getter: bool = False,
) -> str | None:
    decorators = [ast.unparse(d) for d in node.decorator_list]
    if not getter and any(d.endswith(("contextmanager", "property")) for d in decorators):
        return None  # a context manager's value is what it yields; properties are attributes
    if node.returns is not None:
        return module_scope.annotation_type(node.returns)
    values = [
        stmt.value
        for stmt in iter_statements(node.body, enter_defs=False)
        if isinstance(stmt, ast.Return) and stmt.value is not None
    ]
    if not values or any(isinstance(v, ast.Constant) for v in values):
        return None
    self_name = _self_parameter(node) if class_qualname else None
    scope = Scope(facts, qualname, class_qualname, self_name, module_scope)
    _bind_parameters(scope, node)
    locals_bound = _single_call_locals(node)
    types: set[str | None] = set()
    for value in values:
        if isinstance(value, ast.Name) and value.id in locals_bound:
            value = locals_bound[value.id]
        types.add(_value_type_in(scope, value) if isinstance(value, ast.Call) else None)
    if len(types) != 1:
        return None
    return types.pop()


def _single_call_locals(node: FunctionNode) -> dict[str, ast.Call]:
    """Local names bound exactly once, to a call: ``client = Api(url)`` ... ``return client``."""
    calls: dict[str, ast.Call] = {}
    counts: dict[str, int] = {}
    for stmt in iter_statements(node.body, enter_defs=False):
        for name in _assigned_names(stmt):
            counts[name] = counts.get(name, 0) + 1
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and isinstance(stmt.value, ast.Call)
        ):
            calls[stmt.targets[0].id] = stmt.value
    return {name: call for name, call in calls.items() if counts.get(name) == 1}


_PROPERTY_DECORATORS = frozenset({"property", "functools.cached_property", "cached_property"})
_ENTER_METHODS = frozenset({"__enter__", "__aenter__"})


def _property_return(
    facts: ModuleFacts, module_scope: Scope, method: FunctionNode, cls: ClassFacts
) -> str | None:
    if method.returns is not None:
        return module_scope.annotation_type(method.returns)
    qualname = f"{cls.qualname}.{method.name}"
    return _return_type(facts, module_scope, method, qualname, cls.qualname, getter=True)


def _property_types(
    facts: ModuleFacts, module_scope: Scope, cls: ClassFacts, methods: list[FunctionNode]
) -> None:
    """``@property def lock(self): return self._lock``: ``self.lock`` has ``_lock``'s type."""
    for method in methods:
        decorators = {ast.unparse(d) for d in method.decorator_list}
        if not decorators & _PROPERTY_DECORATORS or method.name in cls.attr_types:
            continue
        returned = [n.value for n in ast.walk(method) if isinstance(n, ast.Return) and n.value]
        self_name = _self_parameter(method)
        if len(returned) != 1 or self_name is None:
            continue
        value = returned[0]
        if (
            isinstance(value, ast.Attribute)
            and isinstance(value.value, ast.Name)
            and value.value.id == self_name
            and value.attr in cls.attr_types
        ):
            cls.attr_types[method.name] = cls.attr_types[value.attr]
        elif method.returns is not None or isinstance(value, ast.Call):
            # ``@property def session(self) -> Session`` / ``return requests.Session()``
            found = _property_return(facts, module_scope, method, cls)
            if found is not None:
                cls.attr_types[method.name] = found


def _wrapped_lock(cls: ClassFacts, methods: list[FunctionNode]) -> str | None:
    """A class whose ``__enter__``/``__aenter__`` takes a lock-like primitive it owns
    (``await self._lock.acquire()``, ``self._sem.acquire()``, ``async with self._lock``) is a
    lock itself: the type of that primitive."""
    for method in methods:
        self_name = _self_parameter(method)
        if method.name not in _ENTER_METHODS or self_name is None:
            continue
        for node in ast.walk(method):
            owned: ast.AST | None = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr == "acquire":
                    owned = node.func.value
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                owned = node.items[0].context_expr
            if (
                isinstance(owned, ast.Attribute)
                and isinstance(owned.value, ast.Name)
                and owned.value.id == self_name
            ):
                type_name = cls.attr_types.get(owned.attr)
                prim = primitive(type_name)
                if type_name is not None and prim is not None and prim.is_lock_like:
                    return type_name
    return None


def _typed_name(stmt: ast.stmt, scope: Scope) -> tuple[str, str, bool] | None:
    """``name = <typed value>`` or ``name: T [= value]`` in a module or class body: the name,
    its type, and whether the (unannotated) value is a binary semaphore."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target = stmt.targets[0]
        type_name = scope.value_type(stmt.value) if isinstance(target, ast.Name) else None
        if isinstance(target, ast.Name) and type_name:
            return target.id, type_name, _is_binary_semaphore(type_name, stmt.value)
    elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        type_name = scope.annotation_type(stmt.annotation) or scope.value_type(stmt.value)
        if type_name:
            return stmt.target.id, type_name, False
    return None


def _is_binary_semaphore(type_name: str, value: ast.AST | None) -> bool:
    prim = primitive(type_name)
    if prim is None or prim.family != "semaphore" or not isinstance(value, ast.Call):
        return False
    count: ast.AST | None = value.args[0] if value.args else None
    for keyword in value.keywords:
        if keyword.arg == "value":
            count = keyword.value
    return count is None or (isinstance(count, ast.Constant) and count.value == 1)


def _value_type_in(scope: Scope, value: ast.AST | None) -> str | None:
    # ``self._lock = lock or threading.Lock()`` still names the type.
    if isinstance(value, ast.BoolOp):
        for operand in value.values:
            found = scope.value_type(operand)
            if found:
                return found
        return None
    if isinstance(value, ast.IfExp):
        return scope.value_type(value.body) or scope.value_type(value.orelse)
    return scope.value_type(value)


def _self_parameter(node: FunctionNode) -> str | None:
    decorators = {ast.unparse(d) for d in node.decorator_list}
    if "staticmethod" in decorators:
        return None
    params = node.args.posonlyargs + node.args.args
    return params[0].arg if params else None


def parameter_defaults(args: ast.arguments) -> dict[str, ast.expr]:
    """Each parameter that has a default, by name, with the default's expression."""
    positional = [*args.posonlyargs, *args.args]
    with_defaults = positional[len(positional) - len(args.defaults) :]
    defaults = {arg.arg: value for arg, value in zip(with_defaults, args.defaults, strict=True)}
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        if default is not None:
            defaults[arg.arg] = default
    return defaults


def _parameter_position(node: FunctionNode, name: str) -> int | None:
    """Where parameter ``name`` of a method sits after ``self`` (-1: keyword-only); None when
    it is no parameter, ``self`` itself, or ``*args``/``**kwargs``."""
    positional = [*node.args.posonlyargs, *node.args.args]
    for index, arg in enumerate(positional):
        if arg.arg == name:
            return index - 1 if index > 0 else None
    if any(arg.arg == name for arg in node.args.kwonlyargs):
        return -1
    return None


def _bind_parameters(scope: Scope, node: FunctionNode) -> None:
    args = node.args
    all_args = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    for extra in (args.vararg, args.kwarg):
        if extra is not None:
            scope.local_names.add(extra.arg)
    for arg in all_args:
        if scope.self_name is not None and arg.arg == scope.self_name:
            continue
        type_name = scope.annotation_type(arg.annotation)
        if type_name:
            scope.local_types[arg.arg] = type_name
        else:
            scope.local_names.add(arg.arg)


class _FunctionBuilder:
    def __init__(self, facts: ModuleFacts) -> None:
        self.facts = facts
        self.positions = facts.positions
        # ``finally`` blocks of the ``try`` statements we are inside (an acquire() in a try body
        # whose finally releases the lock is released on every path).
        self._finally_blocks: list[list[ast.stmt]] = []

    # -- entry points --------------------------------------------------------------------------
    def build_module(self, tree: ast.Module, scope: Scope) -> None:
        fn = FunctionFacts(
            qualname=scope.qualname,
            name=_MODULE_SCOPE,
            node=tree,
            is_async=False,
            class_qualname=None,
            parent=None,
            scope=scope,
        )
        self.facts.functions[fn.qualname] = fn
        self._visit_block(fn, tree.body, (), in_loop=False, prefix=self.facts.module)

    def build_function(
        self,
        node: FunctionNode,
        qualname: str,
        class_qualname: str | None,
        parent: FunctionFacts,
    ) -> None:
        self_name = _self_parameter(node) if class_qualname else None
        scope = Scope(self.facts, qualname, class_qualname, self_name, parent.scope)
        _bind_parameters(scope, node)
        fn = FunctionFacts(
            qualname=qualname,
            name=node.name,
            node=node,
            is_async=isinstance(node, ast.AsyncFunctionDef),
            class_qualname=class_qualname,
            parent=None if parent.is_module_scope else parent.qualname,
            scope=scope,
            decorators=[
                parent.scope.qualify(_decorator_target(d)) or ast.unparse(_decorator_target(d))
                for d in node.decorator_list
            ],
        )
        self.facts.functions[qualname] = fn
        self._prescan_locals(scope, node.body)
        self._visit_block(fn, node.body, (), in_loop=False, prefix=f"{qualname}.<locals>")

    # -- locals --------------------------------------------------------------------------------
    def _prescan_locals(self, scope: Scope, body: list[ast.stmt]) -> None:
        """Local names, local types and nested defs, flow-insensitively (first typed binding).

        Walks statements only (bindings are statements, bar ``:=``, looked for only on lines
        that contain one), in source order so that ``b = a / "x"`` sees the type an earlier
        line gave ``a``.
        """
        global_names: set[str] = set()
        for node in iter_statements(body, enter_defs=False):
            kind = type(node)
            if kind in _SCOPES:
                name = node.name  # type: ignore[attr-defined]
                scope.local_functions[name] = f"{scope.qualname}.<locals>.{name}"
                continue
            if kind is ast.Global:
                global_names.update(node.names)  # type: ignore[attr-defined]
                continue
            if kind is ast.Assign:
                assign = cast(ast.Assign, node)
                single = len(assign.targets) == 1
                alias = self._callable_alias(scope, assign) if single else None
                if alias is not None:
                    scope.local_functions[alias[0]] = alias[1]
                    continue
                for target in assign.targets:
                    self._bind_target(scope, target, assign.value if single else None)
            elif kind is ast.AnnAssign:
                ann = cast(ast.AnnAssign, node)
                type_name = scope.annotation_type(ann.annotation)
                if isinstance(ann.target, ast.Name):
                    if type_name:
                        scope.local_types.setdefault(ann.target.id, type_name)
                    else:
                        self._bind_target(scope, ann.target, ann.value)
            elif kind is ast.With or kind is ast.AsyncWith:
                for item in node.items:  # type: ignore[attr-defined]
                    if item.optional_vars is not None:
                        self._bind_target(scope, item.optional_vars, item.context_expr)
            elif kind is ast.For or kind is ast.AsyncFor:
                self._bind_target(scope, node.target, None)  # type: ignore[attr-defined]
            elif kind is ast.AugAssign:
                target = node.target  # type: ignore[attr-defined]
                if isinstance(target, ast.Name):
                    scope.local_names.add(target.id)
            elif kind in TRY_NODES:
                for handler in node.handlers:  # type: ignore[attr-defined]
                    if handler.name:
                        scope.local_names.add(handler.name)
            if self._has_walrus(node):
                for sub in _own_expressions(node):
                    if isinstance(sub, ast.NamedExpr):
                        self._bind_target(scope, sub.target, sub.value)
        for name in global_names:
            scope.local_names.discard(name)
            scope.local_types.pop(name, None)
        for name in [n for n in scope.local_functions if n in scope.local_names]:
            del scope.local_functions[name]  # also bound to something else: not one function

    def _callable_alias(self, scope: Scope, assign: ast.Assign) -> tuple[str, str] | None:
        """``fetch = lambda: requests.get(url)`` (a function of its own, built where it is
        written) or ``load = functools.partial(read_config, path)`` (the function it wraps):
        a call of the name runs that function."""
        target = assign.targets[0]
        if not isinstance(target, ast.Name):
            return None
        value = assign.value
        if isinstance(value, ast.Lambda):
            return target.id, f"{scope.qualname}.<locals>.{target.id}"
        if (
            isinstance(value, ast.Call)
            and value.args
            and scope.qualify(value.func) == "functools.partial"
        ):
            wrapped = scope.qualify(value.args[0])
            if wrapped is not None:
                return target.id, wrapped
        return None

    def _has_walrus(self, stmt: ast.stmt) -> bool:
        body = getattr(stmt, "body", None)
        last = stmt.end_lineno or stmt.lineno
        if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
            last = body[0].lineno - 1  # a compound statement's header
        lines = self.positions.lines
        return any(":=" in lines[i - 1] for i in range(stmt.lineno, min(last, len(lines)) + 1))

    def _bind_target(self, scope: Scope, target: ast.AST, value: ast.AST | None) -> None:
        if isinstance(target, ast.Name):
            type_name = _value_type_in(scope, value) if value is not None else None
            if type_name and target.id not in scope.local_types:
                scope.local_types[target.id] = type_name
            elif not type_name:
                scope.local_names.add(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._bind_target(scope, element, None)
        elif isinstance(target, ast.Starred):
            self._bind_target(scope, target.value, None)

    # -- statements ----------------------------------------------------------------------------
    def _visit_block(
        self,
        fn: FunctionFacts,
        body: list[ast.stmt],
        held: tuple[Held, ...],
        in_loop: bool,
        prefix: str,
        class_qualname: str | None = None,
    ) -> None:
        for index, stmt in enumerate(body):
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for decorator in stmt.decorator_list:
                    self._visit_expressions(fn, decorator, stmt, held, in_loop)
                self.build_function(stmt, f"{prefix}.{stmt.name}", class_qualname, fn)
                continue
            lambda_def = _named_lambda(stmt, fn.scope, prefix)
            if lambda_def is not None:
                self.build_function(lambda_def, f"{prefix}.{lambda_def.name}", class_qualname, fn)
                continue
            if isinstance(stmt, ast.ClassDef):
                qualname = f"{prefix}.{stmt.name}"
                for expr in (*stmt.bases, *stmt.decorator_list):
                    self._visit_expressions(fn, expr, stmt, held, in_loop)
                self._visit_block(fn, stmt.body, held, in_loop, qualname, class_qualname=qualname)
                continue
            acquired = self._statement_acquire(fn, stmt, held, body, index)
            if acquired is not None:
                if isinstance(stmt, ast.If):  # ``if not lock.acquire(...): return``
                    self._visit_statement(fn, stmt, held, in_loop, prefix, class_qualname)
                else:
                    self._visit_expressions(fn, stmt, stmt, held, in_loop)
                held = (*held, acquired)
                continue
            released = self._statement_release(fn, stmt)
            if released is not None:
                self._visit_expressions(fn, stmt, stmt, held, in_loop)
                held = tuple(h for h in held if h.lock.key != released)
                continue
            self._visit_statement(fn, stmt, held, in_loop, prefix, class_qualname)
            if isinstance(stmt, TRY_NODES):
                # ``acquire(); try: ... finally: release()``: not held after the ``try``.
                freed = {self._statement_release(fn, s) for s in stmt.finalbody}
                held = tuple(h for h in held if h.lock.key not in freed)

    def _visit_statement(
        self,
        fn: FunctionFacts,
        stmt: ast.stmt,
        held: tuple[Held, ...],
        in_loop: bool,
        prefix: str,
        class_qualname: str | None,
    ) -> None:
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            inner = held
            form: LockForm = "async with" if isinstance(stmt, ast.AsyncWith) else "with"
            for item in stmt.items:
                self._visit_expressions(fn, item.context_expr, stmt, inner, in_loop)
                lock = fn.scope.lock_ref(item.context_expr)
                if lock is not None:
                    span = self.positions.span(item.context_expr)
                    fn.lock_ops.append(
                        LockOp(lock, span, form, inner, item.context_expr, True, stmt)
                    )
                    inner = (*inner, Held(lock, span, form))
            if isinstance(stmt, ast.AsyncWith):
                fn.awaits.append(AwaitSite(stmt, self.positions.head_span(stmt), held))
            self._visit_block(fn, stmt.body, inner, in_loop, prefix, class_qualname)
            return
        if isinstance(stmt, (ast.For, ast.AsyncFor)):
            self._visit_expressions(fn, stmt.iter, stmt, held, in_loop)
            if isinstance(stmt, ast.AsyncFor):
                fn.awaits.append(AwaitSite(stmt, self.positions.head_span(stmt), held))
            self._visit_block(fn, stmt.body, held, in_loop, prefix, class_qualname)
            self._visit_block(fn, stmt.orelse, held, in_loop, prefix, class_qualname)
            return
        if isinstance(stmt, ast.While):
            self._visit_expressions(fn, stmt.test, stmt, held, True)
            self._visit_block(fn, stmt.body, held, True, prefix, class_qualname)
            self._visit_block(fn, stmt.orelse, held, in_loop, prefix, class_qualname)
            return
        if isinstance(stmt, ast.If):
            self._visit_expressions(fn, stmt.test, stmt, held, in_loop)
            acquired = self._conditional_acquire(fn, stmt, held)
            body_held = (*held, acquired) if acquired is not None else held
            self._visit_block(fn, stmt.body, body_held, in_loop, prefix, class_qualname)
            self._visit_block(fn, stmt.orelse, held, in_loop, prefix, class_qualname)
            return
        if isinstance(stmt, TRY_NODES):
            self._finally_blocks.append(stmt.finalbody)
            try:
                self._visit_block(fn, stmt.body, held, in_loop, prefix, class_qualname)
            finally:
                self._finally_blocks.pop()
            for handler in stmt.handlers:
                if handler.type is not None:
                    self._visit_expressions(fn, handler.type, stmt, held, in_loop)
                self._visit_block(fn, handler.body, held, in_loop, prefix, class_qualname)
            self._visit_block(fn, stmt.orelse, held, in_loop, prefix, class_qualname)
            self._visit_block(fn, stmt.finalbody, held, in_loop, prefix, class_qualname)
            return
        if isinstance(stmt, ast.Match):
            self._visit_expressions(fn, stmt.subject, stmt, held, in_loop)
            for case in stmt.cases:
                if case.guard is not None:
                    self._visit_expressions(fn, case.guard, stmt, held, in_loop)
                self._visit_block(fn, case.body, held, in_loop, prefix, class_qualname)
            return
        self._visit_expressions(fn, stmt, stmt, held, in_loop)

    # -- explicit acquire()/release() ----------------------------------------------------------
    def _acquire_call(
        self, fn: FunctionFacts, expr: ast.AST | None
    ) -> tuple[LockRef, ast.Call] | None:
        if isinstance(expr, ast.Await):
            expr = expr.value
        if (
            isinstance(expr, ast.Call)
            and isinstance(expr.func, ast.Attribute)
            and expr.func.attr == "acquire"
        ):
            lock = fn.scope.lock_ref(expr.func.value)
            if lock is not None:
                return lock, expr
        return None

    def _statement_acquire(
        self,
        fn: FunctionFacts,
        stmt: ast.stmt,
        held: tuple[Held, ...],
        body: list[ast.stmt],
        index: int,
    ) -> Held | None:
        if isinstance(stmt, ast.Expr):
            found = self._acquire_call(fn, stmt.value)
        elif isinstance(stmt, ast.If) and _exits_unless(stmt) is not None:
            # ``if not lock.acquire(timeout=1): raise ...``: held by the statements after it.
            found = self._acquire_call(fn, _exits_unless(stmt))
        else:
            return None
        if found is None:
            return None
        lock, call = found
        span = self.positions.span(call)
        released = _released_in_finally(fn, lock, body[index + 1 : index + 4]) or any(
            _finally_releases(fn, lock, block) for block in self._finally_blocks
        )
        fn.lock_ops.append(LockOp(lock, span, "acquire", held, call, released, stmt))
        return Held(lock, span, "acquire")

    def _conditional_acquire(
        self, fn: FunctionFacts, stmt: ast.If, held: tuple[Held, ...]
    ) -> Held | None:
        """``if lock.acquire(timeout=1):`` holds the lock in the if-body."""
        found = self._acquire_call(fn, stmt.test)
        if found is None:
            return None
        lock, call = found
        span = self.positions.span(call)
        released = _released_in_finally(fn, lock, stmt.body[:3])
        fn.lock_ops.append(LockOp(lock, span, "acquire", held, call, released, stmt))
        return Held(lock, span, "acquire")

    def _statement_release(self, fn: FunctionFacts, stmt: ast.stmt) -> str | None:
        if not isinstance(stmt, ast.Expr):
            return None
        call = stmt.value
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "release"
        ):
            lock = fn.scope.lock_ref(call.func.value)
            if lock is not None:
                return lock.key
        return None

    # -- expressions ---------------------------------------------------------------------------
    def _visit_expressions(
        self,
        fn: FunctionFacts,
        root: ast.AST,
        stmt: ast.stmt,
        held: tuple[Held, ...],
        in_loop: bool,
    ) -> None:
        """Record calls and awaits in ``root``, without entering nested scopes or statements."""
        parents: dict[int, ast.AST] = {}
        if root is not stmt:
            # ``if check():`` / ``while more():``: the statement is the parent of its test.
            parents[id(root)] = stmt
        stack: list[ast.AST] = [root]
        while stack:
            node = stack.pop()
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                if isinstance(child, ast.ClassDef):
                    continue
                if isinstance(child, ast.stmt) and child is not root:
                    continue
                parents[id(child)] = node
                stack.append(child)
            if isinstance(node, ast.Call):
                fn.calls.append(self._call_site(fn, node, stmt, held, in_loop, parents))
            elif isinstance(node, ast.Await):
                fn.awaits.append(AwaitSite(node, self.positions.span(node), held))
            elif (
                isinstance(node, ast.Attribute)
                and node.attr in self.facts.property_names
                and isinstance(node.ctx, ast.Load)
            ):
                getter = self._property_read(fn, node, stmt, held, in_loop, parents)
                if getter is not None:
                    fn.calls.append(getter)

    def _property_read(
        self,
        fn: FunctionFacts,
        node: ast.Attribute,
        stmt: ast.stmt,
        held: tuple[Held, ...],
        in_loop: bool,
        parents: dict[int, ast.AST],
    ) -> CallSite | None:
        """``self.settings`` where ``settings`` is a property: reading it calls the getter, so
        it is recorded as a call of the getter (a call node made for it, at the attribute)."""
        owner = fn.scope.type_of(node.value)
        getter = self.facts.property_getter(owner, node.attr) if owner else None
        if getter is None:
            return None
        call = ast.copy_location(ast.Call(func=node, args=[], keywords=[]), node)
        parent = parents.get(id(node))
        return CallSite(
            node=call,
            span=self.positions.span(node),
            callee=getter,
            text=self.positions.segment(node, 40),
            held=held,
            usage="other",
            in_loop=in_loop,
            receiver_type=owner,
            stmt=stmt,
            parent=parent,
        )

    def _call_site(
        self,
        fn: FunctionFacts,
        node: ast.Call,
        stmt: ast.stmt,
        held: tuple[Held, ...],
        in_loop: bool,
        parents: dict[int, ast.AST],
    ) -> CallSite:
        scope = fn.scope
        receiver_type = (
            scope.type_of(node.func.value) if isinstance(node.func, ast.Attribute) else None
        )
        callee = scope.qualify(node.func)
        if callee is not None:
            callee = _canonical_callee(callee)
        parent = parents.get(id(node))
        return CallSite(
            node=node,
            span=self.positions.span(node),
            callee=callee,
            text=self.positions.segment(node.func, 40),
            held=held,
            usage=_usage(node, parent, parents),
            in_loop=in_loop,
            receiver_type=receiver_type,
            stmt=stmt,
            parent=parent,
        )


def _named_lambda(stmt: ast.stmt, scope: Scope, prefix: str) -> ast.FunctionDef | None:
    """``fetch = lambda url: requests.get(url)``, when the scope knows ``fetch`` as that
    lambda: the same function written as a ``def`` (``return`` of the lambda's body), so that
    calls of ``fetch`` are followed like any other."""
    if not (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
        and isinstance(stmt.value, ast.Lambda)
    ):
        return None
    name = stmt.targets[0].id
    known = scope.local_functions.get(name) or scope.module_facts.top_level_defs.get(name)
    if known != f"{prefix}.{name}":
        return None
    body = ast.copy_location(ast.Return(value=stmt.value.body), stmt.value.body)
    node = ast.FunctionDef(
        name=name, args=stmt.value.args, body=[body], decorator_list=[], returns=None
    )
    if sys.version_info >= (3, 12):
        node.type_params = []
    return ast.copy_location(node, stmt)


def _own_expressions(stmt: ast.stmt) -> Iterator[ast.AST]:
    """Expression nodes of one statement: not its nested statements, lambdas or scopes."""
    stack: list[ast.AST] = [stmt]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.stmt, ast.Lambda)):
                continue
            stack.append(child)


def _canonical_callee(callee: str) -> str:
    owner, _, member = callee.rpartition(".")
    if owner:
        canonical_owner = canonical_type(owner)
        if canonical_owner != owner:
            return f"{canonical_owner}.{member}"
    return callee


def _decorator_target(node: ast.AST) -> ast.AST:
    return node.func if isinstance(node, ast.Call) else node


def _usage(node: ast.AST, parent: ast.AST | None, parents: dict[int, ast.AST]) -> Usage:
    if parent is None:
        return "other"
    if isinstance(parent, ast.Await):
        return "awaited"
    if isinstance(parent, ast.Expr):
        return "discarded"
    if isinstance(parent, (ast.Assign, ast.AnnAssign, ast.NamedExpr, ast.AugAssign)):
        return "assigned" if getattr(parent, "value", None) is node else "other"
    if isinstance(parent, (ast.Return, ast.Yield, ast.YieldFrom)):
        return "returned"
    if isinstance(parent, ast.Call) and node is not parent.func:
        return "argument"
    if isinstance(parent, ast.keyword):
        return "argument"
    # ``if check(x):``, ``if not check(x)``, ``if a and check(x)``, ``while check():``
    current: ast.AST = node
    while isinstance(parent, (ast.UnaryOp, ast.BoolOp)):
        current = parent
        parent = parents.get(id(parent))
    if isinstance(parent, (ast.If, ast.While, ast.IfExp, ast.Assert)) and (
        getattr(parent, "test", None) is current
    ):
        return "condition"
    return "other"


def _exits_unless(stmt: ast.If) -> ast.expr | None:
    """``<test>`` of ``if not <test>: ... return`` (or raise/continue/break), with no ``else``."""
    if (
        isinstance(stmt.test, ast.UnaryOp)
        and isinstance(stmt.test.op, ast.Not)
        and not stmt.orelse
        and isinstance(stmt.body[-1], (ast.Return, ast.Raise, ast.Continue, ast.Break))
    ):
        return stmt.test.operand
    return None


def _released_in_finally(fn: FunctionFacts, lock: LockRef, following: list[ast.stmt]) -> bool:
    """An ``acquire()`` is safe when a ``try`` whose ``finally`` releases the same lock comes
    next — right after it, or nested in the statements that follow (``if ok: try: ...
    finally: release()``) — with no await point on the way there (a cancellation before the
    ``try`` would skip the release)."""
    for stmt in following:
        if isinstance(stmt, TRY_NODES) and _finally_releases(fn, lock, stmt.finalbody):
            return True
        if isinstance(stmt, (ast.If, ast.With, ast.AsyncWith, ast.For, ast.While)):
            if _released_in_finally(fn, lock, stmt.body[:3]):
                return True
        if isinstance(stmt, (ast.AsyncWith, ast.AsyncFor)) or any(
            isinstance(node, ast.Await) for node in _own_expressions(stmt)
        ):
            return False
    return False


def _finally_releases(fn: FunctionFacts, lock: LockRef, finalbody: list[ast.stmt]) -> bool:
    for stmt in finalbody:
        for node in ast.walk(stmt):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "release"
            ):
                other = fn.scope.lock_ref(node.func.value)
                if other is not None and other.key == lock.key:
                    return True
    return False
