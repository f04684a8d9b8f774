"""Static type inference with jedi, for the receivers the syntax-only facts could not type.

The facts know ``session = requests.Session()``; they do not know ``self.client = make_client()``
when ``make_client`` (in another module, or a third-party helper) returns a ``requests.Session``,
nor a name re-exported through a package ``__init__``. jedi follows those statically: returns,
assignments, imports and typeshed stubs.

Invariants:
- Static only: ``jedi.Script`` over the text we were given, never ``jedi.Interpreter``; user code
  is never imported (``load_unsafe_extensions=False`` keeps jedi from loading compiled
  extensions found in the project folders or its environment).
- The project's installed packages come from its environment (:mod:`.project`: the ``python``
  / ``venv`` settings, ``$VIRTUAL_ENV``, ``.venv``, ``venv``), read as folders: the project's
  interpreter is never run. jedi's helper process is riskhints' own interpreter, started
  isolated from the workspace (see :func:`isolated_environment`).
- Few queries: only receivers of attribute calls whose type the facts left unknown *and* whose
  method name one of our knowledge tables cares about (see :data:`INTERESTING_METHODS`).
- Answers only in our vocabulary: jedi's full names are mapped to the canonical names of the
  knowledge tables (``httpx._client.AsyncClient`` -> ``httpx.AsyncClient``); a type no table
  knows, or an ambiguous answer, is no answer.
- Never a failure: any jedi exception leaves that receiver untyped (logged at debug level).
- jedi is not thread-safe and its caches are process-wide, so every call into it holds one
  process-wide lock (the language server analyses on two worker threads).
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import json
import logging
import os
import re
import sys
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .. import safe_read
from .digests import digest
from .facts import ExternalTypes, FunctionFacts, ModuleFacts, position_key
from .knowledge import blocking, data, web
from .knowledge.primitives import (
    CALLBACK_PARAMS,
    KNOWN_CLASSES,
    PRIMITIVES,
    RETURN_TYPES,
    canonical_type,
    primitive,
)
from .project import PythonEnvironment, find_environment, own_environment, project_sys_path

if TYPE_CHECKING:
    from .engine import ParsedModule

log = logging.getLogger(__name__)

#: A receiver node's place in the module: ``(lineno, col_offset, end_lineno, end_col_offset)``.
Position = tuple[int, int, int, int]

#: jedi's state (its inference and parser caches) is global to the process: one lock for all.
_JEDI_LOCK = threading.Lock()
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")


def _method_keys() -> Iterable[str]:
    """Qualified names of methods and functions the knowledge tables list."""
    yield from blocking.BLOCKING_CALLS
    yield from blocking.NON_BLOCKING_ARGUMENTS
    yield from CALLBACK_PARAMS
    yield from RETURN_TYPES


def _known_types() -> frozenset[str]:
    """Canonical types some table says something about: an inferred type outside this set
    cannot change a finding, so it is not worth reporting. Owners of method rows count when
    they are classes (``redis.Redis`` in ``redis.Redis.get``; not ``os`` in ``os.listdir``)."""
    types: set[str] = set(PRIMITIVES) | set(KNOWN_CLASSES) | set(RETURN_TYPES.values())
    types |= web.SYNC_SESSION_TYPES | web.CLIENT_SESSION_TYPES | data.ASYNC_SESSION_TYPES
    types |= data.RESULT_CLASSES
    owners = {key.rpartition(".")[0] for key in _method_keys()}
    types |= {o for o in owners if o in types or o.rpartition(".")[2][:1].isupper()}
    return frozenset(canonical_type(t) for t in types if t)


KNOWN_TYPES: frozenset[str] = _known_types()

#: Method names worth a jedi query when their receiver is untyped: methods of the types the
#: knowledge tables list (``requests.Session.get`` -> ``get``, ``queue.Queue.put`` -> ``put``).
INTERESTING_METHODS: frozenset[str] = frozenset(
    key.rpartition(".")[2]
    for key in _method_keys()
    if canonical_type(key.rpartition(".")[0]) in KNOWN_TYPES and not key.endswith("*")
)
#: Typed data-layer APIs (``AsyncSession.execute``), asked about only in modules that use the
#: data framework: names such as ``close`` and ``get`` are everywhere else too.
DATA_METHODS: frozenset[str] = data.ASYNC_SESSION_METHODS
_DATA_MODULES = data.SQLALCHEMY_MODULES
#: Receivers that are plainly not an object of a known class (``", ".join``, ``{}.get``).
_LITERALS = (
    ast.Constant,
    ast.JoinedStr,
    ast.Dict,
    ast.List,
    ast.Set,
    ast.Tuple,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.BinOp,
)


def unresolved_receivers(facts: ModuleFacts) -> list[ast.expr]:
    """Receivers of ``x.method(...)`` calls where inference could change a finding: the facts
    resolved neither the receiver's type nor the callee, and the method is one we know.

    Left out because jedi would not answer (measured on the stdlib corpus, they were half the
    queries): literals, and parameters without an annotation (jedi's guessing of a parameter's
    type from call sites is off: one caller's argument is not every caller's)."""
    receivers = [node for _fn, node in _unresolved(facts)]
    receivers.sort(key=lambda node: (node.lineno, node.col_offset))
    return receivers


#: One jedi query and the receivers that share its answer: (the node asked about, the
#: positions of every receiver the answer types, its own included).
Query = tuple[ast.expr, tuple[Position, ...]]


def query_plan(facts: ModuleFacts) -> list[Query]:
    """The receivers of :func:`unresolved_receivers`, grouped so that jedi is asked once per
    value rather than once per use (on the stdlib corpus 1,330 receivers were 444 distinct
    expressions). Receivers share one answer when jedi's answer cannot differ between them:

    - a plain name in one function that the function binds at most once (not a parameter:
      those are never asked about), or not at all (a global or a closure's name): its type is
      the same at every use;
    - ``self.attr`` in the methods of one class: jedi types an instance attribute from every
      assignment in the class, wherever it is asked.

    Anything else (calls, longer chains, rebound names) is its own query. The node asked about
    is the last use in the source, after the binding of a name bound in the function."""
    groups: dict[object, list[ast.expr]] = {}
    bindings: dict[str, dict[str, int]] = {}
    for fn, node in _unresolved(facts):
        key: object = position_key(node)
        if isinstance(node, ast.Name):
            counts = bindings.get(fn.qualname)
            if counts is None:
                counts = bindings[fn.qualname] = _binding_counts(fn.node)
            if counts.get(node.id, 0) <= 1:
                key = ("name", fn.qualname, node.id)
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and fn.class_qualname is not None
            and node.value.id == fn.scope.self_name
        ):
            key = ("self", fn.class_qualname, node.attr)
        groups.setdefault(key, []).append(node)
    plan: list[Query] = []
    for members in groups.values():
        members.sort(key=lambda n: (n.lineno, n.col_offset))
        positions = tuple(p for p in map(position_key, members) if p is not None)
        plan.append((members[-1], positions))
    plan.sort(key=lambda query: (query[0].lineno, query[0].col_offset))
    return plan


def _unresolved(facts: ModuleFacts) -> Iterator[tuple[FunctionFacts, ast.expr]]:
    methods = INTERESTING_METHODS
    if facts.imports_module(*_DATA_MODULES):
        methods = methods | DATA_METHODS
    seen: set[Position] = set()
    for fn in facts.iter_functions():
        bare = _unannotated_parameters(fn.node)
        for call in fn.calls:
            func = call.node.func
            if (
                not isinstance(func, ast.Attribute)
                or call.receiver_type is not None
                or func.attr not in methods
                or isinstance(func.value, _LITERALS)
                or (isinstance(func.value, ast.Name) and func.value.id in bare)
                or _known_callee(call.callee)
                or _names_a_module(facts, func.value)
            ):
                continue
            position = position_key(func.value)
            if position is not None and position not in seen:
                seen.add(position)
                yield fn, func.value


def _binding_counts(node: ast.AST) -> dict[str, int]:
    """How many times each name is bound in a function's own body (nested functions and
    classes count by their name only); ``global``/``nonlocal`` names count as rebound."""
    counts: dict[str, int] = {}

    def bind(name: str, times: int = 1) -> None:
        counts[name] = counts.get(name, 0) + times

    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        args = node.args
        for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
            if arg is not None:
                bind(arg.arg)
    stack: list[ast.AST] = list(ast.iter_child_nodes(node))
    while stack:
        child = stack.pop()
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bind(child.name)
            continue
        if isinstance(child, ast.Lambda):
            continue
        if isinstance(child, ast.Name) and not isinstance(child.ctx, ast.Load):
            bind(child.id)
        elif isinstance(child, ast.ExceptHandler) and child.name:
            bind(child.name)
        elif isinstance(child, ast.alias):
            bind((child.asname or child.name).partition(".")[0])
        elif isinstance(child, (ast.Global, ast.Nonlocal)):
            for name in child.names:
                bind(name, 2)
        elif isinstance(child, (ast.MatchAs, ast.MatchStar)) and child.name:
            bind(child.name)
        elif isinstance(child, ast.MatchMapping) and child.rest:
            bind(child.rest)
        stack.extend(ast.iter_child_nodes(child))
    return counts


def _unannotated_parameters(node: ast.AST) -> frozenset[str]:
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return frozenset()
    args = node.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    return frozenset(a.arg for a in every if a is not None and a.annotation is None)


def _known_callee(callee: str | None) -> bool:
    """The facts already named an API a table lists (``requests.get``, ``os.path.exists``)."""
    return callee is not None and (
        blocking.lookup(callee) is not None or callee in CALLBACK_PARAMS or callee in RETURN_TYPES
    )


def _names_a_module(facts: ModuleFacts, receiver: ast.expr) -> bool:
    """``requests.get`` / ``os.path.exists``: a receiver rooted in an ``import x`` name is a
    module (a ``from``-imported name may be an object, so that one is asked about)."""
    while isinstance(receiver, ast.Attribute):
        receiver = receiver.value
    if not isinstance(receiver, ast.Name):
        return False
    target = facts.imports.get(receiver.id)
    return target is not None and "." not in target


def canonical_inferred(full_name: str) -> str | None:
    """Our name for the class jedi named, or None when no table knows it.

    Libraries define classes in private modules and re-export them: ``httpx._client.AsyncClient``
    is ``httpx.AsyncClient``, ``concurrent.futures.thread.ThreadPoolExecutor`` is
    ``concurrent.futures.ThreadPoolExecutor``. Tried in order: the name itself (and its alias),
    without its private modules, then under each enclosing package, shortest first.
    """
    parts = full_name.split(".")
    if len(parts) < 2:
        return None
    module, name = parts[:-1], parts[-1]
    candidates = [full_name, ".".join([p for p in module if not p.startswith("_")] + [name])]
    candidates.extend(".".join([*module[:i], name]) for i in range(1, len(module)))
    for candidate in candidates:
        canonical = canonical_type(candidate)
        if canonical in KNOWN_TYPES:
            return canonical
    return None


class ReceiverInference(Protocol):
    """What the workspace needs from an inference engine (tests may hand in a fake).

    ``context`` stands for what else the answers depend on: a digest of the modules ``path``
    imports, transitively ("" when unknown). Engines that keep answers across runs key them by
    it."""

    def receiver_types(
        self, path: Path, text: str, receivers: Sequence[ast.expr], context: str = ""
    ) -> dict[Position, str]: ...


class AnswerStore:
    """jedi's answers kept across runs, in a folder of the project's cache: one JSON file per
    (engine version, environment, file path and text, receivers asked, context), written to a
    temporary file and moved into place. An unreadable entry is a miss, never an error; a
    read-only or full disk just keeps nothing."""

    VERSION = "1"  # bump when what an answer means changes (the query plan, the type mapping)

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._salt: bytes | None = None
        self.hits = 0

    def key(
        self, salt: str, path: Path, text: str, receivers: Sequence[ast.expr], context: str
    ) -> str:
        if self._salt is None:
            self._salt = f"{self.VERSION}\0{salt}\0".encode()
        positions = ";".join(",".join(map(str, p)) for p in map(position_key, receivers) if p)
        material = (
            f"{path}\0{digest(text.encode('utf-8', 'surrogatepass'))}\0{context}\0{positions}"
        )
        return digest(self._salt + material.encode("utf-8", "surrogatepass"))

    def get(self, key: str) -> dict[Position, str] | None:
        try:
            payload = json.loads(safe_read.read_text(self.folder / key[:2] / f"{key}.jedi"))
            found = {
                (int(a), int(b), int(c), int(d)): str(t) for a, b, c, d, t in payload["answers"]
            }
        except (OSError, ValueError, KeyError, TypeError):
            return None
        self.hits += 1
        return found

    def put(self, key: str, found: Mapping[Position, str]) -> None:
        folder = self.folder / key[:2]
        try:
            folder.mkdir(parents=True, exist_ok=True)
            payload = json.dumps({"answers": [[*position, t] for position, t in found.items()]})
            fd, temp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".jedi")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(payload)
                os.replace(temp, folder / f"{key}.jedi")
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError:
            return


class JediInference:
    """Receiver types from jedi, for the modules of one project (rooted at ``root``)."""

    def __init__(
        self,
        root: Path,
        environment: PythonEnvironment | None = None,
        cache_size: int = 512,
        store: AnswerStore | None = None,
    ) -> None:
        self.root = root.resolve()
        #: The project's packages (default: found from the folder and $VIRTUAL_ENV alone).
        self.environment = environment or find_environment(self.root)
        self.cache_size = cache_size
        #: Answers kept across runs (``riskhints check`` with a cache): an unchanged file whose
        #: imports are unchanged is never asked about twice.
        self.store = store
        self._salt_value: str | None = None
        self._cache: OrderedDict[tuple[str, str], dict[Position, str]] = OrderedDict()
        self._project: Any = None
        self._environment: Any = None
        self.queries = 0  # jedi calls made (for tests and the benchmark)

    def receiver_types(
        self, path: Path, text: str, receivers: Sequence[ast.expr], context: str = ""
    ) -> dict[Position, str]:
        if not receivers:
            return {}
        key = (str(path), digest(text.encode("utf-8", "surrogatepass")) + context)
        with _JEDI_LOCK:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
            stored_key = None
            found = None
            if self.store is not None:
                stored_key = self.store.key(self._salt(), path, text, receivers, context)
                found = self.store.get(stored_key)
            if found is None:
                found = self._infer(path, text, receivers)
                if self.store is not None and stored_key is not None:
                    self.store.put(stored_key, found)
            self._cache[key] = found
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
            return found

    def _salt(self) -> str:
        """What else jedi's answers depend on: its version, our interpreter's, the sys.path
        it reads the project's packages from."""
        if self._salt_value is not None:
            return self._salt_value
        from importlib import metadata

        try:
            version = metadata.version("jedi")
        except metadata.PackageNotFoundError:
            version = "?"
        options = jedi_project_options(self.root, self.environment)
        self._salt_value = json.dumps([version, sys.version, str(self.root), options], default=str)
        return self._salt_value

    def forget(self, path: Path) -> None:
        """Drop the cached answers for ``path`` (a module it imports changed on disk)."""
        with _JEDI_LOCK:
            for key in [k for k in self._cache if k[0] == str(path)]:
                del self._cache[key]

    def _infer(self, path: Path, text: str, receivers: Sequence[ast.expr]) -> dict[Position, str]:
        try:
            script = self._script(path, text)
        except Exception as error:  # jedi must never fail an analysis
            log.debug("jedi could not load %s: %r", path, error)
            return {}
        lines = _LINE_BREAKS.split(text)
        found: dict[Position, str] = {}
        for node in receivers:
            position = position_key(node)
            if position is None or position[2] > len(lines):
                continue
            # The receiver's last character: a name, an attribute or a call's ``)`` all infer
            # to the receiver's value there.
            line = lines[position[2] - 1]
            data = line.encode("utf-8", "surrogatepass")
            column = len(data[: position[3]].decode("utf-8", "surrogatepass")) - 1
            if column < 0:
                continue
            self.queries += 1
            try:
                names = script.infer(position[2], column)
            except Exception as error:
                log.debug("jedi failed at %s:%d:%d: %r", path, position[2], column, error)
                continue
            type_name = _single_type(names)
            if type_name is not None:
                found[position] = type_name
        return found

    def _script(self, path: Path, text: str) -> Any:
        import jedi  # type: ignore[import-untyped]

        if self._project is None:
            # Types of parameters guessed from call sites: slow (it searches the project) and
            # imprecise for us (unannotated parameters are not asked about anyway).
            jedi.settings.dynamic_params = False
            jedi.settings.dynamic_params_for_other_modules = False
            self._environment = isolated_environment()
            self._project = jedi.Project(
                self.root, **jedi_project_options(self.root, self.environment)
            )
        return jedi.Script(
            code=text, path=path, project=self._project, environment=self._environment
        )


