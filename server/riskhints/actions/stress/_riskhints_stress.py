"""Stress harness shared by the tests riskhints generates (riskhints-stress-harness: 4).

riskhints wrote this file once into the stress folder; the `test_stress_*.py` files beside it
import it. It needs only pytest and the standard library. A test builds a `Stress` run, which
imports the module under test, fakes what cannot be built, drives the code (coroutines on a
fresh event loop, threads, an ASGI app, a context manager, a decorator's wrapper) and asks one
oracle whether the hazard happened:

- `expect_loop_not_blocked`: a blocking API called on the event loop's thread (recorded, with
  the stack), or the loop not running for a long time;
- `expect_no_deadlock`: locks re-entered by their holder, taken in opposite orders, a thread
  lock blocking the loop, or calls still unfinished at the deadline (with every stack);
- `expect_one_at_a_time`: calls overlapping between a check and the update it guards;
- `expect_cancellation_propagates`: a task cancelled at an await must end cancelled;
- `expect_no_dropped_task`, `expect_no_unawaited_coroutine`, `expect_one_client_session`;
- `expect_lock_released`: a call interrupted inside its locked section (cancelled, or a fake
  failing there) must not keep the lock or semaphore permit once it has ended;
- `expect_wait_rechecked`: a condition's wait() returning without the condition holding must
  send the code back to its check;
- `expect_no_wait_under_lock`: no sleep or wait while holding a lock another thread wants;
- `expect_no_lost_update`: threads switching at every bytecode lose no read-modify-write;
- `expect_no_wait_on_task`: a Celery task does not wait for another task's result.

Drivers beyond plain calls: `request` (ASGI), `flask_request`, `aiohttp_request`,
`django_request` (a minimal `settings.configure` when the project gives none) and `celery_task`
(applied eagerly); they import those frameworks only when the project uses them.

To reach the code that handles a failure, `fakes_raise(...)` makes fakes raise the exceptions
the code catches, on the seeded schedule; arguments the code compares with constants get them.

No real I/O, ever: while a run is active the blocking APIs riskhints knows (the table below)
are patched. On the event loop's thread a call is recorded; everywhere it returns a fake (or
really runs, for reads inside the project, writes inside `tmp_path`, thread waits) after a short
simulated latency. Network connections, DNS look-ups and processes are never made.

Deterministic: fakes' awaits yield to the loop a number of times drawn from a seeded generator,
so the same seed gives the same interleaving. The seed is printed with every failure; set
RISKHINTS_STRESS_SEED to replay another one.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import functools
import gc
import importlib
import importlib.util
import inspect
import io
import json
import os
import random
import re
import subprocess
import sys
import sysconfig
import threading
import time
import traceback
import types
import urllib.parse
import warnings
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HARNESS_VERSION = 4
SEED_ENV = "RISKHINTS_STRESS_SEED"
DEFAULT_SEED = 1
CALLS = 8  # concurrent calls of one test
TIMEOUT_S = 2.0  # calls still unfinished after this long: a deadlock
LATENCY_S = 0.002  # what a faked blocking call takes
MAX_SLEEP_S = 0.05  # a time.sleep off the loop thread is cut to this
LOOP_LAG_S = 1.5  # the loop not running for this long fails a blocked-loop test on its own
SHOWN_STACKS = 10
CANCEL_TURNS = 500  # loop turns a cancelled task gets to end
WATCHDOG_S = 0.2  # how long the lock-leak oracle's next acquire() waits for a leaked lock
SETTLE_TURNS = 10  # loop turns after the last call, for the callbacks it scheduled
DROP_TURNS = 50  # loop turns the dropped-task oracle keeps collecting after the last call
SWITCH_S = 0.0001  # the lost-update oracle's pause at every bytecode: another thread runs

# Blocking APIs from riskhints' knowledge tables: qualified name -> what the call does. Written
# here by riskhints; a row you add is patched like the others.
BLOCKING_APIS: dict[str, str] = {
    # __BLOCKING_APIS__
}

_real_sleep = time.sleep
_real_monotonic = time.monotonic
_real_open = builtins.open
_HARNESS_FILE = os.path.normcase(os.path.abspath(__file__))
_STDLIB = os.path.normcase(sysconfig.get_paths()["stdlib"]) + os.sep
_LOCK_TYPE = type(threading.Lock())
_RLOCK_TYPE = type(threading.RLock())
_state = threading.local()  # .inside: a guarded call is running on this thread (no recursion)


class StressHazard(BaseException):
    """Raised into the code under test when the hazard happens (a BaseException, so that an
    `except Exception` in that code does not hide it); the run also records it."""


# -- fakes ---------------------------------------------------------------------------------------


class Fake:
    """Stands in for anything the test cannot build: every attribute is a fake, every call
    returns one (and is recorded), awaiting one yields to the event loop, `with`/`async with`
    work, iteration is empty. Replace it in the test's FAKES section with the real thing."""

    def __init__(self, name: str, run: Stress | None = None) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_run", run)
        object.__setattr__(self, "_children", {})
        object.__setattr__(self, "calls", [])

    def __repr__(self) -> str:
        return f"<fake {self._name}>"

    __str__ = __repr__

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        children = object.__getattribute__(self, "_children")
        if name not in children:
            children[name] = Fake(f"{self._name}.{name}", self._run)
        return children[name]

    def __setattr__(self, name: str, value: Any) -> None:
        self._children[name] = value

    def __call__(self, *args: Any, **kwargs: Any) -> Fake:
        self.calls.append((args, kwargs))
        error = self._run.fake_error(self._name) if self._run is not None else None
        if error is not None:
            raise error
        return Fake(f"{self._name}()", self._run)

    def __await__(self) -> Any:
        run = self._run
        if run is not None and run.weak_waiting is not None:
            # the dropped-task oracle: wait on a future only the run's weak set knows of
            future = asyncio.get_running_loop().create_future()
            run.weak_waiting.add(future)
            yield from future
        else:
            for _ in range(run.yields() if run is not None else 1):
                yield None  # a bare yield inside a task: the loop runs the other tasks once
        return Fake(f"await {self._name}", run)

    def __enter__(self) -> Fake:
        return self

    def __exit__(self, *exc: object) -> bool:
        return False

    async def __aenter__(self) -> Fake:
        await self
        return self

    async def __aexit__(self, *exc: object) -> bool:
        return False

    def __iter__(self) -> Iterator[Any]:
        # One element: a loop over a fake runs its body once.
        return iter((Fake(f"{self._name}[0]", self._run),))

    def __aiter__(self) -> Any:
        return _FakeAsyncIterator(Fake(f"{self._name}[0]", self._run))

    def __len__(self) -> int:
        return 1

    def __bool__(self) -> bool:
        return True

    def __contains__(self, item: object) -> bool:
        return False

    def __getitem__(self, key: object) -> Any:
        # Stable, as attributes are: `event["id"]` is the same value in every call that shares
        # the fake (identical requests look identical).
        items = self._children.setdefault(("[]",), {})
        try:
            if key not in items:
                items[key] = Fake(f"{self._name}[{key!r}]", self._run)
            return items[key]
        except TypeError:  # an unhashable key
            return Fake(f"{self._name}[{key!r}]", self._run)

    def __setitem__(self, key: object, value: object) -> None:
        with contextlib.suppress(TypeError):
            self._children.setdefault(("[]",), {})[key] = value

    def __int__(self) -> int:
        return 0

    def __float__(self) -> float:
        return 0.0

    def __index__(self) -> int:
        return 0

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other

    def _math(self, *other: object) -> Fake:
        return Fake(f"{self._name}*", self._run)

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _math
    __truediv__ = __rtruediv__ = __floordiv__ = __mod__ = __or__ = __and__ = _math
    __lt__ = __le__ = __gt__ = __ge__ = lambda self, other: False  # noqa: E731


class _FakeAsyncIterator:
    def __init__(self, item: Fake) -> None:
        self.item: Fake | None = item

    def __aiter__(self) -> _FakeAsyncIterator:
        return self

    async def __anext__(self) -> Any:
        item, self.item = self.item, None
        if item is None:
            raise StopAsyncIteration
        await item
        return item


def _fake_result(name: str, run: Stress) -> Any:
    return Fake(f"{name}()", run)


# -- the run -------------------------------------------------------------------------------------


