"""Where a call of a blocking API does not block, and where it blocks only once.

The knowledge tables say which APIs block; the code around a call can say otherwise:

- **does not block here** (:func:`non_blocking_here`): an argument that makes the call return
  at once (``wait=False``, ``WNOHANG``, ``AI_NUMERICHOST``, ``sleep(0)``); a socket made
  non-blocking (``setblocking(False)``, ``settimeout(0)``, used with ``loop.sock_*``, or
  called inside ``except BlockingIOError``); a lazy iterator that is only created here
  (``path.iterdir()`` handed on, not iterated); ``future.result()`` after awaiting the future.
- **blocks only on first use** (:func:`first_use`): the call fills a memo kept in module or
  object state (``if self._css is None: self._css = read()``, ``if key not in _cache``,
  ``not hasattr(self, "_x")``, ``except KeyError:`` that stores the value), or runs only for a
  local host. Such findings are notes, not warnings.

Pure functions of the facts; the module's parent map is built on first use.
"""

from __future__ import annotations

import ast
import ipaddress
from collections.abc import Callable, Iterable, Iterator

from .facts import TRY_NODES, CallSite, FunctionFacts, ModuleFacts, parameter_defaults
from .knowledge import blocking

#: Builtins that consume an iterator on the spot.
_CONSUMERS = frozenset(
    f"builtins.{name}"
    for name in ("list", "tuple", "sorted", "set", "frozenset", "sum", "any", "all", "next")
    + ("max", "min", "dict", "len")
)
#: Builtins that wrap an iterator lazily: look at what consumes the wrapper.
_LAZY_WRAPPERS = frozenset(
    f"builtins.{name}" for name in ("enumerate", "zip", "map", "filter", "reversed", "iter")
)
_FUTURE_READS = frozenset(
    {
        "concurrent.futures.Future.result",
        "concurrent.futures.Future.exception",
    }
)
_MEMO_MISSES = (KeyError, AttributeError, LookupError)
_MISS_ERRORS = frozenset(f"builtins.{e.__name__}" for e in _MEMO_MISSES)


def non_blocking_here(module: ModuleFacts, fn: FunctionFacts, call: CallSite) -> bool:
    """Does this call of a blocking API return at once, given how it is called?"""
    callee = call.callee or ""
    if _non_blocking_argument(call.node, callee):
        return True
    if callee == _SOCKET_CONNECT and _datagram_connect(module, fn, call):
        return True
    if callee.startswith(blocking.SOCKET_IO_PREFIX):
        return _non_blocking_socket(module, fn, call)
    if callee in blocking.LAZY_ITERATORS:
        return not _iterated_here(module, fn, call.node) and not _bound_then_iterated(
            module, fn, call.node
        )
    if callee in _FUTURE_READS:
        return _future_done(module, fn, call)
    if callee in _QUEUE_PUTS:
        return _unbounded_queue(module, fn, call)
    if callee in _QUEUE_GETS:
        return _polled_not_empty(module, fn, call)
    return False


# -- thread queues -------------------------------------------------------------------------

_QUEUE_CLASSES = frozenset(
    f"queue.{name}" for name in ("Queue", "LifoQueue", "PriorityQueue", "SimpleQueue")
)
_QUEUE_PUTS = frozenset(f"{q}.put" for q in _QUEUE_CLASSES)
_QUEUE_GETS = frozenset(f"{q}.get" for q in _QUEUE_CLASSES)


def has_capacity(node: ast.Call) -> bool:
    """``Queue(100)`` / ``Queue(maxsize=n)``: a bounded queue (``maxsize=0`` is unbounded)."""
    size: ast.expr | None = node.args[0] if node.args else None
    for keyword in node.keywords:
        if keyword.arg == "maxsize":
            size = keyword.value
    if size is None:
        return False
    return not (isinstance(size, ast.Constant) and size.value in (0, None))


def _unbounded_queue(module: ModuleFacts, fn: FunctionFacts, call: CallSite) -> bool:
    """``put()`` on a queue every construction of which (``self._jobs = queue.Queue()``, in
    this function or another method of the class) has no ``maxsize``: it never waits."""
    func = call.node.func
    if not isinstance(func, ast.Attribute):
        return False
    receiver = ast.unparse(func.value)
    owner = _method_owning(module, fn, receiver.partition(".")[0])
    nodes = [*_related_nodes(module, owner, receiver), *(fn.own_nodes if owner is not fn else ())]
    built = _bound_values(nodes, receiver)
    return bool(built) and all(
        isinstance(value, ast.Call)
        and fn.scope.qualify(value.func) in _QUEUE_CLASSES
        and not has_capacity(value)
        for value in built
    )


