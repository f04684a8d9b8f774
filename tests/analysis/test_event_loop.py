"""RH101-RH104: what blocks the loop, what waits for the loop it runs on, which callables are
called on the loop, and which coroutine functions are handed to APIs that only call them."""

from __future__ import annotations

import ast
import textwrap

from riskhints.analysis import Finding, analyze_parsed, analyze_source, parse_source
from riskhints.analysis.facts import ModuleFacts, build_module_facts
from riskhints.analysis.options import AnalysisOptions
from riskhints.analysis.summaries import Program


def _findings(source: str, rule: str) -> list[Finding]:
    findings = analyze_source(textwrap.dedent(source), "example.py")
    return [f for f in findings if f.rule == rule]


def _lines(source: str, rule: str) -> list[int]:
    return sorted(f.span.line for f in _findings(source, rule))


def _facts(source: str, module: str = "app.svc") -> ModuleFacts:
    source = textwrap.dedent(source)
    return build_module_facts(ast.parse(source), source, module, "app/svc.py")


def _local_type(facts: ModuleFacts, function: str, name: str) -> str | None:
    return facts.functions[f"{facts.module}.{function}"].scope.local_types.get(name)


# -- facts the rules stand on ---------------------------------------------------------------------


def test_path_division_keeps_the_path_type_in_source_order() -> None:
    facts = _facts(
        """
        from pathlib import Path
        ROOT = Path("/srv")
        def save(user: str, base: Path) -> None:
            folder = base / "avatars" / user
            target = folder / "a.png"
            legacy = "/old" / ROOT
            name = user + "/x"
        """
    )
    assert _local_type(facts, "save", "folder") == "pathlib.Path"
    assert _local_type(facts, "save", "target") == "pathlib.Path"
    assert _local_type(facts, "save", "legacy") == "pathlib.Path"
    assert _local_type(facts, "save", "name") is None


def test_subscripted_generic_annotation_names_the_generic_class() -> None:
    facts = _facts(
        """
        import asyncio
        from typing import Annotated
        def watch(task: "asyncio.Task[None]", lock: Annotated[asyncio.Lock, "x"],
                  items: list[asyncio.Lock]) -> None: ...
        """
    )
    assert _local_type(facts, "watch", "task") == "asyncio.Task"
    assert _local_type(facts, "watch", "lock") == "asyncio.Lock"
    assert _local_type(facts, "watch", "items") is None  # a list, not a lock


def test_initializer_follows_an_inherited_init_but_callee_function_does_not() -> None:
    facts = _facts(
        """
        import socket
        class Base:
            def __init__(self, host: str) -> None:
                self.sock = socket.create_connection((host, 389))
        class Directory(Base):
            pass
        async def login() -> None:
            Directory("ldap")
        """
    )
    program = Program([facts])
    call = facts.functions["app.svc.login"].calls[0]
    assert program.callee_function(call) is None  # lock summaries keep ignoring constructors
    init = program.initializer(call)
    assert init is not None and init.qualname == "app.svc.Base.__init__"


# -- RH101 / RH102 --------------------------------------------------------------------------------


def test_blocking_helper_chain_lists_every_hop() -> None:
    source = """
        import time
        def _wait() -> None:
            time.sleep(1)
        def _load() -> None:
            _wait()
        async def handler() -> None:
            _load()
    """
    [finding] = _findings(source, "RH102")
    assert finding.span.line == 8
    assert "2 calls down" in finding.message
    assert [ev.span.line for ev in finding.evidence] == [8, 6, 4]


def test_constructor_that_connects_is_a_blocking_helper() -> None:
    source = """
        import socket
        class Client:
            def __init__(self, host: str) -> None:
                self.sock = socket.create_connection((host, 80))
        class Cheap:
            def __init__(self, host: str) -> None:
                self.host = host
        async def handler() -> None:
            Client("a")
            Cheap("b")
    """
    assert _lines(source, "RH102") == [10]


def test_sync_callbacks_run_on_the_loop_but_thread_future_callbacks_do_not() -> None:
    source = """
        import asyncio
        from concurrent.futures import Future
        def _persist() -> None:
            open("/tmp/x", "w").close()
        def _quick() -> None:
            pass
        def arm(loop: asyncio.AbstractEventLoop, fut: "Future[int]") -> None:
            loop.call_later(5, _persist)
            loop.call_soon(lambda: _persist())
            loop.call_soon(_quick)
            fut.add_done_callback(lambda _: _persist())
    """
    assert _lines(source, "RH102") == [9, 10]


