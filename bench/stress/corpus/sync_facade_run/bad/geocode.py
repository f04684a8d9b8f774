# stress: target=RH103@ expect=sync wait on the event loop
"""A sync facade over the async client, with asyncio.run inside; the async view calls it."""

import asyncio


async def _lookup(client, address):
    return await client.geocode(address)


def geocode(client, address):
    return asyncio.run(_lookup(client, address))


async def enrich(client, order):
    order["coords"] = geocode(client, order["address"])
    return order
