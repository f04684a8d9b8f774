"""The bar for generated stress tests, on a fast subset of the bug/fix pairs (the whole corpus
is ``make bench-stress``): the test generated from the buggy version fails with the report the
hazard calls for, and the same test passes unchanged on the fixed version.

Each pair runs in a fresh temporary workspace, in subprocesses (``python -m pytest``, plugin
autoloading off) bounded by a hard limit, under an audit hook that refuses and logs network
connections, name look-ups and processes, and logs every write outside pytest's temporary
folder (where each test's ``tmp_path`` is): a generated test must try none of them, nor leave
files in the workspace outside its stress folder. A test of the guard itself shows it sees each."""

from __future__ import annotations

import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "stress"))

import pairs  # noqa: E402

# One pair per hazard family of the issue and per driver, from both corpora (the lock-leak,
# condition and wait-under-lock oracles are measured by `make bench-stress`).
FAST = (
    "fixtures/catalog_endpoint",  # blocked loop, a FastAPI route through ASGI
    "corpus/invoice_pdf",  # blocked loop through a helper, a Django view (RequestFactory)
    "corpus/weather_proxy",  # a client session per call, an aiohttp handler (its app)
    "corpus/receipt_mailer",  # coroutine never awaited, a Celery task applied eagerly
    "corpus/coupon_redeem",  # lock re-entered through a helper, a Flask view (test client)
    "corpus/channel_locks",  # lock-order inversion
    "corpus/webhook_dedupe",  # check-then-act
    "corpus/heartbeat_bare_except",  # swallowed cancellation
    "corpus/cache_warmer",  # dropped task
    "corpus/sync_facade_run",  # sync wait on the loop
    "corpus/article_views",  # lost updates from threads
)
SELECTED = [pair for pair in pairs.pairs() if pair.id in FAST]
# The first test runs the whole subset (two pytest subprocesses per pair, two pairs at a time):
# about a minute on a quiet machine, several on a loaded one.
pytestmark = pytest.mark.timeout(900)


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
def test_no_network_no_process_no_write_outside_tmp_path(
    pair: pairs.Pair, results: dict[str, pairs.Result]
) -> None:
    result = results[pair.id]
    assert result.network == ()
    assert result.writes == ()
    assert [f for f in result.stray_files if not f.startswith("tests/")] == []


MISBEHAVING = """
import socket
import subprocess
from pathlib import Path


def test_tries_what_a_stress_test_must_not(tmp_path):
    (tmp_path / "inside.txt").write_text("allowed")
    Path(__file__).with_name("outside.txt").write_text("not allowed")
    attempts = [
        lambda: socket.socket().connect(("127.0.0.1", 9)),
        lambda: socket.getaddrinfo("api.example.com", 443),
        lambda: subprocess.run(["true"], check=False),
    ]
    for attempt in attempts:
        try:
            attempt()
        except OSError:
            pass
"""


def test_the_guard_sees_network_processes_and_writes_outside_tmp_path(tmp_path: Path) -> None:
    """The guard the generated tests run under (above) can fail: a test that connects, looks
    up a name, starts a process and writes beside itself is seen doing each, and its writes
    inside tmp_path are not reported."""
    stress = tmp_path / "ws" / "tests" / "stress"
    stress.mkdir(parents=True)
    (stress / "test_misbehaves.py").write_text(textwrap.dedent(MISBEHAVING))
    log = tmp_path / "guard.log"
    run = pairs._pytest(tmp_path / "ws", log, tmp_path / "scratch")
    assert run.returncode == 0, run.output
    logged = log.read_text()
    for event in ("socket.connect", "socket.getaddrinfo", "subprocess.Popen"):
        assert f"network or process: {event}" in logged
    assert "write outside tmp_path" in logged and "outside.txt" in logged
    assert "inside.txt" not in logged
