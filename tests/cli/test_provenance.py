"""``riskhints check --scope/--base`` and ``riskhints provenance`` on real git repositories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from riskhints.cli import main
from tests.gitrepo import CLAUDE, commit, git, init

BASE = "import time\n\n\nasync def handle(event):\n    time.sleep(1)\n    return event\n"
AI_PART = "\n\nasync def poll():\n    time.sleep(2)\n    return 1\n"  # lines 7-11, finding on 10
HUMAN_PART = "\n\nasync def tick():\n    time.sleep(3)\n"  # lines 12-15, finding on 15
LOCAL_PART = "\n\nasync def tock():\n    time.sleep(4)\n"  # uncommitted, lines 16-19, on 19
BROKEN = "def broken(:\n    pass\n"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # never find an outer repo
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("HOME", str(tmp_path))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main: a human commit; feature: an AI commit, a human one, then an uncommitted edit."""
    repo = init(tmp_path / "proj")
    commit(repo, {"app.py": BASE}, "Add the handler")
    git(repo, "checkout", "-q", "-b", "feature")
    commit(repo, {"app.py": BASE + AI_PART}, f"Add polling\n\n{CLAUDE}")
    commit(repo, {"app.py": BASE + AI_PART + HUMAN_PART}, "Add tick")
    (repo / "app.py").write_text(BASE + AI_PART + HUMAN_PART + LOCAL_PART)
    return repo


