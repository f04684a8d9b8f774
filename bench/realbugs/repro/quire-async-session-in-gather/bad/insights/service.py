"""Builds the insight shown for a book from several external sources at once."""

import asyncio

from .retrievers import OpenLibraryRetriever, WikipediaRetriever


class InsightOrchestrator:
    def __init__(self, session, http):
        self._session = session  # the request's AsyncSession
        self._http = http

    async def retrieve(self, book):
        retrievers = [
            WikipediaRetriever(self._session, self._http),
            OpenLibraryRetriever(self._session, self._http),
        ]
        results = await asyncio.gather(*(r.lookup(book) for r in retrievers), return_exceptions=True)
        return [r for r in results if not isinstance(r, BaseException)]
