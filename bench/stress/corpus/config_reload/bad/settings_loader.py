# stress: target=SettingsLoader.reload expect=event loop blocked
"""Feature flags re-read from disk on every reload, with a plain open() in the coroutine."""

import json


class SettingsLoader:
    def __init__(self, path, notifier):
        self.path = path
        self.notifier = notifier
        self.flags = {}

    async def reload(self):
        with open(self.path, encoding="utf-8") as handle:
            self.flags = json.load(handle)
        await self.notifier.publish("flags", self.flags)
        return self.flags
