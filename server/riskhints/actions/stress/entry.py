"""The entry point a stress test drives, chosen from the finding's evidence chain rather than
from the line: the function at the top of the chain (a nested function is reached through the
function holding it), both sides of a lock-order inversion, the context manager *entered*, the
wrapper a decorator returns (through a function the module decorates with it, else around a
fake), a sync facade called from inside a running loop.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ...analysis.finding import Finding, Severity
from .oracles import GENERAL, Family, family_of
from .source import FunctionNode, Module, StressError, Target, dotted, find_target, nested_function

_PARTNERS = re.compile(r"`([^`]+)` takes")


@dataclass(frozen=True)
class Plan:
    """What one generated test does."""

    family: Family
    finding: Finding | None
    target: Target  # the top-level function or method the test calls
    partner: Target | None = None  # the other side of a lock-order inversion
    wrapper_of: Target | None = None  # target is a decorator: call the wrapper it returns
    wrapper_async: bool = False

    @property
    def threads(self) -> bool:
        """Driven from threads (sync code) rather than on an event loop."""
        if self.family.method in ("expect_loop_not_blocked", "expect_no_sync_wait_on_loop"):
            return False
        if self.family.method in (
            "expect_no_wait_under_lock",
            "expect_no_lost_update",
            "expect_no_wait_on_task",
        ):
            return True
        if self.wrapper_of is not None:
            return not self.wrapper_async
        return not self.target.is_async and self.target.context_manager != "asynccontextmanager"


def choose(module: Module, target: str | int, findings: Sequence[Finding]) -> Plan:
    """The plan for ``target``: a function name, or a 1-based line (the finding there, else the
    function holding the line)."""
    finding: Finding | None = None
    if isinstance(target, int):
        at_line = [f for f in findings if f.span.line == target and family_of(f.rule)]
        finding = _most_serious(at_line)
        found = find_target(module, finding.function or target if finding else target)
    else:
        found = find_target(module, target)
        own = [
            f
            for f in findings
            if family_of(f.rule) and f.function and _top(f.function) == found.display
        ]
        finding = _most_serious(own)
    if finding is None:
        return Plan(GENERAL, None, found)
    family = family_of(finding.rule) or GENERAL
    wrapper = _wrapper(module, found, finding)
    if wrapper is not None:
        return wrapper
    partner = _partner(module, found, finding) if finding.rule == "RH204" else None
    return Plan(family, finding, found, partner)


def _most_serious(findings: Sequence[Finding]) -> Finding | None:
    if not findings:
        return None
    return sorted(findings, key=lambda f: (-int(f.severity or Severity.HINT), f.span.line))[0]


def _top(function: str) -> str:
    return function.split(".<locals>", 1)[0]


def _partner(module: Module, target: Target, finding: Finding) -> Target | None:
    """The other code path of a lock-order inversion, named in the finding's message."""
    for name in _PARTNERS.findall(finding.message) + re.findall(r"but `([^`]+)`", finding.message):
        if _top(name) == target.display:
            continue
        try:
            return find_target(module, name)
        except StressError:
            continue
    return None


def _wrapper(module: Module, found: Target, finding: Finding) -> Plan | None:
    """A finding inside the function a decorator returns: drive a function of the module that
    the decorator wraps, else the decorator applied to a fake function."""
    if not finding.function or ".<locals>." not in finding.function or found.cls is not None:
        return None
    inner = nested_function(found, finding.function)
    if inner is None:
        return None
    family = family_of(finding.rule) or GENERAL
    for candidate in module.targets():
        for decorator in candidate.node.decorator_list:
            if dotted(decorator) == found.name:
                return Plan(family, finding, candidate)
    if not _returns(found.node, inner.name):
        return None
    return Plan(
        family,
        finding,
        found,
        wrapper_of=found,
        wrapper_async=isinstance(inner, ast.AsyncFunctionDef),
    )


def _returns(node: FunctionNode, name: str) -> bool:
    return any(
        isinstance(child, ast.Return)
        and isinstance(child.value, ast.Name)
        and child.value.id == name
        for child in node.body
    )
