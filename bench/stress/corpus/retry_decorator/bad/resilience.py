# stress: target=RH101@ expect=event loop blocked
"""A retry decorator written for sync code and then put on coroutines: its back-off is
time.sleep, which stops the loop between attempts."""

import functools
import time


def retrying(attempts=3, backoff=0.2):
    def decorate(fn):
        @functools.wraps(fn)
        async def wrapper(*args, **kwargs):
            for attempt in range(attempts):
                try:
                    return await fn(*args, **kwargs)
                except ConnectionError:
                    time.sleep(backoff * (attempt + 1))
            return await fn(*args, **kwargs)

        return wrapper

    return decorate


@retrying()
async def push_event(broker, event):
    if not broker.connected:
        raise ConnectionError("broker away")
    return await broker.send(event)
