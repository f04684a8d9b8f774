"""Flask: where it runs our code.

Flask serves each request on a worker thread (the development server is threaded, and so are
most WSGI servers' worker models), so every view, ``before_request``/``after_request`` hook and
``MethodView`` method runs on several threads at once: shared state they change needs a lock
(RH402). ``flask.g``, ``request`` and ``session`` are per request and never shared
(``knowledge/web.py``: ``PER_REQUEST_NAMES``).

Entry points are the routes and hooks of ``Flask()``/``Blueprint()`` objects,
``add_url_rule(...)`` registrations and ``MethodView`` subclasses.
"""

from __future__ import annotations

from collections.abc import Iterator

from ...facts import ModuleFacts, Scope
from ...summaries import Program
from .entries import AppObjects, EntryPoint, entry_finder, table_entries


@entry_finder("flask")
def flask_entries(
    program: Program, module: ModuleFacts, scope: Scope, apps: AppObjects
) -> Iterator[EntryPoint]:
    yield from table_entries(program, module, apps, "flask")
