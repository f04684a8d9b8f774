"""Django: RH502 (the ORM in async code), RH503 (``sync_to_async(thread_sensitive=False)``
around ORM code) and RH504 (a Celery task enqueued inside ``transaction.atomic()``).

Django is active in a module that imports it (or ``channels``, ``ninja``, DRF, ``adrf``), that
imports from a ``models`` module, or that imports a workspace module which does. A QuerySet is
lazy: building one runs no query, only evaluating it does (``knowledge/data.py`` lists the lazy
and the evaluating methods). Models, abstract bases and many-to-many fields are read from every
module of the program.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import replace

from ...facts import CallSite, FunctionFacts, ModuleFacts, Scope, iter_statements
from ...finding import Finding, Severity
from ...knowledge import data as kb
from ...summaries import Chain, Program, sorted_calls
from ..registry import RuleContext, rule
from .celery import celery_apps, imports_celery, is_celery_task
from .common import (
    COMPREHENSIONS,
    Site,
    class_assignment,
    is_false,
    keyword_value,
    lambda_nodes,
    last_values,
    memo_table,
    node_text,
    position,
    program_bases,
    program_classes,
    reach_site,
    resolve_reexports,
    single_bindings,
    typed_names,
    uses_framework,
)

SYNC_ORM_IN_ASYNC = "RH502"
THREAD_UNSAFE_ORM = "RH503"
TASK_IN_TRANSACTION = "RH504"

# =============================================================================================
# Django ORM: which expressions are QuerySets and instances, which operations query
# =============================================================================================


def _is_django_module(module: ModuleFacts) -> bool:
    return module.imports_module(*kb.DJANGO_MODULES) or _imports_from_models(module)


def django_active(program: Program, module: ModuleFacts) -> bool:
    """Django is imported here, or by a workspace module this one imports (a middleware
    module importing only ``services.py``)."""
    return uses_framework(program, module, "django", _is_django_module)


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
            for qualname in program_classes(program)
            if program_bases(program, qualname) & kb.MODEL_BASES
        )

    return program.memoized("data.django_models", compute)


def _model_classes(program: Program, module: ModuleFacts) -> frozenset[str]:
    """Qualified names of model classes: defined in the program on a model base, or imported
    (capitalised) from a ``models`` module the workspace does not show us (once per module)."""
    memo = memo_table(program, "data.models_of")
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
        classes = program_classes(program)
        fields: set[str] = set()
        for qualname in _program_models(program):
            for stmt in classes[qualname][1].node.body:
                target, value = class_assignment(stmt)
                if target is None or not isinstance(value, ast.Call):
                    continue
                func = value.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in kb.MANY_RELATION_FIELDS:
                    fields.add(target)
        return frozenset(fields)

    return program.memoized("data.many_fields", compute)


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
        typed_names(fn, lambda v: v is not None and self.is_queryset(v), self.querysets)
        typed_names(fn, lambda v: v is not None and self._instance_value(v), self.instances)
        self._loop_instances()
        self.instance_models = self._instance_models()
        self.requests = _request_parameters(fn)

    def _instance_models(self) -> dict[str, str]:
        """Instance names whose model we know (``order = await Order.objects.aget(...)``): a
        method called on them is that model's method, wherever the model is defined."""
        known: dict[str, str] = {}
        if self.self_instance is not None and self.fn.class_qualname is not None:
            known[self.self_instance] = self.fn.class_qualname
        values = last_values(self.fn)
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
        for owner in (model, *sorted(program_bases(self.program, model))):
            if self.program.function(f"{owner}.{func.attr}") is not None:
                return f"{owner}.{func.attr}"
        return None

    def _loop_instances(self) -> None:
        """``for order in orders_qs`` / ``async for order in Order.objects.filter(...)``: the
        target is an instance when every binding of it is such a loop."""
        loop_targets: dict[str, bool] = {}
        for name, value in single_bindings(self.fn):
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
        nodes = self.fn.own_nodes if root is None else lambda_nodes(root)
        found = sorted(
            (site for node in nodes if (site := self.site(node)) is not None),
            key=lambda s: position(s.node),
        )
        # ``qs[0].save()`` queries twice on one line: one report is enough.
        by_line: dict[int, Site] = {}
        for site in found:
            by_line.setdefault(position(site.node)[0], site)
        return list(by_line.values())

    def site(self, node: ast.AST) -> Site | None:
        lazy = self._lazy_request_site(node) if self.requests else None
        if lazy is not None:
            return lazy
        if isinstance(node, ast.Call):
            return self._call_site(node)
        if isinstance(node, ast.For) and self.is_queryset(node.iter):
            return self._site(node.iter, "iterates the QuerySet", "`async for`")
        if isinstance(node, COMPREHENSIONS):
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

    def _lazy_request_site(self, node: ast.AST) -> Site | None:
        """``request.user`` and ``request.session`` are lazy: the first read of the user's
        attributes loads the session and the user (queries), and the first read or write of a
        session key loads it from the session store (a query with the database backends)."""
        parents = self.module.parents
        if isinstance(node, ast.Call) and self.scope.qualify(node.func) == "builtins.getattr":
            # ``user = getattr(request, "user", None)``, then ``if user and ...``
            if (
                len(node.args) >= 2
                and self._is_request(node.args[0])
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value == "user"
                and isinstance(parents.get(id(node)), (ast.Assign, ast.If, ast.BoolOp))
            ):
                return self._site(node, "reads the lazy user (a query on first use)", _AUSER)
            return None
        if not (isinstance(node, ast.Attribute) and self._is_request(node.value)):
            return None
        parent = parents.get(id(node))
        if node.attr == "user" and isinstance(node.ctx, ast.Load):
            used = (isinstance(parent, ast.Attribute) and parent.value is node) or (
                isinstance(parent, (ast.If, ast.BoolOp, ast.UnaryOp))
            )
            if used:
                return self._site(node, "reads the lazy user (a query on first use)", _AUSER)
        if node.attr == "session":
            if isinstance(parent, ast.Subscript) and parent.value is node:
                return self._site(parent, "loads the session (a query on first use)", _ASESSION)
            if (
                isinstance(parent, ast.Attribute)
                and parent.value is node
                and parent.attr in kb.SYNC_SESSION_METHODS
            ):
                return self._site(parent, "loads the session (a query on first use)", _ASESSION)
            if isinstance(parent, ast.Compare) and node in parent.comparators:
                return self._site(parent, "loads the session (a query on first use)", _ASESSION)
        return None

    def _is_request(self, node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id in self.requests

    def _site(self, node: ast.AST, what: str, alternative: str) -> Site:
        return Site(node, f"`{node_text(self.module, node, 60)}`", what, alternative)

    def callable_site(self, node: ast.AST) -> Site | None:
        """``Order.objects.get`` / ``order.save`` handed over as a callable."""
        if not isinstance(node, ast.Attribute):
            return None
        if node.attr in kb.SYNC_QUERYSET_METHODS and self.is_queryset(node.value):
            return self._site(node, "runs a query", "")
        if node.attr in kb.SYNC_INSTANCE_METHODS and self.is_instance(node.value):
            return self._site(node, "writes to the database", "")
        return None


_AUSER = "`await request.auser()`"
_ASESSION = "the session's async methods (`await request.session.aget(...)`)"


def _request_parameters(fn: FunctionFacts) -> frozenset[str]:
    """Parameters named like a request (``request``), never rebound in the body."""
    node = fn.node
    if isinstance(node, ast.Module):
        return frozenset()
    args = node.args
    names = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}
    wanted = names & kb.REQUEST_PARAMETERS
    if not wanted:
        return frozenset()
    rebound = {name for name, _ in single_bindings(fn)}
    return frozenset(wanted - rebound)


