"""The feed is waited for outside the lock; only the store is under it."""

import threading
from concurrent.futures import ThreadPoolExecutor


class QuoteBook:
    def __init__(self, feed, workers=4):
        self.feed = feed
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers)
        self._quotes = {}

    def refresh(self, symbol):
        pending = self._pool.submit(self.feed.quote, symbol)
        fresh = pending.result(timeout=5)
        with self._lock:
            self._quotes[symbol] = fresh
            return fresh

    def quote(self, symbol):
        with self._lock:
            return self._quotes.get(symbol)
