# stress: target=run_batch expect=possible deadlock
"""run_batch() waits for queue.join(), but the workers never call task_done()."""

import asyncio


async def _work(queue, handler):
    while True:
        item = await queue.get()
        await handler.handle(item)


async def run_batch(items, handler):
    queue = asyncio.Queue()
    workers = [asyncio.create_task(_work(queue, handler)) for _ in range(3)]
    for item in items:
        queue.put_nowait(item)
    await queue.join()
    for worker in workers:
        worker.cancel()
