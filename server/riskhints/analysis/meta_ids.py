"""Ids of the findings the engine reports about the check itself, and the acknowledgement
marker: plain constants, importable without loading the rules (a warm CLI run needs them)."""

from __future__ import annotations

SYNTAX_ERROR = "RH001"
BAD_SUPPRESSION = "RH002"
NOT_ANALYSED = "RH003"
STALE_ASSUMPTION = "RH004"
META_RULES = frozenset({SYNTAX_ERROR, BAD_SUPPRESSION, NOT_ANALYSED, STALE_ASSUMPTION})

#: Appended to the message of a finding acknowledged in its assumptions checklist.
ACKNOWLEDGED = "acknowledged in the assumptions checklist"
