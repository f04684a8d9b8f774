"""What findings say fits the code at hand: advice for the primitive in use, no awaits spoken of
in sync code, and "line 4" for one line."""

from __future__ import annotations

import textwrap

from riskhints.analysis import analyze_source
from riskhints.analysis.advice import advice
from riskhints.analysis.positions import lines_text
from riskhints.lsp.hover import render_hover
from riskhints.provenance.edits import inserted_lines_detail

REENTRY = textwrap.dedent(
    """\
    import {module}


    class Ledger:
        def __init__(self, store):
            self._store = store
            self._lock = {module}.Lock()

        {kw}def post(self, entry):
            {with_} self._lock:
                {aw}self._append(entry)

        {kw}def _append(self, entry):
            {with_} self._lock:
                {aw}self._store.write(entry)
    """
)


def _reentry(module: str) -> str:
    is_async = module == "asyncio"
    return REENTRY.format(
        module=module,
        kw="async " if is_async else "",
        with_="async with" if is_async else "with",
        aw="await " if is_async else "",
    )


def _only(text: str, rule: str):
    found = [f for f in analyze_source(text, "ledger.py") if f.rule == rule]
    assert len(found) == 1, found
    return found[0]


def test_asyncio_lock_reentry_advice_never_suggests_an_rlock() -> None:
    finding = _only(_reentry("asyncio"), "RH203")
    assert "(asyncio.Lock)" in finding.message
    assert "RLock" not in advice(finding)
    assert "RLock" not in render_hover(finding)
    assert "**Instead:** Split the helper into a locked entry point" in render_hover(finding)


def test_threading_lock_reentry_advice_offers_threading_rlock() -> None:
    finding = _only(_reentry("threading"), "RH203")
    assert "`threading.RLock`" in advice(finding)
    assert "`threading.RLock`" in render_hover(finding)


WAIT_UNDER_LOCK = textwrap.dedent(
    """\
    import threading
    import time

    _lock = threading.Lock()
    _ready = threading.Event()


    def flush_batches(queue):
        with _lock:
            time.sleep(0.5)
            queue.clear()


    def drain_when_ready(queue):
        with _lock:
            _ready.wait()
            queue.clear()
    """
)


def test_blocking_wait_under_lock_speaks_of_waits_not_awaits() -> None:
    findings = [f for f in analyze_source(WAIT_UNDER_LOCK, "batches.py") if f.rule == "RH207"]
    messages = {f.span.line: f.message for f in findings}
    assert set(messages) == {10, 16}
    assert all("await" not in m for m in messages.values())
    assert messages[10].endswith("every thread needing the lock waits for the whole sleep")
    assert "deadlocks if the work this waits for needs the lock" in messages[16]


def test_one_line_is_line_not_lines() -> None:
    assert lines_text([(4, 4)]) == "line 4"
    assert lines_text([(4, 6)]) == "lines 4-6"
    assert lines_text([(2, 2), (9, 11)]) == "lines 2, 9-11"
    assert inserted_lines_detail(1) == "1 line inserted in one edit"
    assert inserted_lines_detail(3) == "3 lines inserted in one edit"


def test_a_single_line_set_aside_by_a_syntax_error_is_one_line() -> None:
    text = "import time\n\n\nasync def poll():\n    time.sleep(1)\n\n\nvalue = (1,\n"
    messages = [f.message for f in analyze_source(text, "poll.py") if f.rule == "RH001"]
    assert messages == ["'(' was never closed (line 8 not analysed until it parses)"]
