"""Framework packs, one module per framework: where a framework runs our code decides which
hazards are real.

- ``fastapi``, ``starlette``, ``flask``, ``aiohttp``: the web frameworks' entry points (routes,
  dependencies, hooks, handlers, class views), found by ``entries.py`` from the data tables in
  ``knowledge/web.py``; each module registers its framework's finder. ``aiohttp`` also holds
  RH508 (client sessions).
- ``sqlalchemy``: RH501 (a sync ``Session`` in an async route), RH505 (one ``AsyncSession``
  shared by concurrent tasks), RH506 (lazy loads on async results).
- ``django``: RH502 (the ORM in async code), RH503 (``sync_to_async(thread_sensitive=False)``
  around the ORM), RH504 (a Celery task enqueued inside ``transaction.atomic()``).
- ``celery``: the Celery apps and tasks of the program, RH507 (a task waiting on a task).
- ``common``: the helpers the packs share (reaching an operation through sync helpers,
  definitions read from every module of the program, local bindings).

Invariants:
- A pack is active only in modules that use its framework (imported there, or by a workspace
  module they import): nothing here fires on code that merely has the same names.
- Precision first: when the object, the entry point or the session cannot be resolved, say
  nothing.
- Definitions a hazard depends on usually live in other files (models in ``models.py``, the
  session factory in ``db.py``, the router in ``api/__init__.py``); the packs read them from
  every module of the :class:`~riskhints.analysis.summaries.Program`, once per program
  (``Program.memo``), so the same code follows them across files.
"""

from . import aiohttp, celery, django, fastapi, flask, sqlalchemy, starlette  # noqa: F401