def jedi_project_options(root: Path, environment: PythonEnvironment) -> dict[str, Any]:
    """``jedi.Project`` arguments for a project whose packages are in ``environment``.

    jedi's own way to use a project's interpreter (``jedi.create_environment``) runs that
    interpreter (a program of the workspace: not allowed here, and its ``site`` would run the
    environment's ``.pth`` files). Instead jedi runs in riskhints' interpreter and reads the
    environment's folders as its ``sys_path``; ``load_unsafe_extensions=False`` keeps compiled
    modules off it: jedi then imports extensions only from its own interpreter's path, never
    from the project's environment or folders."""
    options: dict[str, Any] = {"load_unsafe_extensions": False, "smart_sys_path": True}
    extra = [str(p) for p in project_sys_path(root, environment)]
    if environment.is_own:
        options["added_sys_path"] = extra  # after jedi's own sys.path: this interpreter's
    else:
        stdlib = environment.stdlib or own_environment().stdlib
        options["sys_path"] = [*map(str, stdlib), *extra]
    return options


def isolated_environment() -> Any:
    """jedi's environment for riskhints' own interpreter, whose helper process starts isolated
    from the workspace: like ``python -I`` (no ``PYTHON*`` variables such as ``PYTHONPATH``, no
    user site-packages, no script or current folder on ``sys.path``)."""
    from jedi.api.environment import SameEnvironment  # type: ignore[import-untyped]

    class _Isolated(SameEnvironment):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self._env_vars = isolated_env()

    return _Isolated()


