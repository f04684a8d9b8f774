# stress: target=on_payment_succeeded expect=check-then-act race
"""The payment provider retries webhooks and may deliver the same event several times at
once. The handler checks whether it has a receipt for the event, credits the account, and
only then stores the receipt: concurrent deliveries all pass the check and credit the
account several times."""

import asyncio

from . import ledger

_receipts = {}


async def on_payment_succeeded(event):
    event_id = event["id"]
    if event_id in _receipts:
        return _receipts[event_id]
    payment = event["data"]
    receipt = await ledger.credit(payment["account"], payment["amount"], event_id)
    _receipts[event_id] = receipt
    return receipt


async def drain(deliveries):
    """The webhook endpoint queues deliveries; each is handled in a task of its own."""
    return await asyncio.gather(*(on_payment_succeeded(event) for event in deliveries))
