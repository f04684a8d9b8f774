"""Web frameworks' entry points and the concurrency model they run them under — data, not code.

An *entry point* is a function the framework calls for us: a route, a dependency, a middleware,
a lifecycle hook. What matters to the rules is *where* it runs:

- FastAPI / Starlette run ``async def`` entry points on the event loop and plain ``def`` ones
  in a thread pool (many at once);
- Flask runs every view on a worker thread (the dev server is threaded, so are most WSGI
  servers' worker models);
- aiohttp runs its (always ``async``) handlers on the event loop.

Names are qualified as the resolver spells them (``fastapi.FastAPI``). Application objects are
found by their constructor (``app = FastAPI()``, ``bp = Blueprint(...)``); decorators and
registration calls are matched on those objects by attribute name.
"""

from __future__ import annotations

from typing import Literal

Framework = Literal["fastapi", "starlette", "flask", "aiohttp"]
EntryKind = Literal["route", "websocket", "dependency", "middleware", "hook", "lifespan"]

FRAMEWORK_LABELS: dict[Framework, str] = {
    "fastapi": "FastAPI",
    "starlette": "Starlette",
    "flask": "Flask",
    "aiohttp": "aiohttp",
}

#: Modules whose import turns the pack on.
FRAMEWORK_MODULES: tuple[str, ...] = ("fastapi", "starlette", "flask", "aiohttp")

#: Constructors of application / router objects whose methods register entry points.
APP_FACTORIES: dict[str, Framework] = {
    "fastapi.FastAPI": "fastapi",
    "fastapi.applications.FastAPI": "fastapi",
    "fastapi.APIRouter": "fastapi",
    "fastapi.routing.APIRouter": "fastapi",
    "starlette.applications.Starlette": "starlette",
    "starlette.routing.Router": "starlette",
    "flask.Flask": "flask",
    "flask.app.Flask": "flask",
    "flask.Blueprint": "flask",
    "flask.blueprints.Blueprint": "flask",
    "aiohttp.web.Application": "aiohttp",
    "aiohttp.web.RouteTableDef": "aiohttp",
    "aiohttp.web_app.Application": "aiohttp",
    "aiohttp.web_routedef.RouteTableDef": "aiohttp",
}

_VERBS = ("get", "post", "put", "patch", "delete", "head", "options", "trace")

#: ``@app.<attr>(...)`` decorators per framework: attribute -> (kind, HTTP method or "").
#: ``route``/``api_route`` take their methods from ``methods=[...]``.
DECORATORS: dict[Framework, dict[str, tuple[EntryKind, str]]] = {
    "fastapi": {
        **{verb: ("route", verb.upper()) for verb in _VERBS},
        "api_route": ("route", ""),
        "websocket": ("websocket", "WEBSOCKET"),
        "websocket_route": ("websocket", "WEBSOCKET"),
        "route": ("route", ""),
        "middleware": ("middleware", ""),
        "on_event": ("hook", ""),
        "exception_handler": ("hook", ""),
    },
    "starlette": {
        "route": ("route", ""),
        "websocket_route": ("websocket", "WEBSOCKET"),
        "middleware": ("middleware", ""),
        "on_event": ("hook", ""),
        "exception_handler": ("hook", ""),
    },
    "flask": {
        **{verb: ("route", verb.upper()) for verb in ("get", "post", "put", "patch", "delete")},
        "route": ("route", ""),
        "before_request": ("hook", ""),
        "after_request": ("hook", ""),
        "teardown_request": ("hook", ""),
        "before_app_request": ("hook", ""),
        "errorhandler": ("hook", ""),
    },
    "aiohttp": {
        **{verb: ("route", verb.upper()) for verb in _VERBS},
        "route": ("route", ""),
        "view": ("route", ""),
    },
}

#: Registration calls on an application (or ``app.router``): attribute -> (kind, method,
#: index of the handler argument, index of the path argument, keyword of the handler).
REGISTRATION_METHODS: dict[Framework, dict[str, tuple[EntryKind, str, int, int, str]]] = {
    "fastapi": {
        "add_api_route": ("route", "", 1, 0, "endpoint"),
        "add_api_websocket_route": ("websocket", "WEBSOCKET", 1, 0, "endpoint"),
        "add_route": ("route", "", 1, 0, "endpoint"),
    },
    "starlette": {
        "add_route": ("route", "", 1, 0, "endpoint"),
        "add_websocket_route": ("websocket", "WEBSOCKET", 1, 0, "endpoint"),
    },
    "flask": {
        "add_url_rule": ("route", "", 2, 0, "view_func"),
    },
    "aiohttp": {
        **{f"add_{verb}": ("route", verb.upper(), 1, 0, "handler") for verb in _VERBS},
        "add_route": ("route", "", 2, 1, "handler"),
        "add_view": ("route", "", 1, 0, "handler"),
    },
}

