"""Starlette: where it runs our code.

Starlette (and everything built on it) runs ``async def`` endpoints on the event loop and plain
``def`` endpoints in its thread pool. Entry points are the endpoints of ``Route(...)`` and
``WebSocketRoute(...)`` objects, ``app.add_route(...)`` registrations, the decorators of
``Starlette()``/``Router()`` objects, the ``lifespan=`` of the application, and the HTTP-verb
methods of ``HTTPEndpoint`` subclasses — all rows of ``knowledge/web.py``.

The rules that read these entry points: RH101-RH104 (event loop), RH402 (threads).
"""

from __future__ import annotations

from collections.abc import Iterator

from ...facts import ModuleFacts, Scope
from ...summaries import Program
from .entries import AppObjects, EntryPoint, entry_finder, table_entries


@entry_finder("starlette")
def starlette_entries(
    program: Program, module: ModuleFacts, scope: Scope, apps: AppObjects
) -> Iterator[EntryPoint]:
    yield from table_entries(program, module, apps, "starlette")
