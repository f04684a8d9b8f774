"""Reads the expectations written inline in fixtures: ``# expect: RH202`` (or ``RH202, RH203``)
at the end of the line a finding must start on; ``# expect: RH102 (info)`` also says the
finding's severity (a finding without one must be a warning or an error)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
RULE_FIXTURES = FIXTURES / "rules"
_ONE = r"RH\d{3}(?:\s*\((?:hint|info|warning|error)\))?"
_EXPECT = re.compile(rf"#\s*expect:\s*(?P<ids>{_ONE}(?:\s*,\s*{_ONE})*)")
_ENTRY = re.compile(r"(?P<rule>RH\d{3})(?:\s*\((?P<severity>\w+)\))?")


def expected_entries(text: str) -> dict[tuple[int, str], str | None]:
    """``(line, rule) -> severity label`` (None when the marker does not say)."""
    expected: dict[tuple[int, str], str | None] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = _EXPECT.search(line)
        if match:
            for entry in _ENTRY.finditer(match.group("ids")):
                expected[(number, entry.group("rule"))] = entry.group("severity")
    return expected


def expected_findings(text: str) -> set[tuple[int, str]]:
    return set(expected_entries(text))


def fixture_files() -> list[Path]:
    return sorted(
        p for p in FIXTURES.rglob("*.py") if "projects" not in p.relative_to(FIXTURES).parts
    )
