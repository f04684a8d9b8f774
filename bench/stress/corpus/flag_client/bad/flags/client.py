# stress: target=RH103@ expect=sync wait on the event loop
"""Feature flags for templates and other sync code: is_enabled() drives the async client
with run_until_complete(). The async checkout handler calls it too, from inside the running
loop: asyncio refuses ("This event loop is already running") and the checkout fails."""

import asyncio

from .remote import FlagService


class Flags:
    def __init__(self, transport, tenant):
        self.service = FlagService(transport)
        self.tenant = tenant

    def is_enabled(self, flag):
        loop = asyncio.get_event_loop()
        return loop.run_until_complete(self.service.fetch(flag, self.tenant))

    async def checkout_options(self, cart):
        options = {"express": False}
        if self.is_enabled("express-checkout"):
            options["express"] = True
        return options
