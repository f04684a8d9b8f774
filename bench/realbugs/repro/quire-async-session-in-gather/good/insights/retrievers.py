"""Retrievers of external facts about a book, each caching its answers in the database."""

from sqlalchemy import select

from .models import SourceCache


class CachedRetriever:
    source = ""

    def __init__(self, session, http):
        self._session = session
        self._http = http

    async def lookup(self, book):
        query = select(SourceCache).where(
            SourceCache.source == self.source, SourceCache.book_id == book.id
        )
        cached = (await self._session.execute(query)).scalar_one_or_none()
        if cached is not None:
            return cached.payload
        payload = await self._http.get_text(self.url_for(book))
        self._session.add(SourceCache(book_id=book.id, source=self.source, payload=payload))
        await self._session.flush()
        return payload

    def url_for(self, book):
        raise NotImplementedError


class WikipediaRetriever(CachedRetriever):
    source = "wikipedia"

    def url_for(self, book):
        return f"https://en.wikipedia.org/w/rest.php/v1/search/page?q={book.title}"


class OpenLibraryRetriever(CachedRetriever):
    source = "openlibrary"

    def url_for(self, book):
        return f"https://openlibrary.org/search.json?isbn={book.isbn}"
