"""The consumer loop carries on after failures but stops when cancelled."""

import asyncio
import logging

log = logging.getLogger(__name__)


async def consume(queue, handler):
    while True:
        try:
            job = await queue.get()
            await handler.run(job)
        except asyncio.CancelledError:
            log.info("consumer stopping")
            raise
        except Exception:
            log.exception("job failed")
