"""Realistic code for the failure-log tests: a price service an assistant wrote with two
hazards (a threading.Lock held across an await, a blocking sleep in a coroutine), and the same
module as a reviewer fixed it."""

from __future__ import annotations

import textwrap

PRICES_BAD = textwrap.dedent(
    """\
    import threading
    import time

    import httpx

    _prices: dict[str, float] = {}
    _prices_lock = threading.Lock()


    async def refresh_price(client: httpx.AsyncClient, symbol: str) -> float:
        with _prices_lock:
            response = await client.get(f"https://quotes.example.com/{symbol}")
            _prices[symbol] = response.json()["price"]
            return _prices[symbol]


    async def poll_prices(client: httpx.AsyncClient, symbols: list[str]) -> None:
        while True:
            for symbol in symbols:
                await refresh_price(client, symbol)
            time.sleep(30)
    """
)
LOCK_LINE = 12  # the await under the thread lock (RH202)
SLEEP_LINE = 21  # time.sleep in a coroutine (RH101)

PRICES_FIXED = textwrap.dedent(
    """\
    import asyncio

    import httpx

    _prices: dict[str, float] = {}
    _prices_lock = asyncio.Lock()


    async def refresh_price(client: httpx.AsyncClient, symbol: str) -> float:
        async with _prices_lock:
            response = await client.get(f"https://quotes.example.com/{symbol}")
            _prices[symbol] = response.json()["price"]
            return _prices[symbol]


    async def poll_prices(client: httpx.AsyncClient, symbols: list[str]) -> None:
        while True:
            for symbol in symbols:
                await refresh_price(client, symbol)
            await asyncio.sleep(30)
    """
)
