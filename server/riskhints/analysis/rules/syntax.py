"""Small syntax helpers the rule modules share: walking a function's own nodes, await points.

Pure functions of ``ast`` nodes; nothing here knows about facts or programs.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

#: Nodes that open a scope of their own: their bodies run later, not where they are written.
SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def own_nodes(root: ast.AST, *, enter: bool = False) -> Iterator[ast.AST]:
    """Nodes of a statement of a function body, not entering nested functions, lambdas or
    classes: a nested ``async def`` statement yields only itself (its awaits run when it is
    called, not here). ``enter=True`` walks the body of ``root`` itself (a function)."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, SCOPES) and not (enter and node is root):
            continue
        stack.extend(c for c in ast.iter_child_nodes(node) if not isinstance(c, SCOPES))


def is_await_point(node: ast.AST) -> bool:
    """Where a coroutine may suspend (and where cancellation is delivered)."""
    return isinstance(node, (ast.Await, ast.AsyncFor, ast.AsyncWith))


def await_points(body: list[ast.stmt]) -> list[ast.AST]:
    """The await points of a block, in source order."""
    found = [n for stmt in body for n in own_nodes(stmt) if is_await_point(n)]
    return sorted(found, key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0)))
