"""Reads the expectations written inline in fixtures: ``# expect: RH202`` (or ``RH202, RH203``)
at the end of the line a finding must start on."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
RULE_FIXTURES = FIXTURES / "rules"
_EXPECT = re.compile(r"#\s*expect:\s*(?P<ids>RH\d{3}(?:\s*,\s*RH\d{3})*)")


def expected_findings(text: str) -> set[tuple[int, str]]:
    expected: set[tuple[int, str]] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        match = _EXPECT.search(line)
        if match:
            for rule_id in match.group("ids").split(","):
                expected.add((number, rule_id.strip()))
    return expected


def fixture_files() -> list[Path]:
    return sorted(
        p for p in FIXTURES.rglob("*.py") if "projects" not in p.relative_to(FIXTURES).parts
    )
