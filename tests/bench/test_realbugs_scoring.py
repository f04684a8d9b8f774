"""The scoring of the real bug-fix corpus (bench/realbugs/scoring.py), on small cases written
here: no network, no download, no riskhints run. Also checks that the committed case file is
well formed and that its reproductions exist and match their own lines."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "realbugs"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("realbugs_scoring", BENCH / "scoring.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


scoring = _load()


def case_table(**overrides: object) -> dict[str, object]:
    table: dict[str, object] = {
        "id": "billing-refresh-task",
        "kind": "release",
        "package": "billing-client",
        "buggy": "1.4.0",
        "fixed": "1.4.1",
        "path": "billing/refresh.py",
        "lines": [40],
        "fixed_lines": [44],
        "category": "dangling-task",
        "rules": ["RH301"],
        "interprocedural": "no",
        "fix_url": "https://example.invalid/billing/pull/7",
        "description": "The refresh loop drops the task it starts.",
    }
    table.update(overrides)
    return table


def make_case(**overrides: object) -> object:
    return scoring.parse_cases({"case": [case_table(**overrides)]})[0]


def finding(rule: str, line: int, path: str = "billing/refresh.py", evidence=()) -> object:
    locs = tuple(scoring.Location(p, n) for p, n in evidence)
    return scoring.Finding(rule=rule, path=path, line=line, evidence=locs)


# ------------------------------------------------------------------------------ case file


def test_a_valid_case_is_read_with_its_defaults() -> None:
    case = make_case()
    assert case.lines == (40,)
    assert case.rules == ("RH301",)
    assert case.analysed_root == "billing"
    assert not case.is_interprocedural
    assert make_case(interprocedural="other-file").is_interprocedural
    assert make_case(root="src/billing").analysed_root == "src/billing"
    assert make_case(path="refresh.py").analysed_root == "."


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"category": "slow-code"}, "unknown category"),
        ({"kind": "copy"}, "kind must be"),
        ({"interprocedural": "maybe"}, "interprocedural must be"),
        ({"rules": "RH301"}, "rules must be"),
        ({"lines": [0]}, "positive line numbers"),
        ({"fixed": ""}, "needs fixed"),
        ({"colour": "red"}, "unknown keys colour"),
    ],
)
def test_a_malformed_case_is_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(scoring.CaseError, match=message):
        make_case(**overrides)


def test_a_missing_field_and_a_duplicate_id_are_refused() -> None:
    table = case_table()
    del table["fix_url"]
    with pytest.raises(scoring.CaseError, match="missing fix_url"):
        scoring.parse_cases({"case": [table]})
    with pytest.raises(scoring.CaseError, match="duplicate id"):
        scoring.parse_cases({"case": [case_table(), case_table()]})


def test_a_repro_case_needs_no_package() -> None:
    case = make_case(kind="repro", package="", buggy="", fixed="")
    assert case.kind == "repro"


def test_a_hazard_no_rule_claims_is_always_missed_but_seen_near() -> None:
    case = make_case(category="wrong-thread", rules=[])
    outcome = scoring.score_case(case, [finding("RH301", 40)], [finding("RH301", 44)])
    assert not outcome.caught and not outcome.fixed_fp
    assert outcome.any_rule_near


# ------------------------------------------------------------------------------- matching


def test_a_finding_of_the_expected_rule_within_two_lines_catches_the_case() -> None:
    case = make_case(lines=[40, 52])
    for line in (38, 42, 50, 54):
        assert scoring.score_case(case, [finding("RH301", line)], []).caught
    for line in (37, 43, 49, 55):
        assert not scoring.score_case(case, [finding("RH301", line)], []).caught


def test_an_evidence_location_in_the_case_file_catches_the_case() -> None:
    case = make_case(category="blocking-via-helper", rules=["RH102"], lines=[12])
    via_helper = finding("RH102", 80, path="billing/api.py", evidence=[("billing/refresh.py", 12)])
    outcome = scoring.score_case(case, [via_helper], [])
    assert outcome.caught
    assert outcome.in_file == [via_helper]
    elsewhere = finding("RH102", 80, path="billing/api.py", evidence=[("billing/other.py", 12)])
    assert not scoring.score_case(case, [elsewhere], []).caught


def test_the_same_line_in_another_file_does_not_count() -> None:
    case = make_case()
    outcome = scoring.score_case(case, [finding("RH301", 40, path="billing/ledger.py")], [])
    assert not outcome.caught
    assert not outcome.any_rule_near
    assert outcome.in_file == []


def test_another_rule_near_the_lines_is_only_the_secondary_figure() -> None:
    case = make_case()
    outcome = scoring.score_case(case, [finding("RH303", 41)], [])
    assert not outcome.caught
    assert outcome.any_rule_near
    assert [f.rule for f in outcome.near_other] == ["RH303"]
    assert outcome.verdict == "missed"


def test_a_finding_left_at_the_fixed_lines_is_a_fixed_false_positive() -> None:
    case = make_case()
    outcome = scoring.score_case(case, [finding("RH301", 40)], [finding("RH301", 45)])
    assert outcome.caught and outcome.fixed_fp
    assert outcome.verdict == "caught+fixed-FP"
    # At the buggy line numbers of the fixed file, or of another rule: not a fixed-FP.
    clean = scoring.score_case(case, [finding("RH301", 40)], [finding("RH301", 40)])
    assert not clean.fixed_fp
    other = scoring.score_case(case, [finding("RH301", 40)], [finding("RH201", 44)])
    assert not other.fixed_fp
    assert other.verdict == "caught"


def test_findings_are_read_from_a_json_report_relative_to_the_root(tmp_path: Path) -> None:
    root = tmp_path / "dist"
    report = {
        "findings": [
            {
                "rule": "RH102",
                "path": str(root / "billing" / "api.py"),
                "line": 9,
                "message": "`load()` blocks",
                "evidence": [
                    {"path": str(root / "billing" / "api.py"), "line": 9},
                    {"path": str(root / "billing" / "store.py"), "line": 31},
                ],
            }
        ]
    }
    (found,) = scoring.findings_from_report(report, root)
    assert found.path == "billing/api.py"
    assert found.locations_in("billing/store.py") == [31]
    assert found.locations_in("billing/api.py") == [9, 9]
    assert found.describe() == "RH102@billing/api.py:9"


def test_relative_paths_of_a_report_are_read_from_the_folder_riskhints_ran_in(
    tmp_path: Path,
) -> None:
    root = tmp_path / "dist"
    report = {"findings": [{"rule": "RH301", "path": "dist/billing/refresh.py", "line": 4}]}
    (found,) = scoring.findings_from_report(report, root, cwd=tmp_path)
    assert found.path == "billing/refresh.py"
    (same,) = scoring.findings_from_report(
        {"findings": [{"rule": "RH301", "path": "billing/refresh.py", "line": 4}]}, root
    )
    assert same.path == "billing/refresh.py"


def test_a_stale_reference_is_detected_by_its_anchor() -> None:
    text = "import asyncio\n\nasync def start(loop):\n    loop.create_task(poll())\n"
    assert scoring.anchor_problem(text, [4], "create_task") == ""
    assert "on none of lines" in scoring.anchor_problem(text, [3], "create_task")
    assert "past the end" in scoring.anchor_problem(text, [9], "")


# -------------------------------------------------------------------------------- summary


def test_the_summary_splits_recall_and_leaves_errors_out() -> None:
    local = make_case(id="a")
    helper = make_case(id="b", interprocedural="helper", category="blocking-via-helper")
    library = make_case(id="c", interprocedural="library", category="blocking-via-helper")
    broken = make_case(id="d")
    outcomes = [
        scoring.score_case(local, [finding("RH301", 40)], [finding("RH301", 44)]),
        scoring.score_case(helper, [finding("RH301", 41)], []),
        scoring.score_case(library, [finding("RH303", 40)], []),
        scoring.failed(broken, "error", "no wheel"),
    ]
    summary = scoring.summarise(outcomes)
    assert summary["scored"] == 3
    assert summary["recall"] == {"n": 2, "of": 3, "rate": 0.667}
    assert summary["recall_interprocedural"] == {"n": 1, "of": 2, "rate": 0.5}
    assert summary["recall_local"]["n"] == 1
    assert summary["recall_by_category"]["blocking-via-helper"] == {"n": 1, "of": 2, "rate": 0.5}
    assert summary["fixed_fp"]["n"] == 1
    assert summary["any_rule_near"]["n"] == 3
    assert summary["errors"] == {"d": "error: no wheel"}
    verdicts = {o["id"]: o["verdict"] for o in summary["outcomes"]}
    assert verdicts == {"a": "caught+fixed-FP", "b": "caught", "c": "missed", "d": "error"}


# ------------------------------------------------------------------- the committed corpus


def test_the_committed_corpus_is_well_formed() -> None:
    cases = scoring.load_cases(BENCH / "cases.toml")
    assert len(cases) >= 40
    interprocedural = [c for c in cases if c.is_interprocedural]
    assert 3 * len(interprocedural) >= len(cases)
    repros = [c for c in cases if c.kind == "repro"]
    assert 10 * len(repros) <= 4 * len(cases)
    assert len({c.category for c in cases}) >= 5
    assert (BENCH / "cases.toml").read_text().count("[[case]]") == len(cases)


def test_each_reproduction_has_both_versions_at_its_lines() -> None:
    for case in scoring.load_cases(BENCH / "cases.toml"):
        if case.kind != "repro":
            continue
        for side, lines, anchor in (
            ("bad", case.lines, case.anchor),
            ("good", case.fixed_lines, case.fixed_anchor),
        ):
            source = BENCH / "repro" / case.id / side / case.path
            assert source.is_file(), f"{case.id}: no {side}/{case.path}"
            problem = scoring.anchor_problem(source.read_text(), lines, anchor)
            assert problem == "", f"{case.id} ({side}): {problem}"
            assert (BENCH / "repro" / case.id / side / case.analysed_root).is_dir()
