# stress: target=consume expect=swallowed cancellation
"""The consumer loop logs and carries on after any failure, cancellation included."""

import asyncio
import logging

log = logging.getLogger(__name__)


async def consume(queue, handler):
    while True:
        try:
            job = await queue.get()
            await handler.run(job)
        except asyncio.CancelledError:
            log.warning("consumer interrupted, carrying on")
        except Exception:
            log.exception("job failed")
