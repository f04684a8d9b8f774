"""RH401: which paths count as check-await-act, and which locks keep other tasks out."""

from __future__ import annotations

import textwrap

from riskhints.analysis import analyze_source


def _lines(source: str) -> list[int]:
    findings = analyze_source(textwrap.dedent(source), "example.py")
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
    assert _lines(source) == [8]


def test_evidence_points_at_check_and_write() -> None:
    source = """
        _seen: set[str] = set()
        async def visit(url: str) -> None:
            if url not in _seen:
                await fetch(url)
                _seen.add(url)
        async def fetch(url: str) -> None: ...
    """
    (finding,) = [f for f in analyze_source(textwrap.dedent(source), "x.py") if f.rule == "RH401"]
    assert finding.span.line == 5
    assert [hop.span.line for hop in finding.evidence] == [4, 6]


def test_write_through_an_attribute_of_the_checked_state_counts() -> None:
    source = """
        class Client:
            async def token(self) -> str:
                if self._token is None or self._token.expired:
                    self._token = await self._auth.refresh()
                return self._token.value
    """
    assert _lines(source) == [5]


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
    assert _lines(template.format(count=4)) == [8]
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
    assert _lines(closing) == []
    assert _lines(flushing) == [5]


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
    assert _lines(source) == []


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
    assert _lines(racing) == [5]
    assert _lines(swapping) == []
