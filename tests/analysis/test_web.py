"""RH402, RH501, RH508: web entry points found from data, where they run, and what counts as
shared state, a sync session and a closed client session."""

from __future__ import annotations

import textwrap

from riskhints.analysis import analyze_source
from riskhints.analysis.finding import Finding


def _findings(source: str, rule: str) -> list[Finding]:
    findings = analyze_source(textwrap.dedent(source), "example.py")
    return sorted((f for f in findings if f.rule == rule), key=lambda f: f.span.line)


def _lines(source: str, rule: str) -> list[int]:
    return [f.span.line for f in _findings(source, rule)]


# -- RH402 ------------------------------------------------------------------------------------


def test_sync_fastapi_route_counter_names_the_route_and_the_state() -> None:
    source = """
        from fastapi import FastAPI
        app = FastAPI()
        sessions: dict[str, int] = {}
        @app.post("/hit/{sid}")
        def hit(sid: str) -> int:
            sessions[sid] = sessions.get(sid, 0) + 1
            return sessions[sid]
    """
    (finding,) = _findings(source, "RH402")
    assert finding.span.line == 7
    assert "`sessions[sid]`" in finding.message
    assert "POST /hit/{sid}" in finding.message
    assert [hop.span.line for hop in finding.evidence] == [5, 7]


def test_async_route_runs_on_one_thread() -> None:
    source = """
        from fastapi import FastAPI
        app = FastAPI()
        hits = {"n": 0}
        @app.post("/hit")
        async def hit() -> int:
            hits["n"] += 1
            return hits["n"]
    """
    assert _lines(source, "RH402") == []


def test_read_into_a_local_then_written_back_is_reported_at_the_write() -> None:
    source = """
        from flask import Flask
        app = Flask(__name__)
        stock = {"a": 1}
        @app.route("/buy/<sku>", methods=["POST"])
        def buy(sku):
            left = stock[sku]
            if left <= 0:
                return "sold out", 409
            stock[sku] = left - 1
            return "ok"
    """
    (finding,) = _findings(source, "RH402")
    assert finding.span.line == 10
    assert [hop.span.line for hop in finding.evidence][-2:] == [7, 10]


def test_explicit_acquire_release_protects_the_update() -> None:
    source = """
        import threading
        from concurrent.futures import ThreadPoolExecutor
        total = 0
        lock = threading.Lock()
        def add(n: int) -> None:
            global total
            lock.acquire()
            total += n
            lock.release()
        def run() -> None:
            with ThreadPoolExecutor() as pool:
                pool.map(add, range(10))
    """
    assert _lines(source, "RH402") == []


def test_lock_released_between_read_and_write_does_not_protect() -> None:
    source = """
        import threading
        from concurrent.futures import ThreadPoolExecutor
        counts: dict[str, int] = {}
        lock = threading.Lock()
        def bump(key: str) -> None:
            with lock:
                current = counts.get(key, 0)
            with lock:
                counts[key] = current + 1
        def run(keys: list[str]) -> None:
            with ThreadPoolExecutor() as pool:
                for key in keys:
                    pool.submit(bump, key)
    """
    assert _lines(source, "RH402") == [10]


def test_one_thread_races_only_with_another_writer() -> None:
    source = """
        import threading
        ticks = 0
        def tick() -> None:
            global ticks
            ticks += 1
        def reset() -> None:
            global ticks
            ticks = 0
        threading.Thread(target=tick).start()
    """
    assert _lines(source, "RH402") == [6]
    alone = source.replace("ticks = 0\n        threading", "threading").replace(
        "def reset() -> None:\n            global ticks\n", "def reset() -> None:\n"
    )
    assert _lines(alone, "RH402") == []


def test_helper_on_a_shared_singleton_carries_the_chain() -> None:
    source = """
        from fastapi import FastAPI
        app = FastAPI()
        class Stats:
            def __init__(self) -> None:
                self.calls = 0
            def record(self) -> None:
                self.calls += 1
        stats = Stats()
        @app.get("/ping")
        def ping() -> str:
            stats.record()
            local = Stats()
            local.record()
            return "pong"
    """
    (finding,) = _findings(source, "RH402")
    assert finding.span.line == 8
    assert "called from `ping`" in finding.message
    assert [hop.span.line for hop in finding.evidence] == [10, 12, 8]


def test_no_threads_no_finding() -> None:
    source = """
        counts: dict[str, int] = {}
        def bump(key: str) -> None:
            counts[key] = counts.get(key, 0) + 1
    """
    assert _lines(source, "RH402") == []


# -- RH501 ------------------------------------------------------------------------------------

