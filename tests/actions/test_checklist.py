"""The assumptions checklist action: where the block goes, what it says, and that applying it
is safe and idempotent."""

from __future__ import annotations

import re
import textwrap

from riskhints.actions.checklist import KIND, checklist_action
from riskhints.actions.edits import apply_edits, leaves_valid_python, parses
from riskhints.analysis import analyze_source

PATH = "shop/inventory.py"
SOURCE = textwrap.dedent(
    '''\
    """Stock reservations shared by the API handlers and the nightly restock job."""

    import threading

    import httpx
    from fastapi import APIRouter

    router = APIRouter()
    _stock: dict[str, int] = {}
    _stock_lock = threading.Lock()


    def restock(sku: str, quantity: int) -> None:
        with _stock_lock:
            _stock[sku] = _stock.get(sku, 0) + quantity


    class Reservations:
        def __init__(self, client: httpx.AsyncClient) -> None:
            self._client = client
            self._pending: dict[str, int] = {}

        @router.post("/reserve")
        async def reserve(self, sku: str, quantity: int) -> bool:
            with _stock_lock:
                available = _stock.get(sku, 0)
                response = await self._client.post("/reserve", json={"sku": sku})
                _stock[sku] = available - quantity
            self._pending[sku] = quantity
            return response.is_success

        def forget(self, sku: str) -> None:
            self._pending.pop(sku, None)
    '''
)
ITEM = re.compile(r"^ *# \[[ x]\] .+  \((RH\d{3}|[a-z]+) [0-9a-f]{6}\)$")


def _insert(text: str, line: int) -> str:
    action = checklist_action(text, PATH, analyze_source(text, PATH), line)
    assert action is not None
    assert leaves_valid_python(text, action.edits)
    return apply_edits(text, action.edits)


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_block_goes_above_the_decorators_at_the_method_indentation() -> None:
    findings = analyze_source(SOURCE, PATH)
    rh202 = next(f for f in findings if f.rule == "RH202")
    action = checklist_action(SOURCE, PATH, findings, rh202.span.line)
    assert action is not None
    assert action.kind == KIND == "refactor.riskhints.checklist"
    assert action.title == "Insert assumptions checklist for `Reservations.reserve`"
    after = apply_edits(SOURCE, action.edits)
    lines = after.splitlines()
    header = _line_of(after, "# riskhints assumptions for Reservations.reserve:")
    assert lines[header - 1].startswith("    # riskhints")
    block = []
    for line in lines[header:]:
        if not line.lstrip().startswith("#"):
            assert line == '    @router.post("/reserve")'  # right above the decorator
            break
        block.append(line)
    assert block and all(ITEM.match(line) for line in block), block
    assert all(line.startswith("    # [ ] ") for line in block)
    assert parses(after)


def test_items_are_concrete_and_in_this_codes_names() -> None:
    after = _insert(SOURCE, _line_of(SOURCE, "async def reserve"))
    block = "\n".join(line.strip() for line in after.splitlines() if ITEM.match(line))
    # The finding's assumption, tagged with its rule.
    assert re.search(r"no other task or thread ever takes `_stock_lock` .*\(RH202 \w{6}\)", block)
    # The framework contract the decorator implies.
    assert re.search(r"`Reservations.reserve` is a request handler \(`@router.post`\)", block)
    # Which await may interleave with which shared state.
    assert re.search(r"other tasks may run at `await self._client.post\(.*`self._pending`", block)
    # The event-loop contract.
    assert "runs on the event loop thread" in block


def test_functions_without_findings_async_or_locking_get_one_plain_ones_do_not() -> None:
    restock = _insert(SOURCE, _line_of(SOURCE, "def restock"))
    assert "# riskhints assumptions for restock:" in restock
    assert re.search(r"every function that reads or writes `_stock` holds `_stock_lock`", restock)
    findings = analyze_source(SOURCE, PATH)
    assert checklist_action(SOURCE, PATH, findings, _line_of(SOURCE, "def forget")) is None
    assert checklist_action(SOURCE, PATH, findings, _line_of(SOURCE, "import httpx")) is None


def test_idempotent_and_update_keeps_checked_items() -> None:
    line = _line_of(SOURCE, "async def reserve")
    once = _insert(SOURCE, line)
    moved = _line_of(once, "async def reserve")
    assert checklist_action(once, PATH, analyze_source(once, PATH), moved) is None
    checked = once.replace("# [ ] no other task", "# [x] no other task")
    # The code changes elsewhere in the function: "Update", and the [x] survives because the
    # statement it was checked against did not change.
    edited = checked.replace(
        "return response.is_success", "self._notify(sku)\n        return response.is_success"
    )
    action = checklist_action(edited, PATH, analyze_source(edited, PATH), moved)
    assert action is not None and action.title.startswith("Update assumptions checklist")
    updated = apply_edits(edited, action.edits)
    assert "# [x] no other task or thread ever takes `_stock_lock`" in updated
    assert updated.count("# riskhints assumptions for Reservations.reserve:") == 1
    assert checklist_action(updated, PATH, analyze_source(updated, PATH), moved) is None


def test_action_from_inside_the_block_and_user_lines_survive_an_update() -> None:
    once = _insert(SOURCE, _line_of(SOURCE, "async def reserve"))
    mine = "    # [x] the warehouse API is idempotent for retries (asked Dana)"
    header = _line_of(once, "# riskhints assumptions for")
    lines = once.splitlines(keepends=True)
    lines.insert(header + 1, mine + "\n")
    with_note = "".join(lines).replace('json={"sku": sku}', 'json={"sku": sku, "q": 1}')
    action = checklist_action(with_note, PATH, analyze_source(with_note, PATH), header + 1)
    assert action is not None and action.title.startswith("Update")
    assert mine in apply_edits(with_note, action.edits)


def test_crlf_files_stay_crlf() -> None:
    crlf = SOURCE.replace("\n", "\r\n")
    after = _insert(crlf, _line_of(SOURCE, "async def reserve"))
    assert "\n" not in after.replace("\r\n", "")
    assert "# riskhints assumptions for Reservations.reserve:\r\n" in after


def test_nested_function_and_broken_file_elsewhere() -> None:
    text = textwrap.dedent(
        """\
        import asyncio


        async def nightly(jobs):
            lock = asyncio.Lock()

            async def run(job):
                async with lock:
                    await job.run()

            await asyncio.gather(*(run(job) for job in jobs))
        """
    )
    after = _insert(text, _line_of(text, "await job.run()"))
    block = after.split("    # riskhints assumptions for nightly.<locals>.run:\n")[1]
    assert block.split("\n    async def run(job):")[0].count("\n") >= 1
    assert re.search(r"`lock` \(asyncio.Lock\) is held across `await job.run\(\)`", after)
    assert parses(after)
