# stress: target=Mailbox.receive expect=wait not re-checked
"""A chat relay's per-room mailbox: every connected client's task awaits the next message.
deliver() wakes all of them; with the `if`, a client woken after another took the message
pops an empty list."""

import asyncio


class Mailbox:
    def __init__(self, room):
        self.room = room
        self._messages = []
        self._arrived = asyncio.Condition()

    async def deliver(self, message):
        async with self._arrived:
            self._messages.append(message)
            self._arrived.notify_all()

    async def receive(self, client):
        async with self._arrived:
            if not self._messages:
                await self._arrived.wait()
            message = self._messages.pop(0)
        await client.send_json({"room": self.room, "text": message})
        return message
