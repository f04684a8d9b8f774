"""``# riskhints: ai-begin`` / ``# riskhints: ai-end`` comments, for tools that can emit them.

An ``ai-begin`` without its ``ai-end`` runs to the end of the file; a stray ``ai-end`` is
ignored. Markers inside string literals do not count (comments are found with tokenize, with a
line-scan fallback for files that do not tokenize while being typed).
"""

from __future__ import annotations

import re

from ..analysis.positions import split_lines
from ..analysis.suppressions import iter_comments
from .regions import Region

_MARKER = re.compile(r"#\s*riskhints:\s*ai-(?P<kind>begin|end)\b(?:\s*--\s*(?P<note>.*))?")


def marker_regions(text: str) -> list[Region]:
    if "ai-begin" not in text:
        return []
    regions: list[Region] = []
    open_at: int | None = None
    note = ""
    for line, _column, comment in iter_comments(text):
        match = _MARKER.search(comment)
        if match is None:
            continue
        if match.group("kind") == "begin" and open_at is None:
            open_at, note = line, (match.group("note") or "").strip()
        elif match.group("kind") == "end" and open_at is not None:
            regions.append(Region(open_at, line, "marker", _detail(open_at, note)))
            open_at = None
    if open_at is not None:
        last = max(len(split_lines(text)), open_at)
        regions.append(Region(open_at, last, "marker", _detail(open_at, note)))
    return regions


def _detail(line: int, note: str) -> str:
    base = f"ai-begin marker on line {line}"
    return f"{base} ({note})" if note else base
