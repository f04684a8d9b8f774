# stress: target=warm expect=dropped task
"""warm() schedules the refresh and only logs the task's name: the local dies on return."""

import asyncio
import logging

log = logging.getLogger(__name__)


async def _refresh(cache, keys):
    for key in keys:
        await cache.load(key)


async def warm(cache, keys):
    task = asyncio.ensure_future(_refresh(cache, keys))
    log.info("warming %s", task.get_name())
