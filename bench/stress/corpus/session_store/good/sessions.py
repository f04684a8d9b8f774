"""touch() records the session under the lock, then evicts after releasing it."""

import asyncio
import time


class SessionStore:
    def __init__(self, backend, ttl=900):
        self.backend = backend
        self.ttl = ttl
        self._seen = {}
        self._lock = asyncio.Lock()

    async def _evict(self, now):
        async with self._lock:
            for sid in [s for s, t in self._seen.items() if now - t > self.ttl]:
                del self._seen[sid]
                await self.backend.delete(sid)

    async def touch(self, sid):
        async with self._lock:
            self._seen[sid] = time.monotonic()
        await self._evict(time.monotonic())
