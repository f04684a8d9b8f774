# stress: target=RH402@ expect=lost updates
"""A site crawler fetches pages on a pool of threads; each worker adds its page's size to
the shared tally. `self.bytes_seen += ...` is a read, an add and a write: two workers that
finish together lose one of the sizes."""

from concurrent.futures import ThreadPoolExecutor


class CrawlTally:
    def __init__(self, fetcher):
        self.fetcher = fetcher
        self.pages = 0
        self.bytes_seen = 0

    def crawl_one(self, url):
        page = self.fetcher.get(url)
        self.bytes_seen += len(page.body)
        self.pages += 1
        return page

    def crawl(self, urls):
        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(self.crawl_one, urls))
