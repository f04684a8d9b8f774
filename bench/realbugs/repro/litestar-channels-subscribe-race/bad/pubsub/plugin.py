"""Channels of a pub/sub plugin: the backend is subscribed while a channel has subscribers."""


class ChannelsPlugin:
    def __init__(self, backend, channels=()):
        self._backend = backend
        self._channels = {channel: set() for channel in channels}

    async def subscribe(self, subscriber, channels):
        to_subscribe = set()
        for channel in channels:
            subscribers = self._channels.setdefault(channel, set())
            if not subscribers:
                to_subscribe.add(channel)
            subscribers.add(subscriber)
        if to_subscribe:
            await self._backend.subscribe(to_subscribe)

    async def unsubscribe(self, subscriber, channels):
        to_unsubscribe = set()
        for channel in channels:
            subscribers = self._channels.get(channel, set())
            subscribers.discard(subscriber)
            if not subscribers:
                to_unsubscribe.add(channel)
        if to_unsubscribe:
            await self._backend.unsubscribe(to_unsubscribe)
