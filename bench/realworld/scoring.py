"""Scoring of the real-project precision loop: riskhints' findings against the committed triage.

Pure functions, no I/O beyond parsing text handed in, no network: ``run.py`` downloads and runs,
this module decides what the findings mean, and ``tests/bench/test_realworld_scoring.py`` tests it
on cases written in our own words.

Invariants:

* A triage row is keyed by (project, version, path inside the distribution, line, rule) and an
  optional ``match``: a fragment of the finding's message that tells apart two findings of one
  rule on one line. Rows never hold code or messages copied from the project, only our reason.
* A finding is matched to at most one row and counts once under that row's verdict; several
  findings may share a row (one key, no ``match``): each counts.
* Rows of a project that ran, for the version that ran, and that no finding matched are "no longer
  firing" (a lost TP shows there). Rows for another version of a project are ignored (counted
  as stale), rows of projects not run are left out of the figures.
* Precision is TP / (TP + FP) over triaged findings; ``intended`` counts neither way (the claim is
  true, the code means it). Untriaged findings are reported, never guessed.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

VERDICTS = ("TP", "FP", "intended")
KINDS = ("library", "framework", "application")
SHOWN_SEVERITIES = ("warning", "error")
TRIAGE_COLUMNS = ("project", "version", "path", "line", "rule", "verdict", "match", "reason")


class CorpusError(ValueError):
    """A malformed projects file or triage file."""


@dataclass(frozen=True)
class Project:
    name: str
    version: str
    kind: str
    analyse: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class Finding:
    project: str
    path: str  # inside the distribution, posix
    line: int
    rule: str
    message: str
    severity: str = "warning"


@dataclass(frozen=True)
class TriageRow:
    project: str
    version: str
    path: str
    line: int
    rule: str
    verdict: str
    reason: str
    match: str = ""

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (self.project, self.path, self.line, self.rule)

    def where(self) -> str:
        return f"{self.project} {self.version} {self.path}:{self.line} {self.rule}"


@dataclass
class ProjectRun:
    """One project's riskhints run, as run.py measured it."""

    project: Project
    lines: int
    files: int
    findings: list[Finding]
    wall_s: float = 0.0
    cpu_s: float = 0.0


@dataclass
class RuleCounts:
    tp: int = 0
    fp: int = 0
    intended: int = 0
    untriaged: int = 0

    def add(self, verdict: str | None) -> None:
        if verdict == "TP":
            self.tp += 1
        elif verdict == "FP":
            self.fp += 1
        elif verdict == "intended":
            self.intended += 1
        else:
            self.untriaged += 1

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.intended + self.untriaged

    @property
    def precision(self) -> float | None:
        judged = self.tp + self.fp
        return self.tp / judged if judged else None


@dataclass
class Score:
    runs: list[ProjectRun]
    matched: list[tuple[Finding, TriageRow]] = field(default_factory=list)
    untriaged: list[Finding] = field(default_factory=list)
    no_longer_firing: list[TriageRow] = field(default_factory=list)
    stale_rows: int = 0  # rows for a version of a project other than the one run
    per_rule: dict[str, RuleCounts] = field(default_factory=dict)
    per_project: dict[str, RuleCounts] = field(default_factory=dict)
    per_severity: dict[str, RuleCounts] = field(default_factory=dict)

    @property
    def lines(self) -> int:
        return sum(run.lines for run in self.runs)

    @property
    def total(self) -> RuleCounts:
        counts = RuleCounts()
        for rule in self.per_rule.values():
            counts.tp += rule.tp
            counts.fp += rule.fp
            counts.intended += rule.intended
            counts.untriaged += rule.untriaged
        return counts

    def per_10k(self, count: int) -> float:
        return count * 10_000 / self.lines if self.lines else 0.0

    @property
    def shown(self) -> RuleCounts:
        """Findings at warning or error: what a user sees as a problem (notes and hints are
        the engine's way of saying "true but probably fine")."""
        counts = RuleCounts()
        for severity in SHOWN_SEVERITIES:
            c = self.per_severity.get(severity, RuleCounts())
            counts.tp += c.tp
            counts.fp += c.fp
            counts.intended += c.intended
            counts.untriaged += c.untriaged
        return counts

    @property
    def lost_tps(self) -> list[TriageRow]:
        return [row for row in self.no_longer_firing if row.verdict == "TP"]


