"""RH205-RH208: acquire without release, Condition.wait outside a re-checking loop, blocking
waits under a lock and Queue.join without task_done — and the facts they stand on."""

from __future__ import annotations

import ast
import textwrap

from riskhints.analysis import analyze_source
from riskhints.analysis.facts import ModuleFacts, build_module_facts


def facts_of(source: str, module: str = "app.svc") -> ModuleFacts:
    source = textwrap.dedent(source)
    return build_module_facts(ast.parse(source), source, module, "app/svc.py")


def findings(source: str, rule: str) -> list[int]:
    """Lines of the findings of one rule."""
    found = analyze_source(textwrap.dedent(source), "app/svc.py")
    return sorted(f.span.line for f in found if f.rule == rule)


# -- facts: ``if not lock.acquire(...): <exit>`` ---------------------------------------------


def test_negated_acquire_guard_holds_the_lock_for_the_rest_of_the_block() -> None:
    facts = facts_of(
        """
        import threading
        lock = threading.Lock()

        def post(db):
            if not lock.acquire(timeout=2):
                raise TimeoutError("busy")
            db.write()
            lock.release()
            db.close()
        """
    )
    fn = facts.functions["app.svc.post"]
    assert [(op.form, op.released_on_all_paths) for op in fn.lock_ops] == [("acquire", False)]
    held = {c.text: [h.lock.key for h in c.held] for c in fn.calls}
    assert held["TimeoutError"] == []  # the guard's own body runs without the lock
    assert held["db.write"] == ["app.svc.lock"]
    assert held["db.close"] == []


def test_negated_acquire_guard_followed_by_try_finally_is_released() -> None:
    facts = facts_of(
        """
        import threading
        lock = threading.Lock()

        def warm(fetch):
            if not lock.acquire(blocking=False):
                return
            try:
                fetch()
            finally:
                lock.release()
        """
    )
    (op,) = facts.functions["app.svc.warm"].lock_ops
    assert op.released_on_all_paths


def test_negated_guard_that_falls_through_is_not_an_acquisition() -> None:
    facts = facts_of(
        """
        import threading
        lock = threading.Lock()

        def maybe(log):
            if not lock.acquire(blocking=False):
                log("busy")
            log("after")
        """
    )
    assert facts.functions["app.svc.maybe"].lock_ops == []


# -- RH205 -------------------------------------------------------------------------------------


def test_rh205_function_that_never_releases_hands_the_lock_on() -> None:
    source = """
        import asyncio

        class Spawner:
            def __init__(self):
                self._slots = asyncio.Semaphore(4)

            async def spawn(self, coro, tasks):
                await self._slots.acquire()
                task = asyncio.create_task(coro)
                tasks.add(task)
                task.add_done_callback(lambda _t: self._slots.release())

            def begin(self):
                self._slots.acquire()
                self.started = True

            def commit(self):
                self._slots.release()
        """
    assert findings(source, "RH205") == []


def test_rh205_release_after_unprotected_work_is_reported() -> None:
    source = """
        import threading
        lock = threading.Lock()

        def post(db):
            if not lock.acquire(timeout=2):
                raise TimeoutError("busy")
            db.write()
            lock.release()
        """
    assert findings(source, "RH205") == [6]


def test_rh205_catch_all_handler_that_releases_and_reraises() -> None:
    template = """
        import threading, asyncio
        sem = threading.Semaphore(3)
        asem = asyncio.Semaphore(3)

        def sync_submit(pool, job):
            sem.acquire()
            try:
                fut = pool.submit(job)
            except {sync_kind}:
                sem.release()
                raise
            fut.add_done_callback(lambda _f: sem.release())

        async def async_call(client):
            await asem.acquire()
            try:
                body = await client.get("/")
            except {async_kind}:
                asem.release()
                raise
            asem.release()
            return body
        """
    # ``except Exception`` covers a sync function, not a cancelled coroutine.
    assert findings(template.format(sync_kind="Exception", async_kind="Exception"), "RH205") == [16]
    assert findings(
        template.format(sync_kind="ValueError", async_kind="BaseException"), "RH205"
    ) == [7]
    assert (
        findings(template.format(sync_kind="BaseException", async_kind="BaseException"), "RH205")
        == []
    )


def test_rh205_message_grammar() -> None:
    found = analyze_source(
        textwrap.dedent(
            """
            import asyncio
            sem = asyncio.Semaphore(2)

            async def call(client):
                await sem.acquire()
                await client.get("/")
                sem.release()
            """
        ),
        "app/svc.py",
    )
    (finding,) = [f for f in found if f.rule == "RH205"]
    assert "a cancellation or exception before release()" in finding.message


# -- RH206 -------------------------------------------------------------------------------------


def test_rh206_wait_inside_loop_must_lead_back_to_the_check() -> None:
    source = """
        import threading
        cond = threading.Condition()
        items = []

        def falls_through(running):
            while running():
                with cond:
                    if not items:
                        cond.wait()
                    items.pop()

        def continues(running):
            while running():
                with cond:
                    if not items:
                        cond.wait(0.5)
                        continue
                    items.pop()

        def last_in_branch(deadline):
            while not items:
                if deadline is None:
                    cond.wait()
                else:
                    cond.wait(deadline)

        def inner_for_loop():
            while True:
                for _ in range(3):
                    if not items:
                        cond.wait(1)
                break

        def in_while_test():
            while not cond.wait(1):
                pass

        def try_else(log):
            while not items:
                try:
                    cond.wait()
                except RuntimeError:
                    return
                else:
                    log("woke")
        """
    assert findings(source, "RH206") == [10, 32, 42]


