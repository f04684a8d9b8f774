# stress: target=AuditPublisher.publish expect=blocking wait under a lock
"""Audit events sent over one shared connection by the service's worker threads. The retry
back-off sleeps while the send lock is held: one flaky send stalls every thread that audits."""

import threading

from .backoff import pause


class AuditPublisher:
    def __init__(self, transport, attempts=3):
        self.transport = transport
        self.attempts = attempts
        self._send_lock = threading.Lock()

    def publish(self, event):
        with self._send_lock:
            for attempt in range(self.attempts):
                try:
                    return self.transport.send(event.to_bytes())
                except ConnectionError:
                    pause(attempt)
            return self.transport.send(event.to_bytes())