def _method_owning(module: ModuleFacts, fn: FunctionFacts, name: str) -> FunctionFacts:
    """The method whose ``self`` is ``name``: ``fn``, or the method a nested function (an ASGI
    ``send`` callback defined inside it) closes over."""
    owner = fn
    while owner.scope.self_name != name and owner.parent is not None:
        parent = module.functions.get(owner.parent)
        if parent is None:
            return fn
        owner = parent
    return owner if owner.scope.self_name == name else fn


def _bound_values(nodes: Iterable[ast.AST], receiver: str) -> list[ast.expr]:
    """What ``receiver`` is assigned among ``nodes`` (``None`` left out: a reset, not a build)."""
    return [
        value
        for node in nodes
        for value in _values_bound_to(node, receiver)
        if not (isinstance(value, ast.Constant) and value.value is None)
    ]


def _values_bound_to(node: ast.AST, receiver: str) -> Iterator[ast.expr]:
    wanted = _strip_self(receiver)
    if isinstance(node, ast.Assign):
        if any(_strip_self(ast.unparse(t)) == wanted for t in node.targets):
            yield node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        if _strip_self(ast.unparse(node.target)) == wanted:
            yield node.value


def _polled_not_empty(module: ModuleFacts, fn: FunctionFacts, call: CallSite) -> bool:
    """``while q.empty(): await asyncio.sleep(0)`` right before ``q.get()``, or ``q.get()``
    under ``if not q.empty():``: the consumer waited on the loop (or checked) for an item, so
    the get takes it at once (with one consumer, as such polling code has)."""
    func = call.node.func
    if not isinstance(func, ast.Attribute):
        return False
    empty = f"{ast.unparse(func.value)}.empty()"
    for parent in _ancestors(module, fn, call.node):
        if isinstance(parent, ast.If) and ast.unparse(parent.test) == f"not {empty}":
            return True
    stmt = call.stmt
    block = _block_of(module, stmt)
    if block is None:
        return False
    index = next(i for i, s in enumerate(block) if s is stmt)
    previous = block[index - 1] if index else None
    return (
        isinstance(previous, ast.While)
        and ast.unparse(previous.test) == empty
        and any(isinstance(n, ast.Await) for n in ast.walk(previous))
    )


def _block_of(module: ModuleFacts, stmt: ast.stmt) -> list[ast.stmt] | None:
    parent = module.parents.get(id(stmt))
    for name in ("body", "orelse", "finalbody"):
        block = getattr(parent, name, None)
        if isinstance(block, list) and any(s is stmt for s in block):
            return block
    for handler in getattr(parent, "handlers", ()):
        if any(s is stmt for s in handler.body):
            return list(handler.body)
    return None


def _non_blocking_argument(node: ast.Call, callee: str) -> bool:
    for kw in node.keywords:
        # ``fut.result(timeout=0)`` / ``event.wait(0)`` poll instead of blocking.
        if kw.arg == "timeout" and isinstance(kw.value, ast.Constant) and kw.value.value == 0:
            return True
    for rule in blocking.NON_BLOCKING_ARGUMENTS.get(callee, ()):
        value = _argument(node, rule.keyword, rule.position)
        if value is None:
            continue
        if rule.given:
            if not (isinstance(value, ast.Constant) and value.value is None):
                return True
        elif rule.mentions is not None:
            if rule.mentions in ast.unparse(value):
                return True
        elif isinstance(value, ast.Constant) and value.value == rule.equals:
            return True
    return False


def _argument(node: ast.Call, keyword: str | None, position: int | None) -> ast.expr | None:
    for kw in node.keywords:
        if keyword is not None and kw.arg == keyword:
            return kw.value
    if position is not None and position < len(node.args):
        value = node.args[position]
        return None if isinstance(value, ast.Starred) else value
    return None


# -- sockets -----------------------------------------------------------------------------------


_SOCKET_CONNECT = "socket.socket.connect"


def _datagram_connect(module: ModuleFacts, fn: FunctionFacts, call: CallSite) -> bool:
    """``connect()`` of a UDP socket (``SOCK_DGRAM``) to a numeric address only picks the
    route: nothing is sent and nothing waits (a host name would be looked up, so only a literal
    address, or a parameter whose default is one, counts)."""
    func = call.node.func
    if not isinstance(func, ast.Attribute) or not call.node.args:
        return False
    receiver = ast.unparse(func.value)
    created = _bound_values(_related_nodes(module, fn, receiver), receiver)
    if not created or not all(
        isinstance(v, ast.Call) and "SOCK_DGRAM" in ast.unparse(v) for v in created
    ):
        return False
    address = call.node.args[0]
    if not isinstance(address, ast.Tuple) or not address.elts:
        return False
    return _numeric_host(fn, address.elts[0])


