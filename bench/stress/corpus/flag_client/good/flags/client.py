"""Async callers await the client; the sync facade is for code without a running loop."""

import asyncio

from .remote import FlagService


class Flags:
    def __init__(self, transport, tenant):
        self.service = FlagService(transport)
        self.tenant = tenant

    def is_enabled(self, flag):
        return asyncio.run(self.service.fetch(flag, self.tenant))

    async def is_enabled_async(self, flag):
        return await self.service.fetch(flag, self.tenant)

    async def checkout_options(self, cart):
        options = {"express": False}
        if await self.is_enabled_async("express-checkout"):
            options["express"] = True
        return options
