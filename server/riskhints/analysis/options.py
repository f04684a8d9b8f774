"""The options that change what the engine reports (and so what the cache keys on)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .finding import Severity


@dataclass(frozen=True)
class AnalysisOptions:
    select: tuple[str, ...] = ()  # rule ids or prefixes ("RH2"); empty: every rule
    ignore: tuple[str, ...] = ()
    severity: Mapping[str, Severity] = field(default_factory=dict)
    extra_blocking_calls: frozenset[str] = frozenset()
    # "jedi": infer the receivers the syntax cannot type (see analysis.inference); "off".
    inference: str = "jedi"

    def enabled(self, rule_id: str) -> bool:
        if self.select and not any(rule_id.startswith(p) for p in self.select):
            return False
        return not any(rule_id.startswith(p) for p in self.ignore)

    def fingerprint(self) -> str:
        """What the cache must key on besides the text (the options that change findings)."""
        return repr(
            (
                sorted(self.select),
                sorted(self.ignore),
                sorted((k, v.label) for k, v in self.severity.items()),
                sorted(self.extra_blocking_calls),
                self.inference,
            )
        )
