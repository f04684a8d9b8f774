"""RH502-RH507 — data-layer framework contracts: the Django ORM in async code, Django
transactions and Celery, Celery tasks waiting for tasks, SQLAlchemy ``AsyncSession`` sharing and
lazy loading.

Each pack runs only in modules that use its framework: imported there, or by a workspace module
they import (``knowledge/data.py`` lists the packages, the entry points and the ORM
vocabulary). Everything here reads one function at a time, flow-insensitively: a local name is a
``QuerySet`` (or a model instance, a Celery result ...) only when *every* binding of it in the
function says so, so a rebinding to something else makes the name unknown rather than wrong.

The definitions a hazard depends on usually live in other files: models and their relationships
in ``models.py``, the session factory in ``db.py``, the Celery app in ``celery_app.py``, the
helpers in ``services.py``. The rules read them from every module of the
:class:`~riskhints.analysis.summaries.Program` (the module analysed and the workspace modules it
imports), once per program (``Program.memo``), and follow calls into helpers of any module; the
evidence names the files the hazard crosses.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

from ..facts import CallSite, ClassFacts, FunctionFacts, ModuleFacts, Scope, iter_statements
from ..finding import Evidence, Finding, Severity
from ..knowledge import data as kb
from ..summaries import TRANSPARENT_DECORATORS, Chain, Program, sorted_calls
from .registry import RuleContext, rule

SYNC_ORM_IN_ASYNC = "RH502"
THREAD_UNSAFE_ORM = "RH503"
TASK_IN_TRANSACTION = "RH504"
SHARED_ASYNC_SESSION = "RH505"
LAZY_LOAD_ON_ASYNC_RESULT = "RH506"
TASK_WAITS_ON_TASK = "RH507"

_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


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


def _text(module: ModuleFacts, node: ast.AST, limit: int = 60) -> str:
    return module.positions.segment(node, limit)


def _position(node: ast.AST) -> tuple[int, int]:
    return (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))


def _ordered(nodes: list[ast.AST]) -> list[ast.AST]:
    return sorted(nodes, key=_position)


def _single_bindings(fn: FunctionFacts) -> list[tuple[str, ast.AST | None]]:
    """``(name, value)`` for every binding of a local name, in source order; ``value`` is None
    when the bound value is not one expression (tuple unpacking, ``for`` targets ...)."""
    bindings: list[tuple[str, ast.AST | None]] = []
    for node in _ordered(fn.own_nodes):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    bindings.append((target.id, node.value if len(node.targets) == 1 else None))
                else:
                    bindings.extend((n.id, None) for n in _names_in(target))
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
            value = node.value if isinstance(node, ast.AnnAssign) else None
            bindings.append((node.target.id, value))
        elif isinstance(node, ast.NamedExpr):
            bindings.append((node.target.id, node.value))
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            bindings.extend((n.id, None) for n in _names_in(node.target))
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    bindings.extend((n.id, None) for n in _names_in(item.optional_vars))
    return bindings


def _names_in(target: ast.AST) -> list[ast.Name]:
    """Names a target binds: ``a, (b, *c)`` binds three; ``obj.attr`` and ``d[k]`` bind none."""
    if isinstance(target, ast.Name):
        return [target]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for element in target.elts for n in _names_in(element)]
    if isinstance(target, ast.Starred):
        return _names_in(target.value)
    return []


def _typed_names(
    fn: FunctionFacts,
    classify: Callable[[ast.AST | None], bool],
    found: set[str],
    rounds: int = 3,
) -> None:
    """Fill ``found`` with the local names all of whose bindings ``classify`` accepts, to a
    small fixpoint: ``classify`` may read ``found`` (``qs2 = qs.filter(...)``)."""
    bindings = _single_bindings(fn)
    for _ in range(rounds):
        by_name: dict[str, bool] = {}
        for name, value in bindings:
            by_name[name] = by_name.get(name, True) and classify(value)
        updated = {name for name, ok in by_name.items() if ok}
        if updated == found:
            return
        found.clear()
        found.update(updated)


def _reach(
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
            inner = _reach(program, callee, memo_key, direct, follow)
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


def _memo(program: Program, key: str) -> dict[str, object]:
    table = program.memo.setdefault(key, {})
    assert isinstance(table, dict)
    return table


def _owning_module(program: Program, qualified: str) -> ModuleFacts | None:
    """``app.db.SessionLocal`` -> the facts of ``app.db`` (the longest module prefix)."""
    name = qualified
    while name:
        found = program.modules.get(name)
        if found is not None:
            return found
        name = name.rpartition(".")[0]
    return None


def _uses_framework(
    program: Program, module: ModuleFacts, key: str, test: Callable[[ModuleFacts], bool]
) -> bool:
    """Does ``module``, or a workspace module it imports (transitively), pass ``test``? A pack
    is active in ``views.py`` when ``views.py`` imports Django itself, and also when it only
    imports ``services.py``, which does."""
    memo = _memo(program, f"data.uses.{key}")
    if module.module in memo:
        return memo[module.module] is True
    seen = {module.module}
    pending = [module]
    found = False
    while pending and not found:
        current = pending.pop()
        found = test(current)
        for target in current.imports.values():
            owner = _owning_module(program, target)
            if owner is not None and owner.module not in seen:
                seen.add(owner.module)
                pending.append(owner)
    memo[module.module] = found
    return found


def _resolve(program: Program, qualified: str | None, known: Callable[[str], bool]) -> str | None:
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


def _program_classes(program: Program) -> dict[str, tuple[ModuleFacts, ClassFacts]]:
    def compute() -> dict[str, tuple[ModuleFacts, ClassFacts]]:
        return {q: (m, c) for m in program.modules.values() for q, c in m.classes.items()}

    return program.memoized("data.classes", compute)


def _program_bases(program: Program, class_qualname: str | None) -> set[str]:
    """Every base of a class, following bases defined in any module of the program."""
    classes = _program_classes(program)
    found: set[str] = set()
    pending = [class_qualname] if class_qualname else []
    while pending:
        current = _resolve(program, pending.pop(), classes.__contains__)
        entry = classes.get(current) if current is not None else None
        if entry is None:
            continue
        for base in entry[1].bases:
            resolved = _resolve(program, base, classes.__contains__) or base
            if resolved not in found:
                found.add(resolved)
                pending.append(resolved)
    return found


def _evidence_in(module: ModuleFacts, node: ast.AST, message: str) -> Evidence:
    """Evidence at a node of any module of the program (it keeps that module's path)."""
    return Evidence(module.positions.head_span(node), message, module.path)


def _is_false(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


# =============================================================================================
# Django ORM: which expressions are QuerySets and instances, which operations query
# =============================================================================================


def _is_django_module(module: ModuleFacts) -> bool:
    return module.imports_module(*kb.DJANGO_MODULES) or _imports_from_models(module)


def _django_active(program: Program, module: ModuleFacts) -> bool:
    """Django is imported here, or by a workspace module this one imports (a middleware
    module importing only ``services.py``)."""
    return _uses_framework(program, module, "django", _is_django_module)


def _imports_from_models(module: ModuleFacts) -> bool:
    return any(
        target.rpartition(".")[0].rpartition(".")[2] == kb.MODELS_MODULE_NAME
        for target in module.imports.values()
    )


def _program_models(program: Program) -> frozenset[str]:
    """Model classes defined anywhere in the program: a subclass, through bases in any
    module (an abstract ``TimeStampedModel`` in ``common.py``), of a Django model base."""

    def compute() -> frozenset[str]:
        return frozenset(
            qualname
            for qualname in _program_classes(program)
            if _program_bases(program, qualname) & kb.MODEL_BASES
        )

    return program.memoized("data.django_models", compute)


def _model_classes(program: Program, module: ModuleFacts) -> frozenset[str]:
    """Qualified names of model classes: defined in the program on a model base, or imported
    (capitalised) from a ``models`` module the workspace does not show us (once per module)."""
    memo = _memo(program, "data.models_of")
    known = memo.get(module.module)
    if isinstance(known, frozenset):
        return known
    imported = {
        target
        for target in module.imports.values()
        if target.rpartition(".")[0].rpartition(".")[2] == kb.MODELS_MODULE_NAME
        and target.rpartition(".")[2][:1].isupper()
    }
    models = _program_models(program) | imported
    memo[module.module] = models
    return models


def _many_relation_fields(program: Program) -> frozenset[str]:
    """Attribute names of many-to-many fields declared on the program's models, wherever
    they are declared (``order.tags`` in a view, ``tags = ManyToManyField(Tag)`` in
    ``models.py``)."""

    def compute() -> frozenset[str]:
        classes = _program_classes(program)
        fields: set[str] = set()
        for qualname in _program_models(program):
            for stmt in classes[qualname][1].node.body:
                target, value = _class_assignment(stmt)
                if target is None or not isinstance(value, ast.Call):
                    continue
                func = value.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in kb.MANY_RELATION_FIELDS:
                    fields.add(target)
        return frozenset(fields)

    return program.memoized("data.many_fields", compute)


def _class_assignment(stmt: ast.stmt) -> tuple[str | None, ast.AST | None]:
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target = stmt.targets[0]
        if isinstance(target, ast.Name):
            return target.id, stmt.value
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        return stmt.target.id, stmt.value
    return None, None


class DjangoOrm:
    """Reads one function (or a lambda inside it) for Django ORM operations that query now.

    A QuerySet is ``Model.objects`` (or another manager), a related manager of a known instance
    (``author.book_set``, a many-to-many field), a lazy method applied to a QuerySet
    (``filter``, ``order_by`` ...), a slice of one, or a local name bound only to such values.
    Building one runs no query: only evaluating it does.
    """

    def __init__(self, program: Program, module: ModuleFacts, fn: FunctionFacts) -> None:
        self.program = program
        self.module = module
        self.fn = fn
        self.scope: Scope = fn.scope
        self.models = _model_classes(program, module)
        self.many_fields = _many_relation_fields(program)
        # In a method of a model, ``self`` is an instance (``self.save()`` writes) and, in a
        # classmethod, ``cls`` is the model (``cls.objects.filter(...)``).
        self.self_instance: str | None = None
        self.self_model: str | None = None
        if fn.class_qualname in self.models and fn.scope.self_name is not None:
            if "builtins.classmethod" in fn.decorators:
                self.self_model = fn.scope.self_name
            elif "builtins.staticmethod" not in fn.decorators:
                self.self_instance = fn.scope.self_name
        self.querysets: set[str] = set()
        self.instances: set[str] = set()
        _typed_names(fn, lambda v: v is not None and self.is_queryset(v), self.querysets)
        _typed_names(fn, lambda v: v is not None and self._instance_value(v), self.instances)
        self._loop_instances()
        self.instance_models = self._instance_models()

    def _instance_models(self) -> dict[str, str]:
        """Instance names whose model we know (``order = await Order.objects.aget(...)``): a
        method called on them is that model's method, wherever the model is defined."""
        known: dict[str, str] = {}
        if self.self_instance is not None and self.fn.class_qualname is not None:
            known[self.self_instance] = self.fn.class_qualname
        values = _last_values(self.fn)
        for name in self.instances:
            value = values.get(name)
            model = self._model_of_instance(value) if value is not None else None
            if model is not None:
                known[name] = model
        return known

    def _model_of_instance(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Await):
            node = node.value
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Call):
            node = node.value  # ``Model.objects.get_or_create(...)[0]``
        if not isinstance(node, ast.Call):
            return None
        func = node.func
        if isinstance(func, ast.Attribute) and (
            func.attr in kb.INSTANCE_RETURNING_METHODS or func.attr in kb.INSTANCE_PAIR_METHODS
        ):
            return self._model_of_queryset(func.value)
        if self.scope.qualify(func) in kb.INSTANCE_RETURNING_CALLS and node.args:
            return self._model_name(node.args[0])
        return self._model_name(func)

    def _model_of_queryset(self, node: ast.AST) -> str | None:
        for _ in range(16):  # ``Order.objects.filter(...).order_by(...)[:10]``
            if isinstance(node, ast.Attribute) and node.attr in kb.MANAGER_ATTRIBUTES:
                return self._model_name(node.value)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                node = node.func.value
            elif isinstance(node, ast.Subscript):
                node = node.value
            else:
                return None
        return None

    def _model_name(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name) and node.id == self.self_model:
            return self.fn.class_qualname
        qualified = self.scope.qualify(node)
        return qualified if qualified is not None and qualified in self.models else None

    def instance_method(self, func: ast.AST) -> str | None:
        """``order.mark_paid`` on an instance of a known model -> ``Order.mark_paid`` (or the
        method of a base model, possibly defined in another module, that it inherits)."""
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
            return None
        model = self.instance_models.get(func.value.id)
        if model is None:
            return None
        for owner in (model, *sorted(_program_bases(self.program, model))):
            if self.program.function(f"{owner}.{func.attr}") is not None:
                return f"{owner}.{func.attr}"
        return None

    def _loop_instances(self) -> None:
        """``for order in orders_qs`` / ``async for order in Order.objects.filter(...)``: the
        target is an instance when every binding of it is such a loop."""
        loop_targets: dict[str, bool] = {}
        for name, value in _single_bindings(self.fn):
            loop_targets.setdefault(name, True)
            if value is not None:
                loop_targets[name] = False
        for node in self.fn.own_nodes:
            if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)) and isinstance(
                node.target, ast.Name
            ):
                name = node.target.id
                if loop_targets.get(name) and self.is_queryset(node.iter):
                    self.instances.add(name)

    # -- classification -----------------------------------------------------------------------
    def is_model_class(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Call):
            return self.scope.qualify(node.func) in kb.MODEL_CLASS_CALLS
        if isinstance(node, ast.Name) and node.id == self.self_model:
            return True
        qualified = self.scope.qualify(node)
        return qualified is not None and qualified in self.models

    def is_queryset(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self.querysets
        if isinstance(node, ast.Attribute):
            if node.attr in kb.MANAGER_ATTRIBUTES:
                # ``Order.objects``: a model we know, or any capitalised class name here.
                base = node.value
                return self.is_model_class(base) or (
                    isinstance(base, ast.Name)
                    and base.id[:1].isupper()
                    and base.id not in self.fn.scope.local_names
                )
            if self.is_instance(node.value):
                return node.attr.endswith(kb.REVERSE_MANAGER_SUFFIX) or (
                    node.attr in self.many_fields
                )
            return False
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            return node.func.attr in kb.LAZY_QUERYSET_METHODS and self.is_queryset(node.func.value)
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
            return self.is_queryset(node.value)
        return False

    def is_instance(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self.instances or node.id == self.self_instance
        return self._instance_value(node)

    def _instance_value(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Await):
            node = node.value
        if isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Slice):
            if isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute):
                # ``Model.objects.get_or_create(...)[0]``
                return node.value.func.attr in kb.INSTANCE_PAIR_METHODS and self.is_queryset(
                    node.value.func.value
                )
            return self.is_queryset(node.value)
        if not isinstance(node, ast.Call):
            return False
        if isinstance(node.func, ast.Attribute) and node.func.attr in (
            kb.INSTANCE_RETURNING_METHODS
        ):
            return self.is_queryset(node.func.value)
        if self.scope.qualify(node.func) in kb.INSTANCE_RETURNING_CALLS:
            return True
        return self.is_model_class(node.func)

    # -- operations that query ------------------------------------------------------------------
    def sites(self, root: ast.AST | None = None) -> list[Site]:
        """Every operation that runs a query now, in source order (in ``root``, a lambda, or
        the whole function)."""
        nodes = self.fn.own_nodes if root is None else _lambda_nodes(root)
        found = sorted(
            (site for node in nodes if (site := self.site(node)) is not None),
            key=lambda s: _position(s.node),
        )
        # ``qs[0].save()`` queries twice on one line: one report is enough.
        by_line: dict[int, Site] = {}
        for site in found:
            by_line.setdefault(_position(site.node)[0], site)
        return list(by_line.values())

    def site(self, node: ast.AST) -> Site | None:
        if isinstance(node, ast.Call):
            return self._call_site(node)
        if isinstance(node, ast.For) and self.is_queryset(node.iter):
            return self._site(node.iter, "iterates the QuerySet", "`async for`")
        if isinstance(node, _COMPREHENSIONS):
            for generator in node.generators:
                if not generator.is_async and self.is_queryset(generator.iter):
                    return self._site(generator.iter, "iterates the QuerySet", "`async for`")
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)
            and not isinstance(node.slice, ast.Slice)
            and self.is_queryset(node.value)
        ):
            return self._site(node, "indexes the QuerySet (a query)", "`await qs.afirst()`")
        if isinstance(node, (ast.If, ast.While)):
            test = node.test
            if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
                test = test.operand
            if self.is_queryset(test):
                return self._site(test, "tests the QuerySet (a query)", "`await qs.aexists()`")
        return None

    def _call_site(self, call: ast.Call) -> Site | None:
        func = call.func
        if isinstance(func, ast.Attribute):
            twin = kb.SYNC_QUERYSET_METHODS.get(func.attr)
            if twin is not None and self.is_queryset(func.value):
                return self._site(call, "runs a query", f"the async twin `{twin}()`")
            twin = kb.SYNC_INSTANCE_METHODS.get(func.attr)
            if twin is not None and self.is_instance(func.value):
                return self._site(call, "writes to the database", f"the async twin `{twin}()`")
        callee = self.scope.qualify(func)
        if callee in kb.QUERYSET_EVALUATING_BUILTINS and call.args:
            if self.is_queryset(call.args[0]):
                alternative = kb.EVALUATING_BUILTIN_TWINS.get(callee, "`[x async for x in qs]`")
                return self._site(call, "evaluates the QuerySet (a query)", alternative)
        if callee in kb.SYNC_DJANGO_CALLS:
            return self._site(call, "queries the database", kb.SYNC_DJANGO_CALLS[callee])
        return None

    def _site(self, node: ast.AST, what: str, alternative: str) -> Site:
        return Site(node, f"`{_text(self.module, node, 60)}`", what, alternative)

    def callable_site(self, node: ast.AST) -> Site | None:
        """``Order.objects.get`` / ``order.save`` handed over as a callable."""
        if not isinstance(node, ast.Attribute):
            return None
        if node.attr in kb.SYNC_QUERYSET_METHODS and self.is_queryset(node.value):
            return self._site(node, "runs a query", "")
        if node.attr in kb.SYNC_INSTANCE_METHODS and self.is_instance(node.value):
            return self._site(node, "writes to the database", "")
        return None


