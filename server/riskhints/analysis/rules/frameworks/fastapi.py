"""FastAPI: where it runs our code.

FastAPI runs ``async def`` routes, websockets and dependencies on the event loop, and plain
``def`` ones in its thread pool, many at once (``knowledge/web.py`` holds the decorators,
registration calls and the thread-pool wording). Besides the routes and hooks registered on
``FastAPI()``/``APIRouter()`` objects, a function named in ``Depends(...)``/``Security(...)`` is
an entry point too: FastAPI calls it once per request, wherever the marker appears (a parameter
default, ``Annotated[...]``, ``dependencies=[...]``).

The rules that read these entry points: RH101-RH104 (event loop), RH402 (threads), RH501 and
RH505 (SQLAlchemy sessions).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ...facts import ModuleFacts, Scope
from ...knowledge import web
from ...summaries import Program
from .common import call_argument
from .entries import AppObjects, EntryPoint, entry_finder, table_entries


@entry_finder("fastapi")
def fastapi_entries(
    program: Program, module: ModuleFacts, scope: Scope, apps: AppObjects
) -> Iterator[EntryPoint]:
    yield from table_entries(program, module, apps, "fastapi")
    yield from dependency_entries(program, module, scope)


def dependency_entries(program: Program, module: ModuleFacts, scope: Scope) -> Iterator[EntryPoint]:
    """``Depends(get_db)`` anywhere (parameter defaults, ``Annotated[...]``, ``dependencies=``):
    the framework calls ``get_db`` once per request."""
    for node in ast.walk(module.tree):
        if not isinstance(node, ast.Call) or scope.qualify(node.func) not in web.DEPENDENCY_MARKERS:
            continue
        argument = call_argument(node, 0, "dependency")
        if argument is None:
            continue
        target = program.function(scope.qualify(argument))
        if target is None:
            continue
        span = module.positions.head_span(node)
        yield EntryPoint(target.qualname, "fastapi", "dependency", "", None, span, module.path)