# ------------------------------------------------------------------------------ reading


def parse_projects(data: Mapping[str, Any]) -> list[Project]:
    """The ``[[project]]`` tables of projects.toml (already parsed by tomllib)."""
    tables = data.get("project")
    if not isinstance(tables, list) or not tables:
        raise CorpusError("projects file: no [[project]] tables")
    projects: list[Project] = []
    seen: set[str] = set()
    for index, table in enumerate(tables):
        where = f"project #{index + 1}"
        if not isinstance(table, Mapping):
            raise CorpusError(f"{where}: not a table")
        missing = [
            k for k in ("name", "version", "kind", "analyse", "description") if k not in table
        ]
        if missing:
            raise CorpusError(f"{where}: missing {', '.join(missing)}")
        name, version = str(table["name"]), str(table["version"])
        if name in seen:
            raise CorpusError(f"{where}: project {name} listed twice")
        seen.add(name)
        if table["kind"] not in KINDS:
            raise CorpusError(f"{name}: kind must be one of {', '.join(KINDS)}")
        analyse = table["analyse"]
        if (
            not isinstance(analyse, list)
            or not analyse
            or not all(isinstance(a, str) for a in analyse)
        ):
            raise CorpusError(f"{name}: analyse must be a non-empty list of folder names")
        if any("/" in a or a in ("", ".", "..") for a in analyse):
            raise CorpusError(f"{name}: analyse names top-level folders of the distribution")
        if not str(table["description"]).strip():
            raise CorpusError(f"{name}: empty description")
        projects.append(
            Project(name, version, str(table["kind"]), tuple(analyse), str(table["description"]))
        )
    return projects


def parse_triage(text: str) -> list[TriageRow]:
    """triage.csv: a header of TRIAGE_COLUMNS, one row per finding judged; ``#`` lines are
    comments. Raises CorpusError on a bad verdict, a missing reason or a key given twice."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not lines:
        return []
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    if tuple(reader.fieldnames or ()) != TRIAGE_COLUMNS:
        raise CorpusError(f"triage: header must be {','.join(TRIAGE_COLUMNS)}")
    rows: list[TriageRow] = []
    seen: set[tuple[str, str, str, int, str, str]] = set()
    for number, record in enumerate(reader, start=2):
        where = f"triage row {number}"
        if None in record or any(record[c] is None for c in TRIAGE_COLUMNS):
            raise CorpusError(f"{where}: expected {len(TRIAGE_COLUMNS)} columns")
        try:
            line = int(record["line"])
        except ValueError:
            raise CorpusError(f"{where}: line {record['line']!r} is not a number") from None
        verdict = record["verdict"].strip()
        if verdict not in VERDICTS:
            raise CorpusError(f"{where}: verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
        reason = record["reason"].strip()
        if not reason:
            raise CorpusError(f"{where}: a verdict needs a one-line reason")
        row = TriageRow(
            project=record["project"].strip(),
            version=record["version"].strip(),
            path=record["path"].strip(),
            line=line,
            rule=record["rule"].strip(),
            verdict=verdict,
            reason=reason,
            match=record["match"].strip(),
        )
        identity = (row.project, row.version, row.path, row.line, row.rule, row.match)
        if identity in seen:
            raise CorpusError(f"{where}: {row.where()} is triaged twice")
        seen.add(identity)
        rows.append(row)
    return rows


def format_triage(rows: Iterable[TriageRow]) -> str:
    """CSV text for rows (header first), in the order given: the inverse of parse_triage."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TRIAGE_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                row.project,
                row.version,
                row.path,
                row.line,
                row.rule,
                row.verdict,
                row.match,
                row.reason,
            ]
        )
    return out.getvalue()