def _lambda_nodes(root: ast.AST) -> list[ast.AST]:
    nodes: list[ast.AST] = []
    stack: list[ast.AST] = [root.body if isinstance(root, ast.Lambda) else root]
    while stack:
        node = stack.pop()
        nodes.append(node)
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef)):
                stack.append(child)
    return nodes


def _async_unsafe_allowed(module: ModuleFacts) -> bool:
    return any(kb.DJANGO_ASYNC_UNSAFE_FLAG in line for line in module.positions.lines)


def _orm_of(program: Program, fn: FunctionFacts) -> DjangoOrm | None:
    """The ORM reading of a function of a Django module (None elsewhere), once per program."""
    memo = _memo(program, "data.orm")
    if fn.qualname not in memo:
        module = program.module_of(fn)
        active = _django_active(program, module)
        memo[fn.qualname] = DjangoOrm(program, module, fn) if active else None
    orm = memo[fn.qualname]
    return orm if isinstance(orm, DjangoOrm) else None


def _orm_direct(program: Program) -> Callable[[FunctionFacts], Site | None]:
    def direct(fn: FunctionFacts) -> Site | None:
        orm = None if fn.is_module_scope else _orm_of(program, fn)
        sites = orm.sites() if orm is not None else []
        return sites[0] if sites else None

    return direct


