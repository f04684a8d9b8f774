"""Feature flags re-read from disk in a worker thread."""

import asyncio
import json


def _read(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


class SettingsLoader:
    def __init__(self, path, notifier):
        self.path = path
        self.notifier = notifier
        self.flags = {}

    async def reload(self):
        try:
            self.flags = await asyncio.to_thread(_read, self.path)
        except ValueError:
            self.flags = {}
        await self.notifier.publish("flags", self.flags)
        return self.flags
