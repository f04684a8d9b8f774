"""The feature-flag service's async client."""

import asyncio


class FlagService:
    def __init__(self, transport):
        self.transport = transport

    async def fetch(self, flag, tenant):
        await asyncio.sleep(0)
        reply = await self.transport.get(f"/flags/{flag}", params={"tenant": tenant})
        return bool(reply)
