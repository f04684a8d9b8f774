"""The bar for generated stress tests, on a fast subset of the bug/fix pairs (the whole corpus
is ``make bench-stress``): the test generated from the buggy version fails with the report the
hazard calls for, and the same test passes unchanged on the fixed version.

Each pair runs in a fresh temporary workspace, in subprocesses (``python -m pytest``, plugin
autoloading off) bounded by a hard limit, with sockets, DNS look-ups and process spawning patched
to fail and be logged: a generated test must never try any of them, nor leave files in the
workspace outside its stress folder.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "stress"))

import pairs  # noqa: E402

# One pair per hazard family and driver, from both corpora.
FAST = (
    "fixtures/catalog_endpoint",  # blocked loop, an ASGI route
    "corpus/retry_decorator",  # blocked loop in a decorator's handler: fakes raise
    "fixtures/rate_cache",  # check-then-act
    "corpus/channel_locks",  # lock-order inversion
    "corpus/heartbeat_bare_except",  # swallowed cancellation
    "corpus/missing_await_save",  # coroutine never awaited
    "corpus/sync_facade_run",  # sync wait on the loop
    "corpus/export_permits",  # acquire without release (a cancelled permit)
    "corpus/print_spooler",  # Condition.wait not in a loop
    "corpus/quote_board",  # blocking wait under a lock
    "corpus/article_views",  # lost updates, a Flask view
)
SELECTED = [pair for pair in pairs.pairs() if pair.id in FAST]


@pytest.fixture(scope="module")
def results() -> dict[str, pairs.Result]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        return {r.pair.id: r for r in pool.map(pairs.run_pair, SELECTED)}


def test_the_subset_is_there() -> None:
    assert sorted(p.id for p in SELECTED) == sorted(FAST)


@pytest.mark.parametrize("pair", SELECTED, ids=[p.id for p in SELECTED])
def test_caught_on_the_bug_and_passes_on_the_fix(
    pair: pairs.Pair, results: dict[str, pairs.Result]
) -> None:
    result = results[pair.id]
    assert result.bad is not None and result.good is not None, result.note
    assert result.outcome == "caught", (
        f"{result.outcome}\n{result.bad.output}\n{result.good.output}"
    )
    assert pair.expect in result.bad.output
    assert "stress seed 1 (set RISKHINTS_STRESS_SEED=1 to replay it)" in result.bad.output


@pytest.mark.parametrize("pair", SELECTED, ids=[p.id for p in SELECTED])
def test_no_network_no_process_no_stray_file(
    pair: pairs.Pair, results: dict[str, pairs.Result]
) -> None:
    result = results[pair.id]
    assert result.network == ()
    assert [f for f in result.stray_files if not f.startswith("tests/")] == []
