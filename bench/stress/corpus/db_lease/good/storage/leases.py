"""The helper logs failures of the rollback but lets a cancellation through."""

import asyncio
import logging
from contextlib import asynccontextmanager

log = logging.getLogger(__name__)


async def _give_back(pool, connection):
    try:
        await connection.rollback()
        await pool.release(connection)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.warning("could not give connection %r back to the pool", connection)


@asynccontextmanager
async def leased_connection(pool, *, readonly=False):
    connection = await pool.acquire()
    try:
        if readonly:
            await connection.execute("SET TRANSACTION READ ONLY")
        yield connection
    finally:
        await _give_back(pool, connection)