_DB = """
    from fastapi import Depends, FastAPI
    from sqlalchemy.orm import Session, sessionmaker
    from sqlalchemy.ext.asyncio import AsyncSession
    app = FastAPI()
    SessionLocal = sessionmaker(bind=None{extra})
    def get_db():
        db = SessionLocal()
        try:
            yield db
        finally:
            db.close()
    @app.get("/items")
    async def items(db=Depends(get_db)):
        db.add(object())
        return db.execute("select 1").all()
"""


def test_depends_on_a_sync_session_provider_in_async_route() -> None:
    (finding,) = _findings(_DB.format(extra=""), "RH501")
    assert finding.span.line == 16  # the add() only queues work: the execute() blocks
    assert "GET /items" in finding.message and "`db.execute()`" in finding.message


def test_sessionmaker_of_async_sessions_is_not_sync() -> None:
    assert _lines(_DB.format(extra=", class_=AsyncSession"), "RH501") == []


def test_sync_def_route_with_sync_session_is_fine() -> None:
    assert _lines(_DB.format(extra="").replace("async def items", "def items"), "RH501") == []


def test_session_passed_to_run_in_threadpool_is_fine() -> None:
    source = """
        from fastapi import Depends, FastAPI
        from sqlalchemy.orm import Session
        from starlette.concurrency import run_in_threadpool
        app = FastAPI()
        def load(db: Session) -> list:
            return list(db.scalars("select 1"))
        @app.get("/x")
        async def x(db: Session = Depends(object)):
            return await run_in_threadpool(load, db)
        @app.get("/y")
        async def y(db: Session = Depends(object)):
            return load(db)
    """
    assert _lines(source, "RH501") == [13]


# -- RH508 ------------------------------------------------------------------------------------


def test_close_in_finally_is_fine_and_close_outside_is_not() -> None:
    source = """
        import aiohttp
        async def good(url: str) -> int:
            session = aiohttp.ClientSession()
            try:
                return (await session.get(url)).status
            finally:
                await session.close()
        async def bad(url: str) -> int:
            session = aiohttp.ClientSession()
            status = (await session.get(url)).status
            await session.close()
            return status
    """
    (finding,) = _findings(source, "RH508")
    assert finding.span.line == 10
    assert "only when nothing raises" in finding.message


def test_session_handed_over_is_not_reported() -> None:
    source = """
        import aiohttp
        class Api:
            def __init__(self, session: aiohttp.ClientSession) -> None:
                self.session = session
        def build() -> Api:
            return Api(aiohttp.ClientSession())
        async def build_later() -> Api:
            session = aiohttp.ClientSession()
            return Api(session)
    """
    assert _lines(source, "RH508") == []


def test_per_request_session_names_the_handler_even_when_closed() -> None:
    source = """
        import aiohttp
        from aiohttp import web
        async def proxy(request: web.Request) -> web.Response:
            async with aiohttp.ClientSession() as session:
                async with session.get("https://example.com") as resp:
                    return web.Response(body=await resp.read())
        app = web.Application()
        app.router.add_get("/proxy", proxy)
    """
    (finding,) = _findings(source, "RH508")
    assert finding.span.line == 5
    assert "per request in aiohttp handler GET /proxy" in finding.message


def test_module_level_session_closed_on_shutdown() -> None:
    source = """
        import aiohttp
        http = aiohttp.ClientSession()
        async def shutdown() -> None:
            await http.close()
    """
    assert _lines(source, "RH508") == []
    assert _lines(source.replace("await http.close()", "pass"), "RH508") == [3]


# -- RH101/RH102 name the route -------------------------------------------------------------


def test_blocking_call_messages_name_the_route() -> None:
    source = """
        import time
        from fastapi import FastAPI
        app = FastAPI()
        def pause() -> None:
            time.sleep(1)
        @app.get("/users/{user_id}")
        async def read_user(user_id: int) -> None:
            time.sleep(1)
            pause()
        async def plain() -> None:
            time.sleep(1)
    """
    (direct, plain) = _findings(source, "RH101")
    assert "inside FastAPI route GET /users/{user_id} (`read_user`)" in direct.message
    assert "inside async function `plain`" in plain.message
    (helper,) = _findings(source, "RH102")
    assert "in FastAPI route GET /users/{user_id} (`read_user`)" in helper.message


def test_one_worker_object_per_thread_is_not_shared() -> None:
    source = """
        import threading
        class Worker:
            def __init__(self, job: str) -> None:
                self.job = job
                self.done = 0
            def run(self) -> None:
                self.done += 1
        class Pool:
            def __init__(self) -> None:
                self.done = 0
            def run(self) -> None:
                self.done += 1
            def start(self, n: int) -> None:
                for _ in range(n):
                    threading.Thread(target=self.run).start()
        def start(jobs: list[str]) -> None:
            for job in jobs:
                worker = Worker(job)
                threading.Thread(target=worker.run).start()
    """
    assert _lines(source, "RH402") == [13]
