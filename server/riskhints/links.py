"""Where the rule documentation lives (``docs/rules.md``, generated from the rule registry)."""

from __future__ import annotations

from .analysis.rules import RuleSpec

HOMEPAGE = "https://github.com/riskhints/riskhints"
RULES_DOC = f"{HOMEPAGE}/blob/main/docs/rules.md"


def rule_url(spec: RuleSpec) -> str:
    return f"{RULES_DOC}#{spec.anchor}"
