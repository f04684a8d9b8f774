# stress: target=RH205@ expect=lock leaked
"""Ledger snapshots rebuilt by the worker threads of a reporting service. The lock is taken
with acquire() and given back at the end: when the ledger query raises (a timeout, a dropped
connection), the lock stays taken and every later refresh blocks forever."""

import threading


class SnapshotCache:
    def __init__(self, ledger, clock):
        self.ledger = ledger
        self.clock = clock
        self._guard = threading.Lock()
        self._snapshot = None
        self._taken_at = None

    def refresh(self, account):
        self._guard.acquire()
        rows = self.ledger.balances(account)
        self._snapshot = {row.currency: row.amount for row in rows}
        self._taken_at = self.clock.now()
        self._guard.release()
        return self._snapshot
