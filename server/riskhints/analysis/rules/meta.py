"""Findings the engine itself reports: the file could not be (fully) analysed, or a suppression
comment is wrong. They are rules like any other, so they can be selected, ignored and documented."""

from __future__ import annotations

from ..finding import Severity
from ..meta_ids import BAD_SUPPRESSION, NOT_ANALYSED, STALE_ASSUMPTION, SYNTAX_ERROR
from .registry import meta_rule

__all__ = ["BAD_SUPPRESSION", "NOT_ANALYSED", "STALE_ASSUMPTION", "SYNTAX_ERROR"]

meta_rule(
    SYNTAX_ERROR,
    "syntax-error",
    Severity.ERROR,
    "The file does not parse; findings elsewhere in it are still reported where possible.",
    """The file has a syntax error. riskhints reports the first error once and keeps analysing
    the parts of the file that still parse: the broken function (or, failing that, the broken
    top-level block) is set aside, so findings elsewhere stay visible while you type.""",
)
meta_rule(
    BAD_SUPPRESSION,
    "invalid-suppression",
    Severity.WARNING,
    "A `# riskhints: ignore[...]` comment names a rule that does not exist.",
    """A suppression comment names an unknown rule id, so it suppresses nothing (a typo, or a
    rule that was renamed). Write `# riskhints: ignore[RH202] -- why this is safe`.""",
)
meta_rule(
    NOT_ANALYSED,
    "file-not-analysed",
    Severity.WARNING,
    "The file could not be analysed (not UTF-8 text, binary, or nested too deeply).",
    """The file was skipped: it is not valid text in its declared encoding, it looks binary,
    or its expressions are nested more deeply than the parser (or the analysis) can follow.
    Nothing in it was checked.""",
)
meta_rule(
    STALE_ASSUMPTION,
    "stale-assumption",
    Severity.WARNING,
    "A checked item of an assumptions checklist no longer describes the code below it.",
    """An item of an assumptions checklist (``# [x] ... (RH202 7f3a9c)``) was checked against
    code that has since changed: its fingerprint — the rule, the function and the normalised
    text of the statement it is about, never line numbers — matches nothing the function has
    now (a new ``await`` under the lock, a changed call, a renamed function). The finding it
    acknowledged is reported again at its normal severity. Re-check the assumption against the
    new code, then run "Update assumptions checklist" and check it again.""",
)
