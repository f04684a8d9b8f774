# stress: target=RH101@ expect=event loop blocked
"""Health probe: checks every upstream with urllib from inside the coroutine."""

import asyncio
import urllib.request


async def probe(url, timeout=2):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status


async def probe_all(urls):
    return await asyncio.gather(*(probe(url) for url in urls))
