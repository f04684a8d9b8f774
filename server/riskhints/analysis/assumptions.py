"""The assumptions a function relies on, as checklist items: from its findings and its facts.

An item is one concrete, checkable sentence in the code's own names, plus a tag (the rule id of
the finding it came from, or the kind of fact) and a short fingerprint of what it was written
against. The fingerprint hashes the rule (or fact kind), the function and the *normalised text
of the statement* the item is about — never line numbers — so that moving a function keeps
its checked items valid, while a new ``await`` under the lock, a changed call or a renamed
function makes them stale.

Pure: source text and facts in, items out. The engine uses the fingerprints to acknowledge
findings and to report stale items; the actions use the items to write the checklist.
"""

from __future__ import annotations

import ast
import hashlib
import io
import re
import textwrap
import tokenize
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from .facts import AwaitSite, CallSite, FunctionFacts, LockOp, LockRef, ModuleFacts
from .finding import Finding
from .knowledge.primitives import primitive

FACT_LOCK = "lock"
FACT_ORDER = "order"
FACT_INTERLEAVE = "await"
FACT_LOOP = "loop"
FACT_FRAMEWORK = "framework"
FACT_TAGS = frozenset({FACT_LOCK, FACT_ORDER, FACT_INTERLEAVE, FACT_LOOP, FACT_FRAMEWORK})
_SHOWN = 3  # calls or awaits named in one item before "and N more"
_SKIPPED_TOKENS = frozenset(
    {
        tokenize.COMMENT,
        tokenize.NL,
        tokenize.NEWLINE,
        tokenize.INDENT,
        tokenize.DEDENT,
        tokenize.ENCODING,
        tokenize.ENDMARKER,
    }
)
_ROUTE_METHODS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "route", "api_route"}
)
_MUTATORS = frozenset(
    {"append", "add", "update", "setdefault", "extend", "insert", "pop", "remove", "clear"}
)
_CONTAINER_METHODS = _MUTATORS | {
    "get",
    "items",
    "keys",
    "values",
    "copy",
    "popitem",
    "discard",
    "appendleft",
    "popleft",
    "count",
    "index",
    "sort",
    "lower",
    "upper",
    "split",
    "strip",
    "join",
    "format",
    "startswith",
    "endswith",
    "replace",
    "encode",
    "decode",
}


@dataclass(frozen=True)
class Item:
    text: str  # one line, no trailing fingerprint
    tag: str  # "RH202" for a finding's assumption, or a fact kind ("lock", "await", ...)
    fingerprint: str  # 6 hex digits

    @property
    def is_finding(self) -> bool:
        return self.tag not in FACT_TAGS


# -- fingerprints -------------------------------------------------------------------------------


def fingerprint(tag: str, function: str, statement_text: str) -> str:
    text = f"{tag}\0{function}\0{statement_text}"
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=3)
    return digest.hexdigest()


def normalized(text: str) -> str:
    """Tokens joined by single spaces: formatting, comments and a formatter's trailing comma
    (``f(a, b,)``) do not change it."""
    source = textwrap.dedent(text)
    try:
        kept: list[str] = []
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type in _SKIPPED_TOKENS:
                continue
            if token.string in (")", "]", "}") and kept and kept[-1] == ",":
                kept.pop()
            kept.append(token.string)
        return " ".join(kept)
    except (tokenize.TokenError, SyntaxError):
        stripped = (line.split("#", 1)[0] for line in source.splitlines())
        return " ".join(" ".join(stripped).split())


def node_text(source: str, node: ast.AST) -> str:
    return normalized(ast.get_source_segment(source, node, padded=True) or ast.dump(node))


