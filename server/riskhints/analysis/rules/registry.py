"""The rule registry: every rule is a small function over a :class:`RuleContext`.

A rule's docstring explains the hazard (it becomes ``docs/rules.md`` and the hover text); the
registration says its stable id, name, default severity, one-line summary and the safe
alternative. Registering an id twice is an error: ids are stable once released.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from ..facts import FunctionFacts, ModuleFacts
from ..finding import Evidence, Finding, Severity, Span
from ..summaries import Program

Check = Callable[["RuleContext"], Iterable[Finding]]


@dataclass(frozen=True)
class RuleSpec:
    id: str
    name: str
    family: str
    severity: Severity
    summary: str
    alternative: str
    check: Check = field(compare=False, repr=False)

    @property
    def doc(self) -> str:
        return inspect.cleandoc(self.check.__doc__ or self.summary)

    @property
    def anchor(self) -> str:
        return f"{self.id.lower()}-{self.name}"


FAMILIES = {
    "RH0": "meta",
    "RH1": "event loop",
    "RH2": "locks",
    "RH3": "tasks and cancellation",
    "RH4": "shared state",
    "RH5": "framework contracts",
}

_REGISTRY: dict[str, RuleSpec] = {}


def rule(
    rule_id: str, name: str, severity: Severity, summary: str, alternative: str = ""
) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        if rule_id in _REGISTRY:
            raise ValueError(f"rule id {rule_id} registered twice")
        if any(spec.name == name for spec in _REGISTRY.values()):
            raise ValueError(f"rule name {name} registered twice")
        family = FAMILIES.get(rule_id[:3], "other")
        _REGISTRY[rule_id] = RuleSpec(rule_id, name, family, severity, summary, alternative, check)
        return check

    return register


def meta_rule(rule_id: str, name: str, severity: Severity, summary: str, doc: str) -> None:
    """Rules the engine itself reports (parse errors, suppressions): no check function."""

    def check(_ctx: RuleContext) -> Iterable[Finding]:
        return ()

    check.__doc__ = doc
    rule(rule_id, name, severity, summary)(check)


def all_rules() -> list[RuleSpec]:
    from . import ensure_loaded

    ensure_loaded()
    return sorted(_REGISTRY.values(), key=lambda spec: spec.id)


def get_rule(rule_id: str) -> RuleSpec | None:
    from . import ensure_loaded

    ensure_loaded()
    return _REGISTRY.get(rule_id)


class RuleContext:
    """What a rule sees: one module's facts, the program around it, and a finding factory."""

    def __init__(self, module: ModuleFacts, program: Program) -> None:
        self.module = module
        self.program = program
        self.path = module.path
        self.positions = module.positions

    def functions(self) -> Iterator[FunctionFacts]:
        return self.module.iter_functions()

    def async_functions(self) -> Iterator[FunctionFacts]:
        return (fn for fn in self.module.iter_functions() if fn.is_async)

    def span(self, node: ast.AST) -> Span:
        return self.positions.span(node)

    def evidence(self, node_or_span: ast.AST | Span, message: str) -> Evidence:
        span = node_or_span if isinstance(node_or_span, Span) else self.span(node_or_span)
        return Evidence(span, message, self.path)

    def evidence_of(self, fn: FunctionFacts, node: ast.AST, message: str) -> Evidence:
        """Evidence at ``node`` of ``fn``, which may be in another module of the program."""
        module = self.program.module_of(fn)
        return Evidence(module.positions.span(node), message, module.path)

    def finding(
        self,
        rule_id: str,
        where: ast.AST | Span,
        message: str,
        *,
        function: FunctionFacts | None = None,
        evidence: Iterable[Evidence] = (),
        assumptions: Iterable[str] = (),
        fix: dict[str, object] | None = None,
        severity: Severity | None = None,
    ) -> Finding:
        spec = _REGISTRY[rule_id]
        span = where if isinstance(where, Span) else self.positions.head_span(where)
        # Evidence in this file is stored without a path; other files keep theirs.
        hops = tuple(
            Evidence(ev.span, ev.message, None if ev.path == self.path else ev.path)
            for ev in evidence
        )
        return Finding(
            rule=rule_id,
            severity=severity or spec.severity,
            path=self.path,
            span=span,
            message=message,
            evidence=hops,
            assumptions=tuple(assumptions),
            fix=fix,
            function=function.display if function and not function.is_module_scope else None,
        )
