"""Content changes as line operations (``lsp/line_changes.py``): the smallest line replacement a
change makes, and which new lines it inserted in one go; regions moving through them."""

from __future__ import annotations

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from riskhints.lsp.documents import Document
from riskhints.lsp.line_changes import Mark, Replace, apply_ops, line_ops
from riskhints.provenance.edits import EditTracker, Tracked

TEXT = "import threading\n\n_lock = threading.Lock()\nnote = '🚀 进度'  # tail\n\n"
FUNCTION = (
    "async def refresh(client, key):\n    with _lock:\n        return await client.fetch(key)\n"
)
UTF16 = PositionCodec(types.PositionEncodingKind.Utf16)
UTF8 = PositionCodec(types.PositionEncodingKind.Utf8)


def change(
    start: tuple[int, int], end: tuple[int, int], text: str
) -> types.TextDocumentContentChangePartial:
    return types.TextDocumentContentChangePartial(
        range=types.Range(
            start=types.Position(line=start[0], character=start[1]),
            end=types.Position(line=end[0], character=end[1]),
        ),
        text=text,
    )


def ops(
    edit: types.TextDocumentContentChangeEvent, text: str = TEXT, codec: PositionCodec = UTF16
) -> list[object]:
    return list(line_ops(Document("file:///a.py", 1, text), edit, codec, 2, 60))


def test_typing_a_character_rewrites_one_line_and_is_not_bulk() -> None:
    assert ops(change((2, 5), (2, 5), "x")) == [Replace(3, 3, 1), Mark(3, 3, bulk=False)]


def test_enter_at_the_end_or_start_of_a_line_inserts_a_line_without_touching_it() -> None:
    end_of_line = len("_lock = threading.Lock()")
    assert ops(change((2, end_of_line), (2, end_of_line), "\n")) == [
        Replace(4, 3, 1),
        Mark(4, 4, bulk=False),
    ]
    assert ops(change((2, 0), (2, 0), "\n")) == [Replace(3, 2, 1), Mark(3, 3, bulk=False)]


def test_inserting_a_function_is_a_bulk_insertion_of_its_lines() -> None:
    assert ops(change((4, 0), (4, 0), FUNCTION)) == [
        Replace(5, 4, 3),
        Mark(5, 7, bulk=False),
        Mark(5, 7, bulk=True),
    ]


def test_a_long_single_line_completion_is_bulk_and_a_short_one_is_not() -> None:
    long = "threading.RLock()  # reentrant: refresh() calls itself under the lock"
    assert Mark(3, 3, bulk=True) in ops(change((2, 8), (2, 24), long))
    assert Mark(3, 3, bulk=True) not in ops(change((2, 8), (2, 24), "threading.RLock()"))


def test_deleting_whole_lines_replaces_them_with_nothing() -> None:
    assert ops(change((1, 0), (3, 0), "")) == [Replace(2, 3, 0)]


def test_positions_go_through_the_client_encoding() -> None:
    # The emoji is 2 UTF-16 units and 4 UTF-8 bytes: replacing it with itself changes nothing
    # only when the column is read in the client's encoding.
    for codec, start, end in ((UTF16, 8, 10), (UTF8, 8, 12)):
        assert ops(change((3, start), (3, end), "🚀"), codec=codec) == [Replace(5, 4, 0)]


def test_a_position_past_the_last_line_is_the_end_of_the_text() -> None:
    text = "a = 1\nb = 2"
    assert ops(change((5, 0), (5, 0), "\n" + FUNCTION), text) == [
        Replace(3, 2, 4),
        Mark(3, 6, bulk=False),
        Mark(3, 5, bulk=True),
    ]


def test_a_whole_document_change_is_diffed_by_line() -> None:
    new = TEXT.replace("\n\n_lock", "\n\n" + FUNCTION + "_lock")
    found = ops(types.TextDocumentContentChangeWholeDocument(text=new))
    assert found == [Replace(3, 2, 3), Mark(3, 5, bulk=False), Mark(3, 5, bulk=True)]
    retyped = TEXT.replace("_lock = threading.Lock()", "_lock = threading.RLock()  # reentrant!")
    assert ops(types.TextDocumentContentChangeWholeDocument(text=retyped)) == [
        Replace(3, 3, 1),
        Mark(3, 3, bulk=False),
    ]


def test_regions_move_with_lines_above_shrink_when_rewritten_and_survive_deletions() -> None:
    tracker = EditTracker([Tracked(5, 7, "3 line(s) inserted in one edit")])
    apply_ops(tracker, [Replace(3, 2, 1)], "bulk")  # Enter at the start of line 3
    assert [(r.start, r.end) for r in tracker.regions] == [(6, 8)]
    apply_ops(tracker, [Replace(6, 5, 1)], "bulk")  # Enter at the start of the region
    assert [(r.start, r.end) for r in tracker.regions] == [(7, 9)]
    apply_ops(tracker, [Replace(8, 8, 1), Mark(8, 8, bulk=False)], "bulk")  # hand edit
    assert [(r.start, r.end) for r in tracker.regions] == [(7, 7), (9, 9)]
    apply_ops(tracker, [Replace(1, 2, 0)], "bulk")  # two lines above deleted
    assert [(r.start, r.end) for r in tracker.regions] == [(5, 5), (7, 7)]
    apply_ops(tracker, [Replace(6, 6, 0)], "bulk")  # the line between deleted
    assert [(r.start, r.end) for r in tracker.regions] == [(5, 5), (6, 6)]
    apply_ops(tracker, [Replace(2, 1, 2), Mark(2, 3, bulk=True)], "bulk")
    assert [(r.start, r.end) for r in tracker.regions] == [(2, 3), (7, 7), (8, 8)]


def test_typed_lines_count_as_changed_only_for_the_changed_tracker() -> None:
    changed = EditTracker()
    ai = EditTracker()
    edit = [Replace(3, 3, 1), Mark(3, 3, bulk=False)]
    apply_ops(changed, edit, "typed")
    apply_ops(ai, edit, "bulk")
    assert [(r.start, r.end) for r in changed.regions] == [(3, 3)]
    assert ai.regions == []
