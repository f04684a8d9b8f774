"""RH301-RH303: what keeps a task alive, which conditions test a coroutine, which cancellations
are our own."""

from __future__ import annotations

import ast
import textwrap

from riskhints.analysis import analyze_source
from riskhints.analysis.facts import build_module_facts


def _lines(source: str, rule: str) -> list[int]:
    findings = analyze_source(textwrap.dedent(source), "example.py")
    return sorted(f.span.line for f in findings if f.rule == rule)


def test_task_looked_at_only_through_methods_and_logging_is_dropped() -> None:
    source = """
        import asyncio, logging
        log = logging.getLogger(__name__)
        async def job() -> None: ...
        async def start() -> None:
            t = asyncio.create_task(job())
            t.add_done_callback(print)
            log.info("started %s", t.get_name())
    """
    assert _lines(source, "RH301") == [6]


def test_task_cancelled_before_return_is_not_dropped() -> None:
    source = """
        import asyncio
        async def job() -> None: ...
        async def work() -> None: ...
        async def run() -> None:
            watchdog = asyncio.create_task(job())
            try:
                await work()
            finally:
                watchdog.cancel()
    """
    assert _lines(source, "RH301") == []


def test_bound_method_or_closure_handed_on_keeps_the_task() -> None:
    source = """
        import asyncio
        async def job() -> None: ...
        def arm(other: "asyncio.Task[None]") -> None:
            loop = asyncio.get_running_loop()
            guard = loop.create_task(job())
            loop.call_later(5, guard.cancel)
            watcher = loop.create_task(job())
            other.add_done_callback(lambda _: watcher.cancel())
    """
    assert _lines(source, "RH301") == []


def test_task_in_local_only_is_reported_even_if_method_is_not_called() -> None:
    source = """
        import asyncio
        async def job() -> None: ...
        def start() -> None:
            t = asyncio.create_task(job())
            if t.done:
                pass
    """
    assert _lines(source, "RH301") == [5]


def test_async_call_as_if_and_while_test_is_a_condition() -> None:
    source = """
        async def allowed() -> bool: ...
        async def handler() -> None:
            if allowed():
                pass
            while not allowed():
                pass
            if await allowed():
                pass
    """
    assert _lines(source, "RH302") == [4, 6]


def test_cancelling_every_element_then_gathering_them_is_a_note() -> None:
    """Absorbing the CancelledError of tasks this function cancelled is right for them; a
    cancellation of the function itself arriving at that await is absorbed too: a note (info),
    and nothing in a teardown method such as ``stop()``."""
    source = """
        import asyncio
        async def stop(tasks: list[asyncio.Task[None]]) -> None:
            for t in tasks:
                t.cancel()
            try:
                await asyncio.gather(*tasks, return_exceptions=True)
            except asyncio.CancelledError:
                pass
        async def stop_all(tasks: list[asyncio.Task[None]]) -> None:
            [t.cancel() for t in tasks]
            try:
                await asyncio.wait(tasks)
            except asyncio.CancelledError:
                pass
    """
    findings = analyze_source(textwrap.dedent(source), "example.py")
    assert [(f.span.line, f.severity.label) for f in findings if f.rule == "RH303"] == [
        (14, "info")
    ]


def test_waiting_for_tasks_held_in_variables_expects_their_cancellation() -> None:
    """A ``CancelledError`` from ``await task`` / ``gather(*tasks)`` is also how those tasks end
    when something else cancels them: absorbing it there is a design choice, not an accident.
    Awaiting a coroutine call in the same way still swallows the caller's own cancellation."""
    source = """
        import asyncio
        async def stop(tasks: list[asyncio.Task[None]], other: list[asyncio.Task[None]]) -> None:
            for t in tasks:
                t.cancel()
            try:
                await asyncio.gather(*other)
            except asyncio.CancelledError:
                pass
        async def drain(worker) -> None:
            try:
                await worker.finish()
            except asyncio.CancelledError:
                pass
    """
    assert _lines(source, "RH303") == [13]


def test_call_that_is_a_whole_if_or_while_test_has_condition_usage() -> None:
    source = "def f():\n    if check():\n        pass\n    while ready():\n        pass\n"
    facts = build_module_facts(ast.parse(source), source, "m", "m.py")
    assert [c.usage for c in facts.functions["m.f"].calls] == ["condition", "condition"]
