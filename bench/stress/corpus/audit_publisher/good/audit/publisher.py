"""The lock covers one send; the back-off sleeps without it."""

import threading

from .backoff import pause


class AuditPublisher:
    def __init__(self, transport, attempts=3):
        self.transport = transport
        self.attempts = attempts
        self._send_lock = threading.Lock()

    def publish(self, event):
        for attempt in range(self.attempts):
            try:
                with self._send_lock:
                    return self.transport.send(event.to_bytes())
            except ConnectionError:
                pause(attempt)
        with self._send_lock:
            return self.transport.send(event.to_bytes())
