"""record() keeps its background writes until they are done."""

import asyncio


class AuditTrail:
    def __init__(self, sink):
        self.sink = sink
        self._pending = set()

    async def _write(self, event):
        await self.sink.append(event)
        await self.sink.flush()

    async def record(self, event):
        task = asyncio.create_task(self._write(event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return event
