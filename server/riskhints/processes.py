"""Child-process hygiene: a worker process never outlives the process that started it.

The language server and ``riskhints check --jobs N`` start worker processes (the server's
big-document worker, the CLI's pool: :class:`~riskhints.isolation.IsolatedPool` workers, which
also end when their stdin closes, but only between two calls). When the parent goes away —
the editor killed it, or closed its pipes and the server exited — a worker that is in the
middle of a long analysis would otherwise keep computing for nobody, and a parent waiting for
it at exit would keep the editor's process list full for as long.

:func:`watch_parent` in the child ends it as soon as its parent is gone (a daemon thread
checks the parent id; a killed parent cannot tell its children anything); the parent, when
its client leaves, kills its pools' workers instead of waiting for their work
(``IsolatedPool.shutdown(wait=False, cancel_futures=True)``).
"""

from __future__ import annotations

import os
import threading

#: How often a worker looks whether its parent is still there. A bound on how long an orphan
#: lives, not a timing anything depends on.
PARENT_CHECK_S = 0.5


def watch_parent(parent_pid: int) -> None:
    """In a worker process (a pool initializer): exit when ``parent_pid`` is no longer the
    parent (it died and the worker was re-parented), even mid-analysis."""
    if os.getppid() != parent_pid:
        os._exit(0)

    def watch() -> None:
        stopped = threading.Event()
        while not stopped.wait(PARENT_CHECK_S):
            if os.getppid() != parent_pid:
                os._exit(0)  # nothing of ours to flush: results go to a parent that is gone

    threading.Thread(target=watch, name="riskhints-parent-watch", daemon=True).start()
