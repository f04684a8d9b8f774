"""AI-suggested regions from edits: bulk insertions count, typing does not; regions move,
shrink, survive a reopen, and a stale record is dropped."""

from __future__ import annotations

from pathlib import Path

from riskhints.provenance.edits import EditTracker, Tracked, load, save

COMPLETION = (
    "async def refresh(client, key):\n    with _lock:\n        return await client.fetch(key)\n"
)


def test_typing_is_not_ai_and_a_completion_is() -> None:
    tracker = EditTracker()
    for char in "import asyncio":
        tracker.apply(1, 1, char)
    assert tracker.regions == []
    tracker.apply(3, 3, COMPLETION)
    assert [(r.start, r.end) for r in tracker.regions] == [(3, 5)]


def test_long_single_line_completion_counts() -> None:
    tracker = EditTracker()
    tracker.apply(
        7, 7, "    return await asyncio.wait_for(client.fetch(key), timeout=settings.timeout)"
    )
    assert [(r.start, r.end) for r in tracker.regions] == [(7, 7)]


def test_regions_move_with_edits_above_and_shrink_when_rewritten() -> None:
    tracker = EditTracker([Tracked(10, 14, "agent edit")])
    tracker.apply(2, 2, "import time\n")  # one line inserted above
    assert [(r.start, r.end) for r in tracker.regions] == [(11, 15)]
    tracker.apply(3, 5, "")  # lines 3-5 joined into one: two lines gone
    assert [(r.start, r.end) for r in tracker.regions] == [(9, 13)]
    tracker.apply(11, 11, "x")  # a hand edit in the middle splits the region
    assert [(r.start, r.end) for r in tracker.regions] == [(9, 10), (12, 13)]


def test_persistence_survives_reopen_and_drops_stale_records(tmp_path: Path) -> None:
    text = "import asyncio\n\n" + COMPLETION
    tracker = EditTracker()
    tracker.apply(3, 3, COMPLETION)
    save(tmp_path, "app/cache.py", text, tracker)
    assert [(r.start, r.end) for r in load(tmp_path, "app/cache.py", text)] == [(3, 5)]
    assert load(tmp_path, "app/other.py", text) == []
    changed = text.replace("return await", "return")  # edited outside the editor
    assert load(tmp_path, "app/cache.py", changed) == []


def test_corrupt_store_is_ignored(tmp_path: Path) -> None:
    tracker = EditTracker([Tracked(1, 1, "x")])
    save(tmp_path, "a.py", "line\n", tracker)
    for stored in (tmp_path / ".riskhints" / "provenance").glob("*.json"):
        stored.write_text("{broken")
    assert load(tmp_path, "a.py", "line\n") == []
