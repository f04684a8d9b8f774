"""Regions for one file from every enabled source, and how ``scope`` applies them to findings.

Shared by the CLI and the server. ``file_regions`` runs git (blame, diff): call it off the event
loop, and only for files that have findings — blame is per file and costs.

The rule ``apply_scope`` implements, in order:

1. Provenance. With ``regions`` of ``None`` (nothing is known about the file: no git, not a
   repository, and no other source found anything) every finding stays ``unknown``. Otherwise a
   finding whose first line is in an AI-suggested region (marker, blame of an AI-marked commit,
   recorded bulk edit) is ``ai``; one only in a changed region (``git diff`` against the base, or
   not in git yet) is ``changed``; any other is ``human``.
2. Filter. ``all`` keeps every finding; ``ai`` keeps the ``ai`` ones; ``changed`` keeps the ``ai``
   and ``changed`` ones. Meta findings (RH001-RH004: the file does not parse, a bad suppression,
   not analysed, a stale checklist item) are kept in every scope: they say the check itself is
   incomplete or wrong, wherever they are.
3. Marking. A kept ``ai`` finding that is not a meta finding gets `` (in AI-suggested code)``
   appended to its message (once, even when applied again) and is raised to at least a warning;
   an error stays an error, and a finding acknowledged in its assumptions checklist keeps its
   hint severity (a person reviewed it). Elsewhere severity follows the configuration.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from ..analysis.finding import Finding, Provenance, Severity
from ..analysis.meta_ids import (
    ACKNOWLEDGED,
    BAD_SUPPRESSION,
    NOT_ANALYSED,
    STALE_ASSUMPTION,
    SYNTAX_ERROR,
)
from ..analysis.positions import split_lines
from ..config import Settings
from . import edits
from .git import DEFAULT_AI_PATTERNS, ai_blame_regions, changed_regions, head_commit
from .markers import marker_regions
from .regions import Region, classify, merge

AI_SUFFIX = " (in AI-suggested code)"
META_RULES = frozenset({SYNTAX_ERROR, BAD_SUPPRESSION, NOT_ANALYSED, STALE_ASSUMPTION})
_KEEP: dict[str, frozenset[Provenance]] = {
    "ai": frozenset({Provenance.AI}),
    "changed": frozenset({Provenance.AI, Provenance.CHANGED}),
}


def ai_patterns(settings: Settings) -> tuple[str, ...]:
    return settings.ai_commit_patterns or DEFAULT_AI_PATTERNS


def file_regions(
    root: Path | None,
    relative: str,
    text: str,
    settings: Settings,
    include_diff: bool,
    *,
    workspace: Path | None = None,
    workspace_relative: str | None = None,
) -> list[Region]:
    """AI-suggested (and, with ``include_diff``, changed) regions of one file, merged.

    ``root`` is the file's git repository root (None: no git or not a repository; git is then not
    run) and ``relative`` the file's path inside it, ``text`` what was analysed. Sources:
    ``# riskhints: ai-begin/ai-end`` markers (``provenance_markers``), lines blamed on commits
    matching ``ai_commit_patterns`` (``provenance_git``), lines changed against
    ``settings.base`` (``include_diff``: what ``scope = "changed"`` is about, so it does not
    depend on ``provenance_git``, which only switches off git as a source of *AI* provenance)
    and, given ``workspace``, the bulk edits the server recorded under ``.riskhints/provenance/``
    (``provenance_edits``; dropped when their lines no longer match ``text``).
    """
    regions: list[Region] = []
    if settings.provenance_markers:
        regions.extend(marker_regions(text))
    if workspace is not None and settings.provenance_edits:
        key = workspace_relative if workspace_relative is not None else relative
        regions.extend(tracked.region() for tracked in edits.load(workspace, key, text))
    if root is not None:
        if settings.provenance_git:
            regions.extend(ai_blame_regions(root, relative, ai_patterns(settings)))
        if include_diff:
            changed = changed_regions(root, relative, settings.base)
            if not changed and settings.base == "HEAD" and head_commit(root) is None:
                # No commit yet (a first commit being made): every line is new.
                lines = len(split_lines(text))
                changed = [Region(1, lines, "git-diff", "no commit yet")] if lines else []
            regions.extend(changed)
    return merge(regions)


def apply_scope(
    findings: Iterable[Finding], regions: Sequence[Region] | None, scope: str
) -> list[Finding]:
    """Classify, filter and mark findings of one file (the rule is in the module docstring)."""
    findings = list(findings)
    classified = classify(findings, regions) if regions is not None else findings
    keep = _KEEP.get(scope)
    out: list[Finding] = []
    for finding in classified:
        meta = finding.rule in META_RULES
        if keep is not None and not meta and finding.provenance not in keep:
            continue
        if finding.provenance is Provenance.AI and not meta:
            finding = _mark_ai(finding)
        out.append(finding)
    return out


def _mark_ai(finding: Finding) -> Finding:
    acknowledged = finding.message.endswith(f"({ACKNOWLEDGED})")
    if finding.severity < Severity.WARNING and not acknowledged:
        finding = finding.with_severity(Severity.WARNING)
    if AI_SUFFIX not in finding.message:
        finding = replace(finding, message=finding.message + AI_SUFFIX)
    return finding
