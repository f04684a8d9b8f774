"""Provenance from git: lines changed against a base (``git diff -U0``) and lines last touched by
commits marked as AI-authored (``git blame --porcelain`` plus each commit's message).

git runs as a subprocess with a timeout and never raises here: no git, a folder outside any
repository, a shallow clone (blame stops at the boundary commit) or a slow repository all just
give fewer regions. Callers in the server run this off the event loop.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .regions import Region, merge

GIT_TIMEOUT_S = 10.0

#: Markers of AI-authored commits, matched against the full message and the author line
#: (case-insensitive). Configurable; these are what assistants and their tools write today.
DEFAULT_AI_PATTERNS: tuple[str, ...] = (
    r"^co-authored-by:.*\b(claude|copilot|chatgpt|openai|codex|gemini|cursor|devin|aider"
    r"|codeium|windsurf|tabnine|amazon q|codewhisperer|sweep|jules)\b",
    r"generated (with|by) .*(claude|copilot|chatgpt|codex|gemini|cursor|devin|aider|ai)\b",
    r"^author: .*\(aider\)",
    r"\[ai[- ]generated\]",
)

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(?P<start>\d+)(?:,(?P<count>\d+))? @@", re.MULTILINE)
_SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class GitResult:
    ok: bool
    stdout: str


def run_git(args: Sequence[str], cwd: Path, timeout: float = GIT_TIMEOUT_S) -> GitResult:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return GitResult(False, "")
    return GitResult(done.returncode == 0, done.stdout.decode("utf-8", errors="replace"))


def git_root(path: Path) -> Path | None:
    folder = path if path.is_dir() else path.parent
    result = run_git(["rev-parse", "--show-toplevel"], folder)
    return Path(result.stdout.strip()) if result.ok and result.stdout.strip() else None


def head_commit(root: Path) -> str | None:
    result = run_git(["rev-parse", "--verify", "-q", "HEAD"], root)
    sha = result.stdout.strip()
    return sha if result.ok and _SHA.match(sha) else None


def changed_regions(root: Path, relative: str, base: str = "HEAD") -> list[Region]:
    """Lines of the working-tree file that differ from ``base`` (all of it when untracked)."""
    if git_root(root) is None:
        return []
    tracked = run_git(["ls-files", "--error-unmatch", "--", relative], root)
    if not tracked.ok:
        lines = _line_count(root / relative)
        return [Region(1, lines, "git-diff", "not in git yet")] if lines else []
    diff = run_git(["diff", "-U0", "--no-color", "--no-ext-diff", base, "--", relative], root)
    if not diff.ok:
        return []
    regions: list[Region] = []
    for match in _HUNK.finditer(diff.stdout):
        start = int(match.group("start"))
        count = int(match.group("count")) if match.group("count") is not None else 1
        if count > 0:
            regions.append(Region(start, start + count - 1, "git-diff", f"changed since {base}"))
    return regions


def ai_blame_regions(
    root: Path, relative: str, patterns: Sequence[str] = DEFAULT_AI_PATTERNS
) -> list[Region]:
    """Lines whose last change came from a commit whose message or author marks it AI-authored."""
    blame = run_git(["blame", "--porcelain", "--", relative], root)
    if not blame.ok:
        return []
    line_commits = _parse_blame(blame.stdout)
    if not line_commits:
        return []
    compiled = [re.compile(p, re.IGNORECASE | re.MULTILINE) for p in patterns]
    verdicts = _ai_markers(root, list(dict.fromkeys(line_commits.values())), compiled)
    regions: list[Region] = []
    for line, sha in sorted(line_commits.items()):
        marker = verdicts.get(sha)
        if marker is not None:
            regions.append(Region(line, line, "git-blame", f"commit {sha[:8]}: {marker}"))
    return merge(regions)


def _parse_blame(porcelain: str) -> dict[int, str]:
    """Final line number -> commit sha, from ``git blame --porcelain``.

    Lines blamed on a *boundary* commit (the oldest commit of a shallow clone) are left out:
    git attributes to it every line older than the clone, so it says nothing about who wrote
    them.
    """
    commits: dict[int, str] = {}
    boundary: set[str] = set()
    current: str | None = None
    for raw in porcelain.splitlines():
        parts = raw.split(" ")
        if len(parts) >= 3 and _SHA.match(parts[0]) and parts[1].isdigit() and parts[2].isdigit():
            current = parts[0]
            commits[int(parts[2])] = current
        elif raw == "boundary" and current is not None:
            boundary.add(current)
    return {line: sha for line, sha in commits.items() if sha not in boundary}


def _ai_markers(
    root: Path, shas: list[str], patterns: Sequence[re.Pattern[str]]
) -> dict[str, str | None]:
    """Each commit's AI marker (or None), from one ``git show`` for all of them; commits git
    cannot show (uncommitted lines, the far side of a shallow clone) count as unmarked."""
    wanted = [sha for sha in shas if set(sha) != {"0"}]
    messages = _messages(root, wanted)
    if messages is None:  # one of them is missing: ask one by one
        messages = {}
        for sha in wanted:
            messages.update(_messages(root, [sha]) or {})
    verdicts: dict[str, str | None] = {}
    for sha in shas:
        message = messages.get(sha)
        verdicts[sha] = _first_match(message, patterns) if message is not None else None
    return verdicts


def _messages(root: Path, shas: list[str]) -> dict[str, str] | None:
    if not shas:
        return {}
    shown = run_git(["show", "-s", "--format=%H%x1fauthor: %an <%ae>%n%B%x1e", *shas], root)
    if not shown.ok:
        return None
    messages: dict[str, str] = {}
    for record in shown.stdout.split("\x1e"):
        sha, sep, message = record.strip().partition("\x1f")
        if sep:
            messages[sha] = message
    return messages


def _first_match(message: str, patterns: Sequence[re.Pattern[str]]) -> str | None:
    for pattern in patterns:
        match = pattern.search(message)
        if match is not None:
            return match.group(0).strip()[:80]
    return None


def _line_count(path: Path) -> int:
    try:
        data = path.read_bytes()
    except OSError:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
