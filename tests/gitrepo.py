"""Real git repositories in temp folders, with a fixed identity and no user configuration."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

CLAUDE = "Co-authored-by: Claude <noreply@anthropic.com>"


def git_env(home: Path) -> dict[str, str]:
    return {
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(home),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=git_env(cwd),
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout


def init(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    git(folder, "init", "-q", "-b", "main")
    return folder


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    """Write ``files``, stage them and commit; returns the new commit's sha."""
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        git(repo, "add", "--", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()