def _orm_callee(program: Program) -> Callable[[FunctionFacts, CallSite], FunctionFacts | None]:
    """The function a call runs, including a model's method called on an instance of it
    (``order.mark_paid()``, ``Order`` defined in ``models.py``)."""

    def follow(fn: FunctionFacts, call: CallSite) -> FunctionFacts | None:
        callee = program.callee_function(call)
        if callee is not None or call.callee is not None:
            return callee
        orm = _orm_of(program, fn)
        method = orm.instance_method(call.node.func) if orm is not None else None
        if method is None:
            return None
        return program.callee_function(replace(call, callee=method))

    return follow


def _orm_reach(program: Program, fn: FunctionFacts) -> tuple[Site, Chain] | None:
    return _reach(program, fn, "RH502.orm", _orm_direct(program), _orm_callee(program))


def _async_context(program: Program, fn: FunctionFacts) -> str:
    """What kind of Django entry point an ``async def`` is, for the message."""
    bases = _program_bases(program, fn.class_qualname)
    if bases & kb.ASYNC_CONSUMER_BASES:
        return "async consumer method"
    if fn.class_qualname is not None and fn.name in kb.MIDDLEWARE_METHODS:
        return "async middleware"
    node = fn.node
    params = [] if isinstance(node, ast.Module) else [a.arg for a in node.args.args]
    if fn.scope.self_name is not None:
        params = params[1:]
    if bases & kb.VIEW_BASES or (params and params[0] in kb.REQUEST_PARAMETERS):
        return "async view"
    return "async function"


@rule(
    SYNC_ORM_IN_ASYNC,
    "sync-orm-in-async-view",
    Severity.ERROR,
    "The sync Django ORM is used inside async code: Django raises `SynchronousOnlyOperation`.",
    "Use the `a`-prefixed ORM methods (`aget`, `acount`, `asave`, `async for`), or wrap the "
    "ORM code in `sync_to_async(...)`.",
)
def sync_orm_in_async_view(ctx: RuleContext) -> Iterator[Finding]:
    """Django refuses to run the synchronous ORM on a thread with a running event loop: in an
    async view, async middleware or a Channels async consumer, ``Order.objects.get(...)``,
    ``qs.count()``, ``list(qs)``, ``for o in qs``, ``qs[0]`` or ``order.save()`` raise
    ``SynchronousOnlyOperation`` (and with the check disabled they would block the loop).
    Only operations that *run* a query count: building a lazy QuerySet
    (``qs = Order.objects.filter(...)``) is fine, and so are the async twins (``aget``,
    ``acount``, ``asave``, ``async for``). A sync helper that queries, called from the async
    code, is followed (the evidence shows the hops), in any module of the workspace, and so is
    a model's method called on an instance (``order.mark_paid()`` that calls ``self.save()``
    in ``models.py``); work wrapped in ``sync_to_async`` or ``database_sync_to_async`` is not
    in the async code and is not reported."""
    module = ctx.module
    program = ctx.program
    if not _django_active(program, module) or _async_unsafe_allowed(module):
        return
    follow = _orm_callee(program)
    for fn in ctx.async_functions():
        where = _async_context(program, fn)
        orm = _orm_of(program, fn)
        for site in orm.sites() if orm is not None else []:
            yield ctx.finding(
                SYNC_ORM_IN_ASYNC,
                site.node,
                f"{site.text} {site.what} with the sync ORM inside {where} `{fn.display}`: "
                f"Django raises SynchronousOnlyOperation; use {site.alternative}",
                function=fn,
                assumptions=(f"`{fn.display}` never runs with an event loop running",),
                fix={"kind": "async-orm", "alternative": site.alternative},
            )
        for call in sorted_calls(fn, lambda c: True):
            callee = follow(fn, call)
            if callee is None or callee.is_async:
                continue
            reach = _orm_reach(program, callee)
            if reach is None:
                continue
            site, chain = reach
            yield ctx.finding(
                SYNC_ORM_IN_ASYNC,
                call.span,
                f"`{callee.display}()` uses the sync ORM ({site.text} {site.what}) and is "
                f"called from {where} `{fn.display}`: Django raises SynchronousOnlyOperation; "
                f"call it with `await sync_to_async({call.text})(...)`",
                function=fn,
                evidence=(
                    ctx.evidence(call.span, f"{fn.display}() calls {callee.display}()"),
                    *chain,
                ),
                assumptions=(f"`{callee.display}()` never queries when called from async code",),
                fix={"kind": "sync-to-async", "callee": callee.display},
            )


# =============================================================================================
# RH503: sync_to_async(..., thread_sensitive=False) around ORM code
# =============================================================================================