def _numeric_host(fn: FunctionFacts, host: ast.expr) -> bool:
    value: ast.expr | None = host
    node = fn.node
    if isinstance(host, ast.Name) and not isinstance(node, ast.Module):
        value = parameter_defaults(node.args).get(host.id)
    if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
        return False
    try:
        ipaddress.ip_address(value.value)
    except ValueError:
        return False
    return True


def _non_blocking_socket(module: ModuleFacts, fn: FunctionFacts, call: CallSite) -> bool:
    func = call.node.func
    if not isinstance(func, ast.Attribute):
        return False
    receiver = ast.unparse(func.value)
    if _inside_would_block_handler(module, fn, call.node):
        return True
    return any(_makes_non_blocking(node, receiver) for node in _related_nodes(module, fn, receiver))


def _related_nodes(module: ModuleFacts, fn: FunctionFacts, receiver: str) -> Iterator[ast.AST]:
    """``fn``'s own nodes, and those of the other methods of its class when the socket lives on
    ``self`` (``self._sock.setblocking(False)`` in ``connect()``)."""
    yield from fn.own_nodes
    self_name = fn.scope.self_name
    if self_name is None or not receiver.startswith(self_name + "."):
        return
    for other in module.iter_functions():
        if other is not fn and other.class_qualname == fn.class_qualname:
            yield from other.own_nodes


def _makes_non_blocking(node: ast.AST, receiver: str) -> bool:
    """``sock.setblocking(False)``, ``sock.settimeout(0)``, or ``loop.sock_recv(sock, ...)``
    (asyncio's socket methods require a non-blocking socket)."""
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return False
    attr = node.func.attr
    target = _strip_self(ast.unparse(node.func.value))
    wanted = _strip_self(receiver)
    if attr in ("setblocking", "settimeout") and target == wanted and node.args:
        first = node.args[0]
        return isinstance(first, ast.Constant) and first.value in (False, 0, 0.0)
    if attr.startswith("sock_") and node.args:
        return _strip_self(ast.unparse(node.args[0])) == wanted
    return False


def _strip_self(text: str) -> str:
    """``self._sock`` and ``conn._sock`` name the same attribute in different methods."""
    head, dot, rest = text.partition(".")
    return rest if dot and head in ("self", "cls") else text


def _inside_would_block_handler(module: ModuleFacts, fn: FunctionFacts, node: ast.AST) -> bool:
    """Inside the body of a ``try`` that handles ``BlockingIOError`` (or SSL's want-read)."""
    child: ast.AST = node
    for parent in _ancestors(module, fn, node):
        if isinstance(parent, TRY_NODES) and any(child is s for s in parent.body):
            for handler in parent.handlers:
                if _handler_catches(fn, handler, blocking.WOULD_BLOCK_ERRORS):
                    return True
        child = parent
    return False


def _handler_catches(fn: FunctionFacts, handler: ast.ExceptHandler, names: frozenset[str]) -> bool:
    if handler.type is None:
        return False
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(fn.scope.qualify(t) in names for t in types)


# -- lazy iterators and futures -------------------------------------------------------------


def _iterated_here(module: ModuleFacts, fn: FunctionFacts, node: ast.Call) -> bool:
    """Is the iterator a call creates consumed by the expression around it (a ``for`` loop, a
    comprehension, ``list()``/``sorted()`` ...)?"""
    current: ast.AST = node
    for parent in _ancestors(module, fn, node):
        if isinstance(parent, (ast.For, ast.AsyncFor, ast.comprehension)):
            return parent.iter is current
        if isinstance(parent, ast.Call) and current is not parent.func:
            callee = fn.scope.qualify(parent.func)
            if callee in _CONSUMERS:
                return True
            if callee in _LAZY_WRAPPERS:
                current = parent
                continue
            return False
        if isinstance(parent, ast.Starred):
            current = parent
            continue
        return False
    return False


