"""Rules, one module per hazard family. Importing :func:`ensure_loaded` registers them all."""

from __future__ import annotations

import functools

from .registry import RuleContext, RuleSpec, all_rules, get_rule, rule


@functools.cache
def ensure_loaded() -> None:
    from . import (  # noqa: F401
        cancellation,
        event_loop,
        locks,
        meta,
        release,
        state,
        tasks,
        thread_state,
        wrong_thread,  # noqa: F401
    )
    from .frameworks import aiohttp, celery, django, sqlalchemy  # noqa: F401


__all__ = ["RuleContext", "RuleSpec", "all_rules", "ensure_loaded", "get_rule", "rule"]
