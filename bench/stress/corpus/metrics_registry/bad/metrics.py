# stress: target=register expect=possible deadlock
"""The registry lock is taken by register() and again by _publish(), through describe()."""

import threading

_lock = threading.Lock()
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
