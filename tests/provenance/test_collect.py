"""file_regions (every source, each switchable) and apply_scope (classify, filter, mark)."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskhints.analysis.checklist_marks import ACKNOWLEDGED
from riskhints.analysis.finding import Finding, Provenance, Severity, Span
from riskhints.config import Settings
from riskhints.provenance import edits
from riskhints.provenance.collect import AI_SUFFIX, apply_scope, file_regions
from riskhints.provenance.regions import Region
from tests.gitrepo import CLAUDE, commit, init

HUMAN = "def load(uid):\n    return uid\n"
AI = "\n\ndef save(uid):\n    return uid\n"
MARKED = "# riskhints: ai-begin\ndef mark():\n    pass\n# riskhints: ai-end\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = init(tmp_path / "repo")
    commit(repo, {"app.py": HUMAN}, "Add load")
    commit(repo, {"app.py": HUMAN + AI}, f"Add save\n\n{CLAUDE}")
    return repo


def spans(regions: list[Region]) -> list[tuple[int, int, str]]:
    return [(r.start, r.end, r.source) for r in regions]


def test_blame_markers_and_diff_combined(repo: Path) -> None:
    text = HUMAN + AI + "\n" + MARKED
    (repo / "app.py").write_text(text)
    regions = file_regions(repo, "app.py", text, Settings(), include_diff=True)
    assert spans(regions) == [(3, 6, "git-blame"), (7, 11, "git-diff"), (8, 11, "marker")]
    assert "Co-authored-by: Claude" in regions[0].detail
    without_diff = file_regions(repo, "app.py", text, Settings(), include_diff=False)
    assert spans(without_diff) == [(3, 6, "git-blame"), (8, 11, "marker")]


def test_each_source_can_be_switched_off(repo: Path) -> None:
    text = HUMAN + AI + MARKED
    (repo / "app.py").write_text(text)
    no_git = Settings(provenance_git=False)
    assert [r.source for r in file_regions(repo, "app.py", text, no_git, False)] == ["marker"]
    no_markers = Settings(provenance_markers=False)
    assert [r.source for r in file_regions(repo, "app.py", text, no_markers, False)] == [
        "git-blame"
    ]


def test_ai_commit_patterns_replace_the_defaults(repo: Path) -> None:
    text = (repo / "app.py").read_text()
    custom = Settings(ai_commit_patterns=(r"^add load",))
    [region] = file_regions(repo, "app.py", text, custom, False)
    assert (region.start, region.end) == (1, 2) and "Add load" in region.detail


def test_diff_against_a_configured_base(repo: Path) -> None:
    text = (repo / "app.py").read_text()
    settings = Settings(base="HEAD~1", provenance_git=False)
    [region] = file_regions(repo, "app.py", text, settings, True)
    assert (region.start, region.end, region.detail) == (3, 6, "changed since HEAD~1")


def test_no_repository_uses_markers_only(tmp_path: Path) -> None:
    regions = file_regions(None, "app.py", HUMAN + MARKED, Settings(), True)
    assert spans(regions) == [(3, 6, "marker")]


def test_a_repository_without_commits_is_all_new(tmp_path: Path) -> None:
    repo = init(tmp_path / "fresh")
    (repo / "app.py").write_text(HUMAN)
    [region] = file_regions(repo, "app.py", HUMAN, Settings(), True)
    assert (region.start, region.end, region.source) == (1, 2, "git-diff")


def test_recorded_edits_count_when_a_workspace_is_given(tmp_path: Path) -> None:
    text = HUMAN + AI
    tracker = edits.EditTracker([edits.Tracked(4, 5, "2 line(s) inserted in one edit")])
    edits.save(tmp_path, "pkg/app.py", text, tracker)
    found = file_regions(
        None, "app.py", text, Settings(), False, workspace=tmp_path, workspace_relative="pkg/app.py"
    )
    assert spans(found) == [(4, 5, "edit")]
    off = Settings(provenance_edits=False)
    assert file_regions(None, "app.py", text, off, False, workspace=tmp_path) == []
    stale = text.replace("save", "store")
    assert file_regions(None, "x", stale, Settings(), False, workspace=tmp_path) == []


def finding(line: int, rule: str = "RH101", severity: Severity = Severity.INFO) -> Finding:
    return Finding(rule, severity, "app.py", Span(line, 4, line, 9), f"{rule} at {line}")


REGIONS = [Region(3, 6, "git-blame", "commit abc"), Region(10, 12, "git-diff", "changed")]
FINDINGS = [finding(1), finding(4), finding(11), finding(20, "RH001", Severity.ERROR)]


@pytest.mark.parametrize(
    ("scope", "lines"), [("all", [1, 4, 11, 20]), ("ai", [4, 20]), ("changed", [4, 11, 20])]
)
def test_scope_filters_and_keeps_meta_findings(scope: str, lines: list[int]) -> None:
    kept = apply_scope(FINDINGS, REGIONS, scope)
    assert [f.span.line for f in kept] == lines


def test_provenance_and_marking() -> None:
    by_line = {f.span.line: f for f in apply_scope(FINDINGS, REGIONS, "all")}
    assert by_line[1].provenance is Provenance.HUMAN and by_line[1].severity is Severity.INFO
    ai = by_line[4]
    assert ai.provenance is Provenance.AI and ai.severity is Severity.WARNING
    assert ai.message == "RH101 at 4" + AI_SUFFIX
    assert by_line[11].provenance is Provenance.CHANGED and AI_SUFFIX not in by_line[11].message
    again = apply_scope([ai], REGIONS, "all")[0]
    assert again.message.count(AI_SUFFIX.strip()) == 1  # idempotent


def test_errors_stay_errors_and_acknowledged_findings_stay_hints() -> None:
    error = finding(4, severity=Severity.ERROR)
    acknowledged = Finding(
        "RH202", Severity.HINT, "app.py", Span(5, 0, 5, 1), f"held ({ACKNOWLEDGED})"
    )
    out = apply_scope([error, acknowledged], REGIONS, "ai")
    assert [f.severity for f in out] == [Severity.ERROR, Severity.HINT]
    assert all(f.message.endswith(AI_SUFFIX) for f in out)


def test_meta_findings_in_ai_code_are_not_marked() -> None:
    [meta] = apply_scope([finding(4, "RH002", Severity.INFO)], REGIONS, "ai")
    assert meta.provenance is Provenance.AI and meta.message == "RH002 at 4"


def test_unknown_without_regions() -> None:
    out = apply_scope(FINDINGS, None, "all")
    assert {f.provenance for f in out} == {Provenance.UNKNOWN}
    assert [f.rule for f in apply_scope(FINDINGS, None, "ai")] == ["RH001"]


def test_an_initial_commit_by_an_assistant_is_ai(tmp_path: Path) -> None:
    """git marks a root commit as a blame boundary, like a shallow clone's; only the latter
    says nothing about authorship."""
    repo = init(tmp_path / "generated")
    commit(repo, {"app.py": HUMAN}, "Initial commit\n\nGenerated with Claude Code")
    [region] = file_regions(repo, "app.py", HUMAN, Settings(), False)
    assert (region.start, region.end, region.source) == (1, 2, "git-blame")