def header_text(source: str, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The ``def`` line(s) up to the body: name, parameters, annotations."""
    lines = source.splitlines()
    end = fn.body[0].lineno - 1 if fn.body else fn.lineno
    return normalized("\n".join(lines[fn.lineno - 1 : max(end, fn.lineno)]))


def anchor_text(
    source: str, fn: ast.FunctionDef | ast.AsyncFunctionDef, lines: Iterable[int]
) -> str:
    """Normalised text of the smallest statement of ``fn`` spanning all ``lines`` — or of the
    run of sibling statements from the one holding the first line to the one holding the last
    (a check, the await and the update after it). The ``def`` header when none is inside."""
    wanted = [line for line in lines if fn.lineno <= line <= (fn.end_lineno or fn.lineno)]
    low, high = (min(wanted), max(wanted)) if wanted else (0, 0)
    body: list[ast.stmt] = list(fn.body)
    run: list[ast.stmt] = []
    while wanted:
        inner = [s for s in body if (s.end_lineno or s.lineno) >= low and s.lineno <= high]
        if not inner or not (inner[0].lineno <= low and high <= (inner[-1].end_lineno or 0)):
            break  # a line is in the enclosing statement's own header: that statement it is
        run = inner
        if len(inner) > 1:
            break
        body = [
            child
            for field in ("body", "orelse", "finalbody", "handlers", "cases")
            for child in _statements(getattr(inner[0], field, None))
        ]
    if not run:
        return header_text(source, fn)
    return " ".join(node_text(source, stmt) for stmt in run)


def _statements(value: object) -> Iterator[ast.stmt]:
    if not isinstance(value, list):
        return
    for child in value:
        if isinstance(child, ast.stmt):
            yield child
        elif isinstance(child, (ast.ExceptHandler, ast.match_case)):
            yield from child.body


def finding_fingerprint(finding: Finding, fn: FunctionFacts, source: str) -> str:
    node = fn.node
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    lines = [finding.span.line, finding.span.end_line]
    lines += [hop.span.line for hop in finding.evidence if hop.path is None]
    return fingerprint(
        finding.rule, finding.function or fn.display, anchor_text(source, node, lines)
    )


# -- which function ---------------------------------------------------------------------------


def first_line(fn: FunctionFacts) -> int:
    """The line a checklist goes above: the first decorator, else the ``def``."""
    node = fn.node
    if isinstance(node, ast.Module):
        return 1
    return min([node.lineno, *(d.lineno for d in node.decorator_list)])


def function_at(facts: ModuleFacts, line: int) -> FunctionFacts | None:
    """The innermost function whose decorators, header or body contain ``line``."""
    best: FunctionFacts | None = None
    for fn in facts.iter_functions():
        if fn.is_module_scope:
            continue
        end = getattr(fn.node, "end_lineno", None) or first_line(fn)
        if first_line(fn) <= line <= end and (best is None or first_line(fn) >= first_line(best)):
            best = fn
    return best


def function_of(facts: ModuleFacts, finding: Finding) -> FunctionFacts | None:
    """The function a finding belongs to (its display name, and the line to disambiguate)."""
    if finding.function is None:
        return None
    named = [
        fn
        for fn in facts.iter_functions()
        if not fn.is_module_scope and fn.display == finding.function
    ]
    for fn in named:
        if first_line(fn) <= finding.span.line <= (getattr(fn.node, "end_lineno", 0) or 0):
            return fn
    return named[0] if named else None


def wants_checklist(fn: FunctionFacts, findings: Sequence[Finding]) -> bool:
    return bool(findings) or fn.is_async or bool(fn.lock_ops)


# -- items ------------------------------------------------------------------------------------


def items_for(fn: FunctionFacts, findings: Iterable[Finding], source: str) -> list[Item]:
    """Every item for ``fn``: its findings' assumptions first, then the facts."""
    items: list[Item] = []
    for finding in sorted(findings, key=Finding.sort_key):
        fp = finding_fingerprint(finding, fn, source)
        texts = finding.assumptions or (f"this is safe here: {finding.message}",)
        for text in texts:
            items.append(Item(_one_line(text), finding.rule, fp))
    mentioned = " ".join(item.text for item in items)
    items.extend(fact_items(fn, source, mentioned))
    return list(dict.fromkeys(items))


def fact_items(fn: FunctionFacts, source: str, mentioned: str = "") -> list[Item]:
    """What the function relies on that the findings do not already say."""
    items: list[Item] = []
    items.extend(_framework_items(fn, source))
    items.extend(_lock_items(fn, source, mentioned))
    items.extend(_interleave_items(fn, source))
    items.extend(_loop_items(fn, source))
    return items


def _fact(fn: FunctionFacts, tag: str, text: str, anchor: str) -> Item:
    return Item(_one_line(text), tag, fingerprint(tag, fn.display, anchor))


def _framework_items(fn: FunctionFacts, source: str) -> Iterator[Item]:
    node = fn.node
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if not isinstance(target, ast.Attribute):
            continue
        shown = "@" + _short(ast.unparse(target))
        anchor = f"{node_text(source, decorator)} {header_text(source, node)}"
        if target.attr in _ROUTE_METHODS or target.attr == "websocket":
            where = (
                "on the server's event loop, one call per request, concurrently"
                if fn.is_async
                else "in a worker thread per request (sync handler), concurrently with others"
            )
            yield _fact(
                fn,
                FACT_FRAMEWORK,
                f"`{fn.display}` is a request handler (`{shown}`): the framework runs it {where}",
                anchor,
            )
        elif target.attr in ("task", "shared_task"):
            yield _fact(
                fn,
                FACT_FRAMEWORK,
                f"`{fn.display}` is a task (`{shown}`): workers may run it in several processes "
                f"or threads at once, and retry it after a partial run",
                anchor,
            )


def _lock_items(fn: FunctionFacts, source: str, mentioned: str) -> Iterator[Item]:
    seen: set[str] = set()
    statements: set[int] = set()
    for op in fn.lock_ops:
        lock = op.lock
        if lock.key in seen:
            continue
        seen.add(lock.key)
        first_in_statement = id(op.stmt) not in statements
        statements.add(id(op.stmt))
        for earlier in op.held_before:
            if earlier.lock.key == lock.key:
                continue
            yield _fact(
                fn,
                FACT_ORDER,
                f"every code path that takes both `{earlier.lock.display}` and `{lock.display}` "
                f"takes `{earlier.lock.display}` first, as `{fn.display}` does",
                f"{earlier.lock.key} {lock.key} {node_text(source, op.stmt)}",
            )
        if f"`{lock.display}`" in mentioned or not first_in_statement:
            continue  # a finding already speaks about this lock, or `with a, b:` did
        awaits = [site for site in fn.awaits if _holds(site.held, lock)]
        calls = [
            call
            for call in fn.calls
            if _holds(call.held, lock)
            and not call.awaited
            and not _is_lock_call(call.node, op)
            and not _is_plain_data_call(call)
        ]
        anchor = " ".join(
            [lock.key, node_text(source, op.stmt)]
            + [_await_text(site) for site in awaits]
            + [call.text for call in calls]
        )
        waiter = "task" if lock.primitive.flavor == "async" else "thread"
        if awaits:
            yield _fact(
                fn,
                FACT_LOCK,
                f"`{lock.display}` ({lock.type}) is held across "
                f"{_listed([_await_text(a) for a in awaits])}: what that waits for never needs "
                f"`{lock.display}`, and other tasks can wait that long for it",
                anchor,
            )
        if calls:
            names = [c.text + "()" for c in calls]
            yield _fact(
                fn,
                FACT_LOCK,
                f"while `{lock.display}` is held, {_listed(names)} "
                f"{_verb(names, 'never takes', 'never take')} `{lock.display}` again and "
                f"{_verb(names, 'never waits', 'never wait')} for a {waiter} that needs it",
                anchor,
            )
        guarded = _shared_state(fn, _nodes_under(op), reads=True)
        if guarded:
            together = [o.lock.display for o in fn.lock_ops if o.stmt is op.stmt]
            yield _fact(
                fn,
                FACT_LOCK,
                f"every function that reads or writes {_listed(guarded)} holds "
                f"{_listed(together)} while doing so, not only `{fn.display}`",
                anchor,
            )


def _interleave_items(fn: FunctionFacts, source: str) -> Iterator[Item]:
    if not fn.is_async or not fn.awaits:
        return
    state = _shared_state(fn, fn.own_nodes)
    if not state:
        return
    awaits = [_await_text(site) for site in fn.awaits]
    yield _fact(
        fn,
        FACT_INTERLEAVE,
        f"other tasks may run at {_listed(awaits)}: `{fn.display}` does not rely on "
        f"{_listed(state)} keeping the value it saw before "
        f"{_verb(awaits, 'that await', 'an await')}",
        " ".join([*awaits, *state]),
    )


def _loop_items(fn: FunctionFacts, source: str) -> Iterator[Item]:
    if not fn.is_async:
        return
    node = fn.node
    assert isinstance(node, ast.AsyncFunctionDef)
    sync_calls = [
        call.text + "()"
        for call in fn.calls
        if not call.awaited
        and call.usage != "argument"
        and not _async_entered(call)
        and not _is_plain_data_call(call)
        and primitive(call.receiver_type) is None  # the lock's own acquire()/release()
        and not (call.callee or "").startswith(("builtins.", "asyncio.", "typing."))
    ]
    sync_calls = list(dict.fromkeys(sync_calls))
    if sync_calls:
        verb = _verb(sync_calls, "returns", "return")
        text = (
            f"`{fn.display}` runs on the event loop thread: {_listed(sync_calls)} {verb} "
            f"quickly and {_verb(sync_calls, 'never blocks', 'never block')} on I/O, a lock "
            f"or a sleep"
        )
    else:
        text = (
            f"`{fn.display}` runs on the event loop thread and is only called from code "
            f"running on that loop (never from another thread)"
        )
    yield _fact(fn, FACT_LOOP, text, " ".join([header_text(source, node), *sync_calls]))


# -- helpers ----------------------------------------------------------------------------------


def _holds(held: Sequence[object], lock: LockRef) -> bool:
    return any(getattr(h, "lock", None) == lock for h in held)


def _is_lock_call(node: ast.Call, op: LockOp) -> bool:
    """``lock.acquire()`` / ``lock.release()`` themselves are not work done under the lock."""
    func = node.func
    return isinstance(func, ast.Attribute) and ast.unparse(func.value) == op.lock.display


def _async_entered(call: CallSite) -> bool:
    """``async with make()`` / ``async for x in make()``: the call only builds the awaitable."""
    stmt = call.stmt
    if isinstance(stmt, ast.AsyncWith):
        return any(item.context_expr is call.node for item in stmt.items)
    return isinstance(stmt, ast.AsyncFor) and stmt.iter is call.node


def _await_text(site: AwaitSite) -> str:
    node = site.node
    if isinstance(node, ast.AsyncWith):
        text = "async with " + ", ".join(ast.unparse(item.context_expr) for item in node.items)
    elif isinstance(node, ast.AsyncFor):
        text = f"async for {ast.unparse(node.target)} in {ast.unparse(node.iter)}"
    else:
        text = ast.unparse(node)
    return _short(text)


def _nodes_under(op: LockOp) -> list[ast.AST]:
    """The body of a ``with lock:`` (nothing for ``acquire()``: its extent is a path)."""
    if isinstance(op.stmt, (ast.With, ast.AsyncWith)):
        return [node for stmt in op.stmt.body for node in ast.walk(stmt)]
    return []


def _shared_state(fn: FunctionFacts, nodes: Iterable[ast.AST], reads: bool = False) -> list[str]:
    """``self.x`` attributes and module globals among ``nodes`` (not locks, not methods):
    what another task or thread can change meanwhile. Globals count when this function
    changes them, or (``reads``) whenever they are used."""
    self_name = fn.scope.self_name
    module = fn.scope.module_facts
    declared = {
        name for node in fn.own_nodes if isinstance(node, ast.Global) for name in node.names
    }
    found: dict[str, None] = {}
    parents = module.parents
    for node in nodes:
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == self_name
        ):
            parent = parents.get(id(node))
            if isinstance(parent, ast.Call) and parent.func is node:
                continue  # a method call
            if primitive(fn.scope.type_of(node)) is not None:
                continue  # the lock itself
            if node.attr not in _changed_attrs(fn) and not _mutated(node, parents):
                continue  # set up once in ``__init__`` and only read: not shared state
            found[f"{self_name}.{node.attr}"] = None
        elif isinstance(node, ast.Name) and node.id in module.global_names:
            if node.id in fn.scope.local_names and node.id not in declared:
                continue  # a local of the same name
            changes = node.id in declared or _mutated(node, parents)
            if changes or (reads and not node.id.isupper()):  # a read CONSTANT is not state
                if primitive(fn.scope.type_of(node)) is None:
                    found[node.id] = None
    return list(found)


