"""The real bug-fix corpus: how many real, fixed concurrency bugs does riskhints flag?

Run from the repository root (see bench/realbugs/README.md)::

    .venv/bin/python bench/realbugs/run.py [--case ID ...] [--offline] [--json FILE]

For each case of ``cases.toml``: a *release* case names a PyPI package, a released version with
the bug and the first release with the fix. Both wheels are downloaded with
``pip download --no-deps --only-binary=:all:`` (never an sdist: building one would run its
code) into a cache outside the repository (``~/.cache/riskhints-bench/realbugs/``, or
``$RISKHINTS_BENCH_CACHE``), extracted, and ``riskhints check --format json --no-cache`` runs on
the case's package directory, so cross-file hazards are analysed with the modules they import.
A *repro* case is a minimal reproduction in our own words under ``repro/<id>/bad`` and
``good``. The findings are matched against the case's lines by ``scoring.py``.

It prints each case's outcome with the findings seen, then recall overall, interprocedural or
not, per category, fixed-FP and "any rule near the lines", and writes a JSON summary
(``bench/results/realbugs.json`` by default). No third-party code is ever copied into the
repository: only the cache holds it. Network: PyPI only, through pip.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

import scoring  # noqa: E402  (a sibling module of this script, not a package)

CASES = HERE / "cases.toml"
REPRO = HERE / "repro"
RESULTS = ROOT / "bench" / "results" / "realbugs.json"
# Python versions tried, in order, for wheels: the running one first, then older ones, since an
# old release may have binary wheels only for old interpreters (the .py files are the same).
PY_VERSIONS = ("", "3.12", "3.10", "3.9", "3.8", "3.7", "3.6")


def cache_root() -> Path:
    env = os.environ.get("RISKHINTS_BENCH_CACHE")
    base = Path(env) if env else Path.home() / ".cache" / "riskhints-bench"
    return base / "realbugs"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class FetchError(RuntimeError):
    pass


def fetch_release(package: str, version: str, offline: bool) -> Path:
    """The extracted wheel of ``package==version`` (downloaded once into the cache)."""
    target = cache_root() / "dists" / f"{_norm(package)}-{version}"
    if (target / ".extracted").exists():
        return target
    downloads = cache_root() / "downloads" / f"{_norm(package)}-{version}"
    wheel = _find_wheel(downloads)
    if wheel is None:
        if offline:
            raise FetchError(f"{package}=={version} is not in the cache (--offline)")
        wheel = _download(package, version, downloads)
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.infolist():
            # Only the sources riskhints reads; never a path outside the target.
            name = member.filename
            if name.startswith("/") or ".." in Path(name).parts or not name.endswith(".py"):
                continue
            archive.extract(member, target)
    (target / ".extracted").write_text(wheel.name + "\n")
    return target


def _find_wheel(folder: Path) -> Path | None:
    wheels = sorted(folder.glob("*.whl")) if folder.is_dir() else []
    return wheels[0] if wheels else None


def _download(package: str, version: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    # This machine's pip may carry a constraints file (pins unrelated to us): not wanted here.
    env = {**os.environ, "PIP_CONSTRAINT": ""}
    errors = []
    for python in PY_VERSIONS:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        cmd += ["--quiet", "-d", str(folder), f"{package}=={version}"]
        if python:
            cmd += ["--python-version", python]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        wheel = _find_wheel(folder)
        if proc.returncode == 0 and wheel is not None:
            return wheel
        errors.append(proc.stderr.strip().splitlines()[-1:] or ["?"])
    raise FetchError(f"no wheel of {package}=={version}: {errors[0][0]}")


def analyse(folder: Path, base: Path, memo: dict[Path, list[scoring.Finding]]) -> Any:
    """riskhints' findings on ``folder``, paths relative to ``base`` (memoised per folder)."""
    if folder in memo:
        return memo[folder]
    if not folder.is_dir():
        raise FetchError(f"no folder {folder.relative_to(base)} in the distribution")
    cmd = [sys.executable, "-m", "riskhints", "check", "--format", "json", "--no-cache"]
    cmd += ["--exit-zero", "--quiet", str(folder)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, cwd=base)
    if proc.returncode != 0:
        raise FetchError(f"riskhints failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
    findings = scoring.findings_from_report(json.loads(proc.stdout), base, cwd=base)
    memo[folder] = findings
    return findings


def run_case(
    case: scoring.Case, offline: bool, memo: dict[Path, list[scoring.Finding]]
) -> scoring.Outcome:
    try:
        if case.kind == "release":
            bases = [fetch_release(case.package, v, offline) for v in (case.buggy, case.fixed)]
        else:
            bases = [REPRO / case.id / "bad", REPRO / case.id / "good"]
        versions = []
        for base, lines, anchor in zip(
            bases, (case.lines, case.fixed_lines), (case.anchor, case.fixed_anchor), strict=True
        ):
            file = base / case.path
            if not file.is_file():
                return scoring.failed(case, "stale", f"no file {case.path} in {base.name}")
            problem = scoring.anchor_problem(file.read_text(errors="replace"), lines, anchor)
            if problem:
                return scoring.failed(case, "stale", f"{base.name}: {problem}")
            versions.append(analyse(base / case.analysed_root, base, memo))
    except (FetchError, subprocess.TimeoutExpired, OSError) as exc:
        return scoring.failed(case, "error", str(exc))
    return scoring.score_case(case, versions[0], versions[1])


def riskhints_commit() -> str:
    proc = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return proc.stdout.strip() or "unknown"


def print_report(summary: dict[str, Any], outcomes: list[scoring.Outcome]) -> None:
    print(f"{'case':<44} {'verdict':<16} {'category':<20} {'interproc.':<11} findings")
    for outcome in outcomes:
        case = outcome.case
        seen = [f.describe() for f in outcome.matched]
        seen += [f"({f.describe()})" for f in outcome.near_other]
        if outcome.fixed_matched:
            seen.append("fixed: " + ", ".join(f.describe() for f in outcome.fixed_matched))
        if not outcome.scored:
            seen = [f"{outcome.status}: {outcome.detail}"]
        elif not seen and outcome.in_file:
            seen = ["elsewhere in file: " + ", ".join(f.describe() for f in outcome.in_file[:4])]
        print(
            f"{case.id:<44} {outcome.verdict:<16} {case.category:<20} "
            f"{case.interprocedural:<11} {'; '.join(seen) or '-'}"
        )

    def fmt(r: dict[str, Any]) -> str:
        rate = f"{100 * r['rate']:.0f}%" if r["rate"] is not None else "-"
        return f"{r['n']}/{r['of']} ({rate})"

    print()
    print(f"recall                  {fmt(summary['recall'])}")
    print(f"  interprocedural       {fmt(summary['recall_interprocedural'])}")
    print(f"  local                 {fmt(summary['recall_local'])}")
    for name, group in (
        ("kind", summary["recall_by_kind"]),
        ("shape", summary["recall_by_interprocedural"]),
        ("category", summary["recall_by_category"]),
    ):
        for key, value in group.items():
            print(f"  {name} {key:<17} {fmt(value)}")
    print(f"fixed-FP                {fmt(summary['fixed_fp'])}")
    print(f"any rule near the lines {fmt(summary['any_rule_near'])}")
    if summary["errors"]:
        print(f"not scored: {len(summary['errors'])}")
        for case_id, why in summary["errors"].items():
            print(f"  {case_id}: {why}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", action="append", default=[], help="only this case (repeatable)")
    parser.add_argument("--offline", action="store_true", help="use only the download cache")
    parser.add_argument("--json", type=Path, default=RESULTS, help="summary file to write")
    parser.add_argument("--cases", type=Path, default=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    cases = scoring.load_cases(args.cases)
    if args.case:
        unknown = set(args.case) - {c.id for c in cases}
        if unknown:
            parser.error(f"unknown case(s): {', '.join(sorted(unknown))}")
        cases = [c for c in cases if c.id in args.case]
    memo: dict[Path, list[scoring.Finding]] = {}
    started = time.monotonic()
    outcomes = []
    for case in cases:
        print(f"... {case.id}", file=sys.stderr, flush=True)
        outcomes.append(run_case(case, args.offline, memo))
    summary = scoring.summarise(outcomes)
    summary["date"] = date.today().isoformat()
    summary["riskhints_commit"] = riskhints_commit()
    summary["seconds"] = round(time.monotonic() - started, 1)
    print_report(summary, outcomes)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nwrote {args.json} ({summary['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
