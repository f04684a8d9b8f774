"""An async context manager that hands out connections from an asyncio.Queue."""

import asyncio
import contextlib

_free = asyncio.Queue()


@contextlib.asynccontextmanager
async def checkout(timeout=5):
    try:
        conn = await asyncio.wait_for(_free.get(), timeout)
    except asyncio.TimeoutError:
        conn = None
    try:
        yield conn
    finally:
        if conn is not None:
            _free.put_nowait(conn)
