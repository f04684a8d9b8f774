"""Name resolution and the one-pass facts: what every rule stands on."""

from __future__ import annotations

import ast
import textwrap

from riskhints.analysis.facts import ModuleFacts, build_module_facts
from riskhints.analysis.summaries import Program


def facts_of(source: str, module: str = "app.svc") -> ModuleFacts:
    source = textwrap.dedent(source)
    return build_module_facts(ast.parse(source), source, module, "app/svc.py")


def callees(facts: ModuleFacts, function: str) -> list[str | None]:
    fn = facts.functions[f"{facts.module}.{function}"]
    return sorted((c.callee or "?") for c in fn.calls)


def test_import_aliases_resolve_to_qualified_names() -> None:
    facts = facts_of(
        """
        import time as t
        import urllib.request
        from asyncio import sleep as nap, Lock
        from requests import get as http_get

        async def handler():
            t.sleep(1)
            await nap(1)
            http_get("https://example.com")
            urllib.request.urlopen("https://example.com")
        """
    )
    assert callees(facts, "handler") == [
        "asyncio.sleep",
        "requests.get",
        "time.sleep",
        "urllib.request.urlopen",
    ]


def test_relative_imports_resolve_against_the_package() -> None:
    facts = facts_of(
        """
        from .db import connect
        from ..shared import clock

        def run():
            connect()
            clock.now()
        """,
        module="app.api.routes",
    )
    assert callees(facts, "run") == ["app.api.db.connect", "app.shared.clock.now"]


def test_self_attributes_from_init_class_body_and_annotations() -> None:
    facts = facts_of(
        """
        import asyncio
        import threading
        from concurrent.futures import ThreadPoolExecutor

        class Service:
            registry_lock = threading.RLock()
            pool: ThreadPoolExecutor

            def __init__(self, lock: asyncio.Lock | None = None):
                self._lock = lock or asyncio.Lock()
                self._sem = asyncio.Semaphore(1)
                self._loop = asyncio.get_event_loop()
        """
    )
    attrs = facts.classes["app.svc.Service"].attr_types
    assert attrs == {
        "registry_lock": "threading.RLock",
        "pool": "concurrent.futures.ThreadPoolExecutor",
        "_lock": "asyncio.Lock",
        "_sem": "asyncio.Semaphore",
        "_loop": "asyncio.AbstractEventLoop",
    }
    assert facts.binary_semaphores == {"app.svc.Service._sem"}
    assert facts.classes["app.svc.Service"].instance_attrs == {"_lock", "_sem", "_loop"}


def test_classmethod_receiver_resolves_to_the_class() -> None:
    facts = facts_of(
        """
        import threading

        class Registry:
            _lock = threading.Lock()

            @classmethod
            def register(cls, name):
                with cls._lock:
                    cls._names.add(name)
        """
    )
    [op] = facts.functions["app.svc.Registry.register"].lock_ops
    assert (op.lock.key, op.lock.type, op.form) == (
        "app.svc.Registry._lock",
        "threading.Lock",
        "with",
    )


def test_method_calls_on_typed_receivers() -> None:
    facts = facts_of(
        """
        import asyncio
        import requests

        session = requests.Session()

        async def main():
            loop = asyncio.get_running_loop()
            loop.run_until_complete(main())
            session.get("https://example.com")
        """
    )
    assert callees(facts, "main") == [
        "app.svc.main",
        "asyncio.AbstractEventLoop.run_until_complete",
        "asyncio.get_running_loop",
        "requests.Session.get",
    ]


def test_held_locks_and_awaits_are_tracked_lexically() -> None:
    facts = facts_of(
        """
        import asyncio
        import threading

        _a = threading.Lock()
        _b = asyncio.Lock()

        async def work(client):
            with _a:
                async with _b:
                    await client.send()
            await client.close()
        """
    )
    fn = facts.functions["app.svc.work"]
    held = {a.span.line: [h.lock.key for h in a.held] for a in fn.awaits}
    assert held == {10: ["app.svc._a"], 11: ["app.svc._a", "app.svc._b"], 12: []}


def test_explicit_acquire_is_held_until_release_and_finally_counts() -> None:
    facts = facts_of(
        """
        import threading

        _lock = threading.Lock()

        def guarded(job):
            _lock.acquire()
            try:
                job.run()
            finally:
                _lock.release()
            job.done()

        def leaky(job):
            _lock.acquire()
            job.run()
            _lock.release()
        """
    )
    guarded = facts.functions["app.svc.guarded"]
    assert [op.released_on_all_paths for op in guarded.lock_ops] == [True]
    run_calls = [c for c in guarded.calls if c.text == "job.run"]
    assert [h.lock.key for h in run_calls[0].held] == ["app.svc._lock"]
    done_calls = [c for c in guarded.calls if c.text == "job.done"]
    assert done_calls[0].held == ()
    assert [op.released_on_all_paths for op in facts.functions["app.svc.leaky"].lock_ops] == [False]


def test_call_usage_classification() -> None:
    facts = facts_of(
        """
        async def check(user): ...

        async def view(user):
            check(user)
            if check(user):
                pass
            allowed = check(user)
            print(check(user))
            await check(user)
            return check(user)
        """
    )
    fn = facts.functions["app.svc.view"]
    usages = sorted((c.span.line, c.usage) for c in fn.calls if c.callee == "app.svc.check")
    assert usages == [
        (5, "discarded"),
        (6, "condition"),
        (8, "assigned"),
        (9, "argument"),
        (10, "awaited"),
        (11, "returned"),
    ]


def test_thread_entry_points() -> None:
    facts = facts_of(
        """
        import asyncio
        import functools
        import threading
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(4)

        def poll(): ...
        def resize(path, width): ...
        def persist(): ...
        def not_threaded(): ...

        async def start():
            threading.Thread(target=poll, daemon=True).start()
            pool.submit(functools.partial(resize, "a.png", 64))
            await asyncio.to_thread(persist)
            not_threaded()
        """
    )
    program = Program([facts])
    entries = program.thread_entry_points()
    assert sorted(entries) == ["app.svc.persist", "app.svc.poll", "app.svc.resize"]
    assert entries["app.svc.poll"].message == "threading.Thread() runs poll() in a thread"
