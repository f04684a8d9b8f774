"""The "Instead:" advice of a finding: the rule's alternative, fitted to the primitive at hand
(the hover, ``riskhints check``'s full report and ``riskhints rule`` all say the same).

A rule's registered alternative holds for every primitive it covers; what holds only for one
kind (a ``threading.RLock`` exists, an asyncio one does not) is added here, from the type the
finding's message names.
"""

from __future__ import annotations

from .finding import Finding
from .rules import get_rule

_THREAD_LOCK_REENTRY = (
    " A lock taken again by the thread that holds it can also be a `threading.RLock` "
    "(asyncio has no re-entrant lock)."
)


def advice(finding: Finding) -> str:
    spec = get_rule(finding.rule)
    text = spec.alternative if spec is not None else ""
    if finding.rule == "RH203" and "(threading.Lock)" in finding.message and text:
        text += _THREAD_LOCK_REENTRY
    return text
