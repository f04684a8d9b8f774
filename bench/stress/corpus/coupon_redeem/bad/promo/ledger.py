"""In-process coupon ledger shared by the Flask workers' threads."""

import threading


class CouponLedger:
    def __init__(self, limits):
        self._lock = threading.Lock()
        self._limits = dict(limits)
        self._used = {}

    def remaining(self, code):
        with self._lock:
            return self._limits.get(code, 0) - self._used.get(code, 0)

    def redeem(self, code, order_id):
        with self._lock:
            if self.remaining(code) <= 0:
                return False
            self._used[code] = self._used.get(code, 0) + 1
            return True
