"""remaining() and redeem() share one unlocked helper; each takes the lock once."""

import threading


class CouponLedger:
    def __init__(self, limits):
        self._lock = threading.Lock()
        self._limits = dict(limits)
        self._used = {}

    def _remaining(self, code):
        return self._limits.get(code, 0) - self._used.get(code, 0)

    def remaining(self, code):
        with self._lock:
            return self._remaining(code)

    def redeem(self, code, order_id):
        with self._lock:
            if self._remaining(code) <= 0:
                return False
            self._used[code] = self._used.get(code, 0) + 1
            return True
