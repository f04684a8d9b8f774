# stress: target=checkout expect=event loop blocked
"""An async context manager that hands out connections, but waits for a free one with a sync
queue.get(): while the pool is empty the whole loop waits."""

import contextlib
import queue

_free = queue.Queue()


@contextlib.asynccontextmanager
async def checkout(timeout=5):
    conn = _free.get(timeout=timeout)
    try:
        yield conn
    finally:
        _free.put(conn)
