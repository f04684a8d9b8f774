# stress: target=AvatarService.avatar expect=event loop blocked
"""Avatars come from the object store through its sync SDK helper, called straight from the
coroutine: every request stops the loop while the blob downloads."""

from .storage import fetch_blob


class AvatarService:
    def __init__(self, bucket, cache):
        self.bucket = bucket
        self.cache = cache

    async def avatar(self, user_id):
        key = f"avatars/{user_id}.png"
        blob = fetch_blob(self.bucket, key)
        await self.cache.set(key, blob)
        return blob
