"""Each event is credited once: the first delivery stores a future of the receipt before it
awaits, and later deliveries wait for that future."""

import asyncio

from . import ledger

_receipts = {}


async def on_payment_succeeded(event):
    event_id = event["id"]
    if event_id not in _receipts:
        payment = event["data"]
        _receipts[event_id] = asyncio.ensure_future(
            ledger.credit(payment["account"], payment["amount"], event_id)
        )
    return await _receipts[event_id]


async def drain(deliveries):
    """The webhook endpoint queues deliveries; each is handled in a task of its own."""
    return await asyncio.gather(*(on_payment_succeeded(event) for event in deliveries))