def _bound_then_iterated(module: ModuleFacts, fn: FunctionFacts, node: ast.Call) -> bool:
    """``with os.scandir(p) as entries: for entry in entries:`` (or ``entries = ...`` then a
    loop or ``list(entries)``): the iterator is bound to a name that this function itself
    consumes, so the listing runs here. Consumed only inside a nested function or a lambda
    (handed to a thread) does not count."""
    parent = module.parents.get(id(node))
    name: str | None = None
    if isinstance(parent, ast.withitem) and isinstance(parent.optional_vars, ast.Name):
        name = parent.optional_vars.id
    elif isinstance(parent, ast.Assign) and len(parent.targets) == 1:
        target = parent.targets[0]
        name = target.id if isinstance(target, ast.Name) else None
    if name is None:
        return False
    for other in fn.own_nodes:
        if isinstance(other, (ast.For, ast.AsyncFor, ast.comprehension)):
            if isinstance(other.iter, ast.Name) and other.iter.id == name:
                return True
        if isinstance(other, ast.Call) and fn.scope.qualify(other.func) in _CONSUMERS:
            if any(isinstance(a, ast.Name) and a.id == name for a in other.args):
                return True
    return False


def _future_done(module: ModuleFacts, fn: FunctionFacts, call: CallSite) -> bool:
    """``fut.result()`` after ``await asyncio.wait([fut])``/``await asyncio.wrap_future(fut)``,
    or under ``if fut.done():``: the future has finished, reading it does not wait."""
    func = call.node.func
    if not isinstance(func, ast.Attribute):
        return False
    receiver = ast.unparse(func.value)
    start = (call.node.lineno, call.node.col_offset)
    for node in fn.own_nodes:
        if isinstance(node, ast.Await) and (node.lineno, node.col_offset) < start:
            if any(ast.unparse(n) == receiver for n in ast.walk(node.value)):
                return True
    for parent in _ancestors(module, fn, call.node):
        if isinstance(parent, (ast.If, ast.IfExp, ast.While)):
            if f"{receiver}.done()" in ast.unparse(parent.test):
                return True
    return False


# -- first use ---------------------------------------------------------------------------------


#: The function a call node of the function at hand runs, when the program knows it.
Resolver = Callable[[ast.Call], "FunctionFacts | None"]


def first_use(
    module: ModuleFacts, fn: FunctionFacts, call: CallSite, resolve: Resolver | None = None
) -> str | None:
    """Why this call runs only once (or only for a local host), in words, else None.

    With ``resolve``, a memo behind the object's own methods counts too: ``if not
    sheet.has_source(p): sheet.read(p)`` where ``has_source`` tests ``p in self.sources`` and
    ``read`` stores into ``self.sources``."""
    child: ast.AST = call.node
    for parent in _ancestors(module, fn, call.node):
        if isinstance(parent, ast.If) and any(child is s for s in parent.body):
            memo = _memo_checked(fn, parent.test)
            if memo is not None and _assigns(parent.body, memo):
                return f"`{memo}` keeps the result after the first call"
            if resolve is not None:
                memo = _memo_behind_methods(fn, parent.test, parent.body, resolve)
                if memo is not None:
                    return f"`{memo}` keeps the result after the first call"
            if _local_host_test(parent.test):
                return "it runs only for a local host"
        if isinstance(parent, ast.ExceptHandler) and _handler_catches(fn, parent, _MISS_ERRORS):
            stored = _stored_state(fn, parent.body)
            if stored is not None:
                return f"`{stored}` keeps the result after the first call"
        child = parent
    return None


def _memo_checked(fn: FunctionFacts, test: ast.expr) -> str | None:
    """The persistent state a test finds missing: ``X is None``, ``not X``, ``k not in X``,
    ``not hasattr(obj, "x")`` (alone, or as one operand of ``or``)."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or):
        for value in test.values:
            found = _memo_checked(fn, value)
            if found is not None:
                return found
        return None
    target: ast.expr | None = None
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        op, right = test.ops[0], test.comparators[0]
        if isinstance(op, ast.Is) and isinstance(right, ast.Constant) and right.value is None:
            target = test.left
        elif isinstance(op, ast.NotIn):
            target = right
    elif isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        operand = test.operand
        if (
            isinstance(operand, ast.Call)
            and fn.scope.qualify(operand.func) == "builtins.hasattr"
            and len(operand.args) == 2
            and isinstance(operand.args[1], ast.Constant)
            and isinstance(operand.args[1].value, str)
        ):
            return f"{ast.unparse(operand.args[0])}.{operand.args[1].value}"
        target = operand
    if target is None or not _persistent(fn, target):
        return None
    return ast.unparse(target)


def _memo_behind_methods(
    fn: FunctionFacts, test: ast.expr, body: list[ast.stmt], resolve: Resolver
) -> str | None:
    """``if not obj.has(key): obj.load(key)``: ``has`` returns a membership test on one of
    ``obj``'s attributes, and a method of ``obj`` called in the body writes that attribute."""
    if not (isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)):
        return None
    check = test.operand
    if not (isinstance(check, ast.Call) and isinstance(check.func, ast.Attribute)):
        return None
    receiver = ast.unparse(check.func.value)
    if not _persistent(fn, check.func.value) and not _is_self(fn, check.func.value):
        return None
    predicate = resolve(check)
    attribute = _membership_attribute(predicate) if predicate is not None else None
    if attribute is None:
        return None
    for stmt in body:
        for node in ast.walk(stmt):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and ast.unparse(node.func.value) == receiver
            ):
                writer = resolve(node)
                if writer is not None and _writes_own_attribute(writer, attribute):
                    return f"{receiver}.{attribute}"
    return None


