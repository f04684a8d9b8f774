"""Provenance from real git repositories made in temp folders."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from riskhints.provenance.git import ai_blame_regions, changed_regions, git_root, head_commit

HANDLER = "async def handle(event):\n    return event\n"
HELPER = "def load(uid):\n    return uid\n"


def git(cwd: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
        "HOME": str(cwd),
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True, timeout=60
    )
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "app.py").write_text(HANDLER)
    git(tmp_path, "add", "app.py")
    git(tmp_path, "commit", "-q", "-m", "Add the event handler")
    (tmp_path / "app.py").write_text(HANDLER + "\n\n" + HELPER)
    git(
        tmp_path,
        "commit",
        "-q",
        "-am",
        "Add the loader\n\nCo-authored-by: Claude <noreply@anthropic.com>",
    )
    return tmp_path


def test_blame_finds_lines_of_commits_with_an_assistant_trailer(repo: Path) -> None:
    regions = ai_blame_regions(repo, "app.py")
    assert [(r.start, r.end) for r in regions] == [(3, 6)]
    assert all(
        r.source == "git-blame" and "co-authored-by: claude" in r.detail.lower() for r in regions
    )


def test_generated_with_and_aider_author_markers(repo: Path) -> None:
    (repo / "jobs.py").write_text(HELPER)
    git(repo, "add", "jobs.py")
    git(repo, "commit", "-q", "-m", "Jobs\n\nGenerated with Claude Code")
    (repo / "tasks.py").write_text(HELPER)
    git(repo, "add", "tasks.py")
    git(
        repo,
        "-c",
        "user.name=Dev (aider)",
        "commit",
        "-q",
        "--author",
        "Dev (aider) <d@x>",
        "-m",
        "t",
    )
    assert [(r.start, r.end) for r in ai_blame_regions(repo, "jobs.py")] == [(1, 2)]
    assert [(r.start, r.end) for r in ai_blame_regions(repo, "tasks.py")] == [(1, 2)]


def test_human_commits_and_uncommitted_lines_are_not_ai(repo: Path) -> None:
    (repo / "app.py").write_text("# local note\n" + HANDLER)
    regions = ai_blame_regions(repo, "app.py")
    assert regions == []  # the AI lines were replaced; the rest is human or uncommitted


def test_changed_lines_against_head_and_a_base_branch(repo: Path) -> None:
    assert changed_regions(repo, "app.py") == []
    text = (repo / "app.py").read_text().replace("return event", "return await event.ack()")
    (repo / "app.py").write_text(text + "print('x')\n")
    regions = changed_regions(repo, "app.py")
    assert [(r.start, r.end) for r in regions] == [(2, 2), (7, 7)]
    base = changed_regions(repo, "app.py", base="HEAD~1")
    assert [(r.start, r.end) for r in base] == [(2, 7)]


def test_untracked_file_counts_as_changed(repo: Path) -> None:
    (repo / "new.py").write_text(HELPER + HELPER)
    [region] = changed_regions(repo, "new.py")
    assert (region.start, region.end, region.detail) == (1, 4, "not in git yet")


def test_outside_a_repository_everything_is_quiet(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(HANDLER)
    assert git_root(tmp_path) is None
    assert head_commit(tmp_path) is None
    assert ai_blame_regions(tmp_path, "app.py") == []
    assert changed_regions(tmp_path, "app.py") == []


def test_shallow_clone_does_not_blame_the_boundary_commit(
    repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    text = (repo / "app.py").read_text() + "\n\n" + HELPER.replace("load", "save")
    (repo / "app.py").write_text(text)
    git(
        repo,
        "commit",
        "-q",
        "-am",
        "Add save\n\nCo-authored-by: GitHub Copilot <copilot@github.com>",
    )
    full = ai_blame_regions(repo, "app.py")
    assert [(r.start, r.end) for r in full] == [(3, 6), (7, 10)]  # Claude, then Copilot
    clone = tmp_path_factory.mktemp("clone") / "shallow"
    git(repo.parent, "clone", "-q", "--depth", "1", f"file://{repo}", str(clone))
    assert head_commit(clone) is not None and git_root(clone) == clone
    # In a depth-1 clone every line is blamed on the boundary commit, which says nothing
    # about who wrote it: no region is claimed (rather than calling the whole file AI).
    assert ai_blame_regions(clone, "app.py") == []