@rule(
    THREAD_UNSAFE_ORM,
    "sync-to-async-thread-unsafe-orm",
    Severity.WARNING,
    "ORM code runs under `sync_to_async(thread_sensitive=False)`: outside the request's DB "
    "thread and connection.",
    "Keep the default `thread_sensitive=True` (or use `database_sync_to_async`) for ORM code.",
)
def sync_to_async_thread_unsafe_orm(ctx: RuleContext) -> Iterator[Finding]:
    """Django's database connections belong to a thread. ``sync_to_async`` with the default
    ``thread_sensitive=True`` runs every sync call of a request in one thread, so the ORM sees
    one connection, one transaction and the request's cleanup. ``thread_sensitive=False`` sends
    the function to an arbitrary pool thread: its queries use another connection (outside any
    ``transaction.atomic()`` the caller opened, not seeing its uncommitted rows), connections
    opened in pool threads are never closed by Django's request cycle (they pile up until the
    database refuses more), and code that is not thread-safe runs in parallel. Reported when
    the wrapped callable is an ORM method, a lambda querying, or a function that (through
    sync helpers) queries."""
    module = ctx.module
    if not (_django_active(ctx.program, module) or module.imports_module("asgiref")):
        return
    for fn in ctx.functions():
        for call in sorted_calls(fn, lambda c: c.callee in kb.SYNC_TO_ASYNC):
            if not _is_false(_keyword(call.node, "thread_sensitive")):
                continue
            found = _wrapped_orm(ctx, fn, call)
            if found is None:
                continue
            target, site, chain = found
            uses = "" if site.text == target else f" ({site.text} {site.what})"
            yield ctx.finding(
                THREAD_UNSAFE_ORM,
                call.span,
                f"`{call.text}(..., thread_sensitive=False)` runs {target} in a pool thread, "
                f"and it uses the ORM{uses}: another connection, outside the request's "
                f"transaction and thread, never closed by Django",
                function=fn,
                evidence=(ctx.evidence(call.span, f"{target} runs in a pool thread"), *chain),
                assumptions=(f"{target} never touches the database",),
                fix={"kind": "thread-sensitive"},
            )


def _wrapped_orm(
    ctx: RuleContext, fn: FunctionFacts, call: CallSite
) -> tuple[str, Site, Chain] | None:
    """The callable ``sync_to_async`` wraps (argument, or the decorated function), if it
    queries: its description, the first query and the hops to it."""
    if call.node.args:
        argument = call.node.args[0]
    elif isinstance(call.stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
        d is call.node for d in call.stmt.decorator_list
    ):
        stmt = call.stmt
        decorated = next((f for f in ctx.module.functions.values() if f.node is stmt), None)
        return _function_orm(ctx, decorated)
    else:
        return None
    orm = _orm_of(ctx.program, fn)
    if isinstance(argument, ast.Lambda):
        if orm is None:
            return None
        sites = orm.sites(argument)
        if sites:
            evidence = ctx.evidence(sites[0].node, f"{sites[0].text} {sites[0].what}")
            return "a lambda", sites[0], (evidence,)
        return None
    if orm is not None:
        site = orm.callable_site(argument)
        if site is not None:
            return site.text, site, (ctx.evidence(argument, f"{site.text} {site.what}"),)
    qualified = fn.scope.qualify(argument)
    if qualified is None and orm is not None:
        qualified = orm.instance_method(argument)  # ``order.mark_paid``
    return _function_orm(ctx, ctx.program.function(qualified))


def _function_orm(ctx: RuleContext, target: FunctionFacts | None) -> tuple[str, Site, Chain] | None:
    if target is None or target.is_async:
        return None
    reach = _orm_reach(ctx.program, target)
    if reach is None:
        return None
    return f"`{target.display}()`", reach[0], reach[1]


# =============================================================================================
# RH504: Celery task enqueued inside transaction.atomic()
# =============================================================================================


def _is_task_reference(program: Program, fn: FunctionFacts, node: ast.AST) -> bool:
    """``send_welcome`` (in ``send_welcome.delay``) names a Celery task: a function decorated as
    one, a name imported from a ``tasks`` module, or anything in a module using Celery."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        node = node.func.value  # ``task.s(...).delay()`` / ``task.signature(...).apply_async()``
    qualified = fn.scope.qualify(node)
    target = program.function(qualified)
    if target is not None and _is_celery_task(program, target):
        return True
    if qualified is not None:
        owner = qualified.rpartition(".")[0]
        if owner.rpartition(".")[2] == kb.TASKS_MODULE_NAME:
            return True
    return _imports_celery(program, program.module_of(fn))


def _enqueue_site(program: Program, fn: FunctionFacts, call: ast.Call) -> Site | None:
    func = call.func
    if not isinstance(func, ast.Attribute) or func.attr not in kb.ENQUEUE_METHODS:
        return None
    module = program.module_of(fn)
    if func.attr == "send_task":
        # ``app.send_task(...)`` on an app this module imports from ``celery_app.py``.
        app = _resolve(program, fn.scope.qualify(func.value), _celery_apps(program).__contains__)
        if app not in _celery_apps(program) and not _imports_celery(program, module):
            return None
    elif not _is_task_reference(program, fn, func.value):
        return None
    text = f"`{_text(module, func, 46)}()`"
    return Site(call, text, "enqueues a Celery task", "transaction.on_commit(lambda: ...)")


def _enqueue_direct(program: Program) -> Callable[[FunctionFacts], Site | None]:
    def direct(fn: FunctionFacts) -> Site | None:
        for call in sorted_calls(fn, lambda c: True):
            site = _enqueue_site(program, fn, call.node)
            if site is not None:
                return site
        return None

    return direct


def _atomic_statements(fn: FunctionFacts) -> dict[int, ast.AST]:
    """``id(stmt)`` of every statement inside ``with transaction.atomic():`` -> the ``with``
    item that opened the transaction."""
    inside: dict[int, ast.AST] = {}
    for node in fn.own_nodes:
        if not isinstance(node, (ast.With, ast.AsyncWith)):
            continue
        for item in node.items:
            expr = item.context_expr
            target = expr.func if isinstance(expr, ast.Call) else expr
            if fn.scope.qualify(target) in kb.ATOMIC:
                for stmt in iter_statements(node.body, enter_defs=False):
                    inside.setdefault(id(stmt), expr)
                break
    return inside


@rule(
    TASK_IN_TRANSACTION,
    "celery-task-in-transaction",
    Severity.WARNING,
    "A Celery task is enqueued inside `transaction.atomic()`: the worker can run before the "
    "commit.",
    "Enqueue after commit: `transaction.on_commit(lambda: task.delay(...))`, or "
    "`task.delay_on_commit(...)` (Celery 5.4+).",
)
def celery_task_in_transaction(ctx: RuleContext) -> Iterator[Finding]:
    """Inside ``with transaction.atomic():`` (or a function decorated ``@transaction.atomic``)
    nothing is committed yet, but ``task.delay(...)`` hands the message to the broker at once.
    A fast worker picks it up before the commit and does not find the row it was given
    (``DoesNotExist``), or sees the old state; if the transaction rolls back, the task runs for
    something that never happened. ``transaction.on_commit(lambda: task.delay(...))`` sends it
    only once the data is there. Sync helpers that enqueue, called inside the transaction, are
    followed; a task is a function decorated with ``@shared_task`` or with ``@app.task`` on the
    workspace's Celery app, in whichever module either is defined."""
    module = ctx.module
    if not module.imports_module("django"):
        return
    program = ctx.program
    for fn in ctx.functions():
        decorated = next((d for d in fn.decorators if d in kb.ATOMIC), None)
        inside = _atomic_statements(fn)
        if decorated is None and not inside:
            continue
        for call in sorted_calls(fn, lambda c: True):
            opener = inside.get(id(call.stmt))
            if opener is None and decorated is None:
                continue
            where = (
                ctx.evidence(opener, "the transaction opens here")
                if opener is not None
                else ctx.evidence(fn.node, f"@transaction.atomic wraps {fn.display}()")
            )
            site = _enqueue_site(program, fn, call.node)
            if site is not None:
                yield _in_transaction(ctx, fn, call, site, (where,))
                continue
            callee = program.callee_function(call)
            if callee is None or callee.is_async:
                continue
            reach = _reach(program, callee, "RH504.enqueue", _enqueue_direct(program))
            if reach is not None:
                hop = ctx.evidence(call.span, f"{fn.display}() calls {callee.display}()")
                yield _in_transaction(ctx, fn, call, reach[0], (where, hop, *reach[1]))


def _in_transaction(
    ctx: RuleContext, fn: FunctionFacts, call: CallSite, site: Site, evidence: Chain
) -> Finding:
    via = "" if site.node is call.node else f" (via `{call.text}()`)"
    return ctx.finding(
        TASK_IN_TRANSACTION,
        call.span,
        f"{site.text}{via} {site.what} inside an open `transaction.atomic()` in `{fn.display}`: "
        f"the worker can run before the commit and miss the row; use "
        f"`transaction.on_commit(lambda: ...)`",
        function=fn,
        evidence=evidence,
        assumptions=(
            "the task does not read anything this transaction writes, or its task class defers "
            "sending until the commit",
        ),
        fix={"kind": "on-commit"},
    )


# =============================================================================================
# RH507: a Celery task waiting for another task's result
# =============================================================================================


def _module_celery_apps(module: ModuleFacts) -> set[str]:
    """Module globals bound to ``Celery(...)``."""
    apps: set[str] = set()
    for stmt in module.tree.body:
        target, value = _class_assignment(stmt)
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