def test_rh206_wait_outside_any_loop_and_wait_for() -> None:
    source = """
        import asyncio
        cond = asyncio.Condition()
        state = {}

        async def once():
            async with cond:
                if not state:
                    await cond.wait()

        async def with_predicate():
            async with cond:
                await cond.wait_for(lambda: bool(state))
        """
    assert findings(source, "RH206") == [9]


# -- RH207 -------------------------------------------------------------------------------------


def test_rh207_queue_put_waits_only_on_bounded_queues() -> None:
    source = """
        import queue, threading
        lock = threading.Lock()
        unbounded = queue.Queue()
        zero = queue.Queue(maxsize=0)
        positional = queue.Queue(100)

        class Router:
            def __init__(self, size):
                self._out = queue.Queue(maxsize=size)

            def route(self, item):
                with lock:
                    self._out.put(item)

        def publish(item, given: queue.Queue):
            with lock:
                unbounded.put(item)
                zero.put(item)
                positional.put(item)
                given.put(item)
                positional.put(item, block=False)
        """
    assert findings(source, "RH207") == [14, 20]


def test_rh207_follows_helpers_past_non_waiting_calls() -> None:
    source = """
        import threading, time, requests
        lock = threading.Lock()

        def _retry(url):
            requests.post(url, timeout=5)
            _backoff()

        def _backoff():
            time.sleep(1)

        def flush(url):
            with lock:
                _retry(url)
        """
    found = [f for f in analyze_source(textwrap.dedent(source), "app/svc.py") if f.rule == "RH207"]
    assert [f.span.line for f in found] == [14]
    assert "time.sleep" in found[0].message
    assert [e.span.line for e in found[0].evidence] == [13, 14, 7, 10]


def test_rh207_done_callback_future_and_semaphore_permits() -> None:
    source = """
        import threading, subprocess
        from concurrent.futures import Future
        lock = threading.Lock()
        wide = threading.Semaphore(4)
        narrow = threading.Semaphore(1)

        def on_done(fut: Future):
            with lock:
                fut.result()

        def not_a_callback(fut: Future):
            with lock:
                fut.result()

        def render(cmd):
            with wide:
                subprocess.Popen(cmd).wait()
            with narrow:
                subprocess.Popen(cmd).wait()
            with lock:
                subprocess.run(cmd)

        def start(pool, job):
            pool.submit(job).add_done_callback(on_done)
        """
    assert findings(source, "RH207") == [14, 20]


def test_rh207_condition_wait_releases_the_lock_it_was_built_on() -> None:
    source = """
        import threading

        class Buffer:
            def __init__(self):
                self._mutex = threading.Lock()
                self._other = threading.Lock()
                self._ready = threading.Condition(self._mutex)
                self._items = []

            def pop(self):
                with self._mutex:
                    while not self._items:
                        self._ready.wait()
                    return self._items.pop()

            def pop_nested(self):
                with self._other:
                    with self._ready:
                        self._ready.wait_for(lambda: self._items)
        """
    assert findings(source, "RH207") == [20]


# -- RH208 -------------------------------------------------------------------------------------


def test_rh208_task_done_on_another_queue_does_not_count() -> None:
    source = """
        import asyncio

        class Processor:
            def __init__(self):
                self._jobs = asyncio.Queue()
                self._audit = asyncio.Queue()

            async def jobs_forever(self):
                while True:
                    await self._jobs.get()

            async def audit_forever(self):
                while True:
                    await self._audit.get()
                    self._audit.task_done()

            async def flush(self):
                await self._jobs.join()
                await self._audit.join()
        """
    assert findings(source, "RH208") == [19]


def test_rh208_needs_visible_consumers() -> None:
    source = """
        import asyncio
        from crawler.workers import start

        async def crawl(seeds, request_id):
            frontier = asyncio.Queue()
            start(frontier)
            request_id.get()
            for url in seeds:
                frontier.put_nowait(url)
            await frontier.join()
        """
    assert findings(source, "RH208") == []


def test_rh208_task_done_skipped_by_a_swallowing_handler() -> None:
    template = """
        import asyncio

        async def worker(q, handle, log):
            while True:
                item = await q.get()
                try:
                    await handle(item)
                    q.task_done()
                except ValueError:
                    log(item)
                    {handler_tail}

        async def run(items, handle, log):
            q = asyncio.Queue()
            asyncio.create_task(worker(q, handle, log))
            for item in items:
                q.put_nowait(item)
            await q.join()
        """
    assert findings(template.format(handler_tail="pass"), "RH208") == [19]
    assert findings(template.format(handler_tail="q.task_done()"), "RH208") == []
    assert findings(template.format(handler_tail="raise"), "RH208") == []


def test_rh208_task_done_passed_as_a_callback_is_trusted() -> None:
    source = """
        import queue, threading

        def run(items, pool):
            q = queue.Queue()

            def consume():
                while True:
                    item = q.get()
                    pool.submit(item).add_done_callback(lambda _f: q.task_done())

            threading.Thread(target=consume, daemon=True).start()
            for item in items:
                q.put(item)
            q.join()
        """
    assert findings(source, "RH208") == []
