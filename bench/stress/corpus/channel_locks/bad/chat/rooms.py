# stress: target=RH204@ expect=possible deadlock
"""join() takes the rooms lock then the members lock; kick() takes them the other way round."""

from . import locks

_rooms = {}
_members = {}


async def join(room, user, store):
    async with locks.rooms_lock:
        await store.save_room(room)
        async with locks.members_lock:
            _members.setdefault(room, set()).add(user)


async def kick(room, user, store):
    async with locks.members_lock:
        await store.save_member(room, user)
        async with locks.rooms_lock:
            _members.get(room, set()).discard(user)
            _rooms.pop(room, None)
