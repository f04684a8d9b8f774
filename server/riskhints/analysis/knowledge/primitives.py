"""Synchronisation primitives, known return types and callback-taking APIs — data, not code.

The resolver uses :data:`RETURN_TYPES` to give a type to ``x = threading.Lock()`` or
``loop = asyncio.get_running_loop()``; rules use :data:`PRIMITIVES` to know what a type is
(lock or semaphore, thread or asyncio flavour, re-entrant or not).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Flavor = Literal["thread", "async", "process"]
Family = Literal["lock", "semaphore", "condition", "event", "queue"]


@dataclass(frozen=True)
class Primitive:
    family: Family
    flavor: Flavor
    reentrant: bool = False

    @property
    def is_lock_like(self) -> bool:
        """Acquired and released around a critical section (``with`` / ``acquire()``)."""
        return self.family in ("lock", "semaphore", "condition")


_T_LOCK = Primitive("lock", "thread")
_T_RLOCK = Primitive("lock", "thread", reentrant=True)
_T_SEM = Primitive("semaphore", "thread")
# threading.Condition() wraps an RLock unless given a lock.
_T_COND = Primitive("condition", "thread", reentrant=True)
_A_LOCK = Primitive("lock", "async")
_A_SEM = Primitive("semaphore", "async")
_A_COND = Primitive("condition", "async")
_P_LOCK = Primitive("lock", "process")

PRIMITIVES: dict[str, Primitive] = {
    "threading.Lock": _T_LOCK,
    "threading.RLock": _T_RLOCK,
    "threading.Semaphore": _T_SEM,
    "threading.BoundedSemaphore": _T_SEM,
    "threading.Condition": _T_COND,
    "threading.Event": Primitive("event", "thread"),
    "_thread.allocate_lock": _T_LOCK,
    "_thread.LockType": _T_LOCK,
    "multiprocessing.Lock": _P_LOCK,
    "multiprocessing.RLock": Primitive("lock", "process", reentrant=True),
    "multiprocessing.Semaphore": Primitive("semaphore", "process"),
    "multiprocessing.BoundedSemaphore": Primitive("semaphore", "process"),
    "multiprocessing.synchronize.Lock": _P_LOCK,
    "asyncio.Lock": _A_LOCK,
    "asyncio.Semaphore": _A_SEM,
    "asyncio.BoundedSemaphore": _A_SEM,
    "asyncio.Condition": _A_COND,
    "asyncio.Event": Primitive("event", "async"),
    "asyncio.Queue": Primitive("queue", "async"),
    "asyncio.LifoQueue": Primitive("queue", "async"),
    "asyncio.PriorityQueue": Primitive("queue", "async"),
    "anyio.Lock": _A_LOCK,
    "anyio.Semaphore": _A_SEM,
    "anyio.Condition": _A_COND,
    "trio.Lock": _A_LOCK,
    "trio.StrictFIFOLock": _A_LOCK,
    "trio.Semaphore": _A_SEM,
    "trio.Condition": _A_COND,
    "queue.Queue": Primitive("queue", "thread"),
    "queue.LifoQueue": Primitive("queue", "thread"),
    "queue.PriorityQueue": Primitive("queue", "thread"),
    "queue.SimpleQueue": Primitive("queue", "thread"),
    "multiprocessing.JoinableQueue": Primitive("queue", "process"),
}

#: Types whose constructor call is the type itself, beyond the primitives.
KNOWN_CLASSES: frozenset[str] = frozenset(
    {
        "threading.Thread",
        "threading.Timer",
        "concurrent.futures.ThreadPoolExecutor",
        "concurrent.futures.ProcessPoolExecutor",
        "concurrent.futures.Future",
        "asyncio.Future",
        "asyncio.TaskGroup",
        "requests.Session",
        "httpx.Client",
        "httpx.AsyncClient",
        "urllib3.PoolManager",
        "http.client.HTTPConnection",
        "http.client.HTTPSConnection",
        "socket.socket",
        "subprocess.Popen",
        "pathlib.Path",
        "pathlib.PurePath",
        "redis.Redis",
        "redis.StrictRedis",
        "urllib3.HTTPConnectionPool",
        "urllib3.HTTPSConnectionPool",
        "pymongo.MongoClient",
        "smtplib.SMTP",
        "multiprocessing.Process",
        "aiohttp.ClientSession",
        "contextlib.ExitStack",
        "contextlib.AsyncExitStack",
        "psutil.Process",
        "shelve.Shelf",
        # SDK objects whose callbacks run on threads of their own (LIBRARY_THREAD_CALLBACKS)
        "azure.cognitiveservices.speech.SpeechSynthesizer",
        "azure.cognitiveservices.speech.SpeechRecognizer",
        "azure.cognitiveservices.speech.translation.TranslationRecognizer",
        "azure.cognitiveservices.speech.transcription.ConversationTranscriber",
        "paho.mqtt.client.Client",
        "pyaudio.PyAudio",
    }
)

#: What ``open()`` and its relatives return, for the resolver: a file object.
FILE_TYPE = "io.IOBase"
FILE_OPENING_CALLS: tuple[str, ...] = (
    "builtins.open",
    "io.open",
    "io.open_code",
    "os.fdopen",
    "codecs.open",
    "gzip.open",
    "bz2.open",
    "lzma.open",
    "pathlib.Path.open",
    "tempfile.NamedTemporaryFile",
    "tempfile.TemporaryFile",
    "gzip.GzipFile",
    "bz2.BZ2File",
    "lzma.LZMAFile",
)

#: File classes that can wrap a file object the caller passes in instead of opening a path:
#: class -> (keyword, position) of that argument. Given one (``GzipFile(fileobj=buffer)``),
#: neither the constructor nor the object's reads and writes touch a file of their own.
FILE_OVER_OBJECT: dict[str, tuple[str, int]] = {"gzip.GzipFile": ("fileobj", 3)}

#: Known return types of functions and methods (callee qualified name -> type).
RETURN_TYPES: dict[str, str] = {
    "asyncio.get_event_loop": "asyncio.AbstractEventLoop",
    "asyncio.get_running_loop": "asyncio.AbstractEventLoop",
    "asyncio.new_event_loop": "asyncio.AbstractEventLoop",
    "asyncio.create_task": "asyncio.Task",
    "asyncio.ensure_future": "asyncio.Task",
    "asyncio.AbstractEventLoop.create_task": "asyncio.Task",
    "asyncio.TaskGroup.create_task": "asyncio.Task",
    "asyncio.AbstractEventLoop.run_in_executor": "asyncio.Future",
    "asyncio.AbstractEventLoop.create_future": "asyncio.Future",
    "asyncio.run_coroutine_threadsafe": "concurrent.futures.Future",
    "concurrent.futures.ThreadPoolExecutor.submit": "concurrent.futures.Future",
    "concurrent.futures.ProcessPoolExecutor.submit": "concurrent.futures.Future",
    "requests.session": "requests.Session",
    "sqlite3.connect": "sqlite3.Connection",
    "sqlite3.Connection.cursor": "sqlite3.Cursor",
    "socket.create_connection": "socket.socket",
    "redis.from_url": "redis.Redis",
    # file objects: their methods read and write the disk (knowledge/blocking.FILE_METHODS)
    **dict.fromkeys(FILE_OPENING_CALLS, FILE_TYPE),
    "boto3.client": "botocore.client.BaseClient",
    "boto3.session.Session.client": "botocore.client.BaseClient",
    "urllib3.connection_from_url": "urllib3.HTTPConnectionPool",
    "redis.Redis.from_url": "redis.Redis",
    "urllib.request.build_opener": "urllib.request.OpenerDirector",
    "psycopg2.connect": "psycopg2.extensions.connection",
    "psycopg2.extensions.connection.cursor": "psycopg2.extensions.cursor",
    "threading.current_thread": "threading.Thread",
    "pathlib.Path.cwd": "pathlib.Path",
    "pathlib.Path.home": "pathlib.Path",
    **{
        f"pathlib.Path.{method}": "pathlib.Path"
        for method in (
            "with_suffix",
            "with_name",
            "with_stem",
            "joinpath",
            "resolve",
            "absolute",
            "expanduser",
            "relative_to",
        )
    },
    "psycopg.connect": "psycopg.Connection",
    "psycopg.Connection.cursor": "psycopg.Cursor",
    "multiprocessing.Manager.Lock": "threading.Lock",
    "shelve.open": "shelve.Shelf",
    "psutil.Process.parent": "psutil.Process",
}

#: Aliases: the same type under another spelling.
TYPE_ALIASES: dict[str, str] = {
    "asyncio.BaseEventLoop": "asyncio.AbstractEventLoop",
    "asyncio.events.AbstractEventLoop": "asyncio.AbstractEventLoop",
    "asyncio.locks.Lock": "asyncio.Lock",
    "asyncio.locks.Semaphore": "asyncio.Semaphore",
    "asyncio.locks.Event": "asyncio.Event",
    "asyncio.queues.Queue": "asyncio.Queue",
    "concurrent.futures.Executor": "concurrent.futures.ThreadPoolExecutor",
    "concurrent.futures._base.Future": "concurrent.futures.Future",
    "requests.sessions.Session": "requests.Session",
    "threading._RLock": "threading.RLock",
    "redis.StrictRedis": "redis.Redis",
    "multiprocessing.Queue": "multiprocessing.Queue",
    "typing.Awaitable": "typing.Awaitable",
    "io.TextIOWrapper": "io.IOBase",
    "io.BufferedReader": "io.IOBase",
    "io.BufferedWriter": "io.IOBase",
    "io.FileIO": "io.IOBase",
    "botocore.client.S3": "botocore.client.BaseClient",
    "shelve.DbfilenameShelf": "shelve.Shelf",
    "psutil.Popen": "psutil.Process",
}


@dataclass(frozen=True)
class CallbackParam:
    """An API parameter that must be a *sync* callable: passing an ``async def`` there creates a
    coroutine that nobody awaits."""

    position: int | None
    keyword: str | None
    runs: str  # how the callable is run, for the message


CALLBACK_PARAMS: dict[str, CallbackParam] = {
    "threading.Thread": CallbackParam(None, "target", "runs it in a new thread"),
    "threading.Timer": CallbackParam(1, "function", "runs it in a timer thread"),
    "multiprocessing.Process": CallbackParam(None, "target", "runs it in a child process"),
    "concurrent.futures.ThreadPoolExecutor.submit": CallbackParam(0, "fn", "runs it in a worker"),
    "concurrent.futures.ProcessPoolExecutor.submit": CallbackParam(0, "fn", "runs it in a worker"),
    "concurrent.futures.ThreadPoolExecutor.map": CallbackParam(0, "fn", "runs it in a worker"),
    "asyncio.AbstractEventLoop.call_soon": CallbackParam(0, "callback", "calls it on the loop"),
    "asyncio.AbstractEventLoop.call_soon_threadsafe": CallbackParam(
        0, "callback", "calls it on the loop"
    ),
    "asyncio.AbstractEventLoop.call_later": CallbackParam(1, "callback", "calls it on the loop"),
    "asyncio.AbstractEventLoop.call_at": CallbackParam(1, "callback", "calls it on the loop"),
    "asyncio.AbstractEventLoop.run_in_executor": CallbackParam(1, "func", "runs it in a thread"),
    "asyncio.to_thread": CallbackParam(0, "func", "runs it in a thread"),
    "asyncio.Future.add_done_callback": CallbackParam(0, "fn", "calls it when the future is done"),
    "asyncio.Task.add_done_callback": CallbackParam(0, "fn", "calls it when the task is done"),
    "concurrent.futures.Future.add_done_callback": CallbackParam(
        0, "fn", "calls it when the future is done"
    ),
    "atexit.register": CallbackParam(0, "func", "calls it at exit"),
    "signal.signal": CallbackParam(1, "handler", "calls it on the signal"),
    "asyncio.AbstractEventLoop.add_signal_handler": CallbackParam(
        1, None, "calls it on the loop when the signal arrives"
    ),
    "asyncio.AbstractEventLoop.add_reader": CallbackParam(1, None, "calls it on the loop"),
    "asyncio.AbstractEventLoop.add_writer": CallbackParam(1, None, "calls it on the loop"),
    "contextlib.ExitStack.callback": CallbackParam(0, "callback", "calls it on exit"),
    # AsyncExitStack.callback calls it too; coroutine functions go to push_async_callback.
    "contextlib.AsyncExitStack.callback": CallbackParam(0, "callback", "calls it on exit"),
    "anyio.to_thread.run_sync": CallbackParam(0, None, "runs it in a worker thread"),
    "starlette.concurrency.run_in_threadpool": CallbackParam(0, None, "runs it in a thread"),
    "concurrent.futures.ProcessPoolExecutor.map": CallbackParam(0, "fn", "runs it in a worker"),
}

#: Calls that run their callable argument in a worker thread (the callable "runs in a thread").
THREAD_RUNNERS: frozenset[str] = frozenset(
    {
        "threading.Thread",
        "threading.Timer",
        "concurrent.futures.ThreadPoolExecutor.submit",
        "concurrent.futures.ThreadPoolExecutor.map",
        "asyncio.AbstractEventLoop.run_in_executor",
        "asyncio.to_thread",
        "anyio.to_thread.run_sync",
        "starlette.concurrency.run_in_threadpool",
        "asgiref.sync.sync_to_async",
    }
)

#: Library APIs that call their callable argument on a thread of the library's own (an SDK's
#: event thread, an audio thread, the worker completing a future), not on the event loop:
#: patterns (fnmatch) over the callee's qualified name.
LIBRARY_THREAD_CALLBACKS: dict[str, CallbackParam] = {
    "azure.cognitiveservices.speech.*.connect": CallbackParam(
        0, None, "the Speech SDK calls it on its own threads"
    ),
    "paho.mqtt.client.Client.message_callback_add": CallbackParam(
        1, "callback", "paho calls it on its network thread"
    ),
    "pyaudio.PyAudio.open": CallbackParam(None, "stream_callback", "calls it on the audio thread"),
    **{
        f"sounddevice.{stream}": CallbackParam(None, "callback", "calls it on the audio thread")
        for stream in ("InputStream", "OutputStream", "Stream", "RawInputStream")
    },
    "concurrent.futures.Future.add_done_callback": CallbackParam(
        0, "fn", "calls it on the worker thread that completes the future"
    ),
}

#: asyncio calls that belong on the event loop's own thread (not thread-safe; from another
#: thread they do not wake the loop, or find no running loop and raise): what goes wrong.
LOOP_THREAD_ONLY: dict[str, str] = {
    **{
        f"asyncio.{queue}.{method}": "asyncio queues are not thread-safe, and waiters are not woken"
        for queue in ("Queue", "PriorityQueue", "LifoQueue")
        for method in ("put_nowait", "get_nowait")
    },
    "asyncio.Event.set": "waiters of an asyncio.Event are woken only from the loop's thread",
    "asyncio.Event.clear": "asyncio.Event is not thread-safe",
    **{
        f"asyncio.Future.{method}": "a future's callbacks are scheduled on a loop that is not woken"
        for method in ("set_result", "set_exception", "cancel")
    },
    "asyncio.Task.cancel": "cancelling from another thread races with the loop running the task",
    **{
        f"asyncio.AbstractEventLoop.{method}": "the loop is not thread-safe and is not woken"
        for method in ("call_soon", "call_later", "call_at", "create_task")
    },
    "asyncio.create_task": "there is no running event loop in this thread: it raises",
    "asyncio.ensure_future": "there is no running event loop in this thread",
    "asyncio.get_running_loop": "there is no running event loop in this thread: it raises",
}

#: Calls that schedule a coroutine as a task; their result must be kept.
TASK_FACTORIES: frozenset[str] = frozenset(
    {
        "asyncio.create_task",
        "asyncio.ensure_future",
        "asyncio.AbstractEventLoop.create_task",
    }
)


def primitive(type_name: str | None) -> Primitive | None:
    if type_name is None:
        return None
    return PRIMITIVES.get(TYPE_ALIASES.get(type_name, type_name))


def canonical_type(type_name: str) -> str:
    return TYPE_ALIASES.get(type_name, type_name)