def _program_names(
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


def _celery_apps(program: Program) -> frozenset[str]:
    """Qualified names of the Celery apps of the program (``reports.celery_app.worker``):
    ``@worker.task`` in any module that imports one declares a task."""
    return _program_names(program, "data.celery_apps", _module_celery_apps)


def _imports_celery(program: Program, module: ModuleFacts) -> bool:
    """The module imports Celery, or a Celery app of the workspace."""
    if module.imports_module(*kb.CELERY_MODULES):
        return True
    apps = _celery_apps(program)
    return any(
        _resolve(program, target, apps.__contains__) in apps for target in module.imports.values()
    )


def _celery_active(program: Program, module: ModuleFacts) -> bool:
    """Celery is imported here or by a workspace module this one imports (``tasks.py``
    importing only the app from ``celery_app.py`` and tasks from ``charts.py``)."""
    return _uses_framework(
        program, module, "celery", lambda m: m.imports_module(*kb.CELERY_MODULES)
    )


def _is_celery_task(program: Program, fn: FunctionFacts) -> bool:
    if not fn.decorators:
        return False
    module = program.module_of(fn)
    apps = _celery_apps(program)
    uses_celery = _imports_celery(program, module) or any(
        "celery" in target.split(".") for target in module.imports.values()
    )
    local_apps = _module_celery_apps(module)
    for decorator in fn.decorators:
        if decorator in kb.TASK_DECORATORS and uses_celery:
            return True
        owner, _, attr = decorator.rpartition(".")
        if attr != kb.APP_TASK_DECORATOR_ATTRIBUTE or not owner:
            continue
        if _resolve(program, owner, apps.__contains__) in apps:
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
        _typed_names(fn, lambda v: v is not None and self.is_result(v), self.results)
        _typed_names(fn, lambda v: v is not None and self.is_list(v), self.result_lists)
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
            node = _last_values(self.fn).get(node.id, node)
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
            text = f"`{_text(module, node.func, 46)}()`"
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
    memo = _memo(program, "RH507.returns")
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
        found = _evidence_in(module, node, f"{fn.display}() returns a Celery result")
    else:
        returns = [n for n in fn.own_nodes if isinstance(n, ast.Return) and n.value is not None]
        results = CeleryResults(program, fn)
        if returns and all(r.value is not None and results.is_result(r.value) for r in returns):
            first = min(returns, key=_position)
            text = _text(module, first.value or first, 50)
            found = _evidence_in(module, first, f"{fn.display}() returns the result of `{text}`")
    memo[fn.qualname] = found
    return found


def _wait_direct(program: Program) -> Callable[[FunctionFacts], Site | None]:
    def direct(fn: FunctionFacts) -> Site | None:
        module = program.module_of(fn)
        if not _celery_active(program, module) or _is_celery_task(program, fn):
            return None
        results = CeleryResults(program, fn)
        sites = [s for n in fn.own_nodes if (s := results.wait_site(module, n)) is not None]
        return min(sites, key=lambda s: _position(s.node)) if sites else None

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
    if not _celery_active(ctx.program, module):
        return
    for fn in ctx.functions():
        if fn.is_async or not _is_celery_task(ctx.program, fn):
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
                reach = _reach(ctx.program, callee, "RH507.wait", _wait_direct(ctx.program))
                if reach is None:
                    continue
                site = reach[0]
                hop = ctx.evidence(call.span, f"{fn.display}() calls {callee.display}()")
                chain = (hop, *reach[1])
            note = ""
            if id(call.stmt) in allowed:
                note = " (`allow_join_result()` only silences Celery's guard)"
            elif _is_false(_keyword(call.node, "disable_sync_subtasks")):
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


# =============================================================================================
# SQLAlchemy asyncio: sessions (RH505) and lazy loads (RH506)
# =============================================================================================


def _session_factories(module: ModuleFacts) -> set[str]:
    """Module globals bound to an async session factory (``async_sessionmaker(engine)``, or
    ``sessionmaker(engine, class_=AsyncSession)``)."""
    scope = module.functions[f"{module.module}.<module>"].scope
    factories: set[str] = set()
    for stmt in module.tree.body:
        target, value = _class_assignment(stmt)
        if target is None or not isinstance(value, ast.Call):
            continue
        callee = scope.qualify(value.func)
        if callee in kb.ASYNC_SESSION_FACTORIES:
            factories.add(target)
        elif callee == kb.SYNC_SESSION_FACTORY:
            class_ = _keyword(value, "class_")
            if class_ is not None and scope.qualify(class_) in kb.ASYNC_SESSION_TYPES:
                factories.add(target)
    return factories


def _sqlalchemy_active(program: Program, module: ModuleFacts) -> bool:
    """SQLAlchemy is imported here or by a workspace module this one imports."""
    return _uses_framework(
        program, module, "sqlalchemy", lambda m: m.imports_module(*kb.SQLALCHEMY_MODULES)
    )


def _program_session_factories(program: Program) -> frozenset[str]:
    """Qualified names of the async session factories of every module (``app.db.SessionLocal``):
    ``async with SessionLocal() as session`` in ``repositories.py`` opens an AsyncSession."""
    return _program_names(program, "data.session_factories", _session_factories)


class AsyncSessions:
    """Which expressions of a function name an ``AsyncSession``: annotated parameters and
    attributes, ``async with Session() as s`` on a known factory (of this module or another),
    ``AsyncSession(engine)``; and which objects hold one (a repository whose methods use its
    ``self.session``)."""

    def __init__(self, program: Program, module: ModuleFacts, fn: FunctionFacts) -> None:
        self.program = program
        self.module = module
        self.fn = fn
        self.factories = _session_factories(module)
        self.program_factories = _program_session_factories(program)
        self.names: set[str] = set()
        for node in fn.own_nodes:
            if isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if isinstance(item.optional_vars, ast.Name) and self.creates(item.context_expr):
                        self.names.add(item.optional_vars.id)
            elif (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and self.creates(node.value)
            ):
                self.names.add(node.targets[0].id)

    def creates(self, node: ast.AST) -> bool:
        if not isinstance(node, ast.Call):
            return False
        if isinstance(node.func, ast.Name) and node.func.id in self.factories:
            return True
        factories = self.program_factories
        callee = _resolve(self.program, self.fn.scope.qualify(node.func), factories.__contains__)
        return callee in factories or callee in kb.ASYNC_SESSION_TYPES

    def key(self, node: ast.AST) -> str | None:
        """The session an expression names (``session``, ``self.session``), or None."""
        if isinstance(node, ast.Name) and node.id in self.names:
            return node.id
        if isinstance(node, (ast.Name, ast.Attribute)):
            if self.fn.scope.type_of(node) in kb.ASYNC_SESSION_TYPES:
                return ast.unparse(node)
        return None

    def used_in(self, expr: ast.AST) -> set[str]:
        """Sessions a coroutine expression uses: as a method receiver (``s.execute(...)``) or
        handed to the coroutine function (``load_users(s)``)."""
        used: set[str] = set()
        for node in _lambda_nodes(expr):
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Attribute) and func.attr in kb.ASYNC_SESSION_METHODS:
                    key = self.key(func.value)
                    if key is not None:
                        used.add(key)
                if isinstance(func, ast.Attribute):
                    used |= self.held_by(func.value, func.attr)
                for argument in (*node.args, *(kw.value for kw in node.keywords)):
                    key = self.key(argument)
                    if key is not None:
                        used.add(key)
        return used

    def held_by(self, receiver: ast.AST, method: str) -> set[str]:
        """``repo.recent()``: the session attributes of ``repo``'s class (defined in any
        module) that the async method ``recent`` reads through ``self``."""
        owner = self.fn.scope.type_of(receiver)
        target = self.program.function(f"{owner}.{method}") if owner is not None else None
        if target is None or not target.is_async or target.scope.self_name is None:
            return set()
        attributes = _session_attributes(self.program, target.class_qualname)
        self_name = target.scope.self_name
        read = {
            node.attr
            for node in target.own_nodes
            if isinstance(node, ast.Attribute)
            and node.attr in attributes
            and isinstance(node.value, ast.Name)
            and node.value.id == self_name
        }
        return {f"{ast.unparse(receiver)}.{attr}" for attr in read}


