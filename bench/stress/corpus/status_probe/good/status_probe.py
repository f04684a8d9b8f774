"""Health probe: the urllib call runs in a worker thread."""

import asyncio
import urllib.request


def _status(url, timeout):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status


async def probe(url, timeout=2):
    return await asyncio.to_thread(_status, url, timeout)


async def probe_all(urls):
    return await asyncio.gather(*(probe(url) for url in urls))
