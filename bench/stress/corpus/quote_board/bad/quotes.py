# stress: target=RH207@ expect=blocking wait under a lock
"""Quotes refreshed by the request threads of a pricing service: the feed call goes to the
pool, and the refresh waits for it while holding the book's lock, so every reader of any
symbol waits for the slowest feed."""

import threading
from concurrent.futures import ThreadPoolExecutor


class QuoteBook:
    def __init__(self, feed, workers=4):
        self.feed = feed
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers)
        self._quotes = {}

    def refresh(self, symbol):
        with self._lock:
            pending = self._pool.submit(self.feed.quote, symbol)
            self._quotes[symbol] = pending.result(timeout=5)
            return self._quotes[symbol]

    def quote(self, symbol):
        with self._lock:
            return self._quotes.get(symbol)
