"""What a generated stress test passes so that the code takes the path to the hazard: the
constants an unannotated parameter is compared with or looked up by, the exceptions the
``except`` clause holding the hazard catches (raised by the fakes), and, for the oracles of
RH205/RH206/RH207/RH402, the call the test makes (the state a lost-update test counts)."""

from __future__ import annotations

import textwrap

import pytest

from riskhints.actions.stress import generate_stress_test, has_oracle
from riskhints.analysis import analyze_source


def _generate(text: str, target: str | int, path: str = "shop/stock.py") -> str:
    text = textwrap.dedent(text).lstrip("\n")
    generated = generate_stress_test(text, path, target, analyze_source(text, path)).text
    return generated.split("# == FAKES", 1)[1]


def test_a_parameter_gets_the_key_of_the_dict_the_code_looks_it_up_in() -> None:
    tests = _generate(
        """
        class StockKeeper:
            def __init__(self, warehouse):
                self.warehouse = warehouse
                self.stock = {"sku-1": 1, "sku-2": 4}

            async def reserve(self, sku, note):
                if self.stock.get(sku, 0) > 0:
                    await self.warehouse.hold(sku)
                    self.stock[sku] = self.stock[sku] - 1
                    return True
                return False
        """,
        "StockKeeper.reserve",
    )
    # `sku` is looked up in `self.stock`: its first key; `note` is used nowhere: a fake.
    assert '"sku": "sku-1"' in tests
    assert '"note": stress.fake("note")' in tests


def test_a_parameter_gets_the_constant_it_is_compared_with() -> None:
    tests = _generate(
        """
        PRIORITIES = {"urgent": 0, "normal": 5}


        async def settle(ledger, kind, queue):
            if kind == "refund":
                await ledger.reverse()
            slot = PRIORITIES[queue]
            return slot
        """,
        "settle",
    )
    assert '"kind": "refund"' in tests
    assert '"queue": "urgent"' in tests  # a key of the module-level table
    assert '"ledger": stress.fake("ledger")' in tests


def test_fakes_raise_what_the_except_clause_holding_the_hazard_catches() -> None:
    tests = _generate(
        """
        import asyncio
        import time


        class BrokerDown(Exception):
            pass


        async def push(broker, event):
            for attempt in range(3):
                try:
                    return await broker.send(event)
                except (ConnectionError, BrokerDown):
                    time.sleep(0.5)
                except asyncio.CancelledError:
                    raise
        """,
        "push",
        "shop/push.py",
    )
    assert "stress.fakes_raise(ConnectionError, target.BrokerDown)" in tests
    assert tests.index("stress.fakes_raise(") < tests.index("stress.expect_loop_not_blocked(")


def test_a_hazard_outside_any_handler_raises_nothing() -> None:
    tests = _generate(
        """
        import time


        async def push(broker, event):
            try:
                time.sleep(0.5)
                return await broker.send(event)
            except ConnectionError:
                return None
        """,
        "push",
        "shop/push.py",
    )
    assert "fakes_raise" not in tests


@pytest.mark.parametrize(
    ("rule", "method"),
    [
        ("RH205", "expect_lock_released"),
        ("RH206", "expect_wait_rechecked"),
        ("RH207", "expect_no_wait_under_lock"),
        ("RH402", "expect_no_lost_update"),
        ("RH507", "expect_no_wait_on_task"),
        ("RH508", "expect_one_client_session"),
    ],
)
def test_the_lock_and_thread_state_rules_have_an_oracle(rule: str, method: str) -> None:
    from riskhints.actions.stress import family_of

    family = family_of(rule)
    assert has_oracle(rule) and family is not None and family.method == method


def test_acquire_without_release_in_sync_code_runs_on_threads() -> None:
    tests = _generate(
        """
        import threading


        class SnapshotCache:
            def __init__(self, ledger):
                self.ledger = ledger
                self._guard = threading.Lock()

            def refresh(self, account):
                self._guard.acquire()
                rows = self.ledger.balances(account)
                self._guard.release()
                return rows
        """,
        "SnapshotCache.refresh",
        "shop/cache.py",
    )
    assert "stress.expect_lock_released(" in tests
    assert "lambda: snapshot_cache.refresh(**refresh_args), threads=True" in tests


def test_a_condition_wait_and_a_wait_under_a_lock() -> None:
    waits = textwrap.dedent(
        """
        import collections
        import threading
        import time


        class JobQueue:
            def __init__(self):
                self._jobs = collections.deque()
                self._changed = threading.Condition()
                self._lock = threading.Lock()

            def next_job(self):
                with self._changed:
                    if not self._jobs:
                        self._changed.wait()
                    return self._jobs.popleft()

            def drain(self):
                with self._lock:
                    time.sleep(0.1)
        """
    )
    next_job = _generate(waits, "JobQueue.next_job", "shop/jobs.py")
    assert "stress.expect_wait_rechecked(lambda: job_queue.next_job(), threads=True)" in next_job
    drain = _generate(waits, "JobQueue.drain", "shop/jobs.py")
    assert "stress.expect_no_wait_under_lock(lambda: job_queue.drain())" in drain


def test_a_lost_update_test_reads_the_state_the_finding_names() -> None:
    module_global = _generate(
        """
        from flask import Flask

        app = Flask(__name__)
        view_counts = {}


        @app.get("/articles/<slug>")
        def show_article(slug):
            view_counts[slug] = view_counts.get(slug, 0) + 1
            return str(view_counts[slug])
        """,
        "show_article",
        "blog/views.py",
    )
    assert "stress.expect_no_lost_update(" in module_global
    assert "lambda: target.view_counts," in module_global
    assert 'lambda: stress.flask_request(app, "GET", "/articles/1")' in module_global
    assert 'name="view_counts[slug]"' in module_global
    attribute = _generate(
        """
        from concurrent.futures import ThreadPoolExecutor


        class CrawlTally:
            def __init__(self, fetcher):
                self.fetcher = fetcher
                self.pages = 0

            def crawl_one(self, url):
                page = self.fetcher.get(url)
                self.pages += 1
                return page

            def crawl(self, urls):
                with ThreadPoolExecutor(max_workers=8) as pool:
                    return list(pool.map(self.crawl_one, urls))
        """,
        "CrawlTally.crawl_one",
        "crawler/tally.py",
    )
    assert "lambda: crawl_tally.pages," in attribute


def test_a_parameter_used_only_as_data_gets_a_text_not_a_fake() -> None:
    """A value handed to a library (a query's keyword, an f-string) is text; a parameter whose
    attributes are used, or that is passed on positionally, stays a fake."""
    tests = _generate(
        """
        async def summary(store, desk, report_dir):
            rows = await store.count(desk=desk, status="ready")
            return {"desk": desk, "rows": rows, "path": f"{report_dir}/summary.json"}
        """,
        "summary",
    )
    assert '"desk": "desk-1"' in tests
    assert '"report_dir": str(stress.tmp_path / "report_dir")' in tests
    assert '"store": stress.fake("store")' in tests
