# stress: target=Bank.settle expect=possible deadlock
"""settle() takes the ledger lock then the accounts lock; transfer() the opposite order."""

import threading


class Bank:
    def __init__(self, gateway):
        self.gateway = gateway
        self.balances = {}
        self.accounts_lock = threading.Lock()
        self.ledger_lock = threading.Lock()

    def transfer(self, source, target, cents):
        with self.accounts_lock:
            self.balances[source] = self.balances.get(source, 0) - cents
            with self.ledger_lock:
                self.gateway.record(source, target, cents)

    def settle(self, batch):
        with self.ledger_lock:
            self.gateway.flush(batch)
            with self.accounts_lock:
                self.balances.clear()