def run(
    capsys: pytest.CaptureFixture[str], *args: str, cwd: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    monkeypatch.chdir(cwd)
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def findings_of(out: str) -> list[dict[str, Any]]:
    data: dict[str, Any] = json.loads(out)
    found: list[dict[str, Any]] = data["findings"]
    return found


def by_line(out: str) -> dict[int, str]:
    return {f["line"]: f["provenance"] for f in findings_of(out)}


@pytest.fixture
def check(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    def check(cwd: Path, *args: str) -> tuple[int, str, str]:
        return run(capsys, "check", "--no-cache", *args, cwd=cwd, monkeypatch=monkeypatch)

    return check


def test_scope_all_classifies_every_finding(repo: Path, check: Any) -> None:
    code, out, _ = check(repo, "--format", "json", "app.py")
    assert code == 1
    assert by_line(out) == {5: "human", 10: "ai", 15: "human", 19: "changed"}
    ai = next(f for f in findings_of(out) if f["line"] == 10)
    assert ai["message"].endswith("(in AI-suggested code)") and ai["severity"] == "warning"
    _, out, _ = check(repo, "--format", "json", "--base", "main", "app.py")
    assert by_line(out) == {5: "human", 10: "ai", 15: "changed", 19: "changed"}


@pytest.mark.parametrize(
    ("args", "lines"),
    [
        (["--scope", "ai"], [10]),
        (["--scope", "changed"], [10, 19]),
        (["--scope", "changed", "--base", "main"], [10, 15, 19]),
        (["--scope", "ai", "--base", "main"], [10]),
    ],
)
def test_scope_filters(repo: Path, check: Any, args: list[str], lines: list[int]) -> None:
    code, out, err = check(repo, "--format", "json", *args, "app.py")
    assert [f["line"] for f in findings_of(out)] == lines
    # The findings it hid are counted, never dropped in silence.
    _, everything, _ = check(repo, "--format", "json", "--scope", "all", "app.py")
    hidden = len(findings_of(everything)) - len(lines)
    plural = "s" if hidden != 1 else ""
    assert code == 1 and err.startswith(f"riskhints: note: {args[0]} {args[1]} hid {hidden} ")
    assert f"hid {hidden} finding{plural} outside AI-suggested" in err


def test_scope_from_pyproject_and_meta_findings_kept(repo: Path, check: Any) -> None:
    (repo / "pyproject.toml").write_text('[tool.riskhints]\nscope = "ai"\n')
    (repo / "broken.py").write_text(BROKEN)
    code, out, _ = check(repo, "--format", "json", ".")
    assert code == 1
    assert [(f["path"], f["rule"]) for f in findings_of(out)] == [
        ("app.py", "RH101"),
        ("broken.py", "RH001"),  # a file that does not parse is reported in every scope
    ]
    code, out, _ = check(repo, "--format", "json", "--scope", "all", ".")
    assert len(findings_of(out)) == 5


def test_text_output_and_clean_exit_when_nothing_is_in_scope(tmp_path: Path, check: Any) -> None:
    repo = init(tmp_path / "human")
    commit(repo, {"app.py": BASE}, "Add the handler")
    code, out, err = check(repo, "--scope", "changed", "app.py")
    assert code == 0
    assert err == (
        "riskhints: note: --scope changed hid 1 finding outside AI-suggested or changed code "
        "(--scope all shows them)\n"
    )
    assert "app.py:5" not in out
    code, out, _ = check(repo, "--scope", "all", "app.py")
    assert code == 1 and "app.py:5:5: RH101 [warning]" in out and "AI-suggested" not in out


def test_git_runs_from_the_files_repository_not_the_cwd(repo: Path, check: Any) -> None:
    commit(
        repo,
        {"pkg/jobs.py": "import time\n\n\nasync def job():\n    time.sleep(1)\n"},
        f"Jobs\n\n{CLAUDE}",
    )
    outside = repo.parent
    code, out, _ = check(outside, "--format", "json", "--scope", "ai", "proj")
    assert code == 1
    assert [(f["path"], f["line"]) for f in findings_of(out)] == [
        ("proj/app.py", 10),
        ("proj/pkg/jobs.py", 5),
    ]


def test_sarif_carries_the_classified_provenance(repo: Path, check: Any) -> None:
    code, out, _ = check(repo, "--format", "sarif", "--base", "main", "app.py")
    assert code == 1
    results = json.loads(out)["runs"][0]["results"]
    lines = {
        r["locations"][0]["physicalLocation"]["region"]["startLine"]: r["properties"]["provenance"]
        for r in results
    }
    assert lines == {5: "human", 10: "ai", 15: "changed", 19: "changed"}


def test_cache_holds_raw_findings_so_provenance_is_never_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = init(tmp_path / "cached")
    commit(repo, {"app.py": BASE}, f"Add the handler\n\n{CLAUDE}")
    cache = tmp_path / "cache"
    args = ("check", "--cache-dir", str(cache), "--format", "json", "app.py")
    _, out, _ = run(capsys, *args, cwd=repo, monkeypatch=monkeypatch)
    assert by_line(out) == {5: "ai"}
    cached = sorted(p.name for p in cache.rglob("*") if p.is_file())
    assert cached
    git(repo, "commit", "-q", "--amend", "-m", "Add the handler (written by hand)")
    _, out, _ = run(capsys, *args, cwd=repo, monkeypatch=monkeypatch)
    assert by_line(out) == {5: "human"}  # same content, same cache entry, new provenance
    assert "AI-suggested" not in findings_of(out)[0]["message"]
    assert sorted(p.name for p in cache.rglob("*") if p.is_file()) == cached


def test_outside_a_repository(tmp_path: Path, check: Any) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "app.py").write_text(BASE)
    code, out, err = check(folder, "--format", "json", "app.py")
    assert code == 1 and err == "" and by_line(out) == {5: "unknown"}
    for scope in ("ai", "changed"):
        code, out, err = check(folder, "--format", "json", "--scope", scope, "app.py")
        assert code == 0 and findings_of(out) == []
        assert "not in a git repository (app.py)" in err
        assert "nothing there can count as AI-suggested or changed" in err


def test_markers_count_without_git(
    tmp_path: Path, check: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    marked = "# riskhints: ai-begin\n" + AI_PART.strip() + "\n# riskhints: ai-end\n"
    (folder / "app.py").write_text(BASE + "\n\n" + marked)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no git at all
    code, out, err = check(folder, "--format", "json", "--scope", "ai", "app.py")
    assert code == 1 and "git is not installed" in err
    assert by_line(out) == {11: "ai"}
    _, out, _ = check(folder, "--format", "json", "app.py")
    assert by_line(out) == {5: "human", 11: "ai"}


def test_shallow_clone(repo: Path, tmp_path: Path, check: Any) -> None:
    git(repo, "checkout", "-q", "--", "app.py")
    clone = tmp_path / "shallow"
    git(
        tmp_path, "clone", "-q", "--depth", "1", "--branch", "feature", f"file://{repo}", str(clone)
    )
    # Every line is blamed on the boundary commit, which says nothing about who wrote it.
    code, out, err = check(clone, "--format", "json", "--scope", "ai", "app.py")
    assert (code, findings_of(out)) == (0, [])
    assert err.startswith("riskhints: note: --scope ai hid 3 findings outside AI-suggested code")
    (clone / "app.py").write_text(BASE + AI_PART + HUMAN_PART + LOCAL_PART)
    code, out, err = check(clone, "--format", "json", "--scope", "changed", "app.py")
    assert code == 1 and [f["line"] for f in findings_of(out)] == [19]
    # The base branch was not fetched: a gate that passed here would hide the whole change.
    args = ("--format", "json", "--base", "origin/main", "app.py")
    code, out, err = check(clone, "--scope", "changed", *args)
    assert (code, out) == (2, "")
    assert "base 'origin/main' is not a commit" in err and "shallow clone" in err
    code, out, err = check(clone, "--scope", "all", *args)
    assert code == 1 and "note: base 'origin/main' is not a commit" in err
    assert by_line(out) == {5: "human", 10: "human", 15: "human", 19: "human"}


def test_provenance_command_text(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "new.py").write_text(BASE)
    code, out, _ = run(capsys, "provenance", "app.py", cwd=repo, monkeypatch=monkeypatch)
    sha = git(repo, "rev-parse", "feature~1").strip()[:8]
    assert code == 0
    assert out == f"app.py:7-11: ai (commit {sha}: Co-authored-by: Claude)\n"
    code, out, err = run(
        capsys,
        "provenance",
        "--base",
        "main",
        "app.py",
        "new.py",
        cwd=repo,
        monkeypatch=monkeypatch,
    )
    assert out.splitlines() == [
        f"app.py:7-11: ai (commit {sha}: Co-authored-by: Claude)",
        "app.py:7-19: changed (changed since main)",
        "new.py:1-6: changed (not in git yet)",
    ]


def test_provenance_command_json_and_errors(
    repo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out, _ = run(
        capsys,
        "provenance",
        "--format",
        "json",
        "--base",
        "HEAD",
        "app.py",
        cwd=repo,
        monkeypatch=monkeypatch,
    )
    data = json.loads(out)
    assert code == 0 and data["base"] == "HEAD"
    [entry] = data["files"]
    assert entry["path"] == "app.py" and entry["in_git"] is True
    assert [(r["start"], r["end"], r["kind"], r["source"]) for r in entry["regions"]] == [
        (7, 11, "ai", "git-blame"),
        (16, 19, "changed", "git-diff"),
    ]
    code, _, err = run(capsys, "provenance", "missing.py", cwd=repo, monkeypatch=monkeypatch)
    assert code == 2 and "missing.py: no such file" in err
    (tmp_path / "loose.py").write_text(BASE)
    code, out, err = run(capsys, "provenance", "loose.py", cwd=tmp_path, monkeypatch=monkeypatch)
    assert code == 0 and out == "" and "not in a git repository" in err


def test_provenance_command_rejects_an_unknown_base(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run(
        capsys, "provenance", "--base", "origin/nope", "app.py", cwd=repo, monkeypatch=monkeypatch
    )
    assert (code, out) == (2, "") and "base 'origin/nope' is not a commit" in err
