"""Line regions with the reason they count, and how findings are classified by them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from ..analysis.finding import Finding, Provenance

Source = Literal["edit", "marker", "git-blame", "git-diff"]


@dataclass(frozen=True, order=True)
class Region:
    start: int  # 1-based, inclusive
    end: int  # 1-based, inclusive
    source: Source
    detail: str  # "commit 1a2b3c4: Co-authored-by: Claude", "lines 10-24 inserted at once", ...

    def contains(self, line: int) -> bool:
        return self.start <= line <= self.end

    @property
    def is_ai(self) -> bool:
        return self.source != "git-diff"


def merge(regions: Iterable[Region]) -> list[Region]:
    """Sorted, with adjacent regions of the same source and detail joined."""
    out: list[Region] = []
    for region in sorted(regions):
        last = out[-1] if out else None
        if (
            last is not None
            and last.source == region.source
            and last.detail == region.detail
            and region.start <= last.end + 1
        ):
            out[-1] = replace(last, end=max(last.end, region.end))
        else:
            out.append(region)
    return out


def provenance_of(finding: Finding, regions: Sequence[Region]) -> Provenance:
    """AI-suggested when the finding's first line is in an AI region; changed when it is only
    in a changed region; human otherwise (when anything is known about the file)."""
    line = finding.span.line
    hits = [r for r in regions if r.contains(line)]
    if any(r.is_ai for r in hits):
        return Provenance.AI
    if hits:
        return Provenance.CHANGED
    return Provenance.HUMAN


def classify(findings: Iterable[Finding], regions: Sequence[Region]) -> list[Finding]:
    return [replace(f, provenance=provenance_of(f, regions)) for f in findings]
