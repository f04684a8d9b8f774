"""The async view awaits the lookup; the sync facade is kept for scripts."""

import asyncio


async def _lookup(client, address):
    return await client.geocode(address)


def geocode(client, address):
    return asyncio.run(_lookup(client, address))


async def enrich(client, order):
    order["coords"] = await _lookup(client, order["address"])
    return order
