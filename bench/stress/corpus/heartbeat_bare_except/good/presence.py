"""The heartbeat counts failures but lets cancellation through."""


class Presence:
    def __init__(self, channel, member):
        self.channel = channel
        self.member = member
        self.missed = 0

    async def beat(self):
        try:
            await self.channel.send({"alive": self.member})
        except Exception:
            self.missed += 1
        return self.missed
