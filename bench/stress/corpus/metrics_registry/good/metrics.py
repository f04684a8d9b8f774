"""The registry lock is reentrant: describe() under register() does not wait for itself."""

import threading

_lock = threading.RLock()
_metrics = {}


def _publish(name, exporter):
    with _lock:
        exporter.announce(name, sorted(_metrics))


def describe(name, exporter):
    _publish(name, exporter)


def register(name, kind, exporter):
    with _lock:
        _metrics[name] = kind
        describe(name, exporter)