def _is_self(fn: FunctionFacts, node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id in ("self", fn.scope.self_name)


def _membership_attribute(predicate: FunctionFacts) -> str | None:
    """``return key in self.sources`` (the whole body, after a docstring): ``sources``."""
    node = predicate.node
    if isinstance(node, ast.Module) or predicate.scope.self_name is None:
        return None
    body = [
        s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
    ]
    if len(body) != 1 or not isinstance(body[0], ast.Return):
        return None
    value = body[0].value
    if not (isinstance(value, ast.Compare) and len(value.ops) == 1):
        return None
    if not isinstance(value.ops[0], ast.In):
        return None
    container = value.comparators[0]
    if (
        isinstance(container, ast.Attribute)
        and isinstance(container.value, ast.Name)
        and container.value.id == predicate.scope.self_name
    ):
        return container.attr
    return None


def _writes_own_attribute(writer: FunctionFacts, attribute: str) -> bool:
    """Does the method store into ``self.<attribute>`` (an item, or the whole attribute)?"""
    self_name = writer.scope.self_name
    if self_name is None:
        return False
    memo = f"{self_name}.{attribute}"
    return _assigns([s for s in getattr(writer.node, "body", [])], memo)


def _persistent(fn: FunctionFacts, node: ast.expr) -> bool:
    """Module or object state, not a local: the memo outlives the call."""
    root: ast.AST = node
    while isinstance(root, (ast.Attribute, ast.Subscript)):
        root = root.value
    if not isinstance(root, ast.Name):
        return False
    if root.id in ("self", "cls") or root.id == fn.scope.self_name:
        return isinstance(node, (ast.Attribute, ast.Subscript))
    module = fn.scope.module_facts
    return root.id in module.global_names or any(
        isinstance(n, ast.Global) and root.id in n.names for n in fn.own_nodes
    )


def _assigns(body: list[ast.stmt], memo: str) -> bool:
    for stmt in body:
        for node in ast.walk(stmt):
            targets: list[ast.AST] = []
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                targets = [node.target]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in ("setdefault", "update", "add", "append"):
                    targets = [node.func.value]
            for target in targets:
                text = ast.unparse(target)
                if text == memo or text.startswith(memo + "[") or text.startswith(memo + "."):
                    return True
    return False


def _stored_state(fn: FunctionFacts, body: list[ast.stmt]) -> str | None:
    """``self._cache[key] = value`` (or ``_cache[key] = ...``) in a handler: the memo."""
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, (ast.Subscript, ast.Attribute)) and _persistent(
                        fn, target
                    ):
                        base = target.value if isinstance(target, ast.Subscript) else target
                        return ast.unparse(base)
    return None


def _local_host_test(test: ast.expr) -> bool:
    """``if host == "localhost":`` / ``if host in ("127.0.0.1", "::1"):``."""
    for node in ast.walk(test):
        if not isinstance(node, ast.Compare):
            continue
        if not all(isinstance(op, (ast.Eq, ast.In)) for op in node.ops):
            continue
        for comparator in node.comparators:
            values = (
                comparator.elts
                if isinstance(comparator, (ast.Tuple, ast.List, ast.Set))
                else [comparator]
            )
            if values and all(
                isinstance(v, ast.Constant) and v.value in blocking.LOCAL_HOSTS for v in values
            ):
                return True
    return False


def _ancestors(module: ModuleFacts, fn: FunctionFacts, node: ast.AST) -> Iterator[ast.AST]:
    """Parents of ``node`` up to (not including) ``fn``'s own node."""
    parents = module.parents
    current = parents.get(id(node))
    while current is not None and current is not fn.node:
        yield current
        current = parents.get(id(current))
