# stress: target=AuditTrail.record expect=dropped task
"""record() starts the write in the background and keeps no reference to the task."""

import asyncio


class AuditTrail:
    def __init__(self, sink):
        self.sink = sink

    async def _write(self, event):
        await self.sink.append(event)
        await self.sink.flush()

    async def record(self, event):
        asyncio.create_task(self._write(event))
        return event