def test_cross_module_helper_chain_keeps_the_other_path() -> None:
    helper = "import time\ndef pause() -> None:\n    time.sleep(1)\n"
    handler = "from app.util import pause\nasync def run() -> None:\n    pause()\n"
    parsed = [parse_source(helper, "app/util.py"), parse_source(handler, "app/api.py")]
    results = analyze_parsed(parsed, AnalysisOptions())
    [finding] = [f for f in results["app/api.py"] if f.rule == "RH102"]
    assert finding.evidence[-1].path == "app/util.py"


# -- RH103 ---------------------------------------------------------------------------------------


def test_threadsafe_wait_on_the_callers_loop_in_a_helper_is_rh103_not_rh102() -> None:
    source = """
        import asyncio
        async def fetch() -> int:
            return 1
        def fetch_sync() -> int:
            loop = asyncio.get_event_loop()
            return asyncio.run_coroutine_threadsafe(fetch(), loop).result()
        async def handler() -> int:
            return fetch_sync()
    """
    assert _lines(source, "RH103") == [9]
    assert _lines(source, "RH102") == []


def test_threadsafe_wait_on_a_background_loop_is_only_blocking() -> None:
    source = """
        import asyncio
        BACKGROUND = asyncio.new_event_loop()
        async def fetch() -> int:
            return 1
        def fetch_sync() -> int:
            return asyncio.run_coroutine_threadsafe(fetch(), BACKGROUND).result()
        async def handler() -> int:
            return fetch_sync()
    """
    assert _lines(source, "RH103") == []
    assert _lines(source, "RH102") == [9]


def test_async_to_sync_waits_only_when_the_wrapper_is_called() -> None:
    source = """
        import asyncio
        from asgiref.sync import async_to_sync
        async def send(x: int) -> None: ...
        async def direct() -> None:
            async_to_sync(send)(1)
        async def kept_and_called() -> None:
            sender = async_to_sync(send)
            sender(2)
        async def handed_to_thread() -> None:
            await asyncio.to_thread(async_to_sync(send), 3)
            wrapper = async_to_sync(send)
            await asyncio.to_thread(wrapper, 4)
    """
    assert _lines(source, "RH103") == [6, 8]


def test_async_to_sync_decorated_function_called_from_async_and_through_helper() -> None:
    source = """
        from asgiref.sync import async_to_sync
        @async_to_sync
        async def publish(x: int) -> None: ...
        def helper() -> None:
            publish(1)
        def view() -> None:
            helper()
        async def consumer() -> None:
            publish(2)
            helper()
    """
    assert _lines(source, "RH103") == [10, 11]


def test_nest_asyncio_allows_reentry_but_not_waiting_on_the_blocked_loop() -> None:
    source = """
        import asyncio
        import nest_asyncio
        nest_asyncio.apply()
        async def work() -> int:
            return 1
        async def handler() -> int:
            asyncio.run(work())
            loop = asyncio.get_running_loop()
            return asyncio.run_coroutine_threadsafe(work(), loop).result()
    """
    assert _lines(source, "RH103") == [10]


def test_loop_runner_evidence_ends_at_the_runner() -> None:
    source = """
        import asyncio
        async def work() -> None: ...
        def run_it() -> None:
            asyncio.run(work())
        async def handler() -> None:
            run_it()
    """
    [finding] = _findings(source, "RH103")
    assert finding.evidence[-1].span.line == 5
    assert "asyncio.run()" in finding.evidence[-1].message


# -- RH104 ---------------------------------------------------------------------------------------


def test_unknown_decorator_may_make_a_coroutine_function_sync() -> None:
    source = """
        import threading
        from asgiref.sync import async_to_sync
        from tenacity import retry
        @async_to_sync
        async def wrapped() -> None: ...
        @retry
        async def retried() -> None: ...
        def start() -> None:
            threading.Thread(target=wrapped).start()
            threading.Thread(target=retried).start()
    """
    assert _lines(source, "RH104") == [11]


def test_lambda_calling_its_own_parameter_is_not_the_global_coroutine() -> None:
    source = """
        import asyncio
        async def notify() -> None: ...
        def arm(loop: asyncio.AbstractEventLoop) -> None:
            loop.call_soon(lambda notify: notify(), None)
            loop.call_soon(lambda: notify())
    """
    assert _lines(source, "RH104") == [6]


def test_keyword_less_callback_params_ignore_double_star_kwargs() -> None:
    source = """
        import asyncio, signal
        async def stop() -> None: ...
        def arm(loop: asyncio.AbstractEventLoop, extra: dict[str, object]) -> None:
            loop.add_signal_handler(signal.SIGTERM, stop)
            loop.add_signal_handler(signal.SIGINT, print, **extra)
    """
    assert _lines(source, "RH104") == [5]
