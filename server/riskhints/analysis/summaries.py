"""Per-function facts propagated over the call graph: what a function may block on (and through
which helpers), which locks it acquires, and what it reaches that re-enters the event loop.

A :class:`Program` is the set of modules the analysis sees. For ``riskhints check file.py`` that is
one module; a workspace index hands in many, and the same summaries follow calls across files
because every name is module-qualified. Summaries are memoised; recursion (a function reaching
itself) is cut, so the result is the least fixpoint reachable without cycles.

Evidence hops carry the path of the module they are in, so chains can cross files.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, TypeVar, cast

from .blocking_context import first_use, non_blocking_here
from .facts import CallSite, ClassFacts, FunctionFacts, LockRef, ModuleFacts
from .finding import Evidence
from .knowledge import blocking
from .knowledge.blocking import BlockingApi
from .knowledge.primitives import CALLBACK_PARAMS, THREAD_RUNNERS

Chain = tuple[Evidence, ...]
T = TypeVar("T")

#: Calls that run the event loop to completion: from a running loop they raise or deadlock.
LOOP_RUNNERS: dict[str, str] = {
    "asyncio.run": "asyncio.run() starts a new event loop",
    "asyncio.AbstractEventLoop.run_until_complete": "run_until_complete() runs the loop",
    "asyncio.AbstractEventLoop.run_forever": "run_forever() runs the loop",
    "anyio.run": "anyio.run() starts a new event loop",
    "trio.run": "trio.run() starts a new event loop",
    "asgiref.sync.async_to_sync": "async_to_sync() waits for a coroutine",
}


#: Decorators that keep a function's sync-ness and body (what a call to it runs).
TRANSPARENT_DECORATORS: frozenset[str] = frozenset(
    {
        "builtins.staticmethod",
        "builtins.classmethod",
        "builtins.property",
        "functools.wraps",
        "functools.cache",
        "functools.lru_cache",
        "functools.cached_property",
        "abc.abstractmethod",
        "typing.override",
        "typing_extensions.override",
        "contextlib.contextmanager",
        "contextlib.asynccontextmanager",
        "tenacity.retry",
        "backoff.on_exception",
    }
)


@dataclass(frozen=True)
class Acquisition:
    """A lock a function acquires, directly or through the calls it makes."""

    lock: LockRef
    chain: Chain  # call hops ..., then "acquires X here"
    # An instance lock of the object that built this one and handed itself to its
    # constructor (``Watchdog(self)``), taken through the back-reference (``self._owner``).
    of_owner: bool = False


@dataclass(frozen=True)
class BlockingReach:
    api: BlockingApi
    callee: str
    chain: Chain  # call hops ..., then the blocking call
    # Why it blocks only once (a memo filled on first use, a cached helper), else None.
    first_use: str | None = None


#: Decorators that memoise a function: its body (and what it blocks on) runs once per key.
CACHING_DECORATORS: frozenset[str] = frozenset(
    {"functools.cache", "functools.lru_cache", "functools.cached_property"}
)


def _argument(call: ast.Call, position: int, name: str) -> ast.expr | None:
    """The value a call passes for parameter ``name`` at ``position`` (-1: keyword-only)."""
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    if position < 0 or any(isinstance(a, ast.Starred) for a in call.args[: position + 1]):
        return None
    return call.args[position] if position < len(call.args) else None


class Program:
    def __init__(
        self, modules: Iterable[ModuleFacts], extra_blocking: frozenset[str] = frozenset()
    ) -> None:
        self.modules: dict[str, ModuleFacts] = {m.module: m for m in modules}
        self.extra_blocking = extra_blocking
        self._functions: dict[str, tuple[ModuleFacts, FunctionFacts]] = {}
        self._class_modules: dict[str, ModuleFacts] = {}
        for module in self.modules.values():
            for fn in module.functions.values():
                self._functions[fn.qualname] = (module, fn)
            for class_qualname in module.classes:
                self._class_modules[class_qualname] = module
        self._blocking: dict[str, BlockingReach | None] = {}
        self._locks: dict[str, dict[str, Acquisition]] = {}
        self._thread_entries: dict[str, Evidence] | None = None
        self._wrapper_kinds: dict[str, Literal["sync", "async"] | None] = {}
        self._subclasses: dict[str, list[ClassFacts]] | None = None
        # Summaries that rules compute over the whole program, by name (lives with the program).
        self.memo: dict[str, object] = {}
        # Call sites this program resolved through constructor-typed attributes, with the
        # modules whose constructor calls gave the type (see ``_type_constructor_attributes``).
        self._typed_calls: list[tuple[CallSite, str | None]] = []
        # ``(class, attr) -> owner class`` for attributes every constructor call fills with
        # the constructing object itself (``Watchdog(self)``): a back-reference to the owner.
        self._back_references: dict[tuple[str, str], str] = {}
        self.constructor_sources: dict[str, set[str]] = {}
        self._type_constructor_attributes()

    def memoized(self, key: str, compute: Callable[[], T]) -> T:
        """A program-wide result a rule computes once per program, not once per module (the
        workspace analyses every module against the same program)."""
        if key not in self.memo:
            self.memo[key] = compute()
        return cast(T, self.memo[key])

    # -- attributes typed where the object is constructed ----------------------------------
    def constructor_types(self) -> dict[tuple[str, str], tuple[str, set[str]]]:
        """``(class, attr) -> (type, modules)`` for ``self.attr = param`` in ``__init__`` with
        an untyped parameter, when every call that constructs the class and passes that
        parameter a value of a known type agrees on the type (``QRLogin(self, ids)`` in a
        client method types ``QRLogin._client`` as the client class); ``modules`` are the
        modules of those constructor calls (the typing depends on them)."""
        owners: dict[str, ClassFacts] = {}
        for module in self.modules.values():
            for qualname, cls in module.classes.items():
                if cls.param_attrs:
                    owners[qualname] = cls
        found: dict[tuple[str, str], dict[str, set[str]]] = {}
        passes_self_always: dict[tuple[str, str], bool] = {}
        self._back_references = {}
        if not owners:
            return {}
        for module, fn in self._functions.values():
            for call in fn.calls:
                if call.callee is None or call.awaited:
                    continue
                constructed = self._constructed_owner(call.callee, owners)
                if constructed is None:
                    continue
                built, owner = constructed
                for attr, (position, name) in owner.param_attrs.items():
                    value = _argument(call.node, position, name)
                    type_name = fn.scope.type_of(value) if value is not None else None
                    passes_self = (
                        isinstance(value, ast.Name)
                        and fn.scope.self_name is not None
                        and value.id == fn.scope.self_name
                    )
                    # Under the class built (``AsyncSocket(self)``) and the class whose
                    # ``__init__`` ran (a base, maybe built elsewhere with other types).
                    for key in dict.fromkeys([(built, attr), (owner.qualname, attr)]):
                        always = passes_self_always.get(key, True)
                        passes_self_always[key] = always and passes_self
                        if type_name is not None:
                            found.setdefault(key, {}).setdefault(type_name, set()).add(
                                module.module
                            )
        agreed: dict[tuple[str, str], tuple[str, set[str]]] = {}
        for key, by_type in found.items():
            if len(by_type) == 1:
                agreed[key] = next(iter(by_type.items()))
                continue
            composite = self._composite_of(set(by_type))
            if composite is not None:
                agreed[key] = (composite, set().union(*by_type.values()))
        self._back_references = {
            key: agreed[key][0]
            for key, always in passes_self_always.items()
            if always and key in agreed
        }
        return agreed

    def _constructed_owner(
        self, callee: str, owners: dict[str, ClassFacts]
    ) -> tuple[str, ClassFacts] | None:
        """The class a call of ``callee`` builds and the class whose ``__init__`` it runs,
        when that one types attributes from its parameters (the class itself, a re-export of
        it, or a subclass keeping a base's ``__init__``, in any module of the program)."""
        name = callee
        if name not in self._class_modules:
            name = self._reexport_class(name) or name
        if name not in self._class_modules:
            return None
        for cls in self._lineage(name):
            if "__init__" in cls.methods:
                owner = owners.get(cls.qualname)
                return (name, owner) if owner is not None else None
        return None

    def _lineage(self, class_qualname: str) -> Iterator[ClassFacts]:
        """The class and its bases defined anywhere in the program, nearest first."""
        seen: set[str] = set()
        pending = [class_qualname]
        while pending:
            current = pending.pop(0)
            module = self._class_modules.get(current)
            if current in seen or module is None:
                continue
            seen.add(current)
            cls = module.classes[current]
            yield cls
            pending.extend(
                b if b in self._class_modules else (self._reexport_class(b) or b) for b in cls.bases
            )

    def _composite_of(self, types: set[str]) -> str | None:
        """The one class of the program built from every one of ``types`` (mixins passing
        ``self``: ``DialogMethods`` and ``MessageMethods`` are both the ``TelegramClient``)."""
        common: set[str] | None = None
        for type_name in types:
            family = {type_name, *(c.qualname for c in self.subclasses_of(type_name))}
            common = family if common is None else common & family
        if not common:
            return None
        leaves = [c for c in common if not any(s.qualname in common for s in self.subclasses_of(c))]
        return leaves[0] if len(leaves) == 1 else None

    def _mixin_method(self, type_name: str, name: str) -> str:
        """``Mixin.get_me`` when the type has it; else the one method of that name every
        class composed of the mixin gets (``self`` passed from a mixin is the composed
        client: ``TelegramClient(MessageMethods, UserMethods)``)."""
        qualname = f"{type_name}.{name}"
        if self.function(qualname) is not None:
            return qualname
        for cls in self._lineage(type_name):  # inherited from a base in another module
            if name in cls.methods:
                return cls.methods[name]
        found: set[str] = set()
        for sub in self.subclasses_of(type_name):
            for cls in self._lineage(sub.qualname):
                if name in cls.methods:
                    found.add(cls.methods[name])
                    break
        return found.pop() if len(found) == 1 else qualname

    def _typed_attribute(
        self, types: dict[tuple[str, str], T], class_qualname: str, attr: str
    ) -> T | None:
        """``types`` for ``self.attr`` in a method of ``class_qualname``: as built as that
        class, else as typed for the base whose ``__init__`` sets it."""
        found = types.get((class_qualname, attr))
        if found is not None:
            return found
        for cls in self._lineage(class_qualname):
            if attr in cls.instance_attrs or attr in cls.attr_types:
                return types.get((cls.qualname, attr))
        return None

    def _reexport_class(self, qualname: str) -> str | None:
        for _ in range(8):
            module_name, _, name = qualname.rpartition(".")
            module = self.modules.get(module_name)
            if module is None or name not in module.imports:
                return None
            qualname = module.imports[name]
            if qualname in self._class_modules:
                return qualname
        return None

    def _type_constructor_attributes(self) -> None:
        """``self._client.get_me()`` in a method of a class whose ``_client`` the constructor
        calls type: the call site gets that callee, for every rule. Only call sites whose
        receiver the facts left untyped are touched, and :meth:`release` puts them back (facts are
        shared by the programs a workspace builds)."""
        types = self.constructor_types()
        if not types:
            return
        for module, fn in self._functions.values():
            self_name = fn.scope.self_name
            if fn.class_qualname is None or self_name is None:
                continue
            for call in fn.calls:
                func = call.node.func
                if call.receiver_type is not None or not isinstance(func, ast.Attribute):
                    continue
                target = func.value
                if not (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == self_name
                ):
                    continue
                typed = self._typed_attribute(types, fn.class_qualname, target.attr)
                if typed is None:
                    continue
                type_name, sources = typed
                # The facts spell such a callee after the attribute (``Login._client.wait``),
                # which names nothing: replaced, and put back by ``release``.
                self._typed_calls.append((call, call.callee))
                call.callee = self._mixin_method(type_name, func.attr)
                call.receiver_type = type_name
                self.constructor_sources.setdefault(module.module, set()).update(
                    sources - {module.module}
                )

    def release(self) -> None:
        """Undo what this program wrote into the shared facts (constructor-typed callees)."""
        for call, callee in self._typed_calls:
            call.callee = callee
            call.receiver_type = None
        self._typed_calls.clear()

    # -- lookup ------------------------------------------------------------------------------
    def function(self, qualname: str | None) -> FunctionFacts | None:
        if qualname is None:
            return None
        found = self._functions.get(qualname)
        if found is not None:
            return found[1]
        # ``self.method()`` resolved on the class where it was called: try base classes.
        owner, _, name = qualname.rpartition(".")
        module = self._class_modules.get(owner)
        if module is not None:
            method = module.method(owner, name)
            if method is not None and method in self._functions:
                return self._functions[method][1]
        # A name re-exported by a package (``from .profiles import load_profile`` in
        # ``services/__init__.py``, imported as ``services.load_profile``).
        target = self._reexport(qualname)
        if target is not None:
            found = self._functions.get(target)
            return found[1] if found is not None else None
        return None

    def _reexport(self, qualname: str) -> str | None:
        for _ in range(8):  # chains of re-exports, without looping forever on a cycle
            module_name, _, name = qualname.rpartition(".")
            module = self.modules.get(module_name)
            if module is None or name not in module.imports:
                return None
            qualname = module.imports[name]
            if qualname in self._functions:
                return qualname
        return None

    def module_of(self, fn: FunctionFacts) -> ModuleFacts:
        return self._functions[fn.qualname][0]

    def path_of(self, fn: FunctionFacts) -> str:
        return self.module_of(fn).path

    def callee_function(self, call: CallSite) -> FunctionFacts | None:
        """The function a call site runs, when we can be sure of it.

        A decorator we do not know may turn a sync function into a coroutine function or back
        (``sync_to_async``, ``database_sync_to_async``, a retry wrapper): precision first, such
        calls are not followed. Awaiting a call to a sync ``def`` means a decorator made it
        awaitable, so that is not followed either.
        """
        fn = self.function(call.callee)
        if fn is None:
            return None
        if not self.preserves_body(fn):
            return None
        if not fn.is_async and call.awaited:
            return None
        return fn

    def resolver(self, fn: FunctionFacts) -> Callable[[ast.Call], FunctionFacts | None]:
        """The function each call node of ``fn`` runs, when we can be sure of it."""

        def resolve(node: ast.Call) -> FunctionFacts | None:
            site = next((c for c in fn.calls if c.node is node), None)
            return self.callee_function(site) if site is not None else None

        return resolve

    def initializer(self, call: CallSite) -> FunctionFacts | None:
        """``Client(...)`` runs ``Client.__init__`` (or an inherited one) on the caller's thread.

        Kept apart from :meth:`callee_function`: the new object's instance locks are not the
        caller's, so lock summaries must not follow constructors the way they follow calls.
        """
        if call.callee is None or call.awaited:
            return None
        module = self._class_modules.get(call.callee)
        if module is None:
            return None
        init = self.function(module.method(call.callee, "__init__"))
        if init is None or not self.preserves_body(init):
            return None
        return init

    def preserves_body(self, fn: FunctionFacts) -> bool:
        """Does a call to ``fn`` still run its body on the caller's thread, with its sync-ness?

        True for known pass-through decorators, and for workspace decorators that return an
        inner wrapper calling the decorated function the same way (see :meth:`wrapper_kind`).
        A decorator used with arguments (``@retry(3)``) is a factory: followed when it is a
        workspace function returning such a decorator (:meth:`factory_kind`).
        """
        node = fn.node
        written = node.decorator_list if not isinstance(node, ast.Module) else []
        wanted = "async" if fn.is_async else "sync"
        for name, expr in zip(fn.decorators, written, strict=False):
            if name in TRANSPARENT_DECORATORS:
                continue
            kind = (
                self.factory_kind(name) if isinstance(expr, ast.Call) else self.wrapper_kind(name)
            )
            if kind != wanted:
                return False
        return True

    def factory_kind(self, factory: str) -> Literal["sync", "async"] | None:
        """``@retry(times=3)``: a workspace function that returns an inner decorator, which in
        turn returns a wrapper calling (or awaiting) the decorated function: the same as that
        inner decorator's :meth:`wrapper_kind`."""
        key = f"{factory}()"
        if key not in self._wrapper_kinds:
            self._wrapper_kinds[key] = None
            outer = self.function(factory)
            inner = self._returned_local_function(outer) if outer is not None else None
            if outer is not None and not outer.is_async and inner is not None:
                self._wrapper_kinds[key] = self._wrapper_kind(inner)
        return self._wrapper_kinds[key]

    def _returned_local_function(self, fn: FunctionFacts) -> FunctionFacts | None:
        returned = {
            n.value.id if isinstance(n.value, ast.Name) else None
            for n in fn.own_nodes
            if isinstance(n, ast.Return)
        }
        if len(returned) != 1:
            return None
        (name,) = returned
        found = self._functions.get(fn.scope.local_functions.get(name or "", ""))
        return found[1] if found is not None else None

    def wrapper_kind(self, decorator: str) -> Literal["sync", "async"] | None:
        """``"sync"``/``"async"`` when ``decorator`` is a workspace function that returns an
        inner wrapper which calls the decorated function directly (a sync wrapper) or awaits
        it (an async wrapper), and uses it in no other way: such a decorator keeps what a call
        runs. Handing the function to ``to_thread``/``run_in_executor``/``sync_to_async``, or
        calling it without awaiting from an async wrapper, changes that: None."""
        if decorator not in self._wrapper_kinds:
            self._wrapper_kinds[decorator] = self._wrapper_kind(self.function(decorator))
        return self._wrapper_kinds[decorator]

    def _wrapper_kind(self, deco: FunctionFacts | None) -> Literal["sync", "async"] | None:
        if deco is None or deco.is_async or deco.class_qualname is not None:
            return None
        node = deco.node
        if isinstance(node, ast.Module) or any(
            d not in TRANSPARENT_DECORATORS for d in deco.decorators
        ):
            return None
        params = [*node.args.posonlyargs, *node.args.args]
        if not params:
            return None
        wrapped = params[0].arg
        returned = {
            n.value.id if isinstance(n.value, ast.Name) else None
            for n in deco.own_nodes
            if isinstance(n, ast.Return)
        }
        if len(returned) != 1:
            return None
        (inner_name,) = returned
        found = self._functions.get(deco.scope.local_functions.get(inner_name or "", ""))
        wrapper = found[1] if found is not None else None
        if wrapper is None or isinstance(wrapper.node, ast.Module):
            return None
        if any(d not in TRANSPARENT_DECORATORS for d in wrapper.decorators):
            return None
        direct = {
            id(call.node.func)
            for call in wrapper.calls
            if isinstance(call.node.func, ast.Name)
            and call.node.func.id == wrapped
            and call.awaited == wrapper.is_async
        }
        nodes = [n for stmt in wrapper.node.body for n in ast.walk(stmt)]
        # ``fn.__name__`` in a log line reads metadata; it does not run the function.
        metadata = {
            id(n.value)
            for n in nodes
            if isinstance(n, ast.Attribute) and n.attr.startswith("__") and n.attr.endswith("__")
        }
        uses = [n for n in nodes if isinstance(n, ast.Name) and n.id == wrapped]
        if not direct or any(id(n) not in direct and id(n) not in metadata for n in uses):
            return None
        return "async" if wrapper.is_async else "sync"

    def class_bases(self, class_qualname: str) -> set[str]:
        """Every base of a class, through bases defined in any module of the program."""
        found: set[str] = set()
        pending = [class_qualname]
        while pending:
            current = pending.pop()
            module = self._class_modules.get(current)
            if module is None:
                continue
            for base in module.classes[current].bases:
                if base not in found:
                    found.add(base)
                    pending.append(base)
        return found

    def subclasses_of(self, class_qualname: str) -> list[ClassFacts]:
        """The program's classes deriving from ``class_qualname``, directly or not."""
        if self._subclasses is None:
            classes = {q: c for m in self.modules.values() for q, c in m.classes.items()}
            found: dict[str, list[ClassFacts]] = {}
            for cls in classes.values():
                pending, seen = list(cls.bases), set()
                while pending:
                    base = pending.pop()
                    if base not in classes:
                        # ``from . import MessageMethods`` names the class the package exports
                        base = self._reexport_class(base) or base
                    if base in seen:
                        continue
                    seen.add(base)
                    found.setdefault(base, []).append(cls)
                    if base in classes:
                        pending.extend(classes[base].bases)
            self._subclasses = found
        return self._subclasses.get(class_qualname, [])

    def overrides(self, method: FunctionFacts, seen_from: str) -> list[FunctionFacts]:
        """Methods named like ``method`` in subclasses of ``seen_from`` (the class whose
        ``self.method()`` call we resolve): a call through ``self`` may run any of them."""
        found: list[FunctionFacts] = []
        for cls in self.subclasses_of(seen_from):
            qualname = cls.methods.get(method.name)
            other = self.function(qualname) if qualname else None
            if other is not None and other is not method:
                found.append(other)
        return found

    def iter_functions(self) -> Iterator[FunctionFacts]:
        for _, fn in self._functions.values():
            yield fn

    def hop(self, fn: FunctionFacts, call: CallSite, message: str) -> Evidence:
        return Evidence(call.span, message, self.path_of(fn))

    # -- direct facts ------------------------------------------------------------------------
    def blocking_api(self, call: CallSite, fn: FunctionFacts) -> BlockingApi | None:
        """The blocking API a call site of ``fn`` invokes, unless the way it is called makes it
        return at once (see :mod:`~riskhints.analysis.blocking_context`)."""
        if call.callee is None:
            return None
        api = blocking.lookup(call.callee, self.extra_blocking)
        if api is None or non_blocking_here(self.module_of(fn), fn, call):
            return None
        return api

    def runs_synchronously(self, call: CallSite, callee: FunctionFacts) -> bool:
        """Does the caller's thread execute the callee's body at this call site?"""
        if callee.is_async:
            return call.awaited
        return True

    # -- may block -----------------------------------------------------------------------------
    def blocking_reach(self, fn: FunctionFacts) -> BlockingReach | None:
        """The first blocking call a *sync* function makes, directly or through sync helpers;
        one that blocks every time wins over one that blocks only on first use."""
        if fn.is_async:
            return None
        if fn.qualname in self._blocking:
            return self._blocking[fn.qualname]
        self._blocking[fn.qualname] = None  # cut recursion
        module = self.module_of(fn)
        result: BlockingReach | None = None
        only_once: BlockingReach | None = None
        for call in sorted(fn.calls, key=lambda c: (c.span.line, c.span.column)):
            reach = self._reach_through(fn, call)
            if reach is None:
                continue
            once = reach.first_use or first_use(module, fn, call, self.resolver(fn))
            if once is None:
                result = reach
                break
            if only_once is None:
                only_once = BlockingReach(reach.api, reach.callee, reach.chain, once)
        result = result or only_once
        self._blocking[fn.qualname] = result
        return result

    def _reach_through(self, fn: FunctionFacts, call: CallSite) -> BlockingReach | None:
        """What one call of ``fn`` blocks on: itself, or what the helper it calls reaches."""
        api = self.blocking_api(call, fn)
        if api is not None and call.callee is not None:
            return BlockingReach(
                api, call.callee, (self.hop(fn, call, f"{call.text}() {api.what}"),)
            )
        callee = self.callee_function(call) or self.initializer(call)
        if callee is None or callee.is_async or callee is fn:
            return None
        dispatched = self.dispatch_reach(fn, call, callee)
        if dispatched is None:
            return None
        callee, inner = dispatched
        hop = self.hop(fn, call, f"{fn.display}() calls {callee.display}()")
        once = inner.first_use or memoised(callee)
        return BlockingReach(inner.api, inner.callee, (hop, *inner.chain), once)

    def dispatch_reach(
        self, fn: FunctionFacts, call: CallSite, callee: FunctionFacts
    ) -> tuple[FunctionFacts, BlockingReach] | None:
        """What a sync call of ``fn`` blocks on, with the function it runs. A call through
        ``self`` may run any override in a subclass of ``fn``'s class (dynamic dispatch): it
        blocks only when every candidate blocks — a stub in the base (``...``, ``raise
        NotImplementedError``) is no candidate when overrides exist."""
        candidates = [callee]
        func = call.node.func
        if (
            fn.class_qualname is not None
            and isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == fn.scope.self_name
        ):
            others = self.overrides(callee, fn.class_qualname)
            if others:
                candidates = ([] if is_stub(callee) else [callee]) + others
        found: list[tuple[FunctionFacts, BlockingReach]] = []
        for target in candidates:
            reach = None if target.is_async else self.blocking_reach(target)
            if reach is None:
                return None
            found.append((target, reach))
        return found[0] if found else None

    # -- locks -----------------------------------------------------------------------------------
    def acquisitions(self, fn: FunctionFacts) -> dict[str, Acquisition]:
        """Every lock ``fn`` may wait for while it runs (on its own thread or task); try-locks
        (``acquire(blocking=False)``) never wait, so they are left out."""
        if fn.qualname in self._locks:
            return self._locks[fn.qualname]
        self._locks[fn.qualname] = {}
        result: dict[str, Acquisition] = {}
        path = self.path_of(fn)
        for op in fn.lock_ops:
            if op.lock.key not in result and not op.is_try_acquire:
                verb = "acquires" if op.form == "acquire" else f"takes ({op.form})"
                result[op.lock.key] = Acquisition(
                    op.lock, (Evidence(op.span, f"{verb} {op.lock.display} here", path),)
                )
        for call in sorted(fn.calls, key=lambda c: (c.span.line, c.span.column)):
            callee = self.callee_function(call)
            if callee is None or callee is fn or not self.runs_synchronously(call, callee):
                continue
            hop = self.hop(fn, call, f"{fn.display}() calls {callee.display}()")
            for key, acq in self._acquisitions_through(fn, call, callee).items():
                if key not in result:
                    result[key] = Acquisition(acq.lock, (hop, *acq.chain), acq.of_owner)
        self._locks[fn.qualname] = result
        return result

    def acquisitions_at(
        self, fn: FunctionFacts, call: CallSite, callee: FunctionFacts
    ) -> dict[str, Acquisition]:
        """The locks a call of ``fn`` may wait for that are the ones ``fn`` itself would hold
        under those names: another object's instance locks are left out (``other.method()``),
        except the caller's own, reached back through an object it built with itself."""
        return {
            key: acq
            for key, acq in self._acquisitions_through(fn, call, callee).items()
            if not acq.of_owner
        }

    def _acquisitions_through(
        self, fn: FunctionFacts, call: CallSite, callee: FunctionFacts
    ) -> dict[str, Acquisition]:
        """``callee``'s acquisitions seen from ``fn``'s frame, keyed for ``fn``'s summary
        (owner locks under ``^key``)."""
        relation = self._relation(fn, call)
        found: dict[str, Acquisition] = {}
        for key, acq in self.acquisitions(callee).items():
            instance = self.is_instance_lock(acq.lock)
            lock_key = acq.lock.key
            if relation == "self":
                found[key] = acq
            elif acq.of_owner:
                if relation == "child":  # the child's owner is the caller itself
                    found[lock_key] = Acquisition(acq.lock, acq.chain)
            elif not instance:
                found[lock_key] = acq
            elif relation == "owner":
                found["^" + lock_key] = Acquisition(acq.lock, acq.chain, of_owner=True)
        return found

    def _relation(self, fn: FunctionFacts, call: CallSite) -> str | None:
        """How the receiver of a call relates to ``fn``'s own object: ``"self"`` (or no
        receiver: a plain function), ``"owner"`` (``self._owner.x()``, a back-reference),
        ``"child"`` (``self.watchdog.x()`` on an object that holds a back-reference to this
        class), else None."""
        if self.is_self_call(fn, call):
            return "self"
        func = call.node.func
        receiver = func.value if isinstance(func, ast.Attribute) else None
        if (
            fn.class_qualname is None
            or not self._back_references
            or not isinstance(receiver, ast.Attribute)
            or not isinstance(receiver.value, ast.Name)
            or receiver.value.id != fn.scope.self_name
        ):
            return None
        if self._typed_attribute(self._back_references, fn.class_qualname, receiver.attr):
            return "owner"
        child_type = call.receiver_type
        mine = {fn.class_qualname, *self.class_bases(fn.class_qualname)}
        for (child, _), owner_type in self._back_references.items():
            if child == child_type and owner_type in mine:
                return "child"
        return None

    def is_self_call(self, fn: FunctionFacts, call: CallSite) -> bool:
        func = call.node.func
        if not isinstance(func, ast.Attribute):
            return True  # a plain function call: module-level locks are shared anyway
        receiver = func.value
        return (
            isinstance(receiver, ast.Name)
            and fn.scope.self_name is not None
            and receiver.id == fn.scope.self_name
        )

    def is_instance_lock(self, lock: LockRef) -> bool:
        owner, _, attr = lock.key.rpartition(".")
        module = self._class_modules.get(owner)
        return module is not None and attr in module.classes[owner].instance_attrs

    def is_non_reentrant(self, lock: LockRef) -> bool:
        if lock.primitive.reentrant:
            return False
        if lock.primitive.family == "semaphore":
            return any(lock.key in m.binary_semaphores for m in self.modules.values())
        return True

    # -- runs in a thread ----------------------------------------------------------------------
    def thread_entry_points(self) -> dict[str, Evidence]:
        """Functions handed to something that runs them in another thread (``Thread(target=)``,
        ``executor.submit``, ``asyncio.to_thread``, ``run_in_executor`` ...), with where."""
        if self._thread_entries is not None:
            return self._thread_entries
        entries: dict[str, Evidence] = {}
        for fn in self.iter_functions():
            for call in fn.calls:
                if call.callee not in THREAD_RUNNERS:
                    continue
                param = CALLBACK_PARAMS.get(call.callee)
                candidates = list(call.node.args[:2]) + [
                    kw.value for kw in call.node.keywords if param and kw.arg == param.keyword
                ]
                for argument in candidates:
                    target = fn.scope.qualify(argument)
                    if target is None and isinstance(argument, ast.Call):
                        if fn.scope.qualify(argument.func) == "functools.partial" and argument.args:
                            target = fn.scope.qualify(argument.args[0])
                    found = self.function(target)
                    if found is not None and not found.is_async:
                        entries.setdefault(
                            found.qualname,
                            self.hop(fn, call, f"{call.text}() runs {found.display}() in a thread"),
                        )
        self._thread_entries = entries
        return entries


def is_stub(fn: FunctionFacts) -> bool:
    """``...``, ``pass``, a docstring or ``raise NotImplementedError``: an interface, whose real
    implementations are elsewhere."""
    node = fn.node
    if isinstance(node, ast.Module):
        return False
    for stmt in node.body:
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring or ``...``
        if isinstance(stmt, ast.Raise):
            continue
        return False
    return True


def memoised(fn: FunctionFacts) -> str | None:
    """``"`settings()` is memoised (@lru_cache)"`` for a function whose calls are cached."""
    for decorator in fn.decorators:
        if decorator in CACHING_DECORATORS:
            return f"`{fn.display}()` is memoised (@{decorator.rpartition('.')[2]})"
    return None


def sorted_calls(fn: FunctionFacts, predicate: Callable[[CallSite], bool]) -> list[CallSite]:
    return sorted((c for c in fn.calls if predicate(c)), key=lambda c: (c.span.line, c.span.column))
