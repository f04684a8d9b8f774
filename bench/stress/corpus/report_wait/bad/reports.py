# stress: target=ReportService.render expect=event loop blocked
"""Rendering is handed to a process-wide pool, but the coroutine waits for it with result()."""

from concurrent.futures import ThreadPoolExecutor

_pool = ThreadPoolExecutor(max_workers=4)


class ReportService:
    def __init__(self, renderer):
        self.renderer = renderer

    async def render(self, report_id):
        future = _pool.submit(self.renderer.render, report_id)
        return future.result()