def _changed_attrs(fn: FunctionFacts) -> frozenset[str]:
    """Attributes of ``fn``'s class that some method other than ``__init__`` assigns or
    mutates (``self.x = ...``, ``self.x[k] = ...``, ``self.x.append(...)``)."""
    module = fn.scope.module_facts
    if fn.class_qualname is None:
        return frozenset()
    changed: set[str] = set()
    for other in module.iter_functions():
        if other.class_qualname != fn.class_qualname or other.name == "__init__":
            continue
        self_name = other.scope.self_name
        for node in other.own_nodes:
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == self_name
                and (isinstance(node.ctx, (ast.Store, ast.Del)) or _mutated(node, module.parents))
            ):
                changed.add(node.attr)
    return frozenset(changed)


def _mutated(node: ast.expr, parents: dict[int, ast.AST]) -> bool:
    parent = parents.get(id(node))
    if isinstance(parent, ast.Subscript) and isinstance(parent.ctx, (ast.Store, ast.Del)):
        return True
    if isinstance(parent, ast.Attribute) and parent.attr in _MUTATORS:
        return isinstance(parents.get(id(parent)), ast.Call)
    return False


def _is_plain_data_call(call: CallSite) -> bool:
    """``self._pending.pop(key)``, ``len(items)``: container and builtin calls, not work that
    could take a lock or wait."""
    if (call.callee or "").startswith("builtins."):
        return True
    func = call.node.func
    return isinstance(func, ast.Attribute) and func.attr in _CONTAINER_METHODS


def _verb(items: Sequence[object], one: str, many: str) -> str:
    return one if len(items) == 1 else many


def _listed(names: Sequence[str]) -> str:
    quoted = [f"`{name}`" for name in dict.fromkeys(names)]
    if len(quoted) <= _SHOWN:
        return _join(quoted)
    return _join([*quoted[:_SHOWN], f"{len(quoted) - _SHOWN} more"])


def _join(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


_WHITESPACE = re.compile(r"\s+")


def _one_line(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()