def _session_attributes(program: Program, class_qualname: str | None) -> set[str]:
    """Attributes typed ``AsyncSession`` on a class or its bases, in any module."""
    classes = _program_classes(program)
    found: set[str] = set()
    for qualname in (class_qualname, *_program_bases(program, class_qualname)):
        entry = classes.get(qualname) if qualname is not None else None
        if entry is not None:
            found |= {
                attr
                for attr, type_name in entry[1].attr_types.items()
                if type_name in kb.ASYNC_SESSION_TYPES
            }
    return found


def _loops_of(module: ModuleFacts, fn: FunctionFacts, node: ast.AST) -> bool:
    """Is ``node`` inside a loop (``for``, ``while``, a comprehension) of ``fn``?"""
    parents = module.parents
    current = parents.get(id(node))
    while current is not None and current is not fn.node:
        if isinstance(current, (ast.For, ast.AsyncFor, ast.While, *_COMPREHENSIONS)):
            return True
        current = parents.get(id(current))
    return False


@dataclass(frozen=True)
class _Spawn:
    call: CallSite
    sessions: frozenset[str]
    joined_at: int  # the line by which the task is known to be finished


@rule(
    SHARED_ASYNC_SESSION,
    "async-session-shared-across-tasks",
    Severity.ERROR,
    "One SQLAlchemy `AsyncSession` is used by concurrent tasks (or shared at module level).",
    "One session per task: `async with Session() as session:` inside each task; await "
    "session calls one after another.",
)
def async_session_shared_across_tasks(ctx: RuleContext) -> Iterator[Finding]:
    """An ``AsyncSession`` is a unit of work over one connection; it is not safe for concurrent
    use. ``asyncio.gather(session.execute(a), session.execute(b))``, two tasks handed the same
    session, or a task using it while the creator keeps using it, interleave on one connection:
    ``InvalidRequestError: This session is provisioning a new connection; concurrent operations
    are not permitted``, or a corrupted identity map and flush. The same holds for a session
    stored at module level (or on a class) and used by every request, including one created in
    another module (``from .db import session``). Sessions come from a factory defined anywhere
    in the workspace (``async with SessionLocal() as session``, ``SessionLocal`` in ``db.py``);
    a repository object whose async methods use its ``self.session`` shares that session
    (``gather(repo.count(), repo.recent())``). A session per task, or awaiting the calls one
    after another, is safe."""
    module = ctx.module
    if not _sqlalchemy_active(ctx.program, module):
        return
    yield from _shared_sessions(ctx)
    yield from _imported_sessions(ctx)
    for fn in ctx.async_functions():
        sessions = AsyncSessions(ctx.program, module, fn)
        for call in sorted_calls(fn, lambda c: c.callee in kb.CONCURRENT_GATHERERS):
            shared = _gathered_session(sessions, call.node)
            if shared is not None:
                yield ctx.finding(
                    SHARED_ASYNC_SESSION,
                    call.span,
                    f"`{shared}` is used by several coroutines that `{call.text}()` runs "
                    f"concurrently in `{fn.display}`: an AsyncSession allows one operation "
                    f"at a time",
                    function=fn,
                    assumptions=(f"the coroutines given `{shared}` never use it concurrently",),
                    fix={"kind": "session-per-task"},
                )
        yield from _spawned_sessions(ctx, fn, sessions)


def _gathered_session(sessions: AsyncSessions, call: ast.Call) -> str | None:
    counts: dict[str, int] = {}
    for argument in call.args:
        if isinstance(argument, ast.Starred):
            inner = argument.value
            if isinstance(inner, (ast.ListComp, ast.GeneratorExp)):
                for key in sessions.used_in(inner.elt):
                    counts[key] = counts.get(key, 0) + 2  # one coroutine per element
            continue
        for key in sessions.used_in(argument):
            counts[key] = counts.get(key, 0) + 1
    return next((key for key, n in sorted(counts.items()) if n > 1), None)


def _spawned_sessions(
    ctx: RuleContext, fn: FunctionFacts, sessions: AsyncSessions
) -> Iterator[Finding]:
    task_groups = _task_group_blocks(fn)
    spawns: list[_Spawn] = []
    for call in sorted_calls(fn, lambda c: True):
        func = call.node.func
        group_end = (
            task_groups.get(func.value.id)
            if isinstance(func, ast.Attribute)
            and func.attr in kb.TASK_GROUP_METHODS
            and isinstance(func.value, ast.Name)
            else None
        )
        if call.callee not in kb.TASK_SPAWNERS and group_end is None:
            continue
        used: set[str] = set()
        for argument in (*call.node.args, *(kw.value for kw in call.node.keywords)):
            used |= sessions.used_in(argument)
            key = sessions.key(argument)
            if key is not None:
                used.add(key)
        if not used:
            continue
        joined = group_end if group_end is not None else _joined_line(fn, call)
        spawns.append(_Spawn(call, frozenset(used), joined))
    reported: set[int] = set()
    for index, spawn in enumerate(spawns):
        why: str | None = None
        if _loops_of(ctx.module, fn, spawn.call.node):
            why = "every loop iteration starts a task that shares it"
        for other in spawns[index + 1 :]:
            if why is None and other.call.span.line <= spawn.joined_at:
                if spawn.sessions & other.sessions:
                    why = f"another task (line {other.call.span.line}) uses it too"
        if why is None:
            other_use = _direct_use_before(fn, sessions, spawn, spawns)
            if other_use is not None:
                why = f"`{fn.display}` keeps using it (line {other_use}) while the task runs"
        if why is None or id(spawn.call.node) in reported:
            continue
        reported.add(id(spawn.call.node))
        shared = ", ".join(f"`{s}`" for s in sorted(spawn.sessions))
        yield ctx.finding(
            SHARED_ASYNC_SESSION,
            spawn.call.span,
            f"{shared} is handed to a task by `{spawn.call.text}()` in `{fn.display}`, and "
            f"{why}: an AsyncSession allows one operation at a time",
            function=fn,
            assumptions=(f"{shared} is never used by two tasks at once",),
            fix={"kind": "session-per-task"},
        )


def _task_group_blocks(fn: FunctionFacts) -> dict[str, int]:
    """``async with asyncio.TaskGroup() as tg:`` -> ``{"tg": <last line of the block>}``."""
    groups: dict[str, int] = {}
    for node in fn.own_nodes:
        if isinstance(node, ast.AsyncWith):
            for item in node.items:
                expr = item.context_expr
                if (
                    isinstance(expr, ast.Call)
                    and fn.scope.qualify(expr.func) in kb.TASK_GROUP_CLASSES
                    and isinstance(item.optional_vars, ast.Name)
                ):
                    groups[item.optional_vars.id] = node.end_lineno or node.lineno
    return groups


def _joined_line(fn: FunctionFacts, call: CallSite) -> int:
    """The first line after a ``create_task`` where the task (by its local name) is awaited,
    or the end of the function when it is not kept or never awaited here."""
    end = getattr(fn.node, "end_lineno", None) or call.span.line
    stmt = call.stmt
    if not (
        isinstance(stmt, ast.Assign)
        and stmt.value is call.node
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
    ):
        return end
    name = stmt.targets[0].id
    lines = [
        node.lineno
        for node in fn.own_nodes
        if isinstance(node, ast.Await)
        and node.lineno > call.span.line
        and any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node.value))
    ]
    return min(lines) if lines else end


def _direct_use_before(
    fn: FunctionFacts, sessions: AsyncSessions, spawn: _Spawn, spawns: list[_Spawn]
) -> int | None:
    """A line where the function itself uses a spawned task's session before the task is
    known to have finished."""
    inside_spawns = {id(n) for s in spawns for arg in s.call.node.args for n in ast.walk(arg)}
    for node in _ordered(fn.own_nodes):
        if not isinstance(node, ast.Await) or id(node) in inside_spawns:
            continue
        if not (spawn.call.span.line < node.lineno < spawn.joined_at):
            continue
        if isinstance(node.value, ast.Call) and id(node.value) in {id(s.call.node) for s in spawns}:
            continue
        if sessions.used_in(node.value) & spawn.sessions:
            return node.lineno
    return None


def _stored_sessions(
    program: Program, module: ModuleFacts, class_bodies: bool = True
) -> Iterator[tuple[str, ast.stmt, str]]:
    """``(name, statement, owner)`` for each AsyncSession bound at module level (or in a class
    body): created from a factory or the class, or annotated ``AsyncSession`` and not None."""
    module_fn = module.functions[f"{module.module}.<module>"]
    sessions = AsyncSessions(program, module, module_fn)
    bodies: list[tuple[list[ast.stmt], str]] = [(module.tree.body, "module")]
    if class_bodies:
        bodies.extend((cls.node.body, f"class `{cls.name}`") for cls in module.classes.values())
    for body, owner in bodies:
        for stmt in body:
            target, value = _class_assignment(stmt)
            if target is None or value is None:
                continue
            annotated = isinstance(stmt, ast.AnnAssign) and (
                module_fn.scope.annotation_type(stmt.annotation) in kb.ASYNC_SESSION_TYPES
            )
            if sessions.creates(value) or (annotated and not _is_none(value)):
                yield target, stmt, owner