#: Calls that build a route object out of a handler (``Route("/", endpoint)``,
#: ``web.get("/", handler)``): callee -> (framework, kind, method, handler index, keyword).
ROUTE_CONSTRUCTORS: dict[str, tuple[Framework, EntryKind, str, int, str]] = {
    "starlette.routing.Route": ("starlette", "route", "", 1, "endpoint"),
    "starlette.routing.WebSocketRoute": ("starlette", "websocket", "WEBSOCKET", 1, "endpoint"),
    "fastapi.routing.APIRoute": ("fastapi", "route", "", 1, "endpoint"),
    **{f"aiohttp.web.{verb}": ("aiohttp", "route", verb.upper(), 1, "handler") for verb in _VERBS},
    "aiohttp.web.route": ("aiohttp", "route", "", 2, "handler"),
    "aiohttp.web.view": ("aiohttp", "route", "", 1, "handler"),
}

#: ``Depends(fn)`` / ``Security(fn)``: FastAPI calls ``fn`` per request, like a route (sync
#: dependencies run in the thread pool too).
DEPENDENCY_MARKERS: frozenset[str] = frozenset(
    {"fastapi.Depends", "fastapi.Security", "fastapi.params.Depends", "fastapi.params.Security"}
)

#: Keywords of the application constructor that name entry points.
LIFESPAN_KEYWORDS: frozenset[str] = frozenset({"lifespan"})

#: Base classes whose methods named after HTTP verbs are handlers.
VIEW_BASES: dict[str, Framework] = {
    "aiohttp.web.View": "aiohttp",
    "starlette.endpoints.HTTPEndpoint": "starlette",
    "flask.views.MethodView": "flask",
}
VIEW_METHODS: frozenset[str] = frozenset(_VERBS)

#: Frameworks that run a plain ``def`` entry point on a worker thread, many at once, and how
#: the message says so.
THREADED_SYNC_ENTRIES: dict[Framework, str] = {
    "fastapi": "FastAPI runs sync `def` {what} in its thread pool",
    "starlette": "Starlette runs sync `def` {what} in its thread pool",
    "flask": "Flask serves each request on its own thread",
}

# ---------------------------------------------------------------------------------------------
# Shared state that is not shared (RH402)
# ---------------------------------------------------------------------------------------------

#: Objects whose attributes are per thread or per request, never shared between threads.
PER_THREAD_TYPES: frozenset[str] = frozenset(
    {"threading.local", "_threading_local.local", "contextvars.ContextVar"}
)
#: Request-scoped proxies: ``flask.g`` is per application context, i.e. per request.
PER_REQUEST_NAMES: frozenset[str] = frozenset({"flask.g", "flask.request", "flask.session"})
#: Application state reached through the request (``request.app.state.hits``): shared.
APP_STATE_PATHS: tuple[str, ...] = (".app.state.", ".app.extensions[", ".app.config[")

# ---------------------------------------------------------------------------------------------
# SQLAlchemy sessions (RH501)
# ---------------------------------------------------------------------------------------------

#: Sync session types and constructors returning one.
SYNC_SESSION_TYPES: frozenset[str] = frozenset(
    {"sqlalchemy.orm.Session", "sqlalchemy.orm.session.Session", "sqlmodel.Session"}
)
SYNC_SESSION_FACTORIES: frozenset[str] = frozenset(
    {"sqlalchemy.orm.sessionmaker", "sqlalchemy.orm.session.sessionmaker"}
)
SCOPED_SESSION_FACTORIES: frozenset[str] = frozenset(
    {"sqlalchemy.orm.scoped_session", "sqlalchemy.orm.scoping.scoped_session"}
)
#: ``sessionmaker(class_=AsyncSession)``: the factory makes async sessions after all.
ASYNC_SESSION_TYPES: frozenset[str] = frozenset(
    {
        "sqlalchemy.ext.asyncio.AsyncSession",
        "sqlalchemy.ext.asyncio.session.AsyncSession",
        "sqlmodel.ext.asyncio.session.AsyncSession",
    }
)
#: Session methods that wait for the database (``query()`` builds the query that the chained
#: ``.first()``/``.all()`` runs at once). ``add``/``delete`` only queue work for the next flush.
SESSION_IO_METHODS: frozenset[str] = frozenset(
    {
        "execute",
        "query",
        "commit",
        "flush",
        "merge",
        "refresh",
        "scalar",
        "scalars",
        "get",
        "get_one",
        "exec",
        "rollback",
    }
)

# ---------------------------------------------------------------------------------------------
# aiohttp client sessions (RH508)
# ---------------------------------------------------------------------------------------------

CLIENT_SESSION_TYPES: frozenset[str] = frozenset(
    {"aiohttp.ClientSession", "aiohttp.client.ClientSession"}
)
#: Application lists of lifecycle hooks (``app.on_startup.append(open_session)``): a hook
#: that stores a session on the app needs a cleanup hook that closes it.
LIFECYCLE_HOOK_LISTS: frozenset[str] = frozenset(
    {"on_startup", "on_shutdown", "on_cleanup", "cleanup_ctx"}
)
#: Method names that release a stored session when called on it.
CLOSE_METHODS: frozenset[str] = frozenset({"close", "aclose"})
