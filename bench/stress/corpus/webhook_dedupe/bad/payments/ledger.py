"""Credits customer balances (a call to the accounting service)."""

import asyncio


async def credit(account, cents, reference):
    await asyncio.sleep(0)  # the accounting service's API
    return {"account": account, "cents": cents, "reference": reference}
