"""Scoring of the real bug-fix corpus: pure logic, no network, no subprocess.

The corpus (``cases.toml`` beside this file) lists *references* to real bug fixes: a PyPI
package, a released version that has the bug and the first release that has the fix, the file
inside the distribution and the hazard lines in both versions. ``run.py`` downloads and analyses
them; this module only reads the case file, matches findings against a case and sums up.

Invariants:

* A case is **caught** when the buggy version has a finding of one of the case's expected rules
  whose line, or one of its evidence locations in the case's file, lies within ``NEAR`` lines
  of a hazard line. It is a **fixed-FP** when the fixed version still has such a finding at the
  case's ``fixed_lines``. "Flagged by any rule near the lines" is the same test with any rule.
* Paths of findings are compared relative to the analysed root (the distribution root of a
  release case, ``bad/`` or ``good/`` of a reproduction), with ``/`` separators.
* Nothing here knows which rules exist: the case file names the rules it expects, so adding a
  rule never changes how an old case is scored.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # the project supports 3.10, where tomli is the same parser
    import tomli as tomllib

# A hazard line may be reported on the statement's first line or a neighbouring one.
NEAR = 2

KINDS = ("release", "repro")

# The hazard categories of the corpus (the brief's list); a case names exactly one.
CATEGORIES = (
    "blocking-direct",
    "blocking-via-helper",
    "thread-lock-in-async",
    "lock-reentry",
    "lock-order",
    "acquire-release",
    "condition-wait",
    "dangling-task",
    "never-awaited",
    "swallowed-cancel",
    "check-then-act",
    "wrong-thread",
    "sync-wait-on-loop",
    "framework",
    "blocking-under-lock",  # a thread lock held across a blocking wait (join, sleep, I/O)
)

# How a hazard crosses a boundary ("no": everything is in one function body).
INTERPROCEDURAL = (
    "no",
    "helper",  # a function or method of the same module
    "other-file",  # a function or method of another module of the package
    "library",  # a call into another distribution
    "constructor",  # ``Cls(...)`` runs ``__init__``
    "property",
    "callback",  # a function passed and called later (partial, lambda, handler)
    "caller",  # the hazard is in how callers use the result (returned task, coroutine)
)


class CaseError(ValueError):
    """The case file is malformed (a missing field, an unknown category, ...)."""


@dataclass(frozen=True)
class Case:
    id: str
    kind: str
    category: str
    rules: tuple[str, ...]
    interprocedural: str
    fix_url: str
    description: str
    path: str
    lines: tuple[int, ...]
    fixed_lines: tuple[int, ...]
    package: str = ""
    buggy: str = ""
    fixed: str = ""
    # The folder analysed, relative to the distribution root (release) or to bad/ and good/
    # (repro); default: the first component of ``path`` (the top-level package).
    root: str = ""
    # An identifier expected on the hazard lines of each version: guards against a case whose
    # lines drifted from the file it names (a stale reference is reported, never scored).
    anchor: str = ""
    fixed_anchor: str = ""
    note: str = ""

    @property
    def is_interprocedural(self) -> bool:
        return self.interprocedural != "no"

    @property
    def analysed_root(self) -> str:
        if self.root:
            return self.root
        head, _, rest = self.path.partition("/")
        return head if rest else "."


@dataclass(frozen=True)
class Location:
    path: str
    line: int


@dataclass(frozen=True)
class Finding:
    """One finding of ``riskhints check --format json``, paths relative to the analysed root."""

    rule: str
    path: str
    line: int
    message: str = ""
    evidence: tuple[Location, ...] = ()

    def locations_in(self, path: str) -> list[int]:
        lines = [self.line] if self.path == path else []
        lines.extend(loc.line for loc in self.evidence if loc.path == path)
        return lines

    def describe(self) -> str:
        return f"{self.rule}@{self.path}:{self.line}"


@dataclass
class Outcome:
    case: Case
    caught: bool = False
    fixed_fp: bool = False
    any_rule_near: bool = False
    # "ok", or why the case could not be scored (download failed, stale anchor, ...).
    status: str = "ok"
    detail: str = ""
    matched: list[Finding] = field(default_factory=list)
    near_other: list[Finding] = field(default_factory=list)
    fixed_matched: list[Finding] = field(default_factory=list)
    in_file: list[Finding] = field(default_factory=list)

    @property
    def scored(self) -> bool:
        return self.status == "ok"

    @property
    def verdict(self) -> str:
        if not self.scored:
            return "error"
        if self.caught and self.fixed_fp:
            return "caught+fixed-FP"
        if self.caught:
            return "caught"
        return "missed+fixed-FP" if self.fixed_fp else "missed"


# ----------------------------------------------------------------------------- case file


def _ints(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(v, int) and v > 0 for v in value):
        raise CaseError(f"{where}: expected a list of positive line numbers")
    return tuple(value)


def parse_cases(data: Mapping[str, Any]) -> list[Case]:
    """The cases of a parsed ``cases.toml`` (``[[case]]`` tables), validated."""
    raw = data.get("case", [])
    if not isinstance(raw, list):
        raise CaseError("`case` must be an array of tables ([[case]])")
    cases: list[Case] = []
    seen: set[str] = set()
    required = ("id", "kind", "category", "rules", "interprocedural", "fix_url", "description")
    for index, entry in enumerate(raw):
        where = f"case #{index + 1}"
        if not isinstance(entry, dict):
            raise CaseError(f"{where}: not a table")
        missing = [key for key in (*required, "path", "lines", "fixed_lines") if key not in entry]
        if missing:
            raise CaseError(f"{where}: missing {', '.join(missing)}")
        where = f"case {entry['id']!r}"
        if entry["id"] in seen:
            raise CaseError(f"{where}: duplicate id")
        seen.add(entry["id"])
        if entry["kind"] not in KINDS:
            raise CaseError(f"{where}: kind must be one of {', '.join(KINDS)}")
        if entry["category"] not in CATEGORIES:
            raise CaseError(f"{where}: unknown category {entry['category']!r}")
        if entry["interprocedural"] not in INTERPROCEDURAL:
            raise CaseError(f"{where}: interprocedural must be one of {INTERPROCEDURAL}")
        rules = entry["rules"]
        # An empty list: no rule claims this hazard yet (the case counts as missed).
        if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
            raise CaseError(f"{where}: rules must be a list of rule ids")
        if entry["kind"] == "release":
            for key in ("package", "buggy", "fixed"):
                if not entry.get(key):
                    raise CaseError(f"{where}: a release case needs {key}")
        known = {*required, "path", "lines", "fixed_lines", "package", "buggy", "fixed"}
        known |= {"root", "anchor", "fixed_anchor", "note"}
        unknown = sorted(set(entry) - known)
        if unknown:
            raise CaseError(f"{where}: unknown keys {', '.join(unknown)}")
        cases.append(
            Case(
                id=entry["id"],
                kind=entry["kind"],
                category=entry["category"],
                rules=tuple(rules),
                interprocedural=entry["interprocedural"],
                fix_url=entry["fix_url"],
                description=entry["description"],
                path=entry["path"],
                lines=_ints(entry["lines"], f"{where}: lines"),
                fixed_lines=_ints(entry["fixed_lines"], f"{where}: fixed_lines"),
                package=entry.get("package", ""),
                buggy=entry.get("buggy", ""),
                fixed=entry.get("fixed", ""),
                root=entry.get("root", ""),
                anchor=entry.get("anchor", ""),
                fixed_anchor=entry.get("fixed_anchor", ""),
                note=entry.get("note", ""),
            )
        )
    return cases


def load_cases(path: Path) -> list[Case]:
    with path.open("rb") as handle:
        return parse_cases(tomllib.load(handle))


# ------------------------------------------------------------------------------ findings


def findings_from_report(
    report: Mapping[str, Any], root: Path, cwd: Path | None = None
) -> list[Finding]:
    """The findings of a ``--format json`` report, with paths made relative to ``root``.

    A relative path in the report is relative to ``cwd``, the folder riskhints ran in (it
    displays paths relative to its working directory); default: ``root``."""

    def rel(raw: str) -> str:
        path = Path(raw)
        if not path.is_absolute():
            path = (cwd or root) / path
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return path.as_posix()

    out: list[Finding] = []
    for item in report.get("findings", []):
        evidence = tuple(
            Location(rel(ev["path"]), int(ev["line"]))
            for ev in item.get("evidence", [])
            if ev.get("path") and ev.get("line")
        )
        out.append(
            Finding(
                rule=item["rule"],
                path=rel(item["path"]),
                line=int(item["line"]),
                message=item.get("message", ""),
                evidence=evidence,
            )
        )
    return out


def near(finding: Finding, path: str, lines: Sequence[int]) -> bool:
    return any(abs(at - line) <= NEAR for at in finding.locations_in(path) for line in lines)


def anchor_problem(text: str, lines: Sequence[int], anchor: str) -> str:
    """Why the hazard lines do not match the file ('' when they do)."""
    source = text.splitlines()
    if any(line > len(source) for line in lines):
        return f"line {max(lines)} is past the end of the file ({len(source)} lines)"
    if anchor and not any(anchor in source[line - 1] for line in lines):
        return f"`{anchor}` is on none of lines {list(lines)}"
    return ""


def score_case(
    case: Case,
    buggy: Iterable[Finding],
    fixed: Iterable[Finding] | None,
) -> Outcome:
    """Match the findings of both versions (``fixed`` None: not analysed) against a case."""
    outcome = Outcome(case)
    expected = set(case.rules)
    for finding in buggy:
        if finding.locations_in(case.path):
            outcome.in_file.append(finding)
        if not near(finding, case.path, case.lines):
            continue
        if finding.rule in expected:
            outcome.matched.append(finding)
        else:
            outcome.near_other.append(finding)
    for finding in fixed or ():
        if finding.rule in expected and near(finding, case.path, case.fixed_lines):
            outcome.fixed_matched.append(finding)
    outcome.caught = bool(outcome.matched)
    outcome.any_rule_near = bool(outcome.matched or outcome.near_other)
    outcome.fixed_fp = bool(outcome.fixed_matched)
    return outcome


def failed(case: Case, status: str, detail: str) -> Outcome:
    return Outcome(case, status=status, detail=detail)


# ------------------------------------------------------------------------------- summary


def _ratio(part: int, whole: int) -> dict[str, Any]:
    return {"n": part, "of": whole, "rate": round(part / whole, 3) if whole else None}


def summarise(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Recall overall, interprocedural or not, per category and kind; fixed-FP; any-rule."""
    scored = [o for o in outcomes if o.scored]

    def recall(group: Sequence[Outcome]) -> dict[str, Any]:
        return _ratio(sum(o.caught for o in group), len(group))

    by_category = {
        cat: recall([o for o in scored if o.case.category == cat])
        for cat in CATEGORIES
        if any(o.case.category == cat for o in scored)
    }
    by_kind = {
        kind: recall([o for o in scored if o.case.kind == kind])
        for kind in KINDS
        if any(o.case.kind == kind for o in scored)
    }
    by_shape = {
        shape: recall([o for o in scored if o.case.interprocedural == shape])
        for shape in INTERPROCEDURAL
        if any(o.case.interprocedural == shape for o in scored)
    }
    return {
        "cases": len(outcomes),
        "scored": len(scored),
        "errors": {o.case.id: f"{o.status}: {o.detail}" for o in outcomes if not o.scored},
        "recall": recall(scored),
        "recall_interprocedural": recall([o for o in scored if o.case.is_interprocedural]),
        "recall_local": recall([o for o in scored if not o.case.is_interprocedural]),
        "recall_by_category": by_category,
        "recall_by_kind": by_kind,
        "recall_by_interprocedural": by_shape,
        "fixed_fp": _ratio(sum(o.fixed_fp for o in scored), len(scored)),
        "any_rule_near": _ratio(sum(o.any_rule_near for o in scored), len(scored)),
        "outcomes": [outcome_record(o) for o in outcomes],
    }


def outcome_record(outcome: Outcome) -> dict[str, Any]:
    case = outcome.case
    return {
        "id": case.id,
        "verdict": outcome.verdict,
        "category": case.category,
        "interprocedural": case.interprocedural,
        "kind": case.kind,
        "expected": list(case.rules),
        "matched": [f.describe() for f in outcome.matched],
        "near_other_rules": [f.describe() for f in outcome.near_other],
        "fixed_matched": [f.describe() for f in outcome.fixed_matched],
        "in_file": [f.describe() for f in outcome.in_file],
        "status": outcome.status,
        "detail": outcome.detail,
    }
