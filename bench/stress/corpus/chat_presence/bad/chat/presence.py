# stress: target=PresenceHub.user_joined expect=coroutine never awaited
"""Chat presence: when a user joins, everyone in the room is told on the next loop turn.
_broadcast is a coroutine function handed to loop.call_soon as a plain callback: the loop
calls it, gets a coroutine back and drops it, so nobody ever hears of the join."""

import asyncio


class PresenceHub:
    def __init__(self, rooms):
        self.rooms = rooms
        self.online = {}

    async def _broadcast(self, room, message):
        for connection in self.rooms.members(room):
            await connection.send_json(message)

    async def user_joined(self, room, user):
        self.online.setdefault(room, set()).add(user)
        loop = asyncio.get_running_loop()
        loop.call_soon(self._broadcast, room, {"event": "joined", "user": user})
        return len(self.online[room])
