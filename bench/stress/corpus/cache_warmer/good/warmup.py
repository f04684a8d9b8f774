"""warm() keeps the refresh task in a module-level set until it finishes."""

import asyncio
import logging

log = logging.getLogger(__name__)
_running = set()


async def _refresh(cache, keys):
    for key in keys:
        await cache.load(key)


async def warm(cache, keys):
    task = asyncio.ensure_future(_refresh(cache, keys))
    _running.add(task)
    task.add_done_callback(_running.discard)
    log.info("warming %s", task.get_name())