def _shared_sessions(ctx: RuleContext) -> Iterator[Finding]:
    """A session bound at module level or in a class body, and read by async code."""
    used_names = {
        node.id if isinstance(node, ast.Name) else node.attr
        for fn in ctx.async_functions()
        for node in fn.own_nodes
        if isinstance(node, (ast.Name, ast.Attribute))
    }
    for target, stmt, owner in _stored_sessions(ctx.program, ctx.module):
        if target not in used_names:
            continue
        yield ctx.finding(
            SHARED_ASYNC_SESSION,
            stmt,
            f"`{target}` is one AsyncSession stored on the {owner} and used by async code: "
            f"every concurrent request shares it, and an AsyncSession allows one operation "
            f"at a time",
            assumptions=(f"only one task at a time ever uses `{target}`",),
            fix={"kind": "session-per-task"},
        )


def _program_stored_sessions(program: Program) -> dict[str, tuple[ModuleFacts, ast.stmt]]:
    """Module-level AsyncSessions of every module, by qualified name (``app.db.session``)."""

    def compute() -> dict[str, tuple[ModuleFacts, ast.stmt]]:
        return {
            f"{module.module}.{name}": (module, stmt)
            for module in program.modules.values()
            for name, stmt, _ in _stored_sessions(program, module, class_bodies=False)
        }

    return program.memoized("data.stored_sessions", compute)


def _imported_sessions(ctx: RuleContext) -> Iterator[Finding]:
    """A module-level AsyncSession of another module (``from .db import session``), read by
    async code here: reported where it is imported (or first read, through its module),
    with the evidence pointing at where it is created."""
    stored = _program_stored_sessions(ctx.program)
    if not stored:
        return
    module = ctx.module
    first_use: dict[str, ast.AST] = {}
    for fn in ctx.async_functions():
        for node in fn.own_nodes:
            if not isinstance(node, (ast.Name, ast.Attribute)):
                continue
            qualified = _resolve(ctx.program, fn.scope.qualify(node), stored.__contains__)
            if qualified in stored and stored[qualified][0] is not module:
                if qualified not in first_use or _position(node) < _position(first_use[qualified]):
                    first_use[qualified] = node
    imports = {
        _resolve(
            ctx.program, module.imports.get(alias.asname or alias.name), stored.__contains__
        ): (stmt)
        for stmt in module.tree.body
        if isinstance(stmt, ast.ImportFrom)
        for alias in stmt.names
    }
    for qualified, use in sorted(first_use.items()):
        owner, created = stored[qualified]
        name = qualified.rpartition(".")[2]
        where: ast.AST = imports.get(qualified) or use
        yield ctx.finding(
            SHARED_ASYNC_SESSION,
            where,
            f"`{name}` is one AsyncSession created at module level in {owner.path} and used "
            f"by async code here: every concurrent request shares it, and an AsyncSession "
            f"allows one operation at a time",
            evidence=(
                _evidence_in(owner, created, f"`{name}` is created once, at import time"),
                ctx.evidence(use, f"async code here uses `{name}`"),
            ),
            assumptions=(f"only one task at a time ever uses `{name}`",),
            fix={"kind": "session-per-task"},
        )


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


# -- RH506 ----------------------------------------------------------------------------------


#: A relationship declaration: the module it is in, and the class-body statement.
Declaration = tuple[ModuleFacts, ast.stmt]


def _own_lazy_relationships(module: ModuleFacts, cls: ClassFacts) -> dict[str, Declaration]:
    """Relationships declared in one class body that load lazily on attribute access (no
    ``lazy="selectin"``/``"joined"``/``"raise"`` ...)."""
    scope = module.functions[f"{module.module}.<module>"].scope
    found: dict[str, Declaration] = {}
    for stmt in cls.node.body:
        target, value = _class_assignment(stmt)
        if target is None or not isinstance(value, ast.Call):
            continue
        if scope.qualify(value.func) not in kb.RELATIONSHIP_CALLS:
            continue
        lazy = _keyword(value, "lazy")
        if lazy is None and scope.qualify(value.func) == "sqlmodel.Relationship":
            kwargs = _keyword(value, "sa_relationship_kwargs")
            if isinstance(kwargs, ast.Dict):
                lazy = next(
                    (
                        v
                        for k, v in zip(kwargs.keys, kwargs.values, strict=True)
                        if isinstance(k, ast.Constant) and k.value == "lazy"
                    ),
                    None,
                )
        if lazy is not None and not (
            isinstance(lazy, ast.Constant) and lazy.value in ("select", True)
        ):
            continue  # an eager or raising strategy, or one we cannot read
        found[target] = (module, stmt)
    return found


def _lazy_relationships(program: Program) -> dict[str, dict[str, Declaration]]:
    """Mapped class -> {relationship attribute -> its declaration}, for the lazy relationships
    of every module's classes, inherited through bases in any module: the models are in
    ``models.py``, the queries and attribute reads elsewhere."""

    def compute() -> dict[str, dict[str, Declaration]]:
        classes = _program_classes(program)
        own = {q: _own_lazy_relationships(m, c) for q, (m, c) in classes.items()}
        result: dict[str, dict[str, Declaration]] = {}
        for qualname in classes:
            merged: dict[str, Declaration] = {}
            for base in (*_program_bases(program, qualname), qualname):
                merged.update(own.get(base, {}))
            if merged:
                result[qualname] = merged
        return result

    return program.memoized("data.lazy_relationships", compute)


@dataclass
class _Loaded:
    """What an ``AsyncSession`` query loaded: the mapped class, and attributes loaded eagerly
    with it (``options(selectinload(Order.items))``); ``every`` for wildcard options."""

    entity: str
    eager: set[str]
    every: bool = False
    # The ``return`` of the helper (in any module) that handed the objects over, if one did.
    source: Evidence | None = None


