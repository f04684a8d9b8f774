"""An asyncio.Lock guards the quota across the await."""

import asyncio


class QuotaGuard:
    def __init__(self, billing, limit=100):
        self.billing = billing
        self.limit = limit
        self.used = 0
        self._lock = asyncio.Lock()

    async def spend(self, tenant, units):
        async with self._lock:
            allowed = await self.billing.check(tenant, units)
            if allowed:
                self.used += units
            return allowed
