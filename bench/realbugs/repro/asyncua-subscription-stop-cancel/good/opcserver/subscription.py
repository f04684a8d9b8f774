"""A server-side subscription: a task publishes notifications every interval until it expires."""

import asyncio
import logging

log = logging.getLogger(__name__)


class InternalSubscription:
    def __init__(self, publisher, interval, max_keepalive):
        self._publisher = publisher
        self._interval = interval
        self._max_keepalive = max_keepalive
        self._idle_cycles = 0
        self._task = None

    async def start(self):
        self._task = asyncio.create_task(self._subscription_loop())

    async def stop(self):
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                if asyncio.current_task() is self._task:
                    # stop() was called from the loop itself: let the loop end.
                    raise
            self._task = None

    async def _subscription_loop(self):
        while True:
            await asyncio.sleep(self._interval)
            if await self._publisher.publish():
                self._idle_cycles = 0
            else:
                self._idle_cycles += 1
            if self._idle_cycles > self._max_keepalive:
                log.info("subscription expired, stopping it")
                await self.stop()
