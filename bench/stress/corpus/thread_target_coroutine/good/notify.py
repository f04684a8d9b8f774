"""announce() runs the coroutine on an event loop of the thread's own."""

import asyncio
import threading


async def send_digest(mailer, users):
    for user in users:
        await mailer.send(user)


def announce(mailer, users):
    worker = threading.Thread(target=asyncio.run, args=(send_digest(mailer, users),))
    worker.start()
    worker.join()
