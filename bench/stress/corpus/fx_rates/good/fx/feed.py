"""One ClientSession per feed, opened on first use and closed with the feed."""

import aiohttp

from .config import API_KEY_HEADER, FEED_URL


class RatesFeed:
    def __init__(self, api_key, currencies):
        self.api_key = api_key
        self.currencies = currencies
        self._session = None

    def _client(self):
        if self._session is None:
            self._session = aiohttp.ClientSession(headers={API_KEY_HEADER: self.api_key})
        return self._session

    async def latest(self):
        response = await self._client().get(
            FEED_URL, params={"symbols": ",".join(self.currencies)}
        )
        body = await response.json()
        return {code: body["rates"][code] for code in self.currencies}

    async def close(self):
        if self._session is not None:
            await self._session.close()
            self._session = None