def _async_unsafe_allowed(module: ModuleFacts) -> bool:
    return any(kb.DJANGO_ASYNC_UNSAFE_FLAG in line for line in module.positions.lines)


def _orm_of(program: Program, fn: FunctionFacts) -> DjangoOrm | None:
    """The ORM reading of a function of a Django module (None elsewhere), once per program."""
    memo = memo_table(program, "data.orm")
    if fn.qualname not in memo:
        module = program.module_of(fn)
        active = django_active(program, module)
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
    return reach_site(program, fn, "RH502.orm", _orm_direct(program), _orm_callee(program))


def _async_context(program: Program, fn: FunctionFacts) -> str:
    """What kind of Django entry point an ``async def`` is, for the message."""
    bases = program_bases(program, fn.class_qualname)
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
    if not django_active(program, module) or _async_unsafe_allowed(module):
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
    if not (django_active(ctx.program, module) or module.imports_module("asgiref")):
        return
    for fn in ctx.functions():
        for call in sorted_calls(fn, lambda c: c.callee in kb.SYNC_TO_ASYNC):
            if not is_false(keyword_value(call.node, "thread_sensitive")):
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
    if target is not None and is_celery_task(program, target):
        return True
    if qualified is not None:
        owner = qualified.rpartition(".")[0]
        if owner.rpartition(".")[2] == kb.TASKS_MODULE_NAME:
            return True
    return imports_celery(program, program.module_of(fn))


def _enqueue_site(program: Program, fn: FunctionFacts, call: ast.Call) -> Site | None:
    func = call.func
    if not isinstance(func, ast.Attribute) or func.attr not in kb.ENQUEUE_METHODS:
        return None
    module = program.module_of(fn)
    if func.attr == "send_task":
        # ``app.send_task(...)`` on an app this module imports from ``celery_app.py``.
        app = resolve_reexports(
            program, fn.scope.qualify(func.value), celery_apps(program).__contains__
        )
        if app not in celery_apps(program) and not imports_celery(program, module):
            return None
    elif not _is_task_reference(program, fn, func.value):
        return None
    text = f"`{node_text(module, func, 46)}()`"
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
            reach = reach_site(program, callee, "RH504.enqueue", _enqueue_direct(program))
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
