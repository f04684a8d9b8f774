"""AI-suggested regions from the edits the server sees.

One ``didChange`` that inserts at least ``min_lines`` lines or ``min_chars`` characters at once is
what an accepted inline completion or an agent's edit looks like; typing is not (a paste looks
the same, and is treated the same: code the author did not type). Regions move with later
edits, and shrink when lines in them are rewritten by hand.

Regions are kept per file under ``.riskhints/provenance/`` with a digest of their lines, so a
region survives save and reopen, and a record whose lines no longer match the file is dropped,
never misapplied.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import roots, safe_read
from .regions import Region


def inserted_lines_detail(count: int) -> str:
    """Why a region counts as AI-suggested, for its provenance note."""
    return f"{count} line{'s' if count != 1 else ''} inserted in one edit"


DEFAULT_MIN_LINES = 2
DEFAULT_MIN_CHARS = 60


@dataclass(frozen=True)
class Tracked:
    start: int  # 1-based, inclusive
    end: int
    detail: str

    def region(self) -> Region:
        return Region(self.start, self.end, "edit", self.detail)


def is_bulk_insertion(text: str, min_lines: int, min_chars: int) -> bool:
    lines = [line for line in text.splitlines() if line.strip()]
    return len(lines) >= min_lines or len(text.strip()) >= min_chars


class EditTracker:
    """Tracks AI-suggested line ranges of one document through its edits."""

    def __init__(
        self,
        regions: list[Tracked] | None = None,
        min_lines: int = DEFAULT_MIN_LINES,
        min_chars: int = DEFAULT_MIN_CHARS,
    ) -> None:
        self.regions: list[Tracked] = sorted(regions or [], key=lambda r: r.start)
        self.min_lines = min_lines
        self.min_chars = min_chars

    def apply(self, start_line: int, end_line: int, inserted: str) -> None:
        """A change replacing 1-based lines ``start_line..end_line`` (the lines the range
        touches) with text holding ``inserted``; the rest of the lines are unchanged."""
        added_breaks = inserted.count("\n") - inserted.count("\r\n") + inserted.count("\r")
        new_end = start_line + added_breaks
        delta = new_end - end_line
        kept: list[Tracked] = []
        for region in self.regions:
            if region.end < start_line:
                kept.append(region)
            elif region.start > end_line:
                kept.append(Tracked(region.start + delta, region.end + delta, region.detail))
            else:
                # Overlaps the edit: the touched lines are no longer what was suggested.
                if region.start < start_line:
                    kept.append(Tracked(region.start, start_line - 1, region.detail))
                if region.end > end_line:
                    kept.append(Tracked(new_end + 1, region.end + delta, region.detail))
        if is_bulk_insertion(inserted, self.min_lines, self.min_chars):
            first = start_line if not inserted.startswith(("\n", "\r")) else start_line + 1
            last = new_end if not inserted.endswith(("\n", "\r")) else new_end - 1
            if last >= first:
                count = last - first + 1
                kept.append(Tracked(first, last, inserted_lines_detail(count)))
        self.regions = sorted(kept, key=lambda r: r.start)

    def as_regions(self) -> list[Region]:
        return [r.region() for r in self.regions]


def _digest(lines: list[str], region: Tracked) -> str:
    chunk = "\n".join(lines[region.start - 1 : region.end])
    return hashlib.blake2b(chunk.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def store_path(workspace: Path, relative: str) -> Path:
    key = hashlib.blake2b(relative.encode(), digest_size=10).hexdigest()
    return workspace / ".riskhints" / "provenance" / f"{key}.json"


def save(workspace: Path, relative: str, text: str, tracker: EditTracker) -> None:
    """Persist the regions with a digest of their lines (atomic replace; errors are quiet)."""
    lines = text.splitlines()
    records = [
        {**asdict(region), "digest": _digest(lines, region)}
        for region in tracker.regions
        if region.end <= len(lines)
    ]
    try:
        if not records and not store_path(workspace, relative).exists():
            return
        # Never outside the workspace: ``.riskhints`` or ``.riskhints/provenance`` may be links.
        folder = roots.make_folder(workspace, store_path(workspace, relative).parent)
        target = roots.inside(workspace, folder / store_path(workspace, relative).name)
        if not records:
            target.unlink(missing_ok=True)
            return
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"path": relative, "regions": records}, handle)
        os.replace(temp, target)
    except OSError:
        return


def load(workspace: Path, relative: str, text: str) -> list[Tracked]:
    """Regions recorded for this file whose lines still match; stale ones are dropped."""
    try:
        data = json.loads(safe_read.read_text(store_path(workspace, relative)))
        records = data["regions"] if data.get("path") == relative else []
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []
    lines = text.splitlines()
    kept: list[Tracked] = []
    for record in records:
        try:
            region = Tracked(int(record["start"]), int(record["end"]), str(record["detail"]))
        except (KeyError, TypeError, ValueError):
            continue
        if 1 <= region.start <= region.end <= len(lines) and _digest(lines, region) == record.get(
            "digest"
        ):
            kept.append(region)
    return kept
