"""Every fixture says what it expects inline; this test holds the engine to it, line by line.

Adding a case is adding a file: ``fixtures/rules/RH202/bad_*.py`` must flag exactly the lines
marked ``# expect: RH202``; ``good_*.py`` files must produce no finding at all.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from riskhints.analysis import Severity, analyze_source
from riskhints.analysis.rules import all_rules

from .fixture_expectations import (
    FIXTURES,
    RULE_FIXTURES,
    expected_entries,
    expected_findings,
    fixture_files,
)

FILES = fixture_files()


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(FIXTURES)) for p in FILES])
def test_fixture_findings_match_expectations(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    relative = path.relative_to(FIXTURES).as_posix()
    findings = analyze_source(text, relative)
    actual = {(f.span.line, f.rule) for f in findings}
    expected = expected_findings(text)
    if path.name.startswith("good_"):
        assert not expected, "good fixtures must not expect findings"
    details = "\n".join(f"  {f.span.line}: {f.rule} {f.message}" for f in findings)
    assert actual == expected, f"findings differ from expectations:\n{details}"
    severities = expected_entries(text)
    for finding in findings:
        wanted = severities.get((finding.span.line, finding.rule))
        if wanted is not None:
            assert finding.severity.label == wanted, f"{finding.span.line}: {finding.message}"
        elif finding.rule.startswith(("RH1", "RH2", "RH3", "RH4", "RH5")):
            assert finding.severity >= Severity.WARNING, (
                f"{finding.span.line}: {finding.rule} is {finding.severity.label}; "
                f"say so in the marker: # expect: {finding.rule} ({finding.severity.label})"
            )


def test_every_rule_has_three_bad_and_three_good_fixtures() -> None:
    missing = []
    for spec in all_rules():
        if spec.family == "meta":
            continue
        folder = RULE_FIXTURES / spec.id
        bad = [p for p in folder.glob("bad_*.py") if (p.read_text().count(spec.id) > 0)]
        good = list(folder.glob("good_*.py"))
        if len(bad) < 3 or len(good) < 3:
            missing.append(f"{spec.id}: {len(bad)} bad, {len(good)} good")
    assert not missing, "rules without enough fixtures: " + "; ".join(missing)
