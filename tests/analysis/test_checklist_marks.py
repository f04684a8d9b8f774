"""Checked items of an assumptions checklist acknowledge findings (they drop to hints) until
the code they were checked against changes: then the item is stale (RH004) and the finding
comes back at its normal severity."""

from __future__ import annotations

import textwrap

from riskhints.actions.checklist import checklist_action
from riskhints.actions.edits import apply_edits
from riskhints.analysis import AnalysisOptions, Finding, Severity, analyze_source
from riskhints.analysis.checklist_marks import ACKNOWLEDGED, parse_block
from riskhints.analysis.positions import split_lines

PATH = "billing/ledger.py"
SOURCE = textwrap.dedent(
    '''\
    """Ledger balances: the sync settlement job and the async API both update them."""

    import threading

    import httpx

    _balances: dict[str, int] = {}
    _ledger_lock = threading.Lock()


    async def charge(client: httpx.AsyncClient, account: str, cents: int) -> None:
        with _ledger_lock:
            balance = _balances.get(account, 0)
            await client.post("/audit", json={"account": account, "cents": cents})
            _balances[account] = balance - cents
    '''
)


def _with_checklist(text: str = SOURCE) -> str:
    line = next(n for n, ln in enumerate(text.splitlines(), 1) if "async def charge" in ln)
    action = checklist_action(text, PATH, analyze_source(text, PATH), line)
    assert action is not None
    return apply_edits(text, action.edits)


def _check(text: str, starting: str) -> str:
    lines = text.splitlines(keepends=True)
    index = next(i for i, ln in enumerate(lines) if ln.startswith(f"# [ ] {starting}"))
    lines[index] = lines[index].replace("# [ ]", "# [x]", 1)
    return "".join(lines)


