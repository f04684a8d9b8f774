"""The release is in a finally: the gate opens however the block ends."""

import asyncio
from contextlib import asynccontextmanager

export_gate = asyncio.Lock()


@asynccontextmanager
async def export_slot(tenant):
    await export_gate.acquire()
    try:
        yield tenant
    finally:
        export_gate.release()


async def export_tenant(tenant, exporter):
    async with export_slot(tenant):
        return await exporter.run(tenant)
