"""Avatars: the sync SDK helper runs in a worker thread."""

import asyncio

from .storage import fetch_blob


class AvatarService:
    def __init__(self, bucket, cache):
        self.bucket = bucket
        self.cache = cache

    async def avatar(self, user_id):
        key = f"avatars/{user_id}.png"
        blob = await asyncio.to_thread(fetch_blob, self.bucket, key)
        await self.cache.set(key, blob)
        return blob
