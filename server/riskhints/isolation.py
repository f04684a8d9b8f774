"""Python child processes that cannot see the workspace.

A Python started the ordinary ways puts a folder of the workspace first on ``sys.path``: ``-c``
and ``-m`` put the current directory there (the server's is the project when Neovim starts it),
and ``multiprocessing`` starts its spawn children and its resource tracker with ``-c`` in the
parent's current directory. A ``threading.py`` or ``runpy.py`` committed to a repository then runs
as soon as the child imports the standard module of that name. So riskhints never uses
``multiprocessing``; its children (the server's big-document worker, ``riskhints check --jobs``)
are :class:`IsolatedPool` workers, each started:

- with ``python -I`` (no ``PYTHON*`` variables, no user site-packages, no script or current
  folder on ``sys.path``) and an environment without ``PYTHON*`` variables (:func:`child_env`);
- with ``sys.path`` set to the parent's absolute entries (riskhints' own folder first), never
  an empty, relative or current-directory entry (:func:`child_sys_path`);
- in a folder that is no workspace (:func:`neutral_cwd`), so nothing relative resolves there.

A worker reads pickled ``(function, args)`` calls on stdin and writes pickled results to a copy
of its stdout taken at start (its own stdout then goes to stderr: a stray print cannot corrupt
the protocol). The pickles come from this process only; nothing of the workspace is unpickled.
"""

from __future__ import annotations

import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import IO, Any

#: The folder holding the ``riskhints`` package (on ``sys.path`` of every child).
PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)
_HEADER = 8
_STOP_S = 5.0


class WorkerDied(RuntimeError):
    """A worker process ended (killed, out of memory) before answering a call."""


def neutral_cwd() -> str:
    """The working directory of children: the filesystem root, never a workspace."""
    return os.path.abspath(os.sep)


def child_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment variables of a Python child process that must not see the workspace."""
    source = os.environ if environ is None else environ
    env = {k: v for k, v in source.items() if not k.startswith("PYTHON")}
    env.update(PYTHONNOUSERSITE="1", PYTHONSAFEPATH="1", PYTHONDONTWRITEBYTECODE="1")
    return env


def child_sys_path(path: Sequence[str] | None = None, cwd: str | None = None) -> list[str]:
    """``sys.path`` of a child: riskhints' folder, then this process's absolute entries except
    the current directory (where a ``-m`` start put it)."""
    entries = sys.path if path is None else path
    here = os.path.normcase(os.path.abspath(cwd if cwd is not None else os.getcwd()))
    kept = [PACKAGE_ROOT]
    for entry in entries:
        if not entry or not os.path.isabs(entry) or os.path.normcase(entry) == here:
            continue
        if entry not in kept:
            kept.append(entry)
    return kept


def python_command(code: str) -> list[str]:
    """``python -I -c <code>`` with :func:`child_sys_path` set before ``code`` imports anything."""
    bootstrap = f"import sys; sys.path[:] = {child_sys_path()!r}\n{code}"
    return [sys.executable, "-I", "-c", bootstrap]


class IsolatedPool(Executor):
    """A process pool of isolated workers (see the module docstring), started on first use.

    Calls are queued; each worker takes the next one when it is free. A worker that dies fails
    its call with :class:`WorkerDied` and is replaced for the next one. ``initializer`` runs once
    in every worker before its first call (as ``ProcessPoolExecutor``'s does)."""

    def __init__(
        self,
        max_workers: int,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        self._max_workers = max(1, max_workers)
        self._setup = (initializer, initargs) if initializer is not None else None
        self._calls: queue.SimpleQueue[
            tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None
        ]
        self._calls = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._processes: set[subprocess.Popen[bytes]] = set()
        self._closed = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if kwargs:
            raise TypeError("IsolatedPool.submit takes positional arguments only")
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new calls after shutdown")
            self._calls.put((future, fn, args))
            if len(self._threads) < self._max_workers:
                thread = threading.Thread(
                    target=self._drive, name="riskhints-isolated-worker", daemon=True
                )
                self._threads.append(thread)
                thread.start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        if cancel_futures:
            while True:
                try:
                    item = self._calls.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[0].cancel()
            if not wait:  # a call under way is abandoned: its worker is ended now
                for process in list(self._processes):
                    process.kill()
        for _ in threads:
            self._calls.put(None)
        if wait:
            for thread in threads:
                thread.join()

    # -- the thread that drives one worker process ----------------------------------------------
    def _drive(self) -> None:
        process: subprocess.Popen[bytes] | None = None
        try:
            while True:
                item = self._calls.get()
                if item is None:
                    return
                future, fn, args = item
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    if process is None or process.poll() is not None:
                        process = self._start()
                    ok, value = _call(process, fn, args)
                except (OSError, EOFError, pickle.PickleError, WorkerDied) as error:
                    if process is not None:
                        self._end(process)
                    process = None
                    future.set_exception(WorkerDied(f"isolated worker failed: {error!r}"))
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
        finally:
            if process is not None:
                self._end(process)

    def _start(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            python_command("from riskhints.isolation import serve_calls; serve_calls()"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=neutral_cwd(),
            env=child_env(),
        )
        self._processes.add(process)
        if self._setup is not None:
            ok, value = _call(process, *self._setup)
            if not ok:
                self._end(process)
                raise WorkerDied(f"the worker's initializer failed: {value!r}")
        return process

    def _end(self, process: subprocess.Popen[bytes]) -> None:
        self._processes.discard(process)
        try:
            if process.stdin is not None:
                process.stdin.close()
            process.wait(timeout=_STOP_S)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()


def _call(
    process: subprocess.Popen[bytes], fn: Callable[..., Any], args: tuple[Any, ...]
) -> tuple[bool, Any]:
    assert process.stdin is not None and process.stdout is not None
    _send(process.stdin, (fn, args))
    answer = _receive(process.stdout)
    if answer is None:
        raise WorkerDied(f"the worker exited with {process.wait()}")
    ok, value = answer
    return bool(ok), value


def _send(stream: IO[bytes], value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(_HEADER, "big") + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    header = stream.read(_HEADER)
    if len(header) < _HEADER:
        return None
    size = int.from_bytes(header, "big")
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)


def serve_calls() -> None:
    """A worker's main loop (runs in the child): answer calls until stdin closes."""
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    calls = sys.stdin.buffer
    while True:
        call = _receive(calls)
        if call is None:
            return
        fn, args = call
        try:
            answer: tuple[bool, object] = (True, fn(*args))
        except Exception as error:
            answer = (False, error)
        try:
            _send(answers, answer)
        except (pickle.PickleError, TypeError, AttributeError) as error:
            _send(answers, (False, RuntimeError(f"unpicklable answer: {error!r}")))
