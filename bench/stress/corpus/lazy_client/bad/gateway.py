# stress: target=PaymentGateway.client expect=check-then-act race
"""The HTTP client is created lazily: every request arriving during the handshake makes its own."""

import asyncio


class PaymentGateway:
    def __init__(self, connector, api_key):
        self.connector = connector
        self.api_key = api_key
        self._client = None

    async def client(self):
        if self._client is None:
            self._client = await self.connector.open(self.api_key)
        return self._client

    async def charge_all(self, charges):
        await asyncio.gather(*(self.charge(c) for c in charges))

    async def charge(self, charge):
        client = await self.client()
        return await client.post("/charges", json=charge)
