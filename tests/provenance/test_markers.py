"""Explicit ``# riskhints: ai-begin`` / ``ai-end`` markers and finding classification."""

from __future__ import annotations

import textwrap

from riskhints.analysis import Provenance, analyze_source
from riskhints.provenance.markers import marker_regions
from riskhints.provenance.regions import Region, classify, merge

SOURCE = textwrap.dedent(
    """\
    import threading
    import time

    _lock = threading.Lock()

    # riskhints: ai-begin -- copilot inline completion
    async def refresh(client, key):
        with _lock:
            return await client.fetch(key)
    # riskhints: ai-end


    async def slow(client):
        time.sleep(1)
    """
)


def test_marker_pairs_and_unclosed_begin() -> None:
    [region] = marker_regions(SOURCE)
    assert (region.start, region.end, region.source) == (6, 10, "marker")
    assert region.detail == "ai-begin marker on line 6 (copilot inline completion)"
    unclosed = SOURCE.replace("# riskhints: ai-end\n", "")
    [region] = marker_regions(unclosed)
    assert (region.start, region.end) == (6, 13)


def test_marker_text_inside_a_string_does_not_count() -> None:
    assert marker_regions('HELP = "# riskhints: ai-begin"\nx = 1\n') == []


def test_classify_findings_by_region() -> None:
    findings = analyze_source(SOURCE, "svc.py")
    regions = merge([*marker_regions(SOURCE), Region(13, 14, "git-diff", "changed since HEAD")])
    classified = {f.rule: f.provenance for f in classify(findings, regions)}
    assert classified == {"RH202": Provenance.AI, "RH101": Provenance.CHANGED}
    assert {f.provenance for f in classify(findings, [])} == {Provenance.HUMAN}
