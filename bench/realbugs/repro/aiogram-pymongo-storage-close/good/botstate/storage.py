"""Finite-state-machine storage of a chat bot, kept in MongoDB through pymongo's async client."""

from pymongo import AsyncMongoClient


class MongoStateStorage:
    def __init__(self, url, database="bot_states"):
        self._client = AsyncMongoClient(url)
        self._states = self._client[database]["states"]

    async def set_state(self, chat_id, user_id, state):
        key = {"chat": chat_id, "user": user_id}
        await self._states.update_one(key, {"$set": {"state": state}}, upsert=True)

    async def get_state(self, chat_id, user_id):
        document = await self._states.find_one({"chat": chat_id, "user": user_id})
        return document["state"] if document else None

    async def close(self):
        """Release the client's connections when the bot stops."""
        await self._client.close()
