"""Builds the insight shown for a book from several external sources at once."""

import asyncio

from .retrievers import OpenLibraryRetriever, WikipediaRetriever


class InsightOrchestrator:
    def __init__(self, session_factory, http):
        self._session_factory = session_factory  # an async_sessionmaker
        self._http = http

    async def _lookup(self, retriever_cls, book):
        # One session per concurrent lookup: an AsyncSession is not safe to share.
        async with self._session_factory() as session:
            return await retriever_cls(session, self._http).lookup(book)

    async def retrieve(self, book):
        sources = (WikipediaRetriever, OpenLibraryRetriever)
        results = await asyncio.gather(*(self._lookup(cls, book) for cls in sources), return_exceptions=True)
        return [r for r in results if not isinstance(r, BaseException)]
