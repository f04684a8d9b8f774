"""Data-layer frameworks — Django (ORM, views, Channels), SQLAlchemy asyncio and Celery — as
data, not code.

The RH502-RH507 rules read these tables to know what a framework's entry points are (async
views, middleware, consumers, Celery tasks), which ORM calls hit the database synchronously and
which are their ``a``-prefixed async twins, which operations evaluate a lazy ``QuerySet``, and
which SQLAlchemy loader options load a relationship eagerly. Names are fully qualified where the
resolver gives qualified names (imports), and bare method names where only the receiver's shape
is known (``Order.objects.filter(...).count()``).
"""

from __future__ import annotations

# -- which framework a module uses (``ModuleFacts.imports_module`` prefixes) ----------------------
DJANGO_MODULES: tuple[str, ...] = ("django", "channels", "adrf", "ninja", "rest_framework")
SQLALCHEMY_MODULES: tuple[str, ...] = ("sqlalchemy", "sqlmodel")
CELERY_MODULES: tuple[str, ...] = ("celery",)

#: Setting this environment variable turns Django's async-safety check off on purpose.
DJANGO_ASYNC_UNSAFE_FLAG = "DJANGO_ALLOW_ASYNC_UNSAFE"

# -- Django ORM ----------------------------------------------------------------------------------
#: Manager attributes that start a query chain on a model class (``Order.objects``).
MANAGER_ATTRIBUTES: frozenset[str] = frozenset({"objects", "_default_manager", "_base_manager"})

#: QuerySet/Manager methods that return another lazy QuerySet: building one runs no query.
LAZY_QUERYSET_METHODS: frozenset[str] = frozenset(
    {
        "all",
        "filter",
        "exclude",
        "order_by",
        "reverse",
        "distinct",
        "select_related",
        "prefetch_related",
        "annotate",
        "alias",
        "values",
        "values_list",
        "only",
        "defer",
        "using",
        "none",
        "extra",
        "select_for_update",
        "union",
        "intersection",
        "difference",
        "dates",
        "datetimes",
    }
)

#: QuerySet/Manager methods that run a query now, each with its async twin (Django 4.1+).
SYNC_QUERYSET_METHODS: dict[str, str] = {
    "get": "aget",
    "create": "acreate",
    "get_or_create": "aget_or_create",
    "update_or_create": "aupdate_or_create",
    "bulk_create": "abulk_create",
    "bulk_update": "abulk_update",
    "count": "acount",
    "first": "afirst",
    "last": "alast",
    "earliest": "aearliest",
    "latest": "alatest",
    "exists": "aexists",
    "contains": "acontains",
    "in_bulk": "ain_bulk",
    "aggregate": "aaggregate",
    "update": "aupdate",
    "delete": "adelete",
    "iterator": "aiterator",
    "explain": "aexplain",
    # UserManager helpers: they save the new user.
    "create_user": "acreate_user",
    "create_superuser": "acreate_superuser",
    "get_by_natural_key": "aget_by_natural_key",
}

#: Methods (sync or async) whose result is one model instance.
INSTANCE_RETURNING_METHODS: frozenset[str] = frozenset(
    {"get", "aget", "create", "acreate", "first", "afirst", "last", "alast", "earliest"}
    | {"aearliest", "latest", "alatest", "create_user", "acreate_user"}
)
#: Methods whose result is ``(instance, created)``.
INSTANCE_PAIR_METHODS: frozenset[str] = frozenset(
    {"get_or_create", "aget_or_create", "update_or_create", "aupdate_or_create"}
)

#: Model instance methods that query or write, with their async twins.
SYNC_INSTANCE_METHODS: dict[str, str] = {
    "save": "asave",
    "delete": "adelete",
    "refresh_from_db": "arefresh_from_db",
}

#: Builtins that evaluate (iterate, count or test) a QuerySet handed to them.
QUERYSET_EVALUATING_BUILTINS: frozenset[str] = frozenset(
    {
        "builtins.list",
        "builtins.tuple",
        "builtins.set",
        "builtins.frozenset",
        "builtins.sorted",
        "builtins.len",
        "builtins.bool",
        "builtins.sum",
        "builtins.any",
        "builtins.all",
        "builtins.max",
        "builtins.min",
        "builtins.dict",
    }
)

#: What to use instead of an evaluating builtin (default: an ``async for`` comprehension).
EVALUATING_BUILTIN_TWINS: dict[str, str] = {
    "builtins.len": "`await qs.acount()`",
    "builtins.bool": "`await qs.aexists()`",
}

