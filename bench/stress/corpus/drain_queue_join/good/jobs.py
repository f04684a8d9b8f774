"""The workers mark every item done, so join() returns."""

import asyncio


async def _work(queue, handler):
    while True:
        item = await queue.get()
        try:
            await handler.handle(item)
        finally:
            queue.task_done()


async def run_batch(items, handler):
    queue = asyncio.Queue()
    workers = [asyncio.create_task(_work(queue, handler)) for _ in range(3)]
    for item in items:
        queue.put_nowait(item)
    await queue.join()
    for worker in workers:
        worker.cancel()