def findings_from_report(
    report: Mapping[str, Any], project: str, prefix: str = ""
) -> list[Finding]:
    """Findings of one ``riskhints check --format json`` report. ``prefix`` is stripped from the
    reported paths (they are relative to the folder riskhints ran in, the distribution's root)."""
    findings: list[Finding] = []
    for item in report.get("findings", []):
        path = str(item["path"]).replace("\\", "/")
        if prefix and path.startswith(prefix):
            path = path[len(prefix) :]
        path = path.removeprefix("./")
        findings.append(
            Finding(
                project=project,
                path=path,
                line=int(item["line"]),
                rule=str(item["rule"]),
                message=str(item.get("message", "")),
                severity=str(item.get("severity", "warning")),
            )
        )
    return findings


def count_lines(text: str) -> int:
    """Physical lines, the unit of the per-10k-lines figure (a last line without newline counts)."""
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)


# ------------------------------------------------------------------------------ scoring


def _pick_row(finding: Finding, candidates: Sequence[TriageRow]) -> TriageRow | None:
    # A row whose ``match`` fragment is in the message wins over a row without one.
    specific = [row for row in candidates if row.match and row.match in finding.message]
    if specific:
        return specific[0]
    general = [row for row in candidates if not row.match]
    return general[0] if general else None


def score(runs: Sequence[ProjectRun], rows: Iterable[TriageRow]) -> Score:
    result = Score(runs=list(runs))
    versions = {run.project.name: run.project.version for run in runs}
    by_key: dict[tuple[str, str, int, str], list[TriageRow]] = {}
    for row in rows:
        if row.project not in versions:
            continue
        if row.version != versions[row.project]:
            result.stale_rows += 1
            continue
        by_key.setdefault(row.key, []).append(row)
    used: set[int] = set()
    for run in runs:
        project_counts = result.per_project.setdefault(run.project.name, RuleCounts())
        for finding in sorted(run.findings, key=lambda f: (f.path, f.line, f.rule, f.message)):
            key = (finding.project, finding.path, finding.line, finding.rule)
            row = _pick_row(finding, by_key.get(key, ()))
            rule_counts = result.per_rule.setdefault(finding.rule, RuleCounts())
            verdict = row.verdict if row else None
            rule_counts.add(verdict)
            project_counts.add(verdict)
            result.per_severity.setdefault(finding.severity, RuleCounts()).add(verdict)
            if row is None:
                result.untriaged.append(finding)
            else:
                used.add(id(row))
                result.matched.append((finding, row))
    result.no_longer_firing = sorted(
        (row for candidates in by_key.values() for row in candidates if id(row) not in used),
        key=lambda r: (r.project, r.path, r.line, r.rule),
    )
    return result