#: Sync-only Django helpers that query the database (callee -> async twin, or "").
SYNC_DJANGO_CALLS: dict[str, str] = {
    "django.shortcuts.get_object_or_404": "`await Model.objects.aget(...)` (or sync_to_async)",
    "django.shortcuts.get_list_or_404": "`await sync_to_async(get_list_or_404)(...)`",
    "django.contrib.auth.authenticate": "`await aauthenticate(...)` (Django 5.0+)",
    "django.contrib.auth.login": "`await alogin(...)` (Django 5.0+)",
    "django.contrib.auth.logout": "`await alogout(...)` (Django 5.0+)",
    "django.contrib.auth.get_user": "`await aget_user(...)` (Django 5.0+)",
}
#: Helpers whose result is one model instance.
INSTANCE_RETURNING_CALLS: frozenset[str] = frozenset({"django.shortcuts.get_object_or_404"})
#: Calls whose result is a model class (``get_user_model().objects``).
MODEL_CLASS_CALLS: frozenset[str] = frozenset({"django.contrib.auth.get_user_model"})

#: Base classes of Django models (a subclass defined in the module is a model).
MODEL_BASES: frozenset[str] = frozenset(
    {
        "django.db.models.Model",
        "django.db.models.base.Model",
        "django.contrib.auth.models.AbstractUser",
        "django.contrib.auth.models.AbstractBaseUser",
    }
)
#: Field types whose attribute on an instance is a related manager (querying when evaluated).
MANY_RELATION_FIELDS: frozenset[str] = frozenset(
    {"ManyToManyField", "django.db.models.ManyToManyField", "GenericRelation"}
)
#: Default reverse accessors end with this (``author.book_set``).
REVERSE_MANAGER_SUFFIX = "_set"
#: A module of this name holds models: capitalised names imported from it are model classes.
MODELS_MODULE_NAME = "models"

#: Wrappers that run a sync callable in a worker thread for async code.
SYNC_TO_ASYNC: frozenset[str] = frozenset(
    {
        "asgiref.sync.sync_to_async",
        "asgiref.sync.SyncToAsync",
        "channels.db.database_sync_to_async",
        "channels.db.DatabaseSyncToAsync",
    }
)

# -- Django entry points (async views, middleware, consumers) -----------------------------------
#: The conventional name of a view's request parameter.
REQUEST_PARAMETERS: frozenset[str] = frozenset({"request"})
#: Methods of ``request.session`` that load it from the session store on first use (their
#: async twins are ``aget``, ``aset``, ... on Django 5.0+).
SYNC_SESSION_METHODS: frozenset[str] = frozenset(
    {"get", "pop", "setdefault", "items", "keys", "values", "update", "clear", "flush"}
    | {"cycle_key", "set_expiry", "get_expiry_age", "get_expiry_date", "has_key", "save"}
)
#: Class-based view bases: their async handler methods are views.
VIEW_BASES: frozenset[str] = frozenset(
    {
        "django.views.View",
        "django.views.generic.View",
        "django.views.generic.base.View",
        "rest_framework.views.APIView",
        "adrf.views.APIView",
    }
)
#: Methods of a class that make it (async) middleware.
MIDDLEWARE_METHODS: frozenset[str] = frozenset({"__call__", "__acall__"})
#: Channels consumer bases: every async method runs on the event loop.
ASYNC_CONSUMER_BASES: frozenset[str] = frozenset(
    {
        "channels.consumer.AsyncConsumer",
        "channels.generic.websocket.AsyncWebsocketConsumer",
        "channels.generic.websocket.AsyncJsonWebsocketConsumer",
        "channels.generic.http.AsyncHttpConsumer",
    }
)

# -- Django transactions and Celery enqueueing ---------------------------------------------------
#: ``with transaction.atomic():`` / ``@transaction.atomic`` open a transaction.
ATOMIC: frozenset[str] = frozenset({"django.db.transaction.atomic"})
#: Methods that enqueue a Celery task (on a task, a signature or the app).
ENQUEUE_METHODS: frozenset[str] = frozenset({"delay", "apply_async", "send_task"})
#: A module of this name holds tasks: names imported from it are Celery tasks.
TASKS_MODULE_NAME = "tasks"

