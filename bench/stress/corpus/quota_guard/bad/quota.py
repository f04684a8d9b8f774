# stress: target=QuotaGuard.spend expect=event loop blocked
"""A threading.Lock guards the quota while the coroutine awaits the billing service."""

import threading


class QuotaGuard:
    def __init__(self, billing, limit=100):
        self.billing = billing
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    async def spend(self, tenant, units):
        with self._lock:
            allowed = await self.billing.check(tenant, units)
            if allowed:
                self.used += units
            return allowed