class Stress:
    """One stress run: the module under test, its fakes, the patches against real I/O, and what
    the oracles saw. Use it as a context manager; `target` is the imported module."""

    def __init__(
        self,
        test_file: str,
        module: str,
        tmp_path: Path,
        *,
        root_up: int,
        subdir: str = "",
        seed: int | None = None,
    ) -> None:
        here = Path(test_file).resolve()
        self.root = here.parents[root_up]
        self.stress_dir = here.parent
        self.import_root = self.root / subdir if subdir else self.root
        self.module_name = module
        self._package = module.split(".")[0]
        self.tmp_path = Path(tmp_path).resolve()
        env_seed = os.environ.get(SEED_ENV, "")
        self.seed = int(env_seed) if env_seed.strip().lstrip("-").isdigit() else (seed or 1)
        self.rng = random.Random(self.seed)
        self.blocking: list[tuple[str, str, str]] = []  # (api, what it does, stack)
        self.hazards: list[str] = []
        self.thread_errors: list[str] = []
        self.loop_errors: list[str] = []
        self.loop_thread_id: int | None = None
        self.longest_lag_s = 0.0
        self.lag_stack = ""
        self._patches: list[tuple[Any, str, Any]] = []
        self._holders: dict[Any, list[Any]] = {}  # task or thread -> watched locks it holds
        self._order: dict[tuple[int, int], str] = {}  # (first, then) -> where, by lock id
        self.weak_waiting: weakref.WeakSet[asyncio.Future[Any]] | None = None
        self._probes: list[Probe] = []
        self._fake_errors: tuple[type[BaseException], ...] = ()
        self._watched: list[Any] = []  # every watched lock, semaphore and condition
        self._permits: dict[Any, list[Any]] = {}  # task or thread -> semaphore permits it holds
        self._fail_in_section = False  # the lock-leak oracle: a fake fails inside a section
        self._failed_for: set[int] = set()  # holders a fake failed for already
        self._spurious = False  # the condition oracle: a first wait() returns without notify
        self._watch_waits = False  # the wait-under-lock oracle
        self.waits_under_lock: list[str] = []
        self._fake_calls = 0
        self._fake_streak = 0
        self._allowed_reads = [
            self.root,
            self.tmp_path,
            Path(sys.prefix).resolve(),
            Path(sys.base_prefix).resolve(),
        ]
        self.target: Any = None

    # context management ------------------------------------------------------------------------

    def __enter__(self) -> Stress:
        global _ACTIVE
        if str(self.import_root) not in sys.path:
            sys.path.insert(0, str(self.import_root))
        _ACTIVE = self
        self._install_guards()
        self._old_excepthook = threading.excepthook
        threading.excepthook = self._thread_excepthook
        # A fresh copy of the module for every test: module state (a cache, a pool set by an
        # earlier test) must not decide the outcome.
        sys.modules.pop(self.module_name, None)
        try:
            _configure_django(self)
            try:
                self.target = importlib.import_module(self.module_name)
            except Exception as error:
                # Django reached through another module of the package (models imported by
                # a service): configure it, then import once more.
                if type(error).__name__ not in _DJANGO_NOT_READY or not _configure_django(
                    self, always=True
                ):
                    raise
                for name in [n for n in sys.modules if n.split(".")[0] == self._package]:
                    sys.modules.pop(name, None)
                self.target = importlib.import_module(self.module_name)
        except BaseException as error:  # noqa: B036 - any failure to import is the skip reason
            self.__exit__(None, None, None)
            reason = "".join(traceback.format_exception_only(type(error), error)).strip()
            pytest.skip(f"cannot import {self.module_name}: {reason}")
        self._install_guards()  # the libraries the module imported are guarded too
        self._patch_module_names()
        return self

    def __exit__(self, *exc: object) -> None:
        global _ACTIVE
        for owner, name, old in reversed(self._patches):
            if old is _MISSING:
                with contextlib.suppress(AttributeError):
                    delattr(owner, name)
            else:
                setattr(owner, name, old)
        self._patches.clear()
        threading.excepthook = self._old_excepthook
        _ACTIVE = None
        sys.modules.pop(self.module_name, None)

    def patch(self, owner: Any, name: str, value: Any) -> None:
        """Set ``owner.name`` for this run (undone at its end)."""
        self._patches.append(
            (
                owner,
                name,
                owner.__dict__.get(name, _MISSING)
                if isinstance(owner, type)
                else getattr(owner, name, _MISSING),
            )
        )
        setattr(owner, name, value)

    # building ----------------------------------------------------------------------------------

    def fake(self, name: str) -> Fake:
        return Fake(name, self)

    def fakes_raise(self, *errors: type[BaseException]) -> None:
        """From now on, calls of fakes raise one of ``errors`` now and then, so that the code's
        ``except`` clauses for them run: the first call always, later ones on the seeded
        schedule, never more than twice in a row (a retry loop gets through)."""
        self._fake_errors = tuple(errors)

    def fake_error(self, name: str) -> BaseException | None:
        """The error a call of fake ``name`` raises now, if any (see ``fakes_raise``; the
        lock-leak oracle makes the first fake called inside a locked section fail)."""
        if self._fail_in_section:
            holder = _holder()
            if self.holds(holder) and id(holder) not in self._failed_for:
                self._failed_for.add(id(holder))
                return RuntimeError(
                    f"riskhints stress: fake `{name}` failed while its caller held a lock"
                )
        if not self._fake_errors:
            return None
        first = self._fake_calls == 0
        self._fake_calls += 1
        if not first and (self._fake_streak >= 2 or self.rng.random() >= 0.5):
            self._fake_streak = 0
            return None
        self._fake_streak += 1
        kind = self._fake_errors[(self._fake_calls - 1) % len(self._fake_errors)]
        return _error_of(kind, f"riskhints stress: fake `{name}` raised {kind.__name__}")

    def module(self, name: str) -> Any:
        """A module of the project (the module under test imported it already, or now)."""
        return sys.modules.get(name) or importlib.import_module(name)

    def fake_function(self, name: str, *, is_async: bool) -> Callable[..., Any]:
        """A function for a decorator to wrap: records its calls, yields once if async."""
        fake = self.fake(name)
        if is_async:

            async def wrapped_async(*args: Any, **kwargs: Any) -> Any:
                return await fake(*args, **kwargs)

            wrapped_async.__name__ = wrapped_async.__qualname__ = name
            return wrapped_async

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            return fake(*args, **kwargs)

        wrapped.__name__ = wrapped.__qualname__ = name
        return wrapped

    def build(
        self, cls: type, *args: Any, touched: dict[str, str] | None = None, **kwargs: Any
    ) -> Any:
        """``cls(*args, **kwargs)``; when that raises, an instance built without ``__init__``
        whose ``touched`` attributes (those the analysed code uses) get values of the kind
        named: "asyncio.Lock", "threading.Lock", "threading.RLock", "dict", "list", "set", "int",
        "none", "fake" (constructor arguments of the same name are used as they are)."""
        try:
            instance = cls(*args, **kwargs)
        except Exception:  # the constructor needs more than fakes: build without it
            instance = cls.__new__(cls)
            for name, kind in (touched or {}).items():
                value = (
                    kwargs[name.lstrip("_")]
                    if name.lstrip("_") in kwargs
                    else _of_kind(kind, f"{cls.__name__}.{name}", self)
                )
                with contextlib.suppress(AttributeError, TypeError):
                    object.__setattr__(instance, name, value)
        self.watch_locks(instance)
        return instance

    # the no-real-I/O guard ---------------------------------------------------------------------

    def _install_guards(self) -> None:
        for qualname, what in BLOCKING_APIS.items():
            if qualname.endswith(".*"):
                continue
            found = _resolve(qualname)
            if found is None:
                continue
            owner, name, original = found
            if getattr(original, "__riskhints_guard__", False):
                continue
            self.patch(owner, name, _guard(qualname, what, original))
        base = asyncio.base_events.BaseEventLoop
        for name in (
            "create_connection",
            "create_datagram_endpoint",
            "sock_connect",
            "create_unix_connection",
            "subprocess_exec",
            "subprocess_shell",
        ):
            if hasattr(base, name):
                self.patch(base, name, _refuse_async(name))
        if hasattr(asyncio.unix_events, "_UnixSelectorEventLoop"):
            for name in ("create_unix_connection", "subprocess_exec", "subprocess_shell"):
                loop_cls = asyncio.unix_events._UnixSelectorEventLoop
                if name in loop_cls.__dict__:
                    self.patch(loop_cls, name, _refuse_async(name))
        self.patch(subprocess.Popen, "__init__", _fake_popen_init)
        if not getattr(json.JSONEncoder.default, "__riskhints_guard__", False):
            self.patch(json.JSONEncoder, "default", _json_default(json.JSONEncoder.default))
        for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "execv", "execve"):
            if hasattr(os, name):
                self.patch(os, name, _refuse(f"os.{name}"))
        import socket as _socket

        self.patch(
            _socket.socket,
            "connect",
            _guard("socket.socket.connect", "does network I/O", _socket.socket.connect),
        )
        self.patch(
            _socket.socket,
            "connect_ex",
            _guard("socket.socket.connect_ex", "does network I/O", _socket.socket.connect_ex),
        )

    def _patch_module_names(self) -> None:
        """``from time import sleep`` binds the original in the module: rebind it (and in the
        module's package siblings that are loaded) to the guarded one."""
        guarded = {id(old): getattr(owner, name) for owner, name, old in self._patches}
        prefix = self.module_name.split(".")[0]
        for loaded_name, loaded in list(sys.modules.items()):
            if loaded is None or not (
                loaded_name == prefix
                or loaded_name.startswith(prefix + ".")
                or loaded is self.target
            ):
                continue
            for name, value in list(vars(loaded).items()):
                if id(value) in guarded and not isinstance(value, type):
                    self.patch(loaded, name, guarded[id(value)])
            if loaded is not self.target:
                self.watch_locks(loaded)  # locks the package shares between its modules
        self.watch_locks(self.target)
        for value in list(vars(self.target).values()):
            if isinstance(value, type) and value.__module__ == self.target.__name__:
                self.watch_locks(value)  # class attributes
            elif self._project_type(type(value)) and hasattr(value, "__dict__"):
                self.watch_locks(value)  # a module-level instance (a singleton service)

    def _project_type(self, cls: type) -> bool:
        """A class of the project (its module is a file of the workspace, not a library's)."""
        module = sys.modules.get(getattr(cls, "__module__", "") or "")
        filename = getattr(module, "__file__", None) or ""
        root = str(self.root) + os.sep
        return (
            filename.startswith(root)
            and "-packages" not in filename
            and not filename.startswith(str(self.stress_dir) + os.sep)
        )

    def is_loop_thread(self) -> bool:
        return self.loop_thread_id is not None and threading.get_ident() == self.loop_thread_id

    def allowed_read(self, path: object) -> bool:
        try:
            resolved = Path(os.fspath(path)).resolve()  # type: ignore[arg-type]
        except (TypeError, ValueError, OSError):
            return False
        return any(resolved.is_relative_to(base) for base in self._allowed_reads)

    def allowed_write(self, path: object) -> bool:
        try:
            resolved = Path(os.fspath(path)).resolve()  # type: ignore[arg-type]
        except (TypeError, ValueError, OSError):
            return False
        return resolved.is_relative_to(self.tmp_path)

    def record_blocking(self, api: str, what: str) -> None:
        self.blocking.append((api, what, _user_stack()))

    def yields(self) -> int:
        """How many times a fake's await yields to the loop: the seeded schedule."""
        return self.rng.randint(1, 3)

    # locks -------------------------------------------------------------------------------------

    def watch_locks(self, owner: Any) -> None:
        """Replace the locks held in ``owner``'s attributes (a module, a class, an instance) by
        watched ones, which report re-entry, lock-order inversions and a loop blocked on a
        thread lock instead of hanging."""
        try:
            items = list(vars(owner).items())
        except TypeError:
            return
        label = getattr(owner, "__name__", None) or type(owner).__name__
        for name, value in items:
            shown = name if isinstance(owner, types.ModuleType) else f"{label}.{name}"
            if isinstance(value, (_LOCK_TYPE, _RLOCK_TYPE)):
                self.patch(
                    owner,
                    name,
                    _WatchedThreadLock(value, shown, self, isinstance(value, _RLOCK_TYPE)),
                )
            elif type(value) is asyncio.Lock:
                self.patch(owner, name, _WatchedAsyncLock(value, shown, self))
            elif type(value) in _SEMAPHORE_TYPES:
                self.patch(owner, name, _WatchedSemaphore(value, shown, self))
            elif type(value) in _CONDITION_TYPES:
                self.patch(owner, name, _WatchedCondition(value, shown, self))

    def hazard(self, message: str) -> StressHazard:
        self.hazards.append(message + "\n" + _user_stack())
        return StressHazard(message)

    def lock_acquiring(self, lock: Any, holder: Any) -> None:
        held = self._holders.get(holder, [])
        here = _user_stack(limit=4)
        for first in held:
            if first is lock:
                continue
            self._order.setdefault((id(first), id(lock)), here)
            reverse = self._order.get((id(lock), id(first)))
            if reverse is not None:
                raise self.hazard(
                    f"lock-order inversion: `{first.name}` then `{lock.name}` here, but "
                    f"`{lock.name}` then `{first.name}` elsewhere:\n{reverse}"
                    "run together, each holds the lock the other waits for: possible deadlock"
                )

    def lock_acquired(self, lock: Any, holder: Any) -> None:
        self._holders.setdefault(holder, []).append(lock)

    def lock_released(self, lock: Any, holder: Any) -> None:
        held = self._holders.get(holder, [])
        if lock in held:
            held.reverse()
            held.remove(lock)
            held.reverse()

    def waiting_under_lock(self, api: str, what: str) -> None:
        """The wait-under-lock oracle: ``api`` is about to wait on a thread that holds watched
        thread locks. Hold the wait until another thread blocks on one of them (at most
        CONTENTION_S), then record who waited for whom."""
        holder = _holder()
        held = [
            lock for lock in self._holders.get(holder, []) if isinstance(lock, _WatchedThreadLock)
        ]
        if not held or self.waits_under_lock:
            return  # no lock held, or seen once already: the test has what it needs
        deadline = _real_monotonic() + CONTENTION_S
        while not any(lock.blocked for lock in held) and _real_monotonic() < deadline:
            _real_sleep(0.001)
        for lock in held:
            if lock.blocked:
                others = sorted(set(lock.blocked))
                shown = ", ".join(others[:3]) + (
                    f" and {len(others) - 3} more" if len(others) > 3 else ""
                )
                self.waits_under_lock.append(
                    f"blocking wait under a lock: `{api}` {what} while {_holder_name(holder)} "
                    f"holds `{lock.name}`, and {shown} waited for `{lock.name}` meanwhile: every "
                    "thread needing the lock waits as long, and it deadlocks if the awaited work "
                    f"needs the lock:\n{_user_stack()}"
                )
                return

    def permit_taken(self, semaphore: Any, holder: Any) -> None:
        self._permits.setdefault(holder, []).append(semaphore)

    def permit_given_back(self, semaphore: Any, holder: Any) -> None:
        held = self._permits.get(holder, [])
        if semaphore in held:
            held.remove(semaphore)

    def holds(self, holder: Any) -> bool:
        """Does the task or thread hold a watched lock or semaphore permit?"""
        return bool(self._holders.get(holder) or self._permits.get(holder))

    def leaks(self) -> list[tuple[Any, Any]]:
        """(primitive, holder) for each watched lock or permit still held by a task that is
        done or a thread that has ended: nobody will ever release it."""
        found = []
        for watched in self._watched:
            for holder in watched.holders():
                if _ended(holder):
                    found.append((watched, holder))
        return found

    # probes ------------------------------------------------------------------------------------

    def probe(self, owner: Any, name: str) -> Probe:
        """Count the calls of ``owner.name`` and how many are inside it at once."""
        probe = Probe(f"{name}()")
        original = getattr(owner, name, None)
        if original is not None:
            self.patch(owner, name, probe.wrap(original))
        self._probes.append(probe)
        return probe

    # drivers -----------------------------------------------------------------------------------

    def run_async(
        self, calls: list[Callable[[], Any]], *, count: int = CALLS, timeout_s: float = TIMEOUT_S
    ) -> Outcome:
        return _run_on_loop(self, calls, count, timeout_s)

    def run_threads(
        self,
        calls: list[Callable[[], Any]],
        *,
        count: int = CALLS,
        timeout_s: float = TIMEOUT_S,
        repeat: int = 1,
    ) -> Outcome:
        return _run_in_threads(self, calls, count, timeout_s, repeat)

    def enter(self, manager: Any) -> Any:
        """A call that enters ``manager`` (a context manager, sync or async) and leaves it."""
        if hasattr(manager, "__aenter__"):

            async def entered() -> Any:
                async with manager as value:
                    await Fake("body", self)
                    return value

            return entered()
        with manager as value:
            return value

    def request(
        self,
        app: Any,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        json_body: Any = None,
    ) -> Any:
        """One HTTP request to an ASGI app, in process (no server, no network)."""
        return _asgi_request(app, method, path, query or {}, json_body)

    def flask_request(self, app: Any, method: str, path: str, **kwargs: Any) -> Any:
        """One request through Flask's test client (no server, no network)."""
        with app.test_client() as client:
            return client.open(path, method=method, **kwargs).status_code

    def aiohttp_request(self, app: Any, method: str, path: str) -> Any:
        """One request to an aiohttp application through its router and middlewares, built by
        aiohttp's test utilities (no server, no socket); the app's startup hooks (on_startup,
        cleanup_ctx) run once per event loop, before the first request."""
        return _aiohttp_request(self, app, method, path)

    def django_request(self, view: Any, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        """A Django view called with a request from ``RequestFactory``; an async view returns
        its coroutine (the driver awaits it)."""
        from django.test import RequestFactory

        request = RequestFactory().generic(method, path)
        return view(request, *args, **kwargs)

    def celery_task(self, task: Any, *args: Any, **kwargs: Any) -> Any:
        """A Celery task applied eagerly in the calling thread (no broker, no worker); its
        exception, if any, is raised."""
        conf = task.app.conf
        if not conf.task_always_eager:
            self.patch(conf, "task_always_eager", True)  # tasks it sends run eagerly too
            self.patch(conf, "task_eager_propagates", True)
        _state.in_task = getattr(_state, "in_task", 0) + 1
        try:
            result = task.apply(args=args, kwargs=kwargs, throw=True)
        finally:
            _state.in_task -= 1
        return result.get(disable_sync_subtasks=False)

    # oracles -----------------------------------------------------------------------------------

    def _fail(self, what: str, outcome: Outcome | None, extra: str = "") -> None:
        lines = [what]
        if extra:
            lines.append(extra)
        if outcome is not None and outcome.errors:
            lines.append(
                f"({len(outcome.errors)} of {outcome.count} calls also raised; the first:\n"
                + outcome.errors[0]
                + ")"
            )
        lines.append(f"stress seed {self.seed} (set {SEED_ENV}={self.seed} to replay it)")
        pytest.fail("\n\n".join(lines), pytrace=False)

    def _deadlock_or_hazards(self, outcome: Outcome) -> None:
        if self.hazards:
            self._fail("\n\n".join(_dedupe(self.hazards)), outcome)
        if outcome.unfinished:
            self._fail(
                f"possible deadlock: {outcome.unfinished} of {outcome.count} calls unfinished "
                f"after {outcome.timeout_s:g} s",
                outcome,
                outcome.stacks,
            )

    def expect_loop_not_blocked(self, *calls: Callable[[], Any], count: int = CALLS) -> None:
        outcome = self.run_async(list(calls), count=count)
        self._runtime_errors_on_loop(outcome)  # the code's own refusal says it best
        if self.blocking:
            seen: dict[str, tuple[str, str, int]] = {}
            for api, what, stack in self.blocking:
                first = seen.get(api)
                seen[api] = (what, first[1] if first else stack, (first[2] if first else 0) + 1)
            reports = [
                f"event loop blocked: `{api}` {what} on the event loop's thread ({n} times); "
                f"the first call:\n{stack}"
                for api, (what, stack, n) in seen.items()
            ]
            self._fail("\n".join(reports), outcome)
        if self.hazards:  # calls merely unfinished are not this oracle's business
            self._fail("\n\n".join(_dedupe(self.hazards)), outcome)
        if self.longest_lag_s > LOOP_LAG_S:
            self._fail(
                f"event loop blocked for {self.longest_lag_s * 1000:.0f} ms; the loop's thread "
                f"was here:\n{self.lag_stack}",
                outcome,
            )

    def expect_no_sync_wait_on_loop(self, *calls: Callable[[], Any], count: int = 2) -> None:
        """The code runs inside a running event loop (a sync facade called from async code)."""
        self.expect_loop_not_blocked(*calls, count=count)

    def _runtime_errors_on_loop(self, outcome: Outcome) -> None:
        for error in outcome.errors:
            if "SynchronousOnlyOperation" in error:
                self._fail(
                    "event loop blocked: Django's sync ORM was called on the event loop's thread "
                    "(Django refused it with SynchronousOnlyOperation; each query would block "
                    "every task):\n" + error,
                    None,
                )
        words = (
            "cannot be called from a running event loop",
            "already running",
            "in the same thread as an async event loop",
            "Non-thread-safe operation",
        )
        for error in outcome.errors:
            if any(word in error for word in words):
                self._fail(
                    "sync wait on the event loop: code running on the loop waits synchronously "
                    "for work that needs that loop:\n" + error,
                    None,
                )

    def expect_no_deadlock(
        self, *calls: Callable[[], Any], count: int = CALLS, threads: bool = False
    ) -> None:
        outcome = (self.run_threads if threads else self.run_async)(list(calls), count=count)
        self._deadlock_or_hazards(outcome)
        if self.longest_lag_s > LOOP_LAG_S:
            self._fail(
                f"event loop blocked for {self.longest_lag_s * 1000:.0f} ms and calls may wait "
                f"forever; the loop's thread was here:\n{self.lag_stack}",
                outcome,
            )

    def expect_one_at_a_time(
        self,
        probe: Probe,
        *calls: Callable[[], Any],
        state: str,
        count: int = CALLS,
        threads: bool = False,
    ) -> None:
        outcome = (self.run_threads if threads else self.run_async)(list(calls), count=count)
        self._deadlock_or_hazards(outcome)
        if probe.most_inside > 1:
            self._fail(
                f"check-then-act race on `{state}`: {probe.most_inside} calls were inside "
                f"`{probe.name}` at once ({probe.calls} calls in all for {count} identical "
                "requests); each passed the check before any stored the result, so the side "
                "effect ran more than once",
                outcome,
            )

    def expect_cancellation_propagates(
        self, call: Callable[[], Any], *, file: str, lines: tuple[int, int]
    ) -> None:
        outcome = _run_cancelled(self, call, file, lines)
        if outcome.problem:
            self._fail(outcome.problem, None)

    def expect_no_dropped_task(self, *calls: Callable[[], Any]) -> None:
        outcome = _run_dropping(self, list(calls))
        destroyed = [e for e in self.loop_errors if "destroyed but it is pending" in e]
        if destroyed:
            self._fail(
                "dropped task: a task created by the code was garbage-collected before it "
                "finished (only the loop's weak reference kept it):\n" + destroyed[0],
                outcome,
            )

    def expect_no_unawaited_coroutine(
        self, *calls: Callable[[], Any], threads: bool = False
    ) -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            outcome = (self.run_threads if threads else self.run_async)(list(calls), count=2)
            gc.collect()
        never = [str(w.message) for w in caught if "was never awaited" in str(w.message)]
        refused = [e for e in outcome.errors if "coroutines cannot be used with" in e]
        if refused:  # the test's loop runs in debug mode: asyncio checks callbacks
            self._fail(
                "coroutine never awaited: a coroutine function was handed to the loop as a "
                "plain callback; asyncio (in debug mode) refused it, and in production the loop "
                "calls it, drops the coroutine and its body never runs:\n" + refused[0],
                None,
            )
        if never:
            self._fail(
                f"coroutine never awaited: {never[0]} (its body never ran; "
                f"{len(never)} such coroutines)",
                outcome,
            )

    def expect_one_client_session(
        self, owner: Any, name: str, *calls: Callable[[], Any], count: int = 4
    ) -> None:
        made: list[Fake] = []

        def counted(*args: Any, **kwargs: Any) -> Fake:
            session = self.fake(f"{name}()")
            made.append(session)
            return session

        self.patch(owner, name, counted)
        outcome = self.run_async(list(calls), count=count)
        if len(made) >= count > 1:
            self._fail(
                f"client session per call: `{name}` was created {len(made)} times for {count} "
                "calls; each one opens its own connection pool (and here none is shared)",
                outcome,
            )

    def expect_lock_released(
        self, *calls: Callable[[], Any], threads: bool = False, count: int = 4
    ) -> None:
        """Calls one at a time, each interrupted inside its locked section: a coroutine is
        cancelled while it awaits there (or a fake it calls there fails), a thread's fake
        fails there. A lock or permit still held once the call has ended is leaked."""
        outcome = _run_leaking(self, list(calls), threads=threads, count=count)
        leaks = self.leaks()
        if leaks:
            reports = []
            for primitive, holder in _dedupe_pairs(leaks):
                error = outcome.error_of.get(id(holder), "")
                how = outcome.how.get(id(holder)) or (
                    f"its call raised {error.strip().splitlines()[-1]}" if error else "it ended"
                )
                waits = _next_acquire_waits(primitive)
                reports.append(
                    f"lock leaked: `{primitive.name}` is still held by {_holder_name(holder)}, "
                    f"which has ended ({how}) without releasing it; "
                    + (
                        f"the next acquire() waited {WATCHDOG_S:g} s and timed out: every later "
                        "caller hangs"
                        if waits
                        else "the semaphore has one permit less for good: once they are all "
                        "gone every later caller hangs"
                    )
                )
            self._fail("\n\n".join(reports), None)
        self._deadlock_or_hazards(outcome)

    def expect_wait_rechecked(
        self, *calls: Callable[[], Any], threads: bool = False, count: int = 4
    ) -> None:
        """The first wait() on a watched condition returns without a notify, as a wake-up
        meant for another waiter does: code that goes on without re-checking fails."""
        self._spurious = True
        try:
            outcome = (self.run_threads if threads else self.run_async)(list(calls), count=count)
        finally:
            self._spurious = False
        problems = []
        for condition in self._watched:
            if not isinstance(condition, _WatchedCondition):
                continue
            for holder, (where, timed) in condition.woken.items():
                if holder in condition.rechecked:
                    continue
                error = outcome.error_of.get(id(holder))
                if error:
                    went = f"went on and failed:\n{error}"
                elif not timed and _ended(holder):
                    went = "went on as if the condition held (its wait had no timeout)"
                else:
                    continue
                problems.append(
                    f"wait not re-checked: `{condition.name}.wait()` returned in "
                    f"{_holder_name(holder)} without the condition holding (a notify_all meant "
                    f"for another waiter, or another consumer took the item first), and the code "
                    f"{went}\nwait() returned here:\n{where}"
                )
        if problems:
            self._fail(problems[0], None)
        self._deadlock_or_hazards(outcome)

    def expect_no_wait_on_task(self, *calls: Callable[[], Any], count: int = 2) -> None:
        """Celery tasks (``celery_task``) on threads: a wait for a task's result made while a
        task runs fails the test (Celery's own check is off in eager mode, and a worker
        holding its slot for a subtask starves the pool)."""
        from celery import result as results

        waits: list[str] = []

        def watched(original: Any, shown: str) -> Any:
            @functools.wraps(original)
            def wait(*args: Any, **kwargs: Any) -> Any:
                # the project's wait, not Celery's own (an eager chord joins its header)
                if getattr(_state, "in_task", 0) and not waits and _called_by_project():
                    waits.append(
                        f"task waits on a task: `{shown}()` inside a running task holds its "
                        "worker slot until another task has run; when every slot waits so, "
                        f"nothing runs the subtasks (starvation, then deadlock):\n{_user_stack()}"
                    )
                return original(*args, **{**kwargs, "disable_sync_subtasks": False})

            return wait

        for cls, names in (
            (results.AsyncResult, ("get", "wait")),
            (results.EagerResult, ("get", "wait")),
            (results.ResultSet, ("get", "join", "join_native")),
        ):
            for name in names:
                if name in cls.__dict__:
                    self.patch(cls, name, watched(cls.__dict__[name], f"{cls.__name__}.{name}"))
        outcome = self.run_threads(list(calls), count=count)
        if waits:
            self._fail(waits[0], outcome)
        self._deadlock_or_hazards(outcome)

    def expect_no_wait_under_lock(self, *calls: Callable[[], Any], count: int = CALLS) -> None:
        """Calls on threads at once: a wait (sleep, event, queue, future, join) made while the
        caller holds a watched lock that another thread is waiting for fails the test."""
        self._watch_waits = True
        try:
            outcome = self.run_threads(list(calls), count=count)
        finally:
            self._watch_waits = False
        if self.waits_under_lock:
            self._fail(self.waits_under_lock[0], outcome)
        self._deadlock_or_hazards(outcome)

    def expect_no_lost_update(
        self,
        state: Callable[[], Any],
        *calls: Callable[[], Any],
        name: str,
        count: int = CALLS,
        repeat: int = 5,
    ) -> None:
        """One call alone, then ``count`` threads making ``repeat`` calls each with a thread
        switch forced at every bytecode of the project's code: the change of ``state`` (a
        number, a dict of numbers, a collection's size) must be the single call's times the
        number of calls, else updates were lost."""
        before = _measure(state())
        single = self.run_threads(list(calls[:1]), count=1)
        self._deadlock_or_hazards(single)
        after_one = _measure(state())
        if before is None or after_one is None or after_one == before:
            pytest.skip(
                f"one call did not change `{name}` in a way the test can count "
                "(a number, a dict of numbers or a collection's size): lost updates cannot be "
                "counted; give the FAKES arguments that reach the update"
            )
        step = after_one - before
        with _switching_at_every_bytecode(self):
            outcome = self.run_threads(list(calls), count=count, repeat=repeat)
        self._deadlock_or_hazards(outcome)
        made = count * repeat - len(outcome.errors)
        changed = _measure(state())
        got = (changed if changed is not None else after_one) - after_one
        lost = (step * made - got) / step
        if lost > 0.5:
            self._fail(
                f"lost updates of `{name}`: {made} calls on {count} threads at once changed it "
                f"by {got:g}, one call alone by {step:g}: {lost:.0f} updates were lost (two "
                "threads read the same value, both wrote back their own result)",
                outcome,
            )

    def _thread_excepthook(self, args: Any) -> None:
        if isinstance(args.exc_value, StressHazard):
            return
        self.thread_errors.append(
            "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
        )


_ACTIVE: Stress | None = None
_MISSING = object()


def active() -> Stress | None:
    return _ACTIVE


def _of_kind(kind: str, name: str, run: Stress) -> Any:
    makers: dict[str, Callable[[], Any]] = {
        "asyncio.Lock": asyncio.Lock,
        "threading.Lock": threading.Lock,
        "threading.RLock": threading.RLock,
        "dict": dict,
        "list": list,
        "set": set,
        "int": int,
        "none": lambda: None,
    }
    return makers.get(kind, lambda: Fake(name, run))()


def _error_of(kind: type[BaseException], message: str) -> BaseException:
    """An instance of ``kind`` even when its constructor wants more than a message."""
    for args in ((message,), ()):
        try:
            return kind(*args)
        except Exception:  # noqa: BLE001 - try the next way of building it
            continue
    error = kind.__new__(kind)
    error.args = (message,)
    return error


def _dedupe_pairs(pairs: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    seen: list[tuple[Any, Any]] = []
    for pair in pairs:
        if not any(pair[0] is a and pair[1] is b for a, b in seen):
            seen.append(pair)
    return seen


def _measure(value: Any) -> float | None:
    """A number that a read-modify-write changes: the value, the sum of a dict's numbers,
    else a collection's size; None for anything else."""
    if isinstance(value, bool) or isinstance(value, Fake):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, dict):
        numbers = [_measure(item) for item in value.values()]
        if all(number is not None for number in numbers):
            return float(sum(n for n in numbers if n is not None))
    if isinstance(value, (list, tuple, set, frozenset, dict, str, bytes)):
        return len(value)
    return None


def _dedupe(items: list[str]) -> list[str]:
    """One report per kind of hazard: the same message and stack seen in other tasks or
    threads is counted, not repeated."""
    groups: dict[str, list[str]] = {}
    for item in items:
        key = re.sub(r"\b(thread|task) [\w.-]+", r"\1", item)
        groups.setdefault(key, []).append(item)
    shown = []
    for same in groups.values():
        more = len(same) - 1
        suffix = f"(and {more} more time{'s' if more > 1 else ''} in other calls)\n" if more else ""
        shown.append(same[0] + suffix)
    return shown


# -- guarded blocking APIs -----------------------------------------------------------------------


def _resolve(qualname: str) -> tuple[Any, str, Any] | None:
    """(owner, attribute, value) of an importable or already imported qualified name."""
    parts = qualname.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        module = sys.modules.get(module_name)
        if module is None and module_name in (
            "builtins",
            "os",
            "os.path",
            "time",
            "io",
            "shutil",
            "subprocess",
            "socket",
            "pathlib",
            "glob",
            "tempfile",
            "urllib.request",
            "sqlite3",
            "http.client",
            "smtplib",
            "getpass",
            "select",
            "queue",
            "threading",
            "concurrent.futures",
            "importlib",
            "tarfile",
            "zipfile",
        ):
            with contextlib.suppress(ImportError):
                module = importlib.import_module(module_name)
        if module is None:
            continue
        owner: Any = module
        try:
            for attr in parts[split:-1]:
                owner = getattr(owner, attr)
            value = getattr(owner, parts[-1])
        except AttributeError:
            return None
        if isinstance(owner, type):
            value = owner.__dict__.get(parts[-1], value)
            if isinstance(value, (staticmethod, classmethod)) or owner.__module__ == "builtins":
                return None
            if not isinstance(value, (types.FunctionType, types.BuiltinFunctionType)):
                return None
        if isinstance(value, type) and qualname not in _FAKED_CLASSES:
            return None
        return owner, parts[-1], value
    return None


# Constructors in the table that are calls which do I/O (a connection, an archive).
_FAKED_CLASSES = {
    "smtplib.SMTP",
    "smtplib.SMTP_SSL",
    "zipfile.ZipFile",
    "tempfile.TemporaryDirectory",
}
_WRITE_APIS = {
    "os.write",
    "os.fsync",
    "os.remove",
    "os.unlink",
    "os.rename",
    "os.makedirs",
    "os.mkdir",
    "os.rmdir",
    "os.replace",
    "os.chmod",
    "os.chown",
    "os.truncate",
    "os.utime",
    "os.symlink",
    "os.link",
    "shutil.copy",
    "shutil.copy2",
    "shutil.copyfile",
    "shutil.copytree",
    "shutil.rmtree",
    "shutil.move",
    "shutil.make_archive",
    "shutil.unpack_archive",
    "pathlib.Path.write_text",
    "pathlib.Path.write_bytes",
    "pathlib.Path.mkdir",
    "pathlib.Path.unlink",
    "pathlib.Path.rmdir",
    "pathlib.Path.touch",
    "pathlib.Path.rename",
    "pathlib.Path.replace",
    "pathlib.Path.chmod",
    "pathlib.Path.symlink_to",
    "pathlib.Path.hardlink_to",
}
_PASS_THROUGH_WAITS = ("threading.", "queue.", "concurrent.futures.", "multiprocessing.")
# What the blocking APIs that wait do (their rows in the table): waiting with a lock held makes
# every thread that needs the lock wait too. Condition waits release the condition they wait on.
_WAIT_KINDS = frozenset(
    {
        "sleeps",
        "waits on a thread primitive",
        "waits for a concurrent future",
        "waits for a thread",
        "waits for a process",
    }
)
_RELEASING_WAITS = frozenset({"threading.Condition.wait", "threading.Condition.wait_for"})
CONTENTION_S = 0.5  # how long a wait under a lock waits for another thread to want the lock


def _guard(qualname: str, what: str, original: Any) -> Any:
    @functools.wraps(original)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        run = _ACTIVE
        if run is None or getattr(_state, "inside", False) or _called_by_harness():
            return original(*args, **kwargs)
        if qualname in _IMPORTS and not _called_by_project():
            return original(*args, **kwargs)  # a library's lazy import: its own business
        on_loop = run.is_loop_thread()
        if on_loop:
            run.record_blocking(qualname, what)
        elif run._watch_waits and what in _WAIT_KINDS and qualname not in _RELEASING_WAITS:
            run.waiting_under_lock(qualname, what)
        _state.inside = True
        try:
            return _simulate(run, qualname, original, args, kwargs, on_loop)
        finally:
            _state.inside = False

    guarded.__riskhints_guard__ = True  # type: ignore[attr-defined]
    return guarded


def _called_by_harness() -> bool:
    """Not a call of the code under test: the harness's own, the standard library's internals
    (a thread pool's semaphore when code hands work to a thread), or a library's own work with
    no frame of the project on the stack (a framework inspecting a route before calling it)."""
    run = _ACTIVE
    frame: Any = sys._getframe(2)
    if _is_stdlib(frame.f_code.co_filename) or frame.f_code.co_filename == __file__:
        return True
    root = str(run.root) + os.sep if run is not None else ""
    stress = str(run.stress_dir) + os.sep if run is not None else ""
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(root) and not filename.startswith(stress):
            if "-packages" not in filename:
                return False
        frame = frame.f_back
    return True


_IMPORTS = frozenset({"importlib.import_module", "importlib.reload", "builtins.__import__"})


def _called_by_project() -> bool:
    """The direct caller of the function calling this (a guarded API, the dropped-task
    oracle's sleep) is the project's code, not a library's."""
    run = _ACTIVE
    filename = sys._getframe(2).f_code.co_filename
    return (
        run is not None
        and filename.startswith(str(run.root) + os.sep)
        and "-packages" not in filename
        and not filename.startswith(str(run.stress_dir) + os.sep)
    )


def _is_stdlib(filename: str) -> bool:
    if filename.startswith("<frozen"):
        return True
    return os.path.normcase(filename).startswith(_STDLIB) and "-packages" not in filename


def _simulate(
    run: Stress,
    api: str,
    original: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    on_loop: bool,
) -> Any:
    if api == "time.sleep":
        seconds = float(args[0] if args else kwargs.get("secs", 0) or 0)
        _real_sleep(LATENCY_S if on_loop else min(max(seconds, 0.0), MAX_SLEEP_S))
        return None
    if api.startswith(_PASS_THROUGH_WAITS):
        if on_loop:  # never wait on the loop's thread: the hazard is recorded already
            if "timeout" in inspect.signature(original).parameters:
                kwargs = {**kwargs, "timeout": LATENCY_S}
                if api.endswith((".get", ".put")):
                    kwargs["block"] = True
                with contextlib.suppress(Exception):
                    return original(*args, **kwargs)
                return _fake_result(api, run)
            return _fake_result(api, run)
        return original(*args, **kwargs)
    if api in ("importlib.import_module", "importlib.reload"):
        return original(*args, **kwargs)
    if api in ("builtins.open", "io.open", "pathlib.Path.open", "tarfile.open"):
        path = args[0] if args else kwargs.get("file", kwargs.get("name"))
        mode = str(args[1] if len(args) > 1 else kwargs.get("mode", "r"))
        if api == "pathlib.Path.open":
            path, mode = args[0], str(args[1] if len(args) > 1 else kwargs.get("mode", "r"))
        writing = any(flag in mode for flag in "wax+")
        if (writing and run.allowed_write(path)) or (not writing and run.allowed_read(path)):
            return original(*args, **kwargs)
        if isinstance(path, int):
            return original(*args, **kwargs)
        _real_sleep(LATENCY_S)
        return io.BytesIO() if "b" in mode else io.StringIO()
    if api.startswith(("os.path.", "pathlib.Path.", "os.", "shutil.", "glob.", "tempfile.")):
        paths = [a for a in (*args, *kwargs.values()) if isinstance(a, (str, os.PathLike))]
        allowed = run.allowed_write if api in _WRITE_APIS else run.allowed_read
        if all(allowed(p) for p in paths) and api not in ("tempfile.mkdtemp", "tempfile.mkstemp"):
            return original(*args, **kwargs)
        if api.startswith("tempfile."):
            return original(*args, **{**kwargs, "dir": str(run.tmp_path)})
        _real_sleep(LATENCY_S)
        return _file_fake(api, run)
    if (
        api.startswith("subprocess.")
        or api in ("os.system", "os.popen")
        or api.startswith("os.wait")
    ):
        _real_sleep(LATENCY_S)
        return _process_fake(api, args, kwargs, run)
    if api == "sqlite3.connect":
        target = args[0] if args else kwargs.get("database", "")
        if target == ":memory:" or run.allowed_write(target):
            return original(*args, **kwargs)
    if api in ("builtins.input", "getpass.getpass"):
        return ""
    _real_sleep(LATENCY_S)  # network, databases, mail: never reached, a fake answers
    return _fake_result(api, run)


def _file_fake(api: str, run: Stress) -> Any:
    name = api.rsplit(".", 1)[-1]
    if name in (
        "exists",
        "isfile",
        "isdir",
        "islink",
        "lexists",
        "ismount",
        "is_file",
        "is_dir",
        "is_symlink",
        "is_mount",
        "samefile",
    ):
        return False
    if name in ("listdir", "glob", "iglob", "rglob", "iterdir", "scandir", "walk"):
        return []
    if name in ("getsize", "getmtime", "getatime", "getctime"):
        return 0
    if name == "read_text":
        return ""
    if name == "read_bytes":
        return b""
    if name in ("mkstemp",):
        return (-1, str(run.tmp_path / "fake"))
    if name in ("write_text", "write_bytes"):
        return 0
    if name in (
        "remove",
        "unlink",
        "rename",
        "makedirs",
        "mkdir",
        "rmdir",
        "replace",
        "touch",
        "rmtree",
        "chmod",
        "chown",
        "utime",
        "truncate",
        "symlink",
        "link",
        "fsync",
    ):
        return None
    return _fake_result(api, run)


def _process_fake(api: str, args: tuple[Any, ...], kwargs: dict[str, Any], run: Stress) -> Any:
    text = bool(kwargs.get("text") or kwargs.get("universal_newlines") or kwargs.get("encoding"))
    empty: Any = "" if text else b""
    if api == "subprocess.run":
        captured = kwargs.get("capture_output") or kwargs.get("stdout") is not None
        return subprocess.CompletedProcess(
            args[0] if args else kwargs.get("args", []),
            0,
            empty if captured else None,
            empty if captured else None,
        )
    if api == "subprocess.check_output":
        return empty
    if api in ("subprocess.call", "subprocess.check_call", "os.system", "subprocess.Popen.wait"):
        return 0
    if api == "subprocess.getoutput":
        return ""
    if api == "subprocess.getstatusoutput":
        return (0, "")
    if api == "subprocess.Popen.communicate":
        return (empty, empty)
    if api == "os.popen":
        return io.StringIO("")
    if api.startswith("os.wait"):
        return (0, 0)
    return _fake_result(api, run)


def _fake_popen_init(self: Any, args: Any = (), *rest: Any, **kwargs: Any) -> None:
    run = _ACTIVE
    if run is not None and run.is_loop_thread():
        run.record_blocking("subprocess.Popen", "starts a process")
    self.args, self.returncode, self.pid = args, 0, 0
    self.stdin = self.stdout = self.stderr = None
    self.text_mode = bool(kwargs.get("text") or kwargs.get("universal_newlines"))
    self._waitpid_lock = threading.Lock()
    self._input = None
    self._communication_started = False
    self._child_created = False
    self._closed_child_pipe_fds = True


def _json_default(original: Any) -> Any:
    """A fake in a JSON response is written as its name (a view returning what a faked
    collaborator gave it must not fail for that)."""

    def default(encoder: Any, value: Any) -> Any:
        if isinstance(value, Fake):
            return repr(value)
        return original(encoder, value)

    default.__riskhints_guard__ = True  # type: ignore[attr-defined]
    return default


def _refuse(name: str) -> Callable[..., Any]:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise OSError(f"riskhints stress: `{name}` is not allowed in a stress test")

    return refused


def _refuse_async(name: str) -> Callable[..., Any]:
    async def refused(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionRefusedError(
            f"riskhints stress: no network or processes in a stress test (loop.{name}); "
            "fake the client in the test's FAKES section"
        )

    return refused


def _user_stack(limit: int = 8) -> str:
    """The caller's stack without the harness, pytest and asyncio frames."""
    entries = [
        entry
        for entry in traceback.extract_stack(sys._getframe(1))
        if os.path.normcase(entry.filename) != _HARNESS_FILE
        and "/asyncio/" not in entry.filename.replace("\\", "/")
        and "/_pytest/" not in entry.filename.replace("\\", "/")
        and "/pluggy/" not in entry.filename.replace("\\", "/")
        and not entry.filename.endswith(("threading.py", "concurrent/futures/thread.py"))
    ]
    return "".join(traceback.StackSummary.from_list(entries[-limit:]).format())


# -- watched locks -------------------------------------------------------------------------------


def _holder() -> Any:
    try:
        task = asyncio.current_task()
    except RuntimeError:
        task = None
    return task if task is not None else threading.current_thread()


def _holder_name(holder: Any) -> str:
    if isinstance(holder, asyncio.Task):
        return f"task {holder.get_name()}"
    return f"thread {holder.name}"


class _WatchedThreadLock:
    """A threading lock that reports, instead of hanging: re-entry by its holder, an inversion
    of the order locks are taken in, and the event loop's thread blocking on it."""

    def __init__(self, inner: Any, name: str, run: Stress, reentrant: bool) -> None:
        self.inner, self.name, self.run, self.reentrant = inner, name, run, reentrant
        self.owner: Any = None
        self.depth = 0
        self.blocked: list[str] = []  # threads waiting for it now (the wait-under-lock oracle)
        run._watched.append(self)

    def holders(self) -> list[Any]:
        return [self.owner] if self.owner is not None else []

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        holder = _holder()
        if self.owner is holder and not self.reentrant and blocking:
            raise self.run.hazard(
                f"possible deadlock: `{self.name}` (a non-reentrant threading.Lock) is acquired "
                f"again by the {_holder_name(holder)} that holds it: it waits for itself forever"
            )
        if self.owner is not holder:
            self.run.lock_acquiring(self, holder)
        held_by_task = isinstance(self.owner, asyncio.Task)
        if blocking and self.run.is_loop_thread() and self.owner is not holder and held_by_task:
            if not self.inner.acquire(False):
                raise self.run.hazard(
                    f"event loop blocked: the loop's thread waits for `{self.name}` "
                    f"(threading.Lock), held by {_holder_name(self.owner)} across an await; the "
                    "holder can only release it once the loop runs again: possible deadlock"
                )
            got = True
        elif blocking and self.owner is not None and self.owner is not holder:
            self.blocked.append(_holder_name(holder))
            try:
                got = self.inner.acquire(blocking, timeout)
            finally:
                self.blocked.remove(_holder_name(holder))
        else:
            got = self.inner.acquire(blocking, timeout)
        if got:
            if self.owner is not holder:
                self.run.lock_acquired(self, holder)
            self.owner = holder
            self.depth += 1
        return got

    def release(self) -> None:
        self.depth -= 1
        holder = self.owner
        if self.depth <= 0:
            self.owner, self.depth = None, 0
            self.run.lock_released(self, holder)
        self.inner.release()

    def locked(self) -> bool:
        return (
            bool(self.inner.locked()) if hasattr(self.inner, "locked") else self.owner is not None
        )

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _WatchedAsyncLock:
    """An asyncio.Lock that reports re-entry by the task holding it and lock-order inversions."""

    def __init__(self, inner: asyncio.Lock, name: str, run: Stress) -> None:
        self.inner, self.name, self.run = inner, name, run
        self.owner: Any = None
        run._watched.append(self)

    def holders(self) -> list[Any]:
        return [self.owner] if self.owner is not None else []

    async def acquire(self) -> bool:
        holder = _holder()
        if self.owner is holder:
            raise self.run.hazard(
                f"possible deadlock: `{self.name}` (asyncio.Lock, not reentrant) is acquired "
                f"again by the {_holder_name(holder)} that holds it: it waits for itself forever"
            )
        self.run.lock_acquiring(self, holder)
        await self.inner.acquire()
        self.owner = holder
        self.run.lock_acquired(self, holder)
        return True

    def release(self) -> None:
        holder, self.owner = self.owner, None
        self.run.lock_released(self, holder)
        self.inner.release()

    def locked(self) -> bool:
        return self.inner.locked()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


_SEMAPHORE_TYPES = (
    threading.Semaphore,
    threading.BoundedSemaphore,
    asyncio.Semaphore,
    asyncio.BoundedSemaphore,
)
_CONDITION_TYPES = (threading.Condition, asyncio.Condition)


def _ended(holder: Any) -> bool:
    if isinstance(holder, asyncio.Future):
        return holder.done()
    if isinstance(holder, threading.Thread):
        return not holder.is_alive()
    return False


class _WatchedSemaphore:
    """A semaphore (threading or asyncio) that knows who holds its permits, so that a permit
    kept by a task or thread that has ended is reported as leaked."""

    def __init__(self, inner: Any, name: str, run: Stress) -> None:
        self.inner, self.name, self.run = inner, name, run
        self.is_async = isinstance(inner, asyncio.Semaphore)
        self.taken: list[Any] = []
        run._watched.append(self)

    def holders(self) -> list[Any]:
        return list(self.taken)

    def _took(self) -> None:
        holder = _holder()
        self.taken.append(holder)
        self.run.permit_taken(self, holder)

    def _gave_back(self) -> None:
        holder = _holder()
        # Released by whoever: the permit of the releasing holder first, else the oldest.
        if holder in self.taken:
            self.taken.remove(holder)
        elif self.taken:
            holder = self.taken.pop(0)
        self.run.permit_given_back(self, holder)

    def acquire(self, *args: Any, **kwargs: Any) -> Any:
        if self.is_async:
            return self._acquire_async()
        got = self.inner.acquire(*args, **kwargs)
        if got:
            self._took()
        return got

    async def _acquire_async(self) -> bool:
        await self.inner.acquire()
        self._took()
        return True

    def release(self, *args: Any) -> None:
        self._gave_back()
        self.inner.release(*args)

    def locked(self) -> bool:
        return bool(self.inner.locked()) if hasattr(self.inner, "locked") else False

    def __enter__(self) -> bool:
        return bool(self.acquire())

    def __exit__(self, *exc: object) -> None:
        self.release()

    async def __aenter__(self) -> None:
        await self._acquire_async()

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _StressStop(BaseException):
    """Ends a call that waits on a condition nobody will notify (the condition oracle): it
    re-checked its predicate after a wake-up, as it should, and the test has seen enough."""


class _WatchedCondition:
    """A condition variable (threading or asyncio). Under the condition oracle the first
    ``wait()`` of each caller returns at once without a notify, as a wake-up meant for another
    waiter (or one whose item another consumer took first) does; a caller that waits again
    has re-checked its predicate and is ended with ``_StressStop``."""

    def __init__(self, inner: Any, name: str, run: Stress) -> None:
        self.inner, self.name, self.run = inner, name, run
        self.is_async = isinstance(inner, asyncio.Condition)
        self.woken: dict[Any, tuple[str, bool]] = {}  # holder -> (where wait() returned, timed)
        self.rechecked: set[Any] = set()
        run._watched.append(self)

    def holders(self) -> list[Any]:
        return []  # a condition's lock is held only inside `with`: never leaked

    def _spurious(self, timeout: Any) -> bool:
        """Give this caller its spurious wake-up now? (Else: it waits again, it re-checked.)"""
        if not self.run._spurious:
            return False
        holder = _holder()
        if holder in self.woken:
            self.rechecked.add(holder)
            raise _StressStop(f"`{self.name}.wait()` called again after a wake-up")
        self.woken[holder] = (_user_stack(), timeout is not None)
        return True

    def wait(self, timeout: float | None = None) -> Any:
        if self.is_async:
            return self._wait_async()
        if self._spurious(timeout):
            self.inner.wait(0)  # releases the lock and takes it back, as a wake-up does
            return True
        return self.inner.wait(timeout)

    async def _wait_async(self) -> bool:
        if self._spurious(None):
            self.inner.release()
            try:
                await asyncio.sleep(0)
            finally:
                await self.inner.acquire()
            return True
        return bool(await self.inner.wait())

    def wait_for(self, predicate: Callable[[], Any], timeout: float | None = None) -> Any:
        if self.is_async:
            return self._wait_for_async(predicate)
        result = predicate()
        while not result:
            self.wait(timeout)
            result = predicate()
            if timeout is not None:
                break
        return result

    async def _wait_for_async(self, predicate: Callable[[], Any]) -> Any:
        result = predicate()
        while not result:
            await self._wait_async()
            result = predicate()
        return result

    def __enter__(self) -> Any:
        return self.inner.__enter__()

    def __exit__(self, *exc: object) -> Any:
        return self.inner.__exit__(*exc)

    async def __aenter__(self) -> Any:
        return await self.inner.__aenter__()

    async def __aexit__(self, *exc: object) -> Any:
        return await self.inner.__aexit__(*exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


# -- probes --------------------------------------------------------------------------------------


class Probe:
    """Counts calls of a wrapped callable (sync or async) and how many are inside it at once."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0
        self.inside = 0
        self.most_inside = 0
        self._lock = threading.Lock()

    def _enter(self) -> None:
        with self._lock:
            self.calls += 1
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)

    def _leave(self) -> None:
        with self._lock:
            self.inside -= 1

    def wrap(self, function: Any) -> Any:
        probe = self

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def probed_async(*args: Any, **kwargs: Any) -> Any:
                probe._enter()
                try:
                    return await function(*args, **kwargs)
                finally:
                    probe._leave()

            return probed_async

        @functools.wraps(function)
        def probed(*args: Any, **kwargs: Any) -> Any:
            probe._enter()
            try:
                result = function(*args, **kwargs)
            except BaseException:
                probe._leave()
                raise
            if inspect.isawaitable(result):
                return _leave_after(result, probe)
            probe._leave()
            return result

        return probed


async def _leave_after(awaitable: Any, probe: Probe) -> Any:
    try:
        return await awaitable
    finally:
        probe._leave()


# -- drivers -------------------------------------------------------------------------------------


class Outcome:
    def __init__(self, count: int, timeout_s: float) -> None:
        self.count = count
        self.timeout_s = timeout_s
        self.finished = 0
        self.results: list[Any] = []
        self.errors: list[str] = []
        self.unfinished = 0
        self.stacks = ""
        self.error_of: dict[int, str] = {}  # id of the task or thread -> what its call raised

    def add_error(self, error: BaseException) -> None:
        if isinstance(error, (StressHazard, _StressStop)):
            return
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        self.errors.append(text)
        self.error_of[id(_holder())] = text


def _new_loop(run: Stress) -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    loop.set_debug(True)  # asyncio then refuses calls from other threads: a hazard we report
    loop.slow_callback_duration = 60.0

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", ""))
        error = context.get("exception")
        if error is not None:
            message += f": {error!r}"
        run.loop_errors.append(message)

    loop.set_exception_handler(handler)
    return loop


def _run_on_loop(
    run: Stress, calls: list[Callable[[], Any]], count: int, timeout_s: float
) -> Outcome:
    outcome = Outcome(count, timeout_s)
    loop = _new_loop(run)
    beat = [_real_monotonic()]
    main: list[asyncio.Task[Any]] = []

    async def heartbeat() -> None:
        while True:
            beat[0] = _real_monotonic()
            await asyncio.sleep(0.01)

    async def one(make_call: Callable[[], Any]) -> None:
        try:
            result = make_call()
            if inspect.isawaitable(result):
                result = await result
            outcome.results.append(result)
        except BaseException as error:  # noqa: B036 - the outcome records what happened
            outcome.add_error(error)
        finally:
            outcome.finished += 1

    async def everything() -> None:
        ticker = asyncio.create_task(heartbeat())
        try:
            await asyncio.gather(*(one(calls[i % len(calls)]) for i in range(count)))
            for _ in range(SETTLE_TURNS):  # callbacks the calls scheduled (call_soon) run
                await asyncio.sleep(0)
        finally:
            ticker.cancel()

    def run_loop() -> None:
        asyncio.set_event_loop(loop)
        run.loop_thread_id = threading.get_ident()
        main.append(loop.create_task(everything()))
        try:
            loop.run_until_complete(main[0])
        except BaseException:  # noqa: B036 - cancelled by the watchdog: reported already
            pass
        finally:
            run.loop_thread_id = None
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            asyncio.set_event_loop(None)

    thread = threading.Thread(target=run_loop, name="stress-event-loop", daemon=True)
    thread.start()
    progress = _Progress(outcome, timeout_s)
    while thread.is_alive() and not progress.stalled():
        thread.join(0.01)
        lag = _real_monotonic() - beat[0]
        if lag > run.longest_lag_s and thread.is_alive():
            run.longest_lag_s = lag
            run.lag_stack = _thread_stack(thread)
        if lag > LOOP_LAG_S:
            break
    if thread.is_alive():
        outcome.unfinished = count - outcome.finished
        outcome.stacks = _all_stacks(loop)
        if main:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(main[0].cancel)
        thread.join(0.5)
    return outcome


class _Progress:
    """The deadlock deadline: ``timeout_s`` without a call finishing (on a loaded machine slow
    calls still finish one by one; deadlocked ones never do), at most twice that in all."""

    def __init__(self, outcome: Outcome, timeout_s: float) -> None:
        self.outcome, self.timeout_s = outcome, timeout_s
        self.started = self.last = _real_monotonic()
        self.finished = 0

    def stalled(self) -> bool:
        now = _real_monotonic()
        if self.outcome.finished > self.finished:
            self.finished, self.last = self.outcome.finished, now
        return now - self.last > self.timeout_s or now - self.started > 2 * self.timeout_s


def _run_in_threads(
    run: Stress,
    calls: list[Callable[[], Any]],
    count: int,
    timeout_s: float,
    repeat: int = 1,
) -> Outcome:
    outcome = Outcome(count, timeout_s)
    start_together = threading.Barrier(count)
    lock = threading.Lock()

    def one(make_call: Callable[[], Any]) -> None:
        try:
            with contextlib.suppress(threading.BrokenBarrierError):
                start_together.wait(timeout_s)
            for _ in range(repeat):
                result = _settled(make_call())
                with lock:
                    outcome.results.append(result)
        except BaseException as error:  # noqa: B036 - the outcome records what happened
            with lock:
                outcome.add_error(error)
        finally:
            with lock:
                outcome.finished += 1

    threads = [
        threading.Thread(
            target=one, args=(calls[i % len(calls)],), name=f"stress-call-{i}", daemon=True
        )
        for i in range(count)
    ]
    for thread in threads:
        thread.start()
    progress = _Progress(outcome, timeout_s)
    while any(thread.is_alive() for thread in threads) and not progress.stalled():
        _real_sleep(0.01)
    outcome.unfinished = sum(thread.is_alive() for thread in threads)
    if outcome.unfinished:
        outcome.stacks = _all_stacks(None)
    return outcome


def _run_cancelled(run: Stress, call: Callable[[], Any], file: str, lines: tuple[int, int]) -> Any:
    """Start ``call`` as a task, cancel it while it is suspended at an await between ``lines``
    of ``file``, and see whether it ends cancelled."""
    result = types.SimpleNamespace(problem="")
    loop = _new_loop(run)
    wanted = os.path.normcase(os.path.abspath(file))

    def suspended_inside(task: asyncio.Task[Any]) -> bool:
        for frame, line in _await_chain(task):
            if os.path.normcase(os.path.abspath(frame.f_code.co_filename)) == wanted:
                if lines[0] <= line <= lines[1]:
                    return True
        return False

    async def scenario() -> None:
        async def entry() -> Any:
            value = call()
            return await value if inspect.isawaitable(value) else value

        task = asyncio.ensure_future(entry())
        for _ in range(2000):
            await asyncio.sleep(0)
            if task.done() or suspended_inside(task):
                break
        if task.done():
            return  # it finished before reaching the handler: nothing to cancel
        if not suspended_inside(task):
            return  # never suspended where the handler is: inconclusive, not a failure
        task.cancel()
        # Counted loop turns, not seconds: a task that re-raises ends within a few turns (its
        # cleanup awaits fakes); one still running after this many swallowed the cancellation.
        for _ in range(CANCEL_TURNS):
            await asyncio.sleep(0)
            if task.done():
                break
        if not task.done():
            result.problem = (
                "swallowed cancellation: the task was cancelled while it awaited (line "
                f"{lines[0]}-{lines[1]}) and kept running; whoever cancels it waits forever:\n"
                + "".join(traceback.StackSummary.extract(_await_chain(task)).format())
            )
            task.cancel()
            return
        if not task.cancelled():
            error = task.exception()
            how = "returned normally" if error is None else f"raised {error!r} instead"
            result.problem = (
                f"swallowed cancellation: the task was cancelled while it awaited (line "
                f"{lines[0]}-{lines[1]}) and {how}: CancelledError must propagate, or "
                "task.cancel(), timeouts and TaskGroup shutdown stop working"
            )

    def run_loop() -> None:
        asyncio.set_event_loop(loop)
        run.loop_thread_id = threading.get_ident()
        try:
            loop.run_until_complete(scenario())
        except BaseException as error:  # noqa: B036
            result.problem = result.problem or f"the run failed: {error!r}"
        finally:
            run.loop_thread_id = None
            loop.close()
            asyncio.set_event_loop(None)

    thread = threading.Thread(target=run_loop, name="stress-event-loop", daemon=True)
    thread.start()
    thread.join(TIMEOUT_S * 5)
    if thread.is_alive():
        result.problem = "swallowed cancellation: the cancelled task never finished"
    return result


def _run_dropping(run: Stress, calls: list[Callable[[], Any]]) -> Outcome:
    """Run the calls with ``asyncio.sleep`` and fakes' awaits resolved by a ticker that holds
    them only weakly, collecting garbage between ticks: a task nobody references is then
    destroyed while pending, as it can be in production."""
    outcome = Outcome(len(calls), TIMEOUT_S)
    loop = _new_loop(run)
    waiting: weakref.WeakSet[asyncio.Future[Any]] = weakref.WeakSet()
    run.weak_waiting = waiting
    real_sleep = asyncio.sleep

    async def weak_sleep(delay: float, result: Any = None) -> Any:
        if not _called_by_project():
            return await real_sleep(0, result)  # a library's own checkpoint: never dropped
        future = loop.create_future()
        waiting.add(future)
        await future
        return result

    async def ticker(calls_done: asyncio.Event) -> None:
        # Garbage collected at every loop turn, then what waits (weakly held) is resolved;
        # from the first call to DROP_TURNS turns after the last.
        after = 0
        while after < DROP_TURNS:
            await real_sleep(0)
            # The young generations: a task dropped since the last turn is there (a full
            # collection at every turn costs ~50 ms with a web framework loaded).
            gc.collect(1)
            for future in list(waiting):
                if not future.done():
                    future.set_result(None)
            if calls_done.is_set():
                after += 1

    async def scenario() -> None:
        calls_done = asyncio.Event()
        ticking = asyncio.ensure_future(ticker(calls_done))
        for make_call in calls:
            try:
                value = make_call()
                outcome.results.append(await value if inspect.isawaitable(value) else value)
            except BaseException as error:  # noqa: B036
                outcome.add_error(error)
        calls_done.set()
        await ticking

    def run_loop() -> None:
        asyncio.set_event_loop(loop)
        run.loop_thread_id = threading.get_ident()
        try:
            loop.run_until_complete(scenario())
        finally:
            run.loop_thread_id = None
            gc.collect()
            loop.close()
            asyncio.set_event_loop(None)

    run.patch(asyncio, "sleep", weak_sleep)
    try:
        thread = threading.Thread(target=run_loop, name="stress-event-loop", daemon=True)
        thread.start()
        thread.join(TIMEOUT_S)
    finally:
        run.weak_waiting = None
        for index in range(len(run._patches) - 1, -1, -1):
            owner, name, old = run._patches[index]
            if owner is asyncio and name == "sleep":
                setattr(asyncio, name, old)
                del run._patches[index]
                break
    gc.collect()
    return outcome


def _run_leaking(
    run: Stress, calls: list[Callable[[], Any]], *, threads: bool, count: int
) -> Outcome:
    """The lock-leak oracle's driver: ``count`` calls one after the other, each interrupted
    inside its locked section, stopping at the first that leaves a lock or permit behind."""
    outcome = Outcome(count, TIMEOUT_S)
    outcome.how = {}  # type: ignore[attr-defined]
    if threads:
        for index in range(count):
            run._fail_in_section = True
            thread = threading.Thread(
                target=_call_in_thread,
                args=(calls[index % len(calls)], outcome),
                name=f"stress-call-{index}",
                daemon=True,
            )
            thread.start()
            thread.join(TIMEOUT_S)
            run._fail_in_section = False
            if thread.is_alive():
                outcome.unfinished = 1
                outcome.stacks = _all_stacks(None)
                break
            outcome.finished += 1
            if run.leaks():
                break
        return outcome
    loop = _new_loop(run)

    async def call(make_call: Callable[[], Any]) -> None:
        try:
            value = make_call()
            if inspect.isawaitable(value):
                await value
        except BaseException as error:  # noqa: B036 - the outcome records what happened
            outcome.add_error(error)

    async def scenario() -> None:
        for index in range(count):
            cancel = index % 2 == 0  # a cancellation, then a failure, then a cancellation...
            run._fail_in_section = not cancel
            task = loop.create_task(call(calls[index % len(calls)]), name=f"stress-call-{index}")
            if cancel:
                for _ in range(CANCEL_TURNS):
                    await asyncio.sleep(0)
                    if task.done() or run.holds(task):
                        break
                if not task.done() and run.holds(task):
                    task.cancel()
                    outcome.how[id(task)] = (  # type: ignore[attr-defined]
                        "it was cancelled while it awaited inside the section"
                    )
            done, _ = await asyncio.wait({task}, timeout=TIMEOUT_S)
            run._fail_in_section = False
            if not done:
                outcome.unfinished = 1
                outcome.stacks = _all_stacks(loop)
                task.cancel()
                return
            outcome.finished += 1
            if run.leaks():
                return

    def run_loop() -> None:
        asyncio.set_event_loop(loop)
        run.loop_thread_id = threading.get_ident()
        try:
            loop.run_until_complete(scenario())
        finally:
            run.loop_thread_id = None
            loop.close()
            asyncio.set_event_loop(None)

    thread = threading.Thread(target=run_loop, name="stress-event-loop", daemon=True)
    thread.start()
    thread.join(TIMEOUT_S * (count + 1))
    return outcome


def _call_in_thread(make_call: Callable[[], Any], outcome: Outcome) -> None:
    try:
        _settled(make_call())
    except BaseException as error:  # noqa: B036 - the outcome records what happened
        outcome.add_error(error)


def _settled(value: Any) -> Any:
    """On a thread: a coroutine (or other awaitable the code returned) run to its end on a
    loop of its own; a fake stays a fake (it is awaitable, but nothing waits for it)."""
    if isinstance(value, Fake) or not inspect.isawaitable(value):
        return value
    if inspect.iscoroutine(value):
        return asyncio.run(value)

    async def wait() -> Any:
        return await value

    return asyncio.run(wait())


def _next_acquire_waits(primitive: Any) -> bool:
    """Does a new acquire() of the leaked ``primitive`` time out (WATCHDOG_S)?"""
    inner = primitive.inner
    if isinstance(inner, (asyncio.Lock, asyncio.Semaphore)):

        async def acquire() -> bool:
            try:
                await asyncio.wait_for(inner.acquire(), WATCHDOG_S)
            except (asyncio.TimeoutError, RuntimeError):
                return True
            inner.release()
            return False

        return asyncio.run(acquire())
    got = inner.acquire(True, WATCHDOG_S)
    if got:
        inner.release()
    return not got


@contextlib.contextmanager
def _switching_at_every_bytecode(run: Stress) -> Iterator[None]:
    """Threads started inside pause at every bytecode of the project's code (not the
    libraries', not the tests'), so that another thread runs between a read and its write."""
    root = str(run.root) + os.sep
    tests = str(run.stress_dir) + os.sep

    def each_bytecode(frame: Any, event: str, arg: Any) -> Any:
        if event == "opcode":
            _real_sleep(SWITCH_S)
        return each_bytecode

    def on_call(frame: Any, event: str, arg: Any) -> Any:
        filename = frame.f_code.co_filename
        if filename.startswith(root) and not filename.startswith(tests):
            if "-packages" not in filename:
                frame.f_trace_opcodes = True
                return each_bytecode
        return None

    threading.settrace(on_call)
    try:
        yield
    finally:
        threading.settrace(None)  # type: ignore[arg-type]


async def _asgi_request(
    app: Any, method: str, path: str, query: dict[str, Any], json_body: Any
) -> int:
    body = b"" if json_body is None else json.dumps(json_body).encode()
    headers = [(b"host", b"stress.test"), (b"content-length", str(len(body)).encode())]
    if json_body is not None:
        headers.append((b"content-type", b"application/json"))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": urllib.parse.urlencode(query, doseq=True).encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("stress.test", 80),
        "state": {},
    }
    done = asyncio.Event()
    sent = False
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(int(message["status"]))
        elif message["type"] == "http.response.body" and not message.get("more_body"):
            done.set()

    await app(scope, receive, send)
    done.set()
    code = status[0] if status else 500
    if code >= 500:
        raise AssertionError(f"{method} {path} answered {code}")
    return code


_AIOHTTP_STARTED: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


async def _aiohttp_request(run: Stress, app: Any, method: str, path: str) -> int:
    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    if app is None:
        raise AssertionError("no aiohttp application to send the request to")
    loop = asyncio.get_running_loop()
    started = _AIOHTTP_STARTED.get(loop)
    if started is None:
        started = _AIOHTTP_STARTED[loop] = {}
    if id(app) not in started:

        async def startup() -> None:
            app.freeze()
            await app.startup()

        started[id(app)] = asyncio.ensure_future(startup())
    await asyncio.shield(started[id(app)])
    request = make_mocked_request(method, path, app=app)
    try:
        response = await app._handle(request)
    except web.HTTPException as error:
        response = error
    status = int(response.status)
    if status >= 500:
        raise AssertionError(f"{method} {path} answered {status}")
    return status


_DJANGO_NOT_READY = ("ImproperlyConfigured", "AppRegistryNotReady")


def _configure_django(run: Stress, *, always: bool = False) -> bool:
    """A project module that imports Django (or, ``always``, one whose import needed it) gets
    a minimal configuration when the project gives none (DJANGO_SETTINGS_MODULE unset): a
    database file inside ``tmp_path``. True when Django was configured here."""
    if os.environ.get("DJANGO_SETTINGS_MODULE"):
        return False
    if not always and not _imports_django(run.module_name):
        return False
    try:
        import django
        from django.conf import settings
    except ImportError:
        return False
    if settings.configured:
        return False
    settings.configure(
        DEBUG=False,
        SECRET_KEY="riskhints-stress",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=None,
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(run.tmp_path / "stress.sqlite3"),
            }
        },
        USE_TZ=True,
    )
    django.setup()
    return True


def _imports_django(module_name: str) -> bool:
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        return False
    origin = getattr(spec, "origin", None)
    if not origin or not origin.endswith(".py"):
        return False
    with _real_open(origin, encoding="utf-8", errors="replace") as handle:
        source = handle.read()
    return any(
        line.lstrip().startswith(("import django", "from django")) for line in source.splitlines()
    )


# -- stacks --------------------------------------------------------------------------------------


def _thread_stack(thread: threading.Thread) -> str:
    frame = sys._current_frames().get(thread.ident or -1)
    if frame is None:
        return "(stack not available)\n"
    return "".join(traceback.format_stack(frame)[-SHOWN_STACKS:])


def _await_chain(task: asyncio.Task[Any]) -> Iterator[tuple[Any, int]]:
    awaitable: Any = task.get_coro()
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        if frame is None:
            return
        yield frame, frame.f_lineno
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)


def _all_stacks(loop: asyncio.AbstractEventLoop | None) -> str:
    groups: dict[str, list[str]] = {}
    if loop is not None:
        try:
            tasks = list(asyncio.all_tasks(loop))
        except RuntimeError:
            tasks = []
        for task in tasks:
            stack = "".join(traceback.StackSummary.extract(_await_chain(task)).format())
            groups.setdefault(stack or "(not started)\n", []).append(f"task {task.get_name()}")
    frames = sys._current_frames()
    for thread in threading.enumerate():
        frame = frames.get(thread.ident or -1)
        if thread.ident == threading.get_ident() or frame is None:
            continue
        stack = "".join(traceback.format_stack(frame)[-SHOWN_STACKS:])
        groups.setdefault(stack, []).append(f"thread {thread.name}")
    sections = []
    for stack, owners in list(groups.items())[:SHOWN_STACKS]:
        shown = ", ".join(owners[:4]) + (f" and {len(owners) - 4} more" if len(owners) > 4 else "")
        sections.append(f"--- {shown}:\n{stack}")
    return "Stacks of the tasks and threads:\n" + "\n".join(sections)
