"""wait_for re-checks that a message is there before it is taken."""

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
            await self._arrived.wait_for(lambda: self._messages)
            message = self._messages.pop(0)
        await client.send_json({"room": self.room, "text": message})
        return message
