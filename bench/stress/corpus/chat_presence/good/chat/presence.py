"""The broadcast is scheduled as a task (kept until it is done)."""

import asyncio


class PresenceHub:
    def __init__(self, rooms):
        self.rooms = rooms
        self.online = {}
        self._sending = set()

    async def _broadcast(self, room, message):
        for connection in self.rooms.members(room):
            await connection.send_json(message)

    async def user_joined(self, room, user):
        self.online.setdefault(room, set()).add(user)
        task = asyncio.create_task(self._broadcast(room, {"event": "joined", "user": user}))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)
        return len(self.online[room])