def isolated_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment variables of a Python child process that must not see the workspace."""
    from ..isolation import child_env

    return child_env(environ)


def _single_type(names: Iterable[Any]) -> str | None:
    """The one known class of which jedi says the receiver is an instance (else None)."""
    types: set[str | None] = set()
    for name in names:
        if name.type != "instance" or not name.full_name:
            return None
        types.add(canonical_inferred(name.full_name))
    if len(types) != 1:
        return None
    (type_name,) = types
    prim = primitive(type_name)
    if prim is not None and prim.is_lock_like:
        # Lock identity also comes from ``with x:`` and ``x.release()``, which are not asked
        # about: knowing only some uses of a lock would invent unreleased acquisitions.
        return None
    return type_name


def refine(
    parsed: ParsedModule,
    inference: ReceiverInference,
    path: Path,
    module: str,
    external: ExternalTypes,
    context: str = "",
) -> ParsedModule:
    """The second phase: ask ``inference`` about the receivers the facts left untyped, and
    build the facts again with the answers (only when there are some)."""
    from .engine import parse_source

    facts = parsed.facts
    if facts is None:
        return parsed
    plan = query_plan(facts)
    if not plan:
        return parsed
    try:
        receivers = [node for node, _ in plan]
        answers = inference.receiver_types(path, parsed.text, receivers, context)
    except Exception as error:  # a fake or a future engine: still never a failure
        log.debug("inference failed for %s: %r", path, error)
        return parsed
    inferred: dict[Position, str] = {}
    for node, positions in plan:
        answer = answers.get(position_key(node))  # type: ignore[arg-type]
        if answer is not None:
            inferred.update(dict.fromkeys(positions, answer))
    if not inferred:
        return parsed
    refined = dataclasses.replace(external, receivers=inferred)
    again = parse_source(parsed.text, parsed.path, module, refined, parsed.parse)
    parsed.release()
    return again
