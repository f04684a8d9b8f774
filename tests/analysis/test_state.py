"""RH401: which paths count as check-await-act, and which locks keep other tasks out."""

from __future__ import annotations

import textwrap

from riskhints.analysis import analyze_source


def _lines(source: str, drive: str | None = None) -> list[int]:
    """RH401 lines of ``source``; ``drive`` (``"Cache.get('k')"``) is a method call on one
    object of that class that a driver appended to the module runs twice at once with
    ``asyncio.gather``: the evidence of concurrency the rule needs."""
    text = textwrap.dedent(source)
    if drive is not None:
        cls, _, call = drive.partition(".")
        text += (
            f"\nimport asyncio\nasync def _driver(obj: {cls}) -> None:\n"
            f"    await asyncio.gather(obj.{call}, obj.{call})\n"
        )
    findings = analyze_source(text, "example.py")
    return sorted(f.span.line for f in findings if f.rule == "RH401")


def test_guard_clause_then_await_then_write_is_a_race() -> None:
    source = """
        class Cache:
            def __init__(self) -> None:
                self._data: dict[str, int] = {}
            async def get(self, key: str) -> int:
                if key in self._data:
                    return self._data[key]
                value = await load(key)
                self._data[key] = value
                return value
        async def load(key: str) -> int: ...
    """
    assert _lines(source, drive="Cache.get('sku-1')") == [8]
    assert _lines(source) == []  # no evidence that two tasks ever share a Cache


def test_evidence_points_at_check_and_write() -> None:
    source = """
        _seen: set[str] = set()
        async def visit(url: str) -> None:
            if url not in _seen:
                await fetch(url)
                _seen.add(url)
        async def fetch(url: str) -> None: ...
        async def crawl(urls: list[str]) -> None:
            await asyncio.gather(*(visit(url) for url in urls))
        import asyncio
    """
    (finding,) = [f for f in analyze_source(textwrap.dedent(source), "x.py") if f.rule == "RH401"]
    assert finding.span.line == 5
    assert [hop.span.line for hop in finding.evidence] == [9, 4, 6]
    assert "starts visit() for each element" in finding.evidence[0].message


def test_write_through_an_attribute_of_the_checked_state_counts() -> None:
    source = """
        class Client:
            async def token(self) -> str:
                if self._token is None or self._token.expired:
                    self._token = await self._auth.refresh()
                return self._token.value
    """
    assert _lines(source, drive="Client.token()") == [5]


def test_recheck_under_a_lock_is_double_checked_locking() -> None:
    source = """
        import asyncio
        class Pool:
            def __init__(self) -> None:
                self._lock = asyncio.Lock()
                self._conn = None
            async def conn(self):
                if self._conn is None:
                    async with self._lock:
                        if self._conn is None:
                            self._conn = await connect()
                return self._conn
        async def connect(): ...
    """
    assert _lines(source) == []


def test_lock_taken_after_the_check_without_recheck_is_a_race() -> None:
    source = """
        import asyncio
        class Pool:
            def __init__(self) -> None:
                self._lock = asyncio.Lock()
                self._conn = None
            async def conn(self):
                if self._conn is None:
                    async with self._lock:
                        self._conn = await connect()
                return self._conn
        async def connect(): ...
    """
    assert _lines(source) == [9]


def test_counting_semaphore_does_not_exclude_but_binary_one_does() -> None:
    template = """
        import asyncio
        _sem = asyncio.Semaphore({count})
        _cache: dict[str, str] = {{}}
        async def get(key: str) -> str:
            async with _sem:
                if key not in _cache:
                    _cache[key] = await load(key)
            return _cache[key]
        async def load(key: str) -> str: ...
    """
    assert _lines(template.format(count=4)) == [8]  # a module-level semaphore: meant for tasks
    assert _lines(template.format(count=1)) == []


def test_class_level_lock_named_through_the_class_is_held() -> None:
    source = """
        import asyncio
        class Registry:
            _lock = asyncio.Lock()
            _items: dict[str, int] = {}
            async def ensure(self, key: str) -> None:
                async with Registry._lock:
                    if key not in self._items:
                        self._items[key] = await compute(key)
        async def compute(key: str) -> int: ...
    """
    assert _lines(source) == []


def test_clearing_after_closing_the_checked_object_is_teardown() -> None:
    closing = """
        class Client:
            async def close(self) -> None:
                if self._session is not None:
                    await self._session.close()
                    self._session = None
    """
    flushing = """
        class Batcher:
            async def flush(self) -> None:
                if self._pending is not None:
                    await self._sink.write(self._pending)
                    self._pending = None
    """
    assert _lines(closing, drive="Client.close()") == []
    assert _lines(flushing, drive="Batcher.flush()") == [5]


