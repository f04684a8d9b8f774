"""The lazy client is created under an asyncio.Lock, checked again inside it."""

import asyncio


class PaymentGateway:
    def __init__(self, connector, api_key):
        self.connector = connector
        self.api_key = api_key
        self._client = None
        self._client_lock = asyncio.Lock()

    async def client(self):
        if self._client is None:
            async with self._client_lock:
                if self._client is None:
                    self._client = await self.connector.open(self.api_key)
        return self._client

    async def charge_all(self, charges):
        await asyncio.gather(*(self.charge(c) for c in charges))

    async def charge(self, charge):
        client = await self.client()
        return await client.post("/charges", json=charge)
