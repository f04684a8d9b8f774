# stress: target=RH205@ expect=lock leaked
"""At most one heavy export per tenant runs at a time. The context manager takes the
tenant's lock and gives it back after the block; when the block raises or is cancelled (a
client that disconnects), the release is skipped and the tenant can never export again."""

import asyncio
from contextlib import asynccontextmanager

export_gate = asyncio.Lock()


@asynccontextmanager
async def export_slot(tenant):
    await export_gate.acquire()
    yield tenant
    export_gate.release()


async def export_tenant(tenant, exporter):
    async with export_slot(tenant):
        return await exporter.run(tenant)
