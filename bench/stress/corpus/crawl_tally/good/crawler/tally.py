"""The tally is updated under a lock."""

import threading
from concurrent.futures import ThreadPoolExecutor


class CrawlTally:
    def __init__(self, fetcher):
        self.fetcher = fetcher
        self.pages = 0
        self.bytes_seen = 0
        self._lock = threading.Lock()

    def crawl_one(self, url):
        page = self.fetcher.get(url)
        with self._lock:
            self.bytes_seen += len(page.body)
            self.pages += 1
        return page

    def crawl(self, urls):
        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(self.crawl_one, urls))
