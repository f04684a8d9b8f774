"""A whole-document change of a big document is not diffed line by line on the event loop
(difflib is quadratic: 6 s for a 20k-line replacement stalled hover and code actions): past
``DIFF_MAX_LINES`` changed lines it is one replacement, found in linear time. Small changes
keep their exact line operations."""

from __future__ import annotations

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from riskhints.lsp.documents import Document
from riskhints.lsp.line_changes import DIFF_MAX_LINES, Mark, Replace, line_ops

UTF16 = PositionCodec(types.PositionEncodingKind.Utf16)


def handlers(count: int, suffix: str) -> str:
    return "".join(
        f"async def handle_{n}(queue):\n    return await queue.get()  # {suffix if n % 2 else ''}\n"
        for n in range(count)
    )


def whole(old: str, new: str) -> list[object]:
    change = types.TextDocumentContentChangeWholeDocument(text=new)
    return list(line_ops(Document("file:///jobs.py", 1, old), change, UTF16, 2, 60))


def test_a_20k_line_replacement_is_one_operation() -> None:
    old, new = handlers(10_000, "v1"), handlers(10_000, "v2")  # every fourth line differs
    assert new.count("\n") > 2 * DIFF_MAX_LINES
    found = whole(old, new)
    replaces = [op for op in found if isinstance(op, Replace)]
    assert len(replaces) == 1
    assert replaces[0] == Replace(4, 20_000, 19_997)  # from the first to the last change
    assert all(isinstance(op, Mark) for op in found if op not in replaces)


def test_a_small_whole_document_change_keeps_its_exact_lines() -> None:
    old = handlers(20, "v1")
    new = old.replace("handle_7(queue)", "handle_7(queue, timeout)")
    assert whole(old, new) == [Replace(15, 15, 1), Mark(15, 15, bulk=False)]
