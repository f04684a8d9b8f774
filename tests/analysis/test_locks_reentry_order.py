"""RH201-RH204 and the lock facts they stand on: what is held where, which locks a call may
wait for, which locks are the same object, and when two opposite orders cannot deadlock."""

from __future__ import annotations

import ast
import textwrap

from riskhints.analysis import analyze_source
from riskhints.analysis.facts import ModuleFacts, build_module_facts
from riskhints.analysis.summaries import Program


def facts_of(source: str, module: str = "app.svc") -> ModuleFacts:
    source = textwrap.dedent(source)
    return build_module_facts(ast.parse(source), source, module, "app/svc.py")


def findings(source: str, rule: str) -> list[int]:
    """Lines of the findings of one rule."""
    found = analyze_source(textwrap.dedent(source), "app/svc.py")
    return sorted(f.span.line for f in found if f.rule == rule)


# -- facts -------------------------------------------------------------------------------------


def test_acquire_released_in_finally_is_not_held_after_the_try() -> None:
    facts = facts_of(
        """
        import threading
        lock = threading.Lock()

        async def flush(send):
            lock.acquire()
            try:
                batch = 1
            finally:
                lock.release()
            await send(batch)
        """
    )
    fn = facts.functions["app.svc.flush"]
    assert [site.held for site in fn.awaits] == [()]


def test_acquire_released_in_finally_is_held_inside_the_try() -> None:
    facts = facts_of(
        """
        import threading
        lock = threading.Lock()

        async def flush(send):
            lock.acquire()
            try:
                await send(1)
            finally:
                lock.release()
        """
    )
    fn = facts.functions["app.svc.flush"]
    assert [[h.lock.key for h in site.held] for site in fn.awaits] == [["app.svc.lock"]]


def test_lock_created_in_base_class_has_one_key_in_subclass_methods() -> None:
    facts = facts_of(
        """
        import threading

        class Base:
            def __init__(self):
                self._lock = threading.Lock()

            def touch(self):
                with self._lock:
                    pass

        class Child(Base):
            def renew(self):
                with self._lock:
                    pass
        """
    )
    keys = {
        op.lock.key
        for name in ("Base.touch", "Child.renew")
        for op in facts.functions[f"app.svc.{name}"].lock_ops
    }
    assert keys == {"app.svc.Base._lock"}


def test_subclass_own_lock_keeps_its_own_key() -> None:
    facts = facts_of(
        """
        import threading

        class Base:
            _lock = threading.Lock()

        class Child(Base):
            _lock = threading.RLock()

            def run(self):
                with self._lock:
                    pass
        """
    )
    (op,) = facts.functions["app.svc.Child.run"].lock_ops
    assert (op.lock.key, op.lock.type) == ("app.svc.Child._lock", "threading.RLock")


def test_try_acquire_forms() -> None:
    facts = facts_of(
        """
        import threading
        lock = threading.Lock()

        def probe():
            if lock.acquire(blocking=False):
                lock.release()
            if lock.acquire(False):
                lock.release()
            if lock.acquire(timeout=0):
                lock.release()
            if lock.acquire(timeout=2):
                lock.release()
            lock.acquire()
            lock.release()
        """
    )
    ops = facts.functions["app.svc.probe"].lock_ops
    assert [op.is_try_acquire for op in ops] == [True, True, True, False, False]


def test_acquisitions_leave_out_try_locks() -> None:
    facts = facts_of(
        """
        import threading
        a = threading.Lock()
        b = threading.Lock()

        def helper():
            if a.acquire(blocking=False):
                a.release()
            with b:
                pass
        """
    )
    program = Program([facts])
    helper = facts.functions["app.svc.helper"]
    assert sorted(program.acquisitions(helper)) == ["app.svc.b"]


# -- RH201 -------------------------------------------------------------------------------------


def test_rh201_condition_wait_releases_the_condition() -> None:
    source = """
        import threading
        cond = threading.Condition()
        items = []

        def consumer():
            with cond:
                while not items:
                    cond.wait()

        async def producer(item):
            with cond:
                items.append(item)
                cond.notify()
        """
    assert findings(source, "RH201") == []


def test_rh201_waiting_on_another_primitive_under_the_lock_is_blocking() -> None:
    source = """
        import threading
        lock = threading.Lock()
        ready = threading.Event()

        def worker():
            with lock:
                ready.wait()

        async def handler():
            with lock:
                return 1
        """
    assert findings(source, "RH201") == [11]


def test_rh201_condition_wait_in_a_helper_is_not_blocking_under_a_condition() -> None:
    source = """
        import threading
        cond = threading.Condition()
        items = []

        def _wait_for_items():
            while not items:
                cond.wait()

        def consumer():
            with cond:
                _wait_for_items()

        async def producer(item):
            with cond:
                items.append(item)
                cond.notify()
        """
    assert findings(source, "RH201") == []


# -- RH203 -------------------------------------------------------------------------------------


def test_rh203_inherited_lock_reentered_through_base_helper() -> None:
    source = """
        import threading

        class Base:
            def __init__(self):
                self._lock = threading.Lock()

            def _touch(self):
                with self._lock:
                    pass

        class Child(Base):
            def renew(self):
                with self._lock:
                    self._touch()
        """
    assert findings(source, "RH203") == [15]


def test_rh203_try_lock_under_the_held_lock_does_not_wait() -> None:
    source = """
        import threading
        lock = threading.Lock()

        def compact():
            if lock.acquire(blocking=False):
                lock.release()

        def add():
            with lock:
                compact()
                if lock.acquire(False):
                    lock.release()
        """
    assert findings(source, "RH203") == []


# -- RH204 -------------------------------------------------------------------------------------


def test_rh204_common_gate_lock_serialises_opposite_orders() -> None:
    source = """
        import threading
        gate = threading.Lock()
        a = threading.Lock()
        b = threading.Lock()

        def one():
            with gate, a, b:
                pass

        def two():
            with gate:
                with b:
                    with a:
                        pass
        """
    assert findings(source, "RH204") == []


def test_rh204_gate_needs_to_be_a_mutex() -> None:
    source = """
        import threading
        gate = threading.Semaphore(4)
        a = threading.Lock()
        b = threading.Lock()

        def one():
            with gate, a, b:
                pass

        def two():
            with gate:
                with b:
                    with a:
                        pass
        """
    assert findings(source, "RH204") == [14]


def test_rh204_reports_an_unguarded_pair_even_when_another_pair_is_guarded() -> None:
    source = """
        import threading
        gate = threading.Lock()
        a = threading.Lock()
        b = threading.Lock()

        def one():
            with gate, a, b:
                pass

        def two():
            with gate, b, a:
                pass

        def three():
            with b:
                with a:
                    pass
        """
    assert findings(source, "RH204") == [17]


def test_rh204_try_lock_in_reverse_order_backs_off() -> None:
    source = """
        import threading
        a = threading.Lock()
        b = threading.Lock()

        def one():
            with a, b:
                pass

        def two():
            with b:
                if a.acquire(blocking=False):
                    a.release()
        """
    assert findings(source, "RH204") == []


def test_rh204_other_instance_helper_adds_no_order() -> None:
    source = """
        import threading

        class Node:
            def __init__(self):
                self._state = threading.Lock()
                self._links = threading.Lock()

            def link(self, peer: "Node"):
                with self._links:
                    peer.snapshot()

            def snapshot(self):
                with self._state:
                    return 1

            def relink(self):
                with self._state:
                    with self._links:
                        pass
        """
    assert findings(source, "RH204") == []
