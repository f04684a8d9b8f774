"""Blocking APIs and their async alternatives — data, not code.

Each key is a qualified name as the resolver spells it: a module function (``time.sleep``), a
method on a known type (``requests.Session.get``) or a wildcard over a module (``requests.*``,
which matches ``requests.get`` but not ``requests.Session`` constructors: constructors are not
calls that block, see :data:`NOT_BLOCKING`). Users add rows from config
(``extra-blocking-calls``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .primitives import FILE_OPENING_CALLS, FILE_OVER_OBJECT, FILE_TYPE


@dataclass(frozen=True)
class BlockingApi:
    what: str  # "sleeps", "does network I/O", ...
    alternative: str  # the async spelling a fix or hover proposes


_SLEEP = BlockingApi("sleeps", "await asyncio.sleep(...)")
_HTTP = BlockingApi("does network I/O", "an async HTTP client (httpx.AsyncClient, aiohttp)")
_NET = BlockingApi("does network I/O", "asyncio streams, or await asyncio.to_thread(...)")
_PROC = BlockingApi("waits for a process", "asyncio.create_subprocess_exec(...)")
_FILE = BlockingApi("does file I/O", "await asyncio.to_thread(...) or aiofiles")
_FS = BlockingApi("touches the file system", "await asyncio.to_thread(...)")
_INPUT = BlockingApi("waits for terminal input", "await asyncio.to_thread(input, ...)")
_DB = BlockingApi("does database I/O", "an async driver, or await asyncio.to_thread(...)")
_WAIT = BlockingApi("waits on a thread primitive", "an asyncio primitive, or asyncio.to_thread")
_FUTURE = BlockingApi("waits for a concurrent future", "await asyncio.wrap_future(fut)")
_JOIN = BlockingApi("waits for a thread", "await asyncio.to_thread(thread.join)")
_IMPORT = BlockingApi("imports a module (disk I/O)", "import it at module load time")
_MAIL = BlockingApi("does network I/O (SMTP)", "aiosmtplib, or await asyncio.to_thread(...)")
_CERTS = BlockingApi(
    "reads certificates from disk", "create the SSL context once at start-up, or in a thread"
)
_SPAWN = BlockingApi("starts a process (fork and exec)", "asyncio.create_subprocess_exec(...)")
_PROCFS = BlockingApi(
    "reads process tables from /proc (a system call per process)", "await asyncio.to_thread(...)"
)
_SOURCE = BlockingApi("reads source files from disk (linecache)", "await asyncio.to_thread(...)")

#: The type the resolver gives to objects returned by ``open()`` and its relatives (see
#: ``primitives.RETURN_TYPES``): their methods read and write the disk.
FILE_METHODS = (
    "read",
    "read1",
    "readline",
    "readlines",
    "readinto",
    "write",
    "writelines",
    "flush",
    "seek",
    "truncate",
    "fileno",
)
#: Calls that return a file object (their own call blocks too: they open it).
FILE_OPENERS = FILE_OPENING_CALLS
#: Calls that return a file object over a descriptor the caller already has: nothing is opened
#: (``os.fdopen(fd)``), so the call itself does not block; the object's methods still do.
FILE_WRAPPERS: frozenset[str] = frozenset({"os.fdopen"})


def _words(*lines: str) -> list[str]:
    """Method names written as space-separated words (keeps long tables readable)."""
    return " ".join(lines).split()


_HTTP_VERBS = ("get", "post", "put", "patch", "delete", "head", "options", "request", "send")

BLOCKING_CALLS: dict[str, BlockingApi] = {
    "time.sleep": _SLEEP,
    # HTTP clients
    "requests.*": _HTTP,
    **{f"requests.Session.{verb}": _HTTP for verb in _HTTP_VERBS},
    **{f"requests.sessions.Session.{verb}": _HTTP for verb in _HTTP_VERBS},
    **{f"httpx.{verb}": _HTTP for verb in (*_HTTP_VERBS, "stream")},
    # every method of a sync HTTP client or connection pool waits for the network (``close``
    # too: it waits for the pool's connections); pure helpers are listed in NOT_BLOCKING
    "httpx.Client.*": _HTTP,
    "urllib3.PoolManager.*": _HTTP,
    "urllib3.HTTPConnectionPool.*": _HTTP,
    "urllib3.HTTPSConnectionPool.*": _HTTP,
    "urllib.request.urlopen": _HTTP,
    "urllib.request.urlretrieve": _HTTP,
    "urllib.request.OpenerDirector.open": _HTTP,
    "urllib3.request": _HTTP,
    "http.client.HTTPConnection.request": _HTTP,
    "http.client.HTTPConnection.getresponse": _HTTP,
    "http.client.HTTPSConnection.request": _HTTP,
    "http.client.HTTPSConnection.getresponse": _HTTP,
    # sockets
    "socket.create_connection": _NET,
    "socket.getaddrinfo": _NET,
    "socket.gethostbyname": _NET,
    "socket.gethostbyname_ex": _NET,
    "socket.gethostbyaddr": _NET,
    "socket.getfqdn": _NET,
    "socket.getnameinfo": _NET,
    # TLS contexts load the CA bundle (and certificates) from disk
    "ssl.create_default_context": _CERTS,
    **{
        f"ssl.SSLContext.{m}": _CERTS
        for m in ("load_verify_locations", "load_cert_chain", "load_default_certs")
        + ("set_default_verify_paths",)
    },
    "netrc.netrc": BlockingApi("reads ~/.netrc from disk", "read it once at start-up"),
    "dns.resolver.resolve": _NET,
    "dns.resolver.query": _NET,
    "dns.resolver.Resolver.resolve": _NET,
    "select.select": _NET,
    **{
        f"socket.socket.{m}": _NET
        for m in ("connect", "accept", "recv", "recv_into", "recvfrom", "send", "sendall", "sendto")
    },
    # processes
    "subprocess.run": _PROC,
    "subprocess.call": _PROC,
    "subprocess.check_call": _PROC,
    "subprocess.check_output": _PROC,
    "subprocess.getoutput": _PROC,
    "subprocess.getstatusoutput": _PROC,
    "subprocess.Popen.wait": _PROC,
    "subprocess.Popen.communicate": _PROC,
    "os.system": _PROC,
    "subprocess.Popen": _SPAWN,
    **{f"os.{m}": _SPAWN for m in _words("spawnl spawnle spawnlp spawnlpe spawnv spawnve")},
    **{f"os.{m}": _SPAWN for m in _words("spawnvp spawnvpe posix_spawn posix_spawnp fork")},
    "os.popen": _PROC,
    "os.wait": _PROC,
    "os.waitpid": _PROC,
    "os.wait3": _PROC,
    "os.wait4": _PROC,
    "os.waitid": _PROC,
    # files
    **dict.fromkeys((c for c in FILE_OPENERS if c not in FILE_WRAPPERS), _FILE),
    **{f"{FILE_TYPE}.{m}": _FILE for m in FILE_METHODS},
    "os.open": _FILE,
    "os.read": _FILE,
    "os.write": _FILE,
    "os.fsync": _FILE,
    "os.listdir": _FS,
    "os.scandir": _FS,
    "os.walk": _FS,
    "os.stat": _FS,
    "os.remove": _FS,
    "os.unlink": _FS,
    "os.rename": _FS,
    "os.makedirs": _FS,
    "os.mkdir": _FS,
    "os.rmdir": _FS,
    "shutil.copy": _FS,
    "shutil.copy2": _FS,
    "shutil.copyfile": _FS,
    "shutil.copytree": _FS,
    "shutil.rmtree": _FS,
    "shutil.move": _FS,
    "shutil.make_archive": _FS,
    "shutil.unpack_archive": _FS,
    "shutil.disk_usage": _FS,
    **{
        f"os.{m}": _FS
        for m in _words("replace chmod chown truncate utime symlink link readlink lstat access")
    },
    "glob.glob": _FS,
    "tempfile.mkstemp": _FS,
    "tempfile.mkdtemp": _FS,
    "tempfile.TemporaryDirectory": _FS,
    "tarfile.open": _FILE,
    "zipfile.ZipFile": _FILE,
    **{
        f"os.path.{m}": _FS
        for m in _words(
            "exists isfile isdir islink getsize getmtime getatime getctime samefile realpath",
            "lexists ismount sameopenfile",
        )
    },
    **{
        f"pathlib.Path.{m}": _FS
        for m in _words(
            "read_text read_bytes write_text write_bytes open exists is_file is_dir stat iterdir",
            "glob rglob mkdir unlink rmdir touch rename replace resolve lstat is_symlink",
            "chmod symlink_to hardlink_to readlink samefile owner group walk is_mount",
        )
    },
    # shelve and dbm files: every read and write goes to the database file
    "shelve.open": _FILE,
    **{f"shelve.Shelf.{m}": _FILE for m in _words("get keys items values update pop sync close")},
    "dbm.open": _FILE,
    # source files read for frames and tracebacks shown with their code (not ``traceback.*``,
    # whose first use fills linecache once per file and is everywhere in exception handlers)
    **{
        f"inspect.{m}": _SOURCE
        for m in _words(
            "getinnerframes getouterframes stack trace getsource getsourcelines findsource",
            "getframeinfo getcomments",
        )
    },
    **{f"linecache.{m}": _SOURCE for m in _words("getline getlines updatecache checkcache")},
    # process and system statistics: psutil walks /proc (every process, every mount, every
    # socket); single-value reads (virtual_memory, cpu_percent without an interval) are left out
    **{
        f"psutil.{m}": _PROCFS
        for m in _words(
            "process_iter pids net_connections disk_usage disk_partitions disk_io_counters",
            "wait_procs sensors_temperatures",
        )
    },
    **{
        f"psutil.Process.{m}": _PROCFS
        for m in _words(
            "children parents memory_full_info memory_maps open_files connections",
            "net_connections as_dict",
        )
    },
    "psutil.Process.wait": _PROC,
    # terminal
    "builtins.input": _INPUT,
    "getpass.getpass": _INPUT,
    # databases and other sync network clients
    "sqlite3.connect": _DB,
    **{
        f"sqlite3.Connection.{m}": _DB
        for m in ("execute", "executemany", "executescript", "commit", "rollback")
    },
    **{f"sqlite3.Cursor.{m}": _DB for m in ("execute", "executemany", "fetchone", "fetchall")},
    "psycopg2.connect": _DB,
    **{f"psycopg2.extensions.cursor.{m}": _DB for m in ("execute", "executemany", "fetchall")},
    "psycopg.connect": _DB,
    **{f"psycopg.Connection.{m}": _DB for m in ("execute", "commit", "rollback")},
    **{
        f"psycopg.Cursor.{m}": _DB
        for m in _words("execute executemany fetchone fetchmany fetchall")
    },
    "pymysql.connect": _DB,
    "mysql.connector.connect": _DB,
    "redis.Redis.*": _DB,
    "redis.client.Pipeline.execute": _DB,
    "pymongo.collection.Collection.*": _DB,
    "pymongo.MongoClient.*": _DB,
    "boto3.client": _NET,
    "boto3.resource": _NET,
    # boto3 clients' operations are generated at run time: every method is an API call
    "botocore.client.BaseClient.*": _NET,
    "smtplib.SMTP": _MAIL,
    "smtplib.SMTP_SSL": _MAIL,
    "smtplib.SMTP.sendmail": _MAIL,
    "smtplib.SMTP.send_message": _MAIL,
    # thread primitives and futures
    "threading.Event.wait": _WAIT,
    "threading.Condition.wait": _WAIT,
    "threading.Condition.wait_for": _WAIT,
    "threading.Barrier.wait": _WAIT,
    "threading.Semaphore.acquire": _WAIT,
    "threading.BoundedSemaphore.acquire": _WAIT,
    "queue.Queue.get": _WAIT,
    "queue.Queue.put": _WAIT,
    "queue.Queue.join": _WAIT,
    "queue.LifoQueue.get": _WAIT,
    "queue.PriorityQueue.get": _WAIT,
    "multiprocessing.Queue.get": _WAIT,
    "concurrent.futures.Future.result": _FUTURE,
    "concurrent.futures.Future.exception": _FUTURE,
    "concurrent.futures.wait": _FUTURE,
    "concurrent.futures.as_completed": _FUTURE,
    "concurrent.futures.ThreadPoolExecutor.shutdown": _FUTURE,
    "threading.Thread.join": _JOIN,
    "multiprocessing.Process.join": _JOIN,
    # module loading
    "importlib.import_module": _IMPORT,
    "importlib.reload": _IMPORT,
}

#: Names a wildcard row would catch that do not block (constructors, pure helpers).
NOT_BLOCKING: frozenset[str] = frozenset(
    {
        "requests.Session",
        "requests.session",
        "requests.Request",
        "requests.PreparedRequest",
        "requests.auth.HTTPBasicAuth",
        "requests.adapters.HTTPAdapter",
        "requests.exceptions.HTTPError",
        "requests.exceptions.RequestException",
        "requests.HTTPError",
        "requests.RequestException",
        "requests.codes",
        # pure helpers on clients whose other methods do I/O
        "httpx.Client.build_request",
        "botocore.client.BaseClient.generate_presigned_url",
        "botocore.client.BaseClient.generate_presigned_post",
        "botocore.client.BaseClient.get_paginator",
        "botocore.client.BaseClient.can_paginate",
        "botocore.client.BaseClient.get_waiter",
        "redis.Redis.from_url",
        "redis.Redis.pipeline",
        "redis.Redis.pubsub",
        "redis.Redis.lock",
        "redis.Redis.register_script",
        "pymongo.collection.Collection.with_options",
        "pymongo.MongoClient.get_database",
        "pymongo.MongoClient.get_default_database",
        "urllib3.PoolManager.connection_from_url",
        "urllib3.PoolManager.connection_from_host",
    }
)


@dataclass(frozen=True)
class NonBlockingArgument:
    """An argument that makes a blocking API return at once: by keyword or position, equal to
    a constant (``block=False``, ``wait=False``, ``sleep(0)``) or naming a flag
    (``os.waitpid(pid, os.WNOHANG)``, ``getaddrinfo(..., flags=socket.AI_NUMERICHOST)``)."""

    keyword: str | None
    position: int | None
    equals: object = None
    mentions: str | None = None
    given: bool = False  # any value but ``None`` will do (``GzipFile(fileobj=buffer)``)


def _no_wait(keyword: str, position: int | None, value: object) -> NonBlockingArgument:
    return NonBlockingArgument(keyword, position, equals=value)


#: Call arguments that make an otherwise blocking call non-blocking, per API.
NON_BLOCKING_ARGUMENTS: dict[str, tuple[NonBlockingArgument, ...]] = {
    "queue.Queue.get": (_no_wait("block", 0, False),),
    "queue.Queue.put": (_no_wait("block", 1, False),),
    "threading.Semaphore.acquire": (_no_wait("blocking", 0, False),),
    "threading.BoundedSemaphore.acquire": (_no_wait("blocking", 0, False),),
    "threading.Lock.acquire": (_no_wait("blocking", 0, False),),
    "concurrent.futures.ThreadPoolExecutor.shutdown": (_no_wait("wait", 0, False),),
    "concurrent.futures.ProcessPoolExecutor.shutdown": (_no_wait("wait", 0, False),),
    "time.sleep": (_no_wait("secs", 0, 0),),
    "select.select": (_no_wait("timeout", 3, 0),),
    "os.waitpid": (NonBlockingArgument("options", 1, mentions="WNOHANG"),),
    "os.wait3": (NonBlockingArgument("options", 0, mentions="WNOHANG"),),
    "os.wait4": (NonBlockingArgument("options", 1, mentions="WNOHANG"),),
    "os.waitid": (NonBlockingArgument("options", 2, mentions="WNOHANG"),),
    "socket.getaddrinfo": (NonBlockingArgument("flags", 5, mentions="AI_NUMERICHOST"),),
    # a compressor over a file object the caller already has (an in-memory buffer, a socket
    # stream) opens nothing; what it blocks on is the writes and reads of that object
    **{
        cls: (NonBlockingArgument(keyword, position, given=True),)
        for cls, (keyword, position) in FILE_OVER_OBJECT.items()
    },
}

#: Calls that return a lazy iterator: the I/O happens while it is iterated, not where it is
#: created (``entries = path.iterdir()`` handed to ``to_thread`` blocks nothing here).
LAZY_ITERATORS: frozenset[str] = frozenset(
    {
        "pathlib.Path.iterdir",
        "pathlib.Path.glob",
        "pathlib.Path.rglob",
        "pathlib.Path.walk",
        "os.walk",
        "os.scandir",
        "glob.iglob",
    }
)

#: Socket methods that return at once on a non-blocking socket (``setblocking(False)``).
SOCKET_IO_PREFIX = "socket.socket."
#: Exceptions a non-blocking socket raises instead of waiting: handling them says the socket
#: does not block.
WOULD_BLOCK_ERRORS: frozenset[str] = frozenset(
    {
        "builtins.BlockingIOError",
        "builtins.InterruptedError",
        "ssl.SSLWantReadError",
        "ssl.SSLWantWriteError",
    }
)
#: Host names whose look-up never leaves the machine.
LOCAL_HOSTS: frozenset[str] = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", ""})


def lookup(qualname: str, extra: frozenset[str] = frozenset()) -> BlockingApi | None:
    """The blocking API ``qualname`` names, if any.

    Exact rows win; a ``module.*`` row matches lower-case names directly in that module only.
    """
    if qualname in NOT_BLOCKING:
        return None
    api = BLOCKING_CALLS.get(qualname)
    if api is not None:
        return api
    if qualname in extra:
        return BlockingApi("is configured as blocking", "await asyncio.to_thread(...)")
    module, _, name = qualname.rpartition(".")
    wildcard = f"{module}.*"
    if name[:1].islower() and (wildcard in BLOCKING_CALLS or wildcard in extra):
        return BLOCKING_CALLS.get(wildcard) or BlockingApi(
            "is configured as blocking", "await asyncio.to_thread(...)"
        )
    return None
