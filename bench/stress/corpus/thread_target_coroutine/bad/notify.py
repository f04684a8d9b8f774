# stress: target=announce expect=coroutine never awaited
"""announce() hands an async function to a thread, which calls it and drops the coroutine."""

import threading


async def send_digest(mailer, users):
    for user in users:
        await mailer.send(user)


def announce(mailer, users):
    worker = threading.Thread(target=send_digest, args=(mailer, users))
    worker.start()
    worker.join()
