# stress: target=RatesFeed.latest expect=client session per call
"""The exchange-rate feed our pricing service polls. latest() opens a ClientSession for each
call and never closes it: each poll leaks a connection pool ("Unclosed client session")."""

import aiohttp

from .config import API_KEY_HEADER, FEED_URL


class RatesFeed:
    def __init__(self, api_key, currencies):
        self.api_key = api_key
        self.currencies = currencies

    async def latest(self):
        session = aiohttp.ClientSession(headers={API_KEY_HEADER: self.api_key})
        response = await session.get(FEED_URL, params={"symbols": ",".join(self.currencies)})
        body = await response.json()
        return {code: body["rates"][code] for code in self.currencies}
