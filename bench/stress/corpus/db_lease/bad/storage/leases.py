# stress: target=RH303@ expect=swallowed cancellation
"""Connections are leased from the pool for a unit of work. Giving a connection back rolls
back what the work left open; the helper catches everything so that a failing rollback never
hides the work's own error, and with it the task's cancellation: a request cancelled while its
connection is given back runs on as if nothing happened."""

import logging
from contextlib import asynccontextmanager

log = logging.getLogger(__name__)


async def _give_back(pool, connection):
    try:
        await connection.rollback()
        await pool.release(connection)
    except BaseException:
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
