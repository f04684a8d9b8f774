"""Which oracle of the harness proves which hazard: rule ids to hazard families, and for each
family the harness method the generated test calls and the sentence its docstring says.

A rule is offered "Insert stress test" exactly when its family is here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    slug: str  # the test name's suffix
    method: str  # the harness oracle
    says: str  # what the test checks, for its docstring


BLOCKED_LOOP = Family(
    "loop_not_blocked",
    "expect_loop_not_blocked",
    "Concurrent calls on a fresh event loop with the blocking APIs riskhints knows patched: a "
    "call of one on the loop's thread is recorded and fails the test (the loop not running for "
    "long fails it too).",
)
SYNC_WAIT = Family(
    "no_sync_wait_on_loop",
    "expect_no_sync_wait_on_loop",
    "The code runs inside a running event loop, as async callers run it: a synchronous wait for "
    "work that needs that loop (`Future.result()`, `asyncio.run()`, `run_until_complete()`) "
    "fails the test.",
)
DEADLOCK = Family(
    "no_deadlock",
    "expect_no_deadlock",
    "Concurrent calls with the module's locks watched: a lock re-acquired by its holder, two "
    "locks taken in opposite orders, the loop's thread blocking on a thread lock, or calls "
    "still unfinished at the deadline fail the test, with every task's and thread's stack.",
)
CHECK_THEN_ACT = Family(
    "check_then_act",
    "expect_one_at_a_time",
    "Identical calls at once, interleaved at every await by a seeded schedule: more than one "
    "call inside the awaited step between the check and the update fails the test.",
)
CANCELLATION = Family(
    "cancellation_propagates",
    "expect_cancellation_propagates",
    "The call runs as a task and is cancelled while it awaits inside the handler's `try`: the "
    "task must end cancelled.",
)
DROPPED_TASK = Family(
    "no_dropped_task",
    "expect_no_dropped_task",
    "The call runs with garbage collected at every step and awaits held only weakly, as the "
    "loop holds tasks: a task destroyed while still pending fails the test.",
)
NEVER_AWAITED = Family(
    "no_unawaited_coroutine",
    "expect_no_unawaited_coroutine",
    "The call runs with warnings recorded and garbage collected: a 'coroutine ... was never "
    "awaited' RuntimeWarning fails the test.",
)
CLIENT_SESSION = Family(
    "one_client_session",
    "expect_one_client_session",
    "Several calls with the client session class replaced by a counting fake: one new session "
    "per call fails the test.",
)
LOCK_LEAK = Family(
    "lock_released",
    "expect_lock_released",
    "Calls one at a time, each interrupted inside its locked section (cancelled while it awaits "
    "there, or a collaborator failing there): a lock or semaphore permit still held once the "
    "call has ended fails the test, with whether the next `acquire()` times out.",
)
CONDITION_RECHECK = Family(
    "wait_rechecked",
    "expect_wait_rechecked",
    "Calls waiting on the module's condition variables, each woken once without the condition "
    "holding (as a `notify_all` meant for another waiter wakes it): code that goes on without "
    "re-checking its predicate fails the test.",
)
WAIT_UNDER_LOCK = Family(
    "no_wait_under_lock",
    "expect_no_wait_under_lock",
    "Calls on threads at once with the module's locks watched: a sleep or wait (event, queue, "
    "future, join) made while holding a lock that another thread is waiting for fails the test.",
)
LOST_UPDATE = Family(
    "no_lost_update",
    "expect_no_lost_update",
    "One call alone, then many threads at once with a thread switch forced at every bytecode of "
    "the project's code: the shared state changing less than once per call (lost updates) "
    "fails the test.",
)
TASK_WAIT = Family(
    "no_wait_on_task",
    "expect_no_wait_on_task",
    "The task applied eagerly on threads, as worker slots run it: waiting inside it for another "
    "task's result (`.get()`, `.join()`, `.wait()`) fails the test, since that holds a worker "
    "slot the subtask needs.",
)
GENERAL = Family(
    "under_load",
    "expect_no_deadlock",
    "Concurrent calls with the module's locks watched: a deadlock, a re-entered lock or a lock-"
    "order inversion fails the test.",
)

BY_RULE: dict[str, Family] = {
    "RH101": BLOCKED_LOOP,
    "RH102": BLOCKED_LOOP,
    "RH201": BLOCKED_LOOP,
    "RH501": BLOCKED_LOOP,
    "RH502": BLOCKED_LOOP,
    "RH103": SYNC_WAIT,
    "RH202": DEADLOCK,
    "RH203": DEADLOCK,
    "RH204": DEADLOCK,
    "RH205": LOCK_LEAK,
    "RH206": CONDITION_RECHECK,
    "RH207": WAIT_UNDER_LOCK,
    "RH208": DEADLOCK,
    "RH402": LOST_UPDATE,
    "RH401": CHECK_THEN_ACT,
    "RH303": CANCELLATION,
    "RH301": DROPPED_TASK,
    "RH302": NEVER_AWAITED,
    "RH104": NEVER_AWAITED,
    "RH508": CLIENT_SESSION,
    "RH507": TASK_WAIT,
}


def family_of(rule: str) -> Family | None:
    return BY_RULE.get(rule)


def has_oracle(rule: str) -> bool:
    return rule in BY_RULE