def _rule(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


def test_checked_item_acknowledges_its_finding() -> None:
    before = _rule(analyze_source(SOURCE, PATH), "RH202")
    assert [f.severity for f in before] == [Severity.ERROR]
    unchecked = _with_checklist()
    assert _rule(analyze_source(unchecked, PATH), "RH202")[0].severity == Severity.ERROR
    checked = _check(unchecked, "no other task or thread")
    after = analyze_source(checked, PATH)
    (finding,) = _rule(after, "RH202")
    assert finding.severity == Severity.HINT
    assert finding.message.endswith(f"({ACKNOWLEDGED})")
    assert finding.message.startswith(before[0].message)
    assert not _rule(after, "RH004")


def test_acknowledgement_survives_moving_the_function() -> None:
    checked = _check(_with_checklist(), "no other task or thread")
    moved = checked.replace("import httpx\n", "import httpx\n\nRETRIES = 3\n# a note\n\n")
    (finding,) = _rule(analyze_source(moved, PATH), "RH202")
    assert finding.severity == Severity.HINT


def test_a_new_await_under_the_lock_makes_the_item_stale() -> None:
    checked = _check(_with_checklist(), "no other task or thread")
    changed = checked.replace(
        "        _balances[account] = balance - cents\n",
        "        await client.post('/notify', json={'account': account})\n"
        "        _balances[account] = balance - cents\n",
    )
    assert changed != checked
    findings = analyze_source(changed, PATH)
    assert {f.severity for f in _rule(findings, "RH202")} == {Severity.ERROR}
    (stale,) = _rule(findings, "RH004")
    assert stale.severity == Severity.WARNING
    item_line = next(
        n for n, ln in enumerate(changed.splitlines(), 1) if ln.startswith("# [x] no other")
    )
    assert stale.span.line == item_line
    assert stale.function == "charge"
    assert "stale assumption (RH202" in stale.message
    assert "no RH202 finding in `charge` matches it" in stale.message


def test_changing_the_flagged_statement_makes_the_item_stale() -> None:
    checked = _check(_with_checklist(), "no other task or thread")
    changed = checked.replace('client.post("/audit"', 'client.put("/audit/v2"')
    findings = analyze_source(changed, PATH)
    assert [f.severity for f in _rule(findings, "RH202")] == [Severity.ERROR]
    assert len(_rule(findings, "RH004")) == 1


def test_reformatting_and_comments_do_not_make_it_stale() -> None:
    checked = _check(_with_checklist(), "no other task or thread")
    reformatted = checked.replace(
        'await client.post("/audit", json={"account": account, "cents": cents})',
        'await client.post(\n            "/audit",  # the auditors want every charge\n'
        '            json={"account": account, "cents": cents},\n        )',
    )
    findings = analyze_source(reformatted, PATH)
    assert [f.severity for f in _rule(findings, "RH202")] == [Severity.HINT]
    assert not _rule(findings, "RH004")


def test_checked_fact_item_goes_stale_when_its_code_changes() -> None:
    checked = _check(_with_checklist(), "`charge` runs on the event loop thread")
    assert not _rule(analyze_source(checked, PATH), "RH004")
    changed = checked.replace(
        "        balance = _balances.get(account, 0)\n",
        "        balance = _balances.get(account, 0)\n        refresh_rates()\n",
    )
    (stale,) = _rule(analyze_source(changed, PATH), "RH004")
    assert "(loop " in stale.message and "no longer looks like this" in stale.message


def test_unchecked_items_are_never_stale_and_switched_off_rules_are_not_judged() -> None:
    unchecked = _with_checklist()
    changed = unchecked.replace('client.post("/audit"', 'client.put("/audit/v2"')
    assert not _rule(analyze_source(changed, PATH), "RH004")
    checked = _check(unchecked, "no other task or thread").replace(
        'client.post("/audit"', 'client.put("/audit/v2"'
    )
    assert not _rule(analyze_source(checked, PATH, AnalysisOptions(ignore=("RH202",))), "RH004")


def test_every_item_of_a_finding_must_be_checked() -> None:
    text = textwrap.dedent(
        """\
        import asyncio

        orders_lock = asyncio.Lock()
        stock_lock = asyncio.Lock()


        async def place_order(sku):
            async with orders_lock:
                async with stock_lock:
                    return sku


        async def restock(sku):
            async with stock_lock:
                async with orders_lock:
                    return sku
        """
    )
    line = text.splitlines().index("async def restock(sku):") + 1
    findings = analyze_source(text, "shop/orders.py")
    (inversion,) = [f for f in findings if f.rule == "RH204" and f.function == "restock"]
    assert len(inversion.assumptions) == 2
    action = checklist_action(text, "shop/orders.py", findings, line)
    assert action is not None
    block = apply_edits(text, action.edits)
    one = _check(block, "`restock` and `place_order` never run")
    (still,) = [
        f
        for f in analyze_source(one, "shop/orders.py")
        if f.rule == "RH204" and f.function == "restock"
    ]
    assert still.severity == inversion.severity
    both = _check(one, "every path takes")
    (acked,) = [
        f
        for f in analyze_source(both, "shop/orders.py")
        if f.rule == "RH204" and f.function == "restock"
    ]
    assert acked.severity == Severity.HINT


def test_parse_block_reads_marks_tags_and_user_lines() -> None:
    text = textwrap.dedent(
        """\
        # riskhints assumptions for charge:
        # [x] the lock is never contended  (RH202 0a1b2c)
        # [ ] something I added myself
        # [X] `charge` runs on the loop  (loop ffffff)
        @decorated
        def charge():
            pass
        """
    )
    block = parse_block(split_lines(text), 5)
    assert block is not None and block.name == "charge"
    assert [(i.checked, i.tag, i.fingerprint) for i in block.items] == [
        (True, "RH202", "0a1b2c"),
        (False, None, None),
        (True, "loop", "ffffff"),
    ]
    assert block.items[0].text == "the lock is never contended"
    assert parse_block(split_lines("x = 1\n# just a comment\ndef f():\n    pass\n"), 3) is None
