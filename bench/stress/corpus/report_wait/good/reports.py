"""The coroutine awaits the pool's future."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

_pool = ThreadPoolExecutor(max_workers=4)


class ReportService:
    def __init__(self, renderer):
        self.renderer = renderer

    async def render(self, report_id):
        future = _pool.submit(self.renderer.render, report_id)
        return await asyncio.wrap_future(future)