def test_checks_on_locals_and_unrelated_writes_are_not_races() -> None:
    source = """
        class Service:
            async def save(self, order, cached=None):
                if cached is None:
                    cached = await self.repo.load(order)
                if not self.enabled:
                    return
                await self.repo.save(order)
                self.saved = order
    """
    assert _lines(source, drive="Service.save('o-1')") == []


def test_tuple_assignment_writes_each_target() -> None:
    racing = """
        class Client:
            async def conn(self):
                if self._conn is None:
                    self._conn, self._info = await connect()
                return self._conn
        async def connect(): ...
    """
    swapping = """
        class Batcher:
            async def flush(self) -> None:
                if self._buffer:
                    batch, self._buffer = self._buffer, []
                    await self._sink.write(batch)
                    self._buffer.extend(self._retry)
    """
    assert _lines(racing, drive="Client.conn()") == [5]
    assert _lines(swapping, drive="Batcher.flush()") == []


# -- concurrency evidence ------------------------------------------------------------------------


def test_a_route_is_concurrent_evidence_for_module_state() -> None:
    source = """
        from fastapi import FastAPI
        app = FastAPI()
        _tokens: dict[str, str] = {}
        async def token_for(tenant: str) -> str:
            if tenant not in _tokens:
                _tokens[tenant] = await issue(tenant)
            return _tokens[tenant]
        async def issue(tenant: str) -> str: ...
        @app.get("/t/{tenant}")
        async def read(tenant: str) -> str:
            return await token_for(tenant)
    """
    assert _lines(source) == [7]


def test_tasks_on_different_objects_share_nothing() -> None:
    source = """
        import asyncio
        class Worker:
            async def run(self) -> None:
                if not self.started:
                    await self.connect()
                    self.started = True
            async def connect(self) -> None: ...
        async def start_all(workers: list[Worker]) -> None:
            for worker in workers:
                asyncio.create_task(worker.run())
            await asyncio.gather(*(w.run() for w in workers))
    """
    assert _lines(source) == []


def test_one_task_started_once_is_not_concurrent() -> None:
    source = """
        import asyncio
        class Poller:
            async def poll(self) -> None:
                if self.last is None:
                    self.last = await self.fetch()
            async def fetch(self): ...
            def start(self) -> None:
                self.task = asyncio.create_task(self.poll())
    """
    assert _lines(source) == []


def test_per_connection_handler_shares_module_state_but_not_its_locals() -> None:
    source = """
        import asyncio
        _banned: set[str] = set()
        class Session:
            async def greet(self, writer) -> None:
                if not self.greeted:
                    await writer.drain()
                    self.greeted = True
        async def handle(reader, writer) -> None:
            peer = writer.get_extra_info("peername")
            if peer not in _banned:
                await writer.drain()
                _banned.add(peer)
            await Session().greet(writer)
        async def main() -> None:
            await asyncio.start_server(handle, "0.0.0.0", 7000)
    """
    assert _lines(source) == [12]


def test_a_function_that_takes_an_asyncio_lock_expects_concurrent_tasks() -> None:
    source = """
        import asyncio
        class Ledger:
            def __init__(self) -> None:
                self._lock = asyncio.Lock()
            async def post(self, entry) -> None:
                if self.balance >= entry.amount:
                    await self.store.save(entry)
                    self.balance -= entry.amount
                async with self._lock:
                    self.entries.append(entry)
            async def close(self) -> None:
                if self.store is not None:
                    await self.flush()
                    self.store = None
            async def flush(self) -> None: ...
    """
    assert _lines(source) == [8]  # close() takes no lock and has no concurrent caller


def test_await_of_a_coroutine_that_never_suspends_is_no_interleaving_point() -> None:
    template = """
        import asyncio
        class Catalog:
            async def _parse(self, raw):
                return dict(raw)
            async def product(self, sku):
                if sku not in self._products:
                    self._products[sku] = await self._parse(self._raw[sku])
                return self._products[sku]
        {subclass}
        async def load_all(catalog: Catalog, skus) -> None:
            await asyncio.gather(*(catalog.product(sku) for sku in skus))
    """
    assert _lines(template.format(subclass="")) == []
    remote = """
        class RemoteCatalog(Catalog):
            async def _parse(self, raw):
                return await self.api.expand(raw)
    """
    assert _lines(template.format(subclass=textwrap.indent(textwrap.dedent(remote), " " * 8))) == [
        8
    ]