# -- Celery --------------------------------------------------------------------------------------
#: Decorators (qualified) that make a function a Celery task.
TASK_DECORATORS: frozenset[str] = frozenset({"celery.shared_task", "celery.task", "celery.Task"})
#: The attribute of a Celery app used as a task decorator (``@app.task``).
APP_TASK_DECORATOR_ATTRIBUTE = "task"
#: The Celery application class (``app = Celery("proj")``).
CELERY_APP_CLASSES: frozenset[str] = frozenset({"celery.Celery", "celery.app.base.Celery"})
#: Methods of AsyncResult / GroupResult that block until the result is ready.
RESULT_WAIT_METHODS: frozenset[str] = frozenset({"get", "wait", "join", "join_native", "collect"})
#: Calls that build a result handle from an id.
RESULT_CLASSES: frozenset[str] = frozenset(
    {"celery.result.AsyncResult", "celery.result.GroupResult", "celery.result.ResultSet"}
)
#: Canvas primitives: ``group(...)()`` / ``group(...).apply_async()`` return a result.
CANVAS_CALLS: frozenset[str] = frozenset({"celery.group", "celery.chord", "celery.chain"})
#: ``with allow_join_result():`` silences Celery's guard but not the starvation it guards.
ALLOW_JOIN_RESULT: frozenset[str] = frozenset({"celery.result.allow_join_result"})

# -- SQLAlchemy asyncio --------------------------------------------------------------------------
#: Session classes that must not be shared by concurrent tasks.
ASYNC_SESSION_TYPES: frozenset[str] = frozenset(
    {
        "sqlalchemy.ext.asyncio.AsyncSession",
        "sqlalchemy.ext.asyncio.session.AsyncSession",
        "sqlmodel.ext.asyncio.session.AsyncSession",
    }
)
#: Factories whose result, when called, is a new AsyncSession.
ASYNC_SESSION_FACTORIES: frozenset[str] = frozenset(
    {
        "sqlalchemy.ext.asyncio.async_sessionmaker",
        "sqlalchemy.ext.asyncio.session.async_sessionmaker",
    }
)
#: ``sessionmaker(engine, class_=AsyncSession)`` is an async factory too.
SYNC_SESSION_FACTORY = "sqlalchemy.orm.sessionmaker"
#: Session methods whose coroutines use the session's connection.
ASYNC_SESSION_METHODS: frozenset[str] = frozenset(
    {
        "execute",
        "scalar",
        "scalars",
        "stream",
        "stream_scalars",
        "get",
        "get_one",
        "merge",
        "refresh",
        "flush",
        "commit",
        "rollback",
        "delete",
        "close",
        "run_sync",
    }
)
#: Calls that run coroutines concurrently (arguments) or schedule one as a task.
CONCURRENT_GATHERERS: frozenset[str] = frozenset({"asyncio.gather"})
TASK_SPAWNERS: frozenset[str] = frozenset(
    {
        "asyncio.create_task",
        "asyncio.ensure_future",
        "asyncio.TaskGroup.create_task",
        "asyncio.AbstractEventLoop.create_task",
    }
)
#: Task-group methods called on an untyped ``tg`` (``async with TaskGroup() as tg``).
TASK_GROUP_METHODS: frozenset[str] = frozenset({"create_task", "start_soon"})
TASK_GROUP_CLASSES: frozenset[str] = frozenset(
    {"asyncio.TaskGroup", "anyio.create_task_group", "trio.open_nursery"}
)

#: ``select(Order)``: the statement constructor whose first argument is the loaded entity.
SELECT_CALLS: frozenset[str] = frozenset(
    {"sqlalchemy.select", "sqlalchemy.future.select", "sqlalchemy.sql.select", "sqlmodel.select"}
)
#: Methods of an awaited result that return one ORM object, or a sequence of them.
ONE_OBJECT_RESULT_METHODS: frozenset[str] = frozenset(
    {"scalar_one", "scalar_one_or_none", "scalar", "first", "one", "one_or_none"}
)
MANY_OBJECT_RESULT_METHODS: frozenset[str] = frozenset({"all", "fetchall", "unique"})
#: Session methods that return a Result (``execute``) or objects directly (``scalar``/``get``).
RESULT_SESSION_METHODS: frozenset[str] = frozenset({"execute", "scalars", "stream_scalars"})
OBJECT_SESSION_METHODS: frozenset[str] = frozenset({"scalar", "get", "get_one"})
#: ``session.get(Order, id, options=[...])``: the entity is the first argument.
GET_BY_KEY_METHODS: frozenset[str] = frozenset({"get", "get_one"})
#: Declaring a relationship.
RELATIONSHIP_CALLS: frozenset[str] = frozenset(
    {"sqlalchemy.orm.relationship", "sqlalchemy.orm.relation", "sqlmodel.Relationship"}
)
#: Loader options that load the relationship they name with the statement.
EAGER_LOADER_OPTIONS: frozenset[str] = frozenset(
    {"selectinload", "joinedload", "subqueryload", "immediateload", "contains_eager", "raiseload"}
)
