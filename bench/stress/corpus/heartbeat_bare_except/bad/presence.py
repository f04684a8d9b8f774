# stress: target=Presence.beat expect=swallowed cancellation
"""The heartbeat swallows everything with a bare except: cancelling it does nothing."""


class Presence:
    def __init__(self, channel, member):
        self.channel = channel
        self.member = member
        self.missed = 0

    async def beat(self):
        try:
            await self.channel.send({"alive": self.member})
        except:  # noqa: E722
            self.missed += 1
        return self.missed