# ------------------------------------------------------------------------------ output


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_report(result: Score) -> str:
    """The human report: per project, per rule, totals, untriaged and no-longer-firing lists."""
    out: list[str] = []
    out.append(
        f"{'project':<16} {'version':<9} {'lines':>8} {'files':>6} {'found':>6} "
        f"{'TP':>4} {'FP':>4} {'int':>4} {'new':>4} {'wall s':>7} {'cpu s':>7}"
    )
    for run in result.runs:
        c = result.per_project.get(run.project.name, RuleCounts())
        out.append(
            f"{run.project.name:<16} {run.project.version:<9} {run.lines:>8} {run.files:>6} "
            f"{len(run.findings):>6} {c.tp:>4} {c.fp:>4} {c.intended:>4} {c.untriaged:>4} "
            f"{run.wall_s:>7.1f} {run.cpu_s:>7.1f}"
        )
    total = result.total
    out.append(
        f"{'all':<16} {'':<9} {result.lines:>8} {sum(r.files for r in result.runs):>6} "
        f"{total.total:>6} {total.tp:>4} {total.fp:>4} {total.intended:>4} {total.untriaged:>4} "
        f"{sum(r.wall_s for r in result.runs):>7.1f} {sum(r.cpu_s for r in result.runs):>7.1f}"
    )
    out.append("")
    out.append(
        f"{'rule':<7} {'found':>6} {'TP':>4} {'FP':>4} {'int':>4} {'new':>4} {'precision':>9}"
    )
    for rule in sorted(result.per_rule):
        c = result.per_rule[rule]
        out.append(
            f"{rule:<7} {c.total:>6} {c.tp:>4} {c.fp:>4} {c.intended:>4} {c.untriaged:>4} "
            f"{_ratio(c.precision):>9}"
        )
    out.append("")
    out.append(
        f"precision TP/(TP+FP): {_ratio(total.precision)}   "
        f"false alarms per 10k lines: {result.per_10k(total.fp):.2f}   "
        f"true findings per 10k lines: {result.per_10k(total.tp):.2f}   "
        f"({result.lines} lines)"
    )
    shown = result.shown
    out.append(
        f"warnings and errors only ({shown.total} findings): precision {_ratio(shown.precision)}   "
        f"false alarms per 10k lines: {result.per_10k(shown.fp):.2f}"
    )
    for severity in sorted(result.per_severity):
        c = result.per_severity[severity]
        out.append(
            f"  {severity:<8} {c.total:>5} found  TP {c.tp}  FP {c.fp}  intended {c.intended}  "
            f"new {c.untriaged}"
        )
    if result.stale_rows:
        out.append(f"{result.stale_rows} triage rows are for other versions (ignored)")
    out.append("")
    out.append(f"new untriaged findings: {len(result.untriaged)}")
    for finding in result.untriaged:
        out.append(
            f"  {finding.project} {finding.path}:{finding.line} {finding.rule} {finding.message}"
        )
    out.append(f"triaged, no longer firing: {len(result.no_longer_firing)}")
    for row in result.no_longer_firing:
        lost = "LOST TP " if row.verdict == "TP" else ""
        out.append(f"  {lost}{row.where()} [{row.verdict}] {row.reason}")
    return "\n".join(out)


def summary(result: Score) -> dict[str, Any]:
    """The JSON summary for later comparison (run.py adds the run's metadata)."""

    def counts(c: RuleCounts) -> dict[str, Any]:
        return {
            "TP": c.tp,
            "FP": c.fp,
            "intended": c.intended,
            "untriaged": c.untriaged,
            "precision": c.precision,
        }

    total = result.total
    return {
        "lines": result.lines,
        "findings": total.total,
        **counts(total),
        "false_alarms_per_10k_lines": round(result.per_10k(total.fp), 3),
        "true_findings_per_10k_lines": round(result.per_10k(total.tp), 3),
        "warnings_and_errors": {
            "findings": result.shown.total,
            **counts(result.shown),
            "false_alarms_per_10k_lines": round(result.per_10k(result.shown.fp), 3),
        },
        "severities": {sev: counts(c) for sev, c in sorted(result.per_severity.items())},
        "stale_rows": result.stale_rows,
        "projects": {
            run.project.name: {
                "version": run.project.version,
                "lines": run.lines,
                "files": run.files,
                "findings": len(run.findings),
                "wall_s": round(run.wall_s, 2),
                "cpu_s": round(run.cpu_s, 2),
                **counts(result.per_project.get(run.project.name, RuleCounts())),
            }
            for run in result.runs
        },
        "rules": {rule: counts(c) for rule, c in sorted(result.per_rule.items())},
        "untriaged_findings": [
            {
                "project": f.project,
                "path": f.path,
                "line": f.line,
                "rule": f.rule,
                "message": f.message,
            }
            for f in result.untriaged
        ],
        "no_longer_firing": [
            {
                "project": r.project,
                "version": r.version,
                "path": r.path,
                "line": r.line,
                "rule": r.rule,
                "verdict": r.verdict,
            }
            for r in result.no_longer_firing
        ],
        "rule_verdicts": dict(Counter(f"{row.rule}:{row.verdict}" for _, row in result.matched)),
    }
