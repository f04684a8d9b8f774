"""The scoring of the real-project precision loop (bench/realworld/scoring.py), on small cases
written here: no network, no download, no riskhints run. Also checks that the committed corpus and
triage files are well formed and agree with each other."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "realworld"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("realworld_scoring", BENCH / "scoring.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


scoring = _load()

HEADER = "project,version,path,line,rule,verdict,match,reason\n"

INVOICES = scoring.Project(
    name="invoice-relay",
    version="2.3.0",
    kind="library",
    analyse=("invoice_relay",),
    description="an imaginary client that pushes invoices to a billing gateway",
)
DISPATCH = scoring.Project(
    name="route-dispatch",
    version="0.9.1",
    kind="framework",
    analyse=("route_dispatch",),
    description="an imaginary ASGI router",
)


def finding(project: str, path: str, line: int, rule: str, message: str = "") -> object:
    return scoring.Finding(project, path, line, rule, message or f"{rule} at {path}:{line}")


def invoice_findings() -> list[object]:
    return [
        finding(
            "invoice-relay", "invoice_relay/gateway.py", 41, "RH101", "`requests.post()` blocks"
        ),
        finding("invoice-relay", "invoice_relay/gateway.py", 88, "RH301"),
        finding("invoice-relay", "invoice_relay/retry.py", 17, "RH303"),
        finding("invoice-relay", "invoice_relay/sync_api.py", 12, "RH103"),
    ]


INVOICE_TRIAGE = HEADER + (
    "invoice-relay,2.3.0,invoice_relay/gateway.py,41,RH101,TP,,posts the invoice synchronously"
    " inside the async sender\n"
    "invoice-relay,2.3.0,invoice_relay/gateway.py,88,RH301,FP,,the task is kept in the"
    " relay's pending set\n"
    "invoice-relay,2.3.0,invoice_relay/sync_api.py,12,RH103,intended,,documented blocking"
    " facade that runs its own loop\n"
)


def test_findings_are_matched_to_rows_and_counted_per_rule() -> None:
    run = scoring.ProjectRun(INVOICES, lines=20_000, files=12, findings=invoice_findings())
    result = scoring.score([run], scoring.parse_triage(INVOICE_TRIAGE))
    assert {rule: (c.tp, c.fp, c.intended, c.untriaged) for rule, c in result.per_rule.items()} == {
        "RH101": (1, 0, 0, 0),
        "RH301": (0, 1, 0, 0),
        "RH303": (0, 0, 0, 1),
        "RH103": (0, 0, 1, 0),
    }
    assert [(f.path, f.line) for f in result.untriaged] == [("invoice_relay/retry.py", 17)]
    assert result.no_longer_firing == []
    assert result.total.precision == pytest.approx(0.5)
    # One false alarm in 20,000 lines.
    assert result.per_10k(result.total.fp) == pytest.approx(0.5)


def test_precision_counts_intended_neither_way_and_is_undefined_without_judged_findings() -> None:
    counts = scoring.RuleCounts(tp=3, fp=1, intended=5, untriaged=2)
    assert counts.precision == pytest.approx(0.75)
    assert counts.total == 11
    assert scoring.RuleCounts(intended=4, untriaged=1).precision is None


def test_a_row_that_no_longer_fires_is_listed_and_a_lost_tp_is_visible() -> None:
    # The engine stopped reporting gateway.py:41 (the TP) and gateway.py:88 (the FP).
    run = scoring.ProjectRun(INVOICES, 20_000, 12, invoice_findings()[2:])
    result = scoring.score([run], scoring.parse_triage(INVOICE_TRIAGE))
    assert [(r.line, r.verdict) for r in result.no_longer_firing] == [(41, "TP"), (88, "FP")]
    assert [r.line for r in result.lost_tps] == [41]
    report = scoring.format_report(result)
    assert "LOST TP invoice-relay 2.3.0 invoice_relay/gateway.py:41 RH101" in report
    assert "triaged, no longer firing: 2" in report


def test_rows_of_another_version_are_stale_and_rows_of_projects_not_run_are_left_out() -> None:
    triage = HEADER + (
        "invoice-relay,2.2.0,invoice_relay/gateway.py,41,RH101,TP,,same call in the old release\n"
        "route-dispatch,0.9.1,route_dispatch/app.py,5,RH301,FP,,kept by the app's task group\n"
    )
    run = scoring.ProjectRun(INVOICES, 20_000, 12, invoice_findings()[:1])
    result = scoring.score([run], scoring.parse_triage(triage))
    assert result.stale_rows == 1
    assert [f.line for f in result.untriaged] == [41]  # the 2.2.0 row does not cover 2.3.0
    assert result.no_longer_firing == []  # route-dispatch did not run


def test_match_tells_apart_two_findings_of_one_rule_on_one_line() -> None:
    findings = [
        finding(
            "route-dispatch", "route_dispatch/static.py", 30, "RH101", "`open()` does file I/O"
        ),
        finding(
            "route-dispatch", "route_dispatch/static.py", 30, "RH101", "`os.stat()` does file I/O"
        ),
    ]
    triage = HEADER + (
        "route-dispatch,0.9.1,route_dispatch/static.py,30,RH101,TP,open(),reads the whole file"
        " on the loop\n"
        "route-dispatch,0.9.1,route_dispatch/static.py,30,RH101,FP,os.stat(),the stat is of a"
        " cached entry and never reached\n"
    )
    run = scoring.ProjectRun(DISPATCH, 1_000, 3, findings)
    result = scoring.score([run], scoring.parse_triage(triage))
    verdicts = sorted((f.message.split()[0], row.verdict) for f, row in result.matched)
    assert verdicts == [("`open()`", "TP"), ("`os.stat()`", "FP")]


def test_a_row_without_match_covers_every_finding_with_its_key() -> None:
    findings = [
        finding(
            "route-dispatch", "route_dispatch/static.py", 30, "RH101", "`open()` does file I/O"
        ),
        finding(
            "route-dispatch", "route_dispatch/static.py", 30, "RH101", "`f.read()` does file I/O"
        ),
    ]
    triage = HEADER + (
        "route-dispatch,0.9.1,route_dispatch/static.py,30,RH101,TP,,opens and reads on the loop\n"
    )
    result = scoring.score(
        [scoring.ProjectRun(DISPATCH, 1_000, 3, findings)], scoring.parse_triage(triage)
    )
    assert result.per_rule["RH101"].tp == 2
    assert result.untriaged == []


def test_summary_and_report_carry_the_figures() -> None:
    runs = [
        scoring.ProjectRun(INVOICES, 20_000, 12, invoice_findings(), wall_s=3.25, cpu_s=5.5),
        scoring.ProjectRun(DISPATCH, 10_000, 4, []),
    ]
    result = scoring.score(runs, scoring.parse_triage(INVOICE_TRIAGE))
    data = scoring.summary(result)
    json.dumps(data)  # serialisable as it is
    assert data["lines"] == 30_000
    assert (data["TP"], data["FP"], data["intended"], data["untriaged"]) == (1, 1, 1, 1)
    assert data["false_alarms_per_10k_lines"] == pytest.approx(0.333, abs=1e-3)
    assert data["projects"]["invoice-relay"]["wall_s"] == 3.25
    assert data["projects"]["route-dispatch"]["findings"] == 0
    assert data["untriaged_findings"][0]["path"] == "invoice_relay/retry.py"
    report = scoring.format_report(result)
    assert "new untriaged findings: 1" in report
    assert "invoice-relay invoice_relay/retry.py:17 RH303" in report


def test_notes_are_counted_apart_from_warnings_and_errors() -> None:
    # The engine may grade a true-but-probably-fine call down to a note: the headline figures
    # count every finding, the "shown" ones only what a user sees as a problem.
    findings = [
        scoring.Finding("invoice-relay", "invoice_relay/gateway.py", 41, "RH101", "m", "warning"),
        scoring.Finding("invoice-relay", "invoice_relay/gateway.py", 88, "RH301", "m", "error"),
        scoring.Finding("invoice-relay", "invoice_relay/sync_api.py", 12, "RH103", "m", "info"),
        scoring.Finding("invoice-relay", "invoice_relay/cache.py", 9, "RH102", "m", "info"),
    ]
    triage = INVOICE_TRIAGE + (
        "invoice-relay,2.3.0,invoice_relay/cache.py,9,RH102,FP,,reads the price table once"
        " and keeps it\n"
    )
    run = scoring.ProjectRun(INVOICES, 10_000, 5, findings)
    result = scoring.score([run], scoring.parse_triage(triage))
    assert (result.total.tp, result.total.fp, result.total.intended) == (1, 2, 1)
    shown = result.shown
    assert (shown.tp, shown.fp, shown.intended, shown.total) == (1, 1, 0, 2)
    assert result.per_severity["info"].fp == 1
    data = scoring.summary(result)
    assert data["warnings_and_errors"]["FP"] == 1
    assert data["warnings_and_errors"]["false_alarms_per_10k_lines"] == pytest.approx(1.0)
    assert "warnings and errors only (2 findings): precision 0.50" in scoring.format_report(result)


def test_triage_rejects_bad_rows() -> None:
    with pytest.raises(scoring.CorpusError, match="verdict"):
        scoring.parse_triage(HEADER + "invoice-relay,2.3.0,a.py,1,RH101,maybe,,unsure\n")
    with pytest.raises(scoring.CorpusError, match="reason"):
        scoring.parse_triage(HEADER + "invoice-relay,2.3.0,a.py,1,RH101,TP,,\n")
    with pytest.raises(scoring.CorpusError, match="twice"):
        scoring.parse_triage(
            HEADER
            + "invoice-relay,2.3.0,a.py,1,RH101,TP,,blocks\n"
            + "invoice-relay,2.3.0,a.py,1,RH101,FP,,does not\n"
        )
    with pytest.raises(scoring.CorpusError, match="line"):
        scoring.parse_triage(HEADER + "invoice-relay,2.3.0,a.py,one,RH101,TP,,blocks\n")
    with pytest.raises(scoring.CorpusError, match="header"):
        scoring.parse_triage("project,path,line\ninvoice-relay,a.py,1\n")


def test_triage_round_trips_through_format_and_skips_comments() -> None:
    rows = scoring.parse_triage("# a comment about the file\n" + INVOICE_TRIAGE)
    assert scoring.parse_triage(scoring.format_triage(rows)) == rows


def test_findings_are_read_from_a_json_report() -> None:
    report = {
        "findings": [
            {"path": "./invoice_relay/gateway.py", "line": 41, "rule": "RH101", "message": "m"},
            {"path": "invoice_relay\\retry.py", "line": 17, "rule": "RH303", "severity": "error"},
        ]
    }
    found = scoring.findings_from_report(report, "invoice-relay")
    assert [(f.path, f.line, f.rule, f.severity) for f in found] == [
        ("invoice_relay/gateway.py", 41, "RH101", "warning"),
        ("invoice_relay/retry.py", 17, "RH303", "error"),
    ]


def test_lines_are_physical_lines() -> None:
    assert scoring.count_lines("") == 0
    assert scoring.count_lines("a\nb\n") == 2
    assert scoring.count_lines("a\nb") == 2


def test_projects_file_rejects_bad_tables() -> None:
    good = {
        "name": "invoice-relay",
        "version": "2.3.0",
        "kind": "library",
        "analyse": ["invoice_relay"],
        "description": "x",
    }
    assert scoring.parse_projects({"project": [good]})[0].analyse == ("invoice_relay",)
    with pytest.raises(scoring.CorpusError, match="kind"):
        scoring.parse_projects({"project": [{**good, "kind": "toy"}]})
    with pytest.raises(scoring.CorpusError, match="twice"):
        scoring.parse_projects({"project": [good, good]})
    with pytest.raises(scoring.CorpusError, match="top-level"):
        scoring.parse_projects({"project": [{**good, "analyse": ["src/invoice_relay"]}]})
    with pytest.raises(scoring.CorpusError, match="missing"):
        scoring.parse_projects({"project": [{"name": "x"}]})


# ------------------------------------------------------------------ the committed files


RESERVED_PYPI = {
    "httpx",
    "httpcore",
    "anyio",
    "aiokafka",
    "sanic",
    "tornado",
    "redis",
    "python-telegram-bot",
    "discord.py",
}


def committed_projects() -> list[object]:
    return scoring.parse_projects(tomllib.loads((BENCH / "projects.toml").read_text("utf-8")))


def test_the_committed_corpus_is_large_enough_and_not_reserved() -> None:
    projects = committed_projects()
    assert len(projects) >= 10
    assert {p.kind for p in projects} >= {"library", "framework"}
    assert not {p.name.lower() for p in projects} & RESERVED_PYPI


def test_the_committed_triage_names_projects_and_versions_of_the_corpus() -> None:
    path = BENCH / "triage.csv"
    rows = scoring.parse_triage(path.read_text("utf-8"))
    versions = {p.name: p.version for p in committed_projects()}
    stray = [r.where() for r in rows if versions.get(r.project) != r.version]
    assert stray == []
    assert all(r.path.split("/")[0] for r in rows)
    # Our reasons, one line each, never a copied code line.
    assert all("\n" not in r.reason and len(r.reason) <= 200 for r in rows)