class AsyncResults:
    """Local names bound to ORM objects loaded through an awaited session call, directly or by
    an async helper of any module that returns them (``order = await repo.get(order_id)``)."""

    def __init__(
        self, program: Program, module: ModuleFacts, fn: FunctionFacts, mapped: set[str]
    ) -> None:
        self.program = program
        self.module = module
        self.fn = fn
        self.mapped = mapped
        self.values = _last_values(fn)
        self.objects: dict[str, _Loaded] = {}
        self.lists: dict[str, _Loaded] = {}
        for name, value in self.values.items():
            loaded = self.loaded_one(value)
            if loaded is not None:
                self.objects[name] = loaded
                continue
            loaded = self.loaded_many(value)
            if loaded is not None:
                self.lists[name] = loaded
        for node in fn.own_nodes:
            if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)) and isinstance(
                node.target, ast.Name
            ):
                loaded = self.loaded_many(node.iter)
                if loaded is not None and node.target.id not in self.values:
                    self.objects[node.target.id] = loaded
        self._refreshed()

    def _refreshed(self) -> None:
        """``await session.refresh(order, ["items"])`` loads those attributes."""
        for node in self.fn.own_nodes:
            if not (
                isinstance(node, ast.Await)
                and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Attribute)
                and node.value.func.attr == "refresh"
                and node.value.args
                and isinstance(node.value.args[0], ast.Name)
            ):
                continue
            loaded = self.objects.get(node.value.args[0].id)
            if loaded is None:
                continue
            names = node.value.args[1] if len(node.value.args) > 1 else None
            names = names or _keyword(node.value, "attribute_names")
            if names is None:
                loaded.every = True
            else:
                loaded.eager |= {
                    n.value
                    for n in ast.walk(names)
                    if isinstance(n, ast.Constant) and isinstance(n.value, str)
                }

    def _value(self, node: ast.AST) -> ast.AST:
        if isinstance(node, ast.Name) and node.id in self.values:
            return self.values[node.id]
        return node

    def statement(self, node: ast.AST) -> _Loaded | None:
        """``select(Order).where(...).options(selectinload(Order.items))``."""
        node = self._value(node)
        eager: set[str] = set()
        every = False
        while isinstance(node, ast.Call):
            func = node.func
            if self.fn.scope.qualify(func) in kb.SELECT_CALLS:
                if not node.args:
                    return None
                entity = self.fn.scope.qualify(node.args[0])
                if entity not in self.mapped:
                    return None
                return _Loaded(entity, eager, every)
            if not isinstance(func, ast.Attribute):
                return None
            if func.attr == "options":
                more, wildcard = _eager_attributes(node)
                eager |= more
                every = every or wildcard
            node = func.value
        return None

    def _awaited_session_call(self, node: ast.AST, methods: frozenset[str]) -> ast.Call | None:
        node = self._value(node)
        if (
            isinstance(node, ast.Await)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute)
            and node.value.func.attr in methods
            and node.value.args
        ):
            return node.value
        return None

    def loaded_one(self, node: ast.AST) -> _Loaded | None:
        # ``await session.get(Order, id)`` / ``await session.scalar(select(Order)...)``
        direct = self._awaited_session_call(node, kb.OBJECT_SESSION_METHODS)
        if direct is not None:
            if ast.unparse(direct.func).rpartition(".")[2] in kb.GET_BY_KEY_METHODS:
                entity = self.fn.scope.qualify(direct.args[0])
                if entity in self.mapped:
                    options = _keyword(direct, "options")
                    eager, every = (
                        _eager_attributes(options) if options is not None else (set(), False)
                    )
                    return _Loaded(entity, eager, every)
            else:
                found = self.statement(direct.args[0])
                if found is not None:
                    return found
        # ``(await session.execute(stmt)).scalar_one()`` / ``.scalars().first()``
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in kb.ONE_OBJECT_RESULT_METHODS:
                return self._result(node.func.value)
        return self._returned(node, "one")

    def _returned(self, node: ast.AST, kind: str) -> _Loaded | None:
        """``await repo.get(order_id)``: what the awaited async helper returns (a copy: a
        ``refresh`` here must not change the helper's summary)."""
        node = self._value(node)
        if not (isinstance(node, ast.Await) and isinstance(node.value, ast.Call)):
            return None
        target = self.program.function(self.fn.scope.qualify(node.value.func))
        if target is None or not target.is_async or target is self.fn:
            return None
        if any(d not in TRANSPARENT_DECORATORS for d in target.decorators):
            return None
        summary = _returned_objects(self.program, target, self.mapped)
        if summary is None or summary[0] != kind:
            return None
        loaded = summary[1]
        return _Loaded(loaded.entity, set(loaded.eager), loaded.every, loaded.source)

    def loaded_many(self, node: ast.AST) -> _Loaded | None:
        node = self._value(node)
        if isinstance(node, ast.Name) and node.id in self.lists:
            return self.lists[node.id]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in kb.MANY_OBJECT_RESULT_METHODS:
                return self._result(node.func.value)
        if isinstance(node, ast.Await):
            # ``for order in await session.scalars(select(Order))`` / ``await repo.recent()``
            return self._result(node) or self._returned(node, "many")
        return None

    def _result(self, node: ast.AST) -> _Loaded | None:
        """A Result / ScalarResult of an awaited ``execute``/``scalars`` of a select."""
        node = self._value(node)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("scalars", "unique")
        ):
            return self._result(node.func.value)
        call = self._awaited_session_call(node, kb.RESULT_SESSION_METHODS)
        return self.statement(call.args[0]) if call is not None else None


def _eager_attributes(node: ast.AST) -> tuple[set[str], bool]:
    """Attributes named in loader options (``selectinload(Order.items)``), and whether a
    wildcard (``selectinload("*")``) loads every relationship."""
    names: set[str] = set()
    every = False
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name):
            if sub.attr not in kb.EAGER_LOADER_OPTIONS:
                names.add(sub.attr)
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            every = every or sub.value == "*"
            names.add(sub.value)
    return names, every


def _returned_objects(
    program: Program, fn: FunctionFacts, mapped: set[str]
) -> tuple[str, _Loaded] | None:
    """What an async function returns when every ``return`` hands back ORM objects it loaded:
    ``("one", loaded)`` or ``("many", loaded)``; attributes count as eager only when every
    return loads them. Memoised per program; recursion is cut."""
    memo = _memo(program, "RH506.returns")
    if fn.qualname in memo:
        known = memo[fn.qualname]
        return known if isinstance(known, tuple) else None
    memo[fn.qualname] = None
    module = program.module_of(fn)
    results = AsyncResults(program, module, fn, mapped)
    returns = [n for n in fn.own_nodes if isinstance(n, ast.Return) and n.value is not None]
    summary: tuple[str, _Loaded] | None = None
    for ret in sorted(returns, key=_position):
        value = ret.value
        if value is None or _is_none(value):
            continue
        one = results.loaded_one(value)
        kind, loaded = ("one", one) if one is not None else ("many", results.loaded_many(value))
        if loaded is None or (summary is not None and summary[1].entity != loaded.entity):
            summary = None
            break
        if summary is not None and summary[0] != kind:
            summary = None
            break
        if summary is None:
            entity = loaded.entity.rpartition(".")[2]
            source = _evidence_in(module, ret, f"{fn.display}() returns {entity} objects")
            summary = (kind, _Loaded(loaded.entity, set(loaded.eager), loaded.every, source))
        else:
            summary[1].eager &= loaded.eager
            summary[1].every = summary[1].every and loaded.every
    memo[fn.qualname] = summary
    return summary


def _last_values(fn: FunctionFacts) -> dict[str, ast.AST]:
    """Local names bound exactly once to one expression: name -> that expression."""
    values: dict[str, ast.AST | None] = {}
    for name, value in _single_bindings(fn):
        values[name] = value if name not in values else None
    return {name: value for name, value in values.items() if value is not None}


@rule(
    LAZY_LOAD_ON_ASYNC_RESULT,
    "lazy-load-on-async-result",
    Severity.ERROR,
    "A lazy relationship is read on an object loaded through an `AsyncSession`: `MissingGreenlet`.",
    'Load it with the query (`.options(selectinload(Order.items))`, `lazy="selectin"`), or '
    "`await order.awaitable_attrs.items`.",
)
def lazy_load_on_async_result(ctx: RuleContext) -> Iterator[Finding]:
    """Under asyncio, SQLAlchemy cannot emit SQL from a plain attribute access: reading a
    relationship that was not loaded with the query (``order.items`` with the default
    ``lazy="select"``) raises ``MissingGreenlet: greenlet_spawn has not been called``. Loaded
    objects come from ``await session.get(Order, id)``, ``await session.scalar(select(Order))``
    or ``(await session.execute(select(Order))).scalar_one()``/``.scalars().all()``, or from an
    async helper returning what it loaded that way (``await repo.get(id)``); the relationship
    is declared in a mapped class of any workspace module. Eager loading
    (``selectinload``/``joinedload`` options, ``lazy="selectin"``/``"joined"``/``"raise"``),
    ``session.refresh(obj, ["items"])`` and ``await obj.awaitable_attrs.items`` are safe."""
    module = ctx.module
    if not _sqlalchemy_active(ctx.program, module):
        return
    relationships = _lazy_relationships(ctx.program)
    if not relationships:
        return
    for fn in ctx.async_functions():
        loaded = AsyncResults(ctx.program, module, fn, set(relationships))
        if not loaded.objects:
            continue
        reported: set[tuple[str, str]] = set()
        for node in _ordered(fn.own_nodes):
            if not (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Load)
                and isinstance(node.value, ast.Name)
                and node.value.id in loaded.objects
            ):
                continue
            obj = loaded.objects[node.value.id]
            lazy = relationships.get(obj.entity, {})
            if node.attr not in lazy or node.attr in obj.eager or obj.every:
                continue
            if (node.value.id, node.attr) in reported:
                continue
            reported.add((node.value.id, node.attr))
            entity = obj.entity.rpartition(".")[2]
            declared_in, declaration = lazy[node.attr]
            evidence = [
                _evidence_in(declared_in, declaration, f"{entity}.{node.attr} loads lazily")
            ]
            if obj.source is not None:
                evidence.insert(0, obj.source)
            yield ctx.finding(
                LAZY_LOAD_ON_ASYNC_RESULT,
                node,
                f"`{_text(module, node)}` lazy-loads relationship `{entity}.{node.attr}` on an "
                f"object loaded through an AsyncSession in `{fn.display}`: MissingGreenlet; "
                f"add `.options(selectinload({entity}.{node.attr}))` to the query",
                function=fn,
                evidence=evidence,
                assumptions=(f"`{entity}.{node.attr}` is already loaded when this runs",),
                fix={"kind": "eager-load", "entity": entity, "attribute": node.attr},
            )
