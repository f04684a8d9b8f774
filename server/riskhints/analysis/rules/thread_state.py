"""RH402 — read-modify-write of state shared between threads.

Where code runs on several threads at once: functions started with ``Thread(target=...)``,
executor jobs and ``asyncio.to_thread``; plain ``def`` routes and dependencies of FastAPI and
Starlette (their thread pool); Flask views (a thread per request); and the sync helpers those
call (:func:`thread_contexts`). The framework entry points come from ``frameworks/entries.py``.

Invariants:
- Active only when the program may run threads (a web framework, ``threading``,
  ``concurrent``, ``asyncio`` or ``anyio`` is imported).
- Precision first: locals, ``threading.local``, ``ContextVar`` and ``flask.g`` are per thread;
  a lock around both the read and the write, or an atomic single step, is safe.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from ..facts import CallSite, FunctionFacts, ModuleFacts, Scope
from ..finding import Evidence, Finding, Severity, Span
from ..knowledge import web
from ..knowledge.primitives import THREAD_RUNNERS
from ..summaries import Chain, Program
from .frameworks.common import contains
from .frameworks.entries import entry_points, module_scope
from .registry import RuleContext, rule

UNSYNCHRONISED_RMW = "RH402"
_SINGLE_THREAD_RUNNERS = frozenset({"threading.Thread", "threading.Timer"})
# How far the thread context follows sync helpers (route -> service -> repository).
_MAX_HELPER_DEPTH = 4
_LOOP_NODES = (ast.For, ast.While, ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


# ---------------------------------------------------------------------------------------------
# RH402: read-modify-write from threads
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThreadContext:
    """Why a function runs on several threads: the root that starts it and the calls down."""

    root: str  # display name of the function the framework / runner starts
    how: str  # "FastAPI runs sync `def` routes in its thread pool (route POST /hit)"
    chain: Chain
    many: bool  # several threads run it at once (a pool, a route, threads started in a loop)
    shared_self: bool  # ``self`` is one object seen by all those threads


def thread_contexts(program: Program) -> dict[str, ThreadContext]:
    memo = program.memo.get("web.thread_contexts")
    if isinstance(memo, dict):
        return memo
    roots = _thread_roots(program)
    contexts: dict[str, ThreadContext] = dict(roots)
    pending = [(qualname, 0) for qualname in roots]
    while pending:
        qualname, depth = pending.pop(0)
        fn = program.function(qualname)
        context = contexts[qualname]
        if fn is None or depth >= _MAX_HELPER_DEPTH:
            continue
        for call in sorted(fn.calls, key=lambda c: (c.span.line, c.span.column)):
            if call.held:
                continue  # the helper runs under the caller's lock
            callee = program.callee_function(call)
            if callee is None or callee.is_async or callee.qualname in contexts:
                continue
            shared_self = callee.class_qualname is not None and _receiver_is_shared(
                program, fn, call, context.shared_self
            )
            hop = program.hop(fn, call, f"{fn.display}() calls {callee.display}()")
            contexts[callee.qualname] = ThreadContext(
                context.root,
                context.how,
                (*context.chain, hop),
                context.many,
                shared_self,
            )
            pending.append((callee.qualname, depth + 1))
    program.memo["web.thread_contexts"] = contexts
    return contexts


def _thread_roots(program: Program) -> dict[str, ThreadContext]:
    roots: dict[str, ThreadContext] = {}
    for entry in entry_points(program).values():
        fn = program.function(entry.qualname)
        template = web.THREADED_SYNC_ENTRIES.get(entry.framework)
        if fn is None or fn.is_async or template is None:
            continue
        what = {"dependency": "dependencies", "hook": "hooks"}.get(entry.kind, "routes")
        how = template.format(what=what)
        if entry.framework != "flask" and entry.kind in ("route", "websocket"):
            how = f"{how} ({entry.label})"
        roots[fn.qualname] = ThreadContext(fn.display, how, (entry.evidence,), True, False)
    started = program.thread_entry_points()
    if not started:
        return roots
    runners: dict[tuple[str, int, int], tuple[FunctionFacts, CallSite]] = {}
    for fn in program.iter_functions():
        for call in fn.calls:
            if call.callee in THREAD_RUNNERS:
                runners[(program.path_of(fn), call.span.line, call.span.column)] = (fn, call)
    for qualname, evidence in started.items():
        fn = program.function(qualname)
        runner = runners.get((evidence.path or "", evidence.span.line, evidence.span.column))
        if fn is None or runner is None or qualname in roots:
            continue
        starter, call = runner
        many = call.callee not in _SINGLE_THREAD_RUNNERS or _inside_loop(program, starter, call)
        how = f"`{call.text}()` runs it in {'worker threads' if many else 'a thread'}"
        shared_self = fn.class_qualname is not None and _bound_to_shared_object(
            program, starter, _callable_argument(call)
        )
        roots[qualname] = ThreadContext(fn.display, how, (evidence,), many, shared_self)
    return roots


def _callable_argument(call: CallSite) -> ast.expr | None:
    for keyword in call.node.keywords:
        if keyword.arg in ("target", "fn", "func", "function"):
            return keyword.value
    for argument in call.node.args[:2]:
        if isinstance(argument, (ast.Name, ast.Attribute)):
            return argument
    return None


def _bound_to_shared_object(
    program: Program, starter: FunctionFacts, argument: ast.expr | None
) -> bool:
    """``Thread(target=self._run)`` in a loop runs one object's method on many threads;
    ``Thread(target=worker.run)`` with a fresh ``worker`` per thread does not share it."""
    if not isinstance(argument, ast.Attribute) or not isinstance(argument.value, ast.Name):
        return False
    name = argument.value.id
    if name == starter.scope.self_name:
        return True
    module = program.module_of(starter)
    return _is_global(starter, module, name) and not _per_thread(program, module, name)


def _inside_loop(program: Program, fn: FunctionFacts, call: CallSite) -> bool:
    """Is the call inside a loop of its function? (By position, over the function's own nodes:
    a parent map of the whole module would cost more than the rest of the rule.)"""
    if call.in_loop:
        return True
    target = call.node
    start = (target.lineno, target.col_offset)
    end = (target.end_lineno or target.lineno, target.end_col_offset or 0)
    for node in fn.own_nodes:
        if isinstance(node, _LOOP_NODES):
            node_start = (node.lineno, node.col_offset)
            node_end = (node.end_lineno or node.lineno, node.end_col_offset or 0)
            if node_start <= start and end <= node_end:
                return True
    return False


def _receiver_is_shared(
    program: Program, fn: FunctionFacts, call: CallSite, caller_self_shared: bool
) -> bool:
    """Is the object a method is called on seen by every thread? ``self.x()`` on a shared
    ``self``, or a module-level singleton (``stats.record()``)."""
    func = call.node.func
    if not isinstance(func, ast.Attribute):
        return False
    receiver = func.value
    if isinstance(receiver, ast.Name) and receiver.id == fn.scope.self_name:
        return caller_self_shared
    if isinstance(receiver, ast.Name):
        module = program.module_of(fn)
        return _is_global(fn, module, receiver.id) and not _per_thread(program, module, receiver.id)
    return _is_app_state(receiver)


def _is_global(fn: FunctionFacts, module: ModuleFacts, name: str) -> bool:
    scope: Scope | None = fn.scope
    while scope is not None:
        if name in scope.local_names or name in scope.local_types or name in scope.local_functions:
            return False
        scope = scope.parent
    if name in module.imports:
        return module.imports[name] not in web.PER_REQUEST_NAMES
    return name in module.global_names


def _per_thread(program: Program, module: ModuleFacts, name: str) -> bool:
    """Is the global ``name`` a ``threading.local``/``ContextVar``, here or in the workspace
    module it is imported from (``from .context import request_state``)?"""
    if name in _per_thread_globals(program, module):
        return True
    owner_name, _, attr = module.imports.get(name, "").rpartition(".")
    owner = program.modules.get(owner_name)
    return owner is not None and attr in _per_thread_globals(program, owner)


def _per_thread_globals(program: Program, module: ModuleFacts) -> frozenset[str]:
    """Module names bound to ``threading.local()`` (or a subclass) or a ``ContextVar``."""
    memo = program.memoized("web.per_thread_globals", dict[str, frozenset[str]])
    if module.module not in memo:
        memo[module.module] = _find_per_thread_globals(module)
    return memo[module.module]


def _find_per_thread_globals(module: ModuleFacts) -> frozenset[str]:
    scope = module_scope(module)
    local_classes = {
        qualname
        for qualname, cls in module.classes.items()
        if any(base in web.PER_THREAD_TYPES for base in cls.bases)
    }
    names: set[str] = set()
    for stmt in module.tree.body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call) and scope:
            callee = scope.qualify(stmt.value.func)
            if callee in web.PER_THREAD_TYPES or callee in local_classes:
                names.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
    return frozenset(names)


def _is_app_state(node: ast.AST) -> bool:
    text = "." + ast.unparse(node) + "."
    return any(path in text for path in web.APP_STATE_PATHS)


@dataclass(frozen=True)
class ReadModifyWrite:
    state: str  # "counts[sid]", "self.hits", "total"
    read: ast.AST
    write: ast.stmt


@dataclass(frozen=True)
class RemoteWrite:
    """A read-modify-write in another module, reached from a thread in this one."""

    fn: FunctionFacts  # the function doing it
    rmw: ReadModifyWrite
    hops: Chain  # the calls from the launched function down to ``fn``


@rule(
    UNSYNCHRONISED_RMW,
    "unsynchronised-read-modify-write-from-threads",
    Severity.WARNING,
    "Shared state is read, changed and written back on several threads without a lock.",
    "Hold a `threading.Lock` around the read and the write, or use a thread-safe structure "
    "(`queue.Queue`, `itertools.count`, `collections.Counter` under a lock).",
)
def unsynchronised_read_modify_write(ctx: RuleContext) -> Iterator[Finding]:
    """``counts[k] = counts.get(k, 0) + 1``, ``total += n``, ``self.hits += 1`` are three steps
    (read, compute, write back), and another thread can run between them: two threads read 41,
    both write 42, one update is lost. It happens in code that runs on several threads at once:
    functions started with ``Thread(target=...)``, executor tasks and ``asyncio.to_thread``;
    plain ``def`` routes and dependencies of FastAPI and Starlette (run in a thread pool); Flask
    views (one thread per request); and the sync helpers those call. Module globals, shared
    singletons' attributes and application state (``request.app.state``) count; locals,
    ``threading.local`` and ``flask.g`` are per thread. A lock held around both the read and
    the write makes it safe; ``list.append``, ``dict.setdefault`` and ``next(counter)`` are
    single atomic steps and are not reported.

    When the thread is started (or the route registered) in one file and the update happens in
    another, the finding is reported where the thread's work enters the other file (the call
    to the helper, or the registration of a view defined elsewhere), with the update itself in
    the evidence."""
    program = ctx.program
    if not _program_may_run_threads(program):
        return
    module = ctx.module
    contexts = thread_contexts(program)
    for fn in ctx.functions():
        context = contexts.get(fn.qualname)
        if context is None or fn.is_async or fn.is_module_scope:
            continue
        # A module's analysis sees only what it imports: the file that starts the thread (or
        # registers the route) sees the whole path, the helper's file does not. Reporting
        # from there keeps the result the same whichever files are analysed together.
        if _origin_path(context) != ctx.path:
            continue
        for rmw in _unsafe_writes(program, fn, context.shared_self, context.many):
            yield _local_finding(ctx, fn, context, rmw)
        for call in sorted(fn.calls, key=lambda c: (c.span.line, c.span.column)):
            callee = program.callee_function(call)
            if (
                call.held
                or callee is None
                or callee.is_async
                or program.module_of(callee) is module
            ):
                continue
            shared_self = callee.class_qualname is not None and _receiver_is_shared(
                program, fn, call, context.shared_self
            )
            remote = _remote_writes(program, module, callee, shared_self, context)
            if remote:
                hop = ctx.evidence(call.span, f"{fn.display}() calls {callee.display}()")
                subject = f"`{call.text}()`"
                yield _remote_finding(ctx, call.span, subject, fn, context, (hop,), remote)
    for qualname, context in contexts.items():
        root = program.function(qualname)
        if (
            root is None
            or len(context.chain) != 1
            or _origin_path(context) != ctx.path
            or program.module_of(root) is module
        ):
            continue  # only roots defined elsewhere and registered or started here
        remote = _remote_writes(program, module, root, context.shared_self, context)
        if remote:
            subject = f"`{root.display}`"
            span = context.chain[0].span
            yield _remote_finding(ctx, span, subject, None, context, (), remote)


def _origin_path(context: ThreadContext) -> str | None:
    """The file that registers the entry point or starts the thread."""
    return context.chain[0].path


def _program_may_run_threads(program: Program) -> bool:
    return program.memoized(
        "web.may_run_threads",
        lambda: any(
            m.imports_module(*web.FRAMEWORK_MODULES, "threading", "concurrent", "asyncio", "anyio")
            for m in program.modules.values()
        ),
    )


def _unsafe_writes(
    program: Program, fn: FunctionFacts, shared_self: bool, many: bool
) -> Iterator[ReadModifyWrite]:
    """Read-modify-writes of shared state in ``fn`` that no lock covers (and that race: with
    other threads running ``fn``, or with another writer when only one thread runs it)."""
    module = program.module_of(fn)
    for rmw in _read_modify_writes(program, fn, module, shared_self):
        if _share_a_lock(module, fn, rmw.read, rmw.write):
            continue
        if not many and not _written_elsewhere(module, fn, rmw.write):
            continue
        yield rmw


def _remote_writes(
    program: Program,
    home: ModuleFacts,
    start: FunctionFacts,
    shared_self: bool,
    context: ThreadContext,
) -> list[RemoteWrite]:
    """Unsafe read-modify-writes in ``start`` and the sync helpers it calls, outside ``home``
    (functions of ``home`` reached on the way have a thread context of their own)."""
    found: list[RemoteWrite] = []
    pending: list[tuple[FunctionFacts, bool, Chain]] = [(start, shared_self, ())]
    seen = {start.qualname}
    while pending:
        fn, fn_shared_self, hops = pending.pop(0)
        found.extend(
            RemoteWrite(fn, rmw, hops)
            for rmw in _unsafe_writes(program, fn, fn_shared_self, context.many)
        )
        if len(context.chain) + len(hops) >= _MAX_HELPER_DEPTH:
            continue
        for call in sorted(fn.calls, key=lambda c: (c.span.line, c.span.column)):
            callee = program.callee_function(call)
            if (
                call.held
                or callee is None
                or callee.is_async
                or callee.qualname in seen
                or program.module_of(callee) is home
            ):
                continue
            seen.add(callee.qualname)
            callee_shared = callee.class_qualname is not None and _receiver_is_shared(
                program, fn, call, fn_shared_self
            )
            hop = program.hop(fn, call, f"{fn.display}() calls {callee.display}()")
            pending.append((callee, callee_shared, (*hops, hop)))
    return found


def _write_steps(module: ModuleFacts, rmw: ReadModifyWrite) -> tuple[Evidence, ...]:
    def step(node: ast.AST, message: str) -> Evidence:
        return Evidence(module.positions.span(node), message, module.path)

    if rmw.read is rmw.write:
        return (step(rmw.write, f"`{rmw.state}` read and written back here"),)
    return (
        step(rmw.read, f"`{rmw.state}` read here"),
        step(rmw.write, f"`{rmw.state}` written back here"),
    )


def _why_threads(context: ThreadContext, fn_display: str) -> str:
    if context.root == fn_display:
        return context.how
    return f"it is called from `{context.root}`, and {context.how}"


def _local_finding(
    ctx: RuleContext, fn: FunctionFacts, context: ThreadContext, rmw: ReadModifyWrite
) -> Finding:
    return ctx.finding(
        UNSYNCHRONISED_RMW,
        rmw.write,
        f"unsynchronised read-modify-write of `{rmw.state}` in `{fn.display}`: "
        f"{_why_threads(context, fn.display)}, so two threads can read the same value and one "
        f"update is lost",
        function=fn,
        evidence=(*context.chain, *_write_steps(ctx.module, rmw)),
        assumptions=(
            f"only one thread at a time updates `{rmw.state}` "
            f"(no lock is held around the read and the write)",
        ),
    )


def _remote_finding(
    ctx: RuleContext,
    where: Span,
    subject: str,
    caller: FunctionFacts | None,
    context: ThreadContext,
    launch: Chain,
    remote: list[RemoteWrite],
) -> Finding:
    """``stats.record_view()`` does an unsynchronised read-modify-write of ``_views[...]``
    (services/stats.py:11): FastAPI runs sync `def` routes in its thread pool ..."""
    first = remote[0]
    writer_module = ctx.program.module_of(first.fn)
    line = writer_module.positions.span(first.rmw.write).line
    where_written = f"{writer_module.path}:{line}"
    if first.hops:
        where_written = f"in `{first.fn.display}`, {where_written}"
    verb = "reaches" if first.hops else "does"
    more = f" (and {len(remote) - 1} more)" if len(remote) > 1 else ""
    why = _why_threads(context, caller.display if caller is not None else context.root)
    return ctx.finding(
        UNSYNCHRONISED_RMW,
        where,
        f"{subject} {verb} an unsynchronised read-modify-write of `{first.rmw.state}` "
        f"({where_written}){more}: {why}, so two threads can read the same value and one "
        f"update is lost",
        function=caller,
        evidence=(*context.chain, *launch, *first.hops, *_write_steps(writer_module, first.rmw)),
        assumptions=(
            f"only one thread at a time updates `{first.rmw.state}` "
            f"(no lock is held around the read and the write)",
        ),
    )


def _read_modify_writes(
    program: Program, fn: FunctionFacts, module: ModuleFacts, shared_self: bool
) -> Iterator[ReadModifyWrite]:
    declared_globals = {
        name for node in fn.own_nodes if isinstance(node, ast.Global) for name in node.names
    }

    def shared(target: ast.AST) -> bool:
        return _is_shared_state(program, fn, module, target, shared_self, declared_globals)

    # Locals read from shared state: ``stock = inventory[sku]`` ... ``inventory[sku] = stock - n``.
    local_reads: dict[str, tuple[ast.stmt, str]] = {}
    statements = sorted(
        (n for n in fn.own_nodes if isinstance(n, (ast.Assign, ast.AugAssign))),
        key=lambda n: (n.lineno, n.col_offset),
    )
    for stmt in statements:
        if isinstance(stmt, ast.AugAssign):
            if shared(stmt.target):
                yield ReadModifyWrite(ast.unparse(stmt.target), stmt, stmt)
            continue
        if len(stmt.targets) != 1:
            continue
        target = stmt.targets[0]
        if shared(target):
            state = ast.unparse(target)
            if any(_element_text(operand) == state for operand in _arithmetic_operands(stmt.value)):
                yield ReadModifyWrite(state, stmt, stmt)
                continue
            for operand in _arithmetic_operands(stmt.value):
                if isinstance(operand, ast.Name) and operand.id in local_reads:
                    read, state_read = local_reads[operand.id]
                    if state_read == state:
                        yield ReadModifyWrite(state, read, stmt)
                        break
        elif isinstance(target, ast.Name):
            read_state = _element_text(stmt.value)
            if read_state is None:
                read_state = next(
                    (
                        text
                        for text in map(_element_text, _arithmetic_operands(stmt.value))
                        if text is not None
                    ),
                    None,
                )
            if read_state is not None:
                local_reads[target.id] = (stmt, read_state)


def _is_shared_state(
    program: Program,
    fn: FunctionFacts,
    module: ModuleFacts,
    target: ast.AST,
    shared_self: bool,
    declared_globals: set[str],
) -> bool:
    if isinstance(target, ast.Name):
        # Rebinding a name changes a global only under ``global``.
        return target.id in declared_globals and not _per_thread(program, module, target.id)
    if not isinstance(target, (ast.Subscript, ast.Attribute)):
        return False
    if _is_app_state(target):
        return True
    root: ast.AST = target
    first_attribute: str | None = None
    while isinstance(root, (ast.Subscript, ast.Attribute)):
        if isinstance(root, ast.Attribute):
            first_attribute = root.attr
        root = root.value
    if not isinstance(root, ast.Name):
        return False
    if root.id == fn.scope.self_name:
        return shared_self
    if not (root.id in declared_globals or _is_global(fn, module, root.id)):
        return False
    if _per_thread(program, module, root.id):
        return False
    # ``context.request_state.retries += 1`` on an imported workspace module: the module's
    # ``threading.local`` is per thread like any other.
    owner = program.modules.get(module.imports.get(root.id, ""))
    return not (
        owner is not None
        and first_attribute is not None
        and first_attribute in _per_thread_globals(program, owner)
    )


def _element_text(node: ast.AST) -> str | None:
    """The state an expression reads, spelled as its write target: ``counts.get(k, 0)`` reads
    ``counts[k]``."""
    if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript)):
        return ast.unparse(node)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and node.args
    ):
        return f"{ast.unparse(node.func.value)}[{ast.unparse(node.args[0])}]"
    return None


def _arithmetic_operands(value: ast.AST) -> Iterator[ast.AST]:
    """Operands of the binary operations in ``value`` (``a + 1``, ``max(a - n, 0)``)."""
    for node in ast.walk(value):
        if isinstance(node, ast.BinOp):
            yield node.left
            yield node.right


def _share_a_lock(module: ModuleFacts, fn: FunctionFacts, read: ast.AST, write: ast.AST) -> bool:
    """Are the read and the write inside one and the same critical section? The same lock taken
    twice, once for the read and once for the write, lets another thread in between."""
    return bool(_locks_around(module, fn, read) & _locks_around(module, fn, write))


def _locks_around(module: ModuleFacts, fn: FunctionFacts, node: ast.AST) -> set[int]:
    """The critical sections (by their acquiring node) that hold a lock at ``node``: ``with
    lock:`` bodies, and the statements between ``lock.acquire()`` and its ``release()``."""
    held: set[int] = set()
    for op in fn.lock_ops:
        if op.form != "acquire":
            if isinstance(op.stmt, (ast.With, ast.AsyncWith)) and any(
                contains(stmt, node) for stmt in op.stmt.body
            ):
                held.add(id(op.node))
            continue
        if isinstance(op.stmt, ast.If) and contains(op.stmt.test, op.node):
            region: list[ast.stmt] = list(op.stmt.body)
            if not isinstance(op.stmt.test, ast.UnaryOp):
                if any(contains(stmt, node) for stmt in region):
                    held.add(id(op.node))
                continue
        region = _statements_after(module, op.stmt, op.lock.display)
        if any(contains(stmt, node) for stmt in region):
            held.add(id(op.node))
    return held


def _statements_after(module: ModuleFacts, stmt: ast.stmt, lock_text: str) -> list[ast.stmt]:
    parent = module.parents.get(id(stmt))
    if parent is None:
        return []
    for name in ("body", "orelse", "finalbody"):
        block = getattr(parent, name, None)
        if isinstance(block, list) and any(s is stmt for s in block):
            index = next(i for i, s in enumerate(block) if s is stmt)
            following: list[ast.stmt] = []
            for after in block[index + 1 :]:
                if _is_release(after, lock_text):
                    break
                following.append(after)
            return following
    return []


def _is_release(stmt: ast.stmt, lock_text: str) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Call)
        and isinstance(stmt.value.func, ast.Attribute)
        and stmt.value.func.attr == "release"
        and ast.unparse(stmt.value.func.value) == lock_text
    )


def _written_elsewhere(module: ModuleFacts, fn: FunctionFacts, write: ast.stmt) -> bool:
    """A single thread races only with another writer: is the same state written by another
    function (not ``__init__``, not import-time code)?"""
    key = _storage_root(fn, _write_target(write))
    if key is None:
        return False
    for other in module.iter_functions():
        if other is fn or other.is_module_scope or other.name == "__init__":
            continue
        for node in other.own_nodes:
            if (
                isinstance(node, (ast.Assign, ast.AugAssign))
                and _storage_root(other, _write_target(node)) == key
            ):
                return True
    return False


def _write_target(stmt: ast.AST) -> ast.AST | None:
    if isinstance(stmt, ast.AugAssign):
        return stmt.target
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        return stmt.targets[0]
    return None


def _storage_root(fn: FunctionFacts, target: ast.AST | None) -> str | None:
    """``self.hits[k]`` -> ``pkg.mod.Stats.hits``; ``counts[k]`` -> ``counts``;
    ``metrics.flushes`` -> ``metrics.flushes`` (another counter of the same module or object
    is another piece of state)."""
    first_attr: str | None = None
    node = target
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        if isinstance(node, ast.Attribute):
            first_attr = node.attr
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    if node.id == fn.scope.self_name and fn.class_qualname and first_attr:
        return f"{fn.class_qualname}.{first_attr}"
    return f"{node.id}.{first_attr}" if first_attr else node.id
