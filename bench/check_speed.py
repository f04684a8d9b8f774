"""How fast is ``riskhints check`` on real code, next to ruff? A benchmark, not a test.

Run from the repository root (see bench/README.md)::

    PYTHONPATH=server .venv/bin/python bench/check_speed.py

It copies a fixed set of packages of the *installed* standard library into ``bench/corpus/``
(gitignored), then, in one process and with the tools alternating round by round:

* times ``riskhints check`` on the corpus cold (``--no-cache``), cold while filling a fresh
  cache folder, and warm (``--cache-dir`` of a filled folder), with ``--jobs`` at its default
  (one worker per core) and with ``--jobs 1``; and ``ruff check --select ASYNC,RUF006
  --no-cache --exit-zero`` as the speed anchor;
* records each child's peak RSS (``os.wait4``: the largest process of the child's tree);
* times ``analyze_source`` on one ~2,000-line real module in process, next to ``ast.parse``;
* runs ``riskhints check --format json`` once on the corpus and summarises the findings (per
  rule, any RH003 "not analysed"/internal error, a sample of each rule for review).

It prints a table and writes ``bench/results/check_speed.json`` and
``bench/results/corpus_findings.json``. Uses nothing but the standard library, the riskhints
source tree and ruff from the same environment.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
CORPUS = BENCH / "corpus"
RESULTS = BENCH / "results"

# Standard-library packages copied into the corpus, relative to the stdlib folder.
CORPUS_PACKAGES = (
    "asyncio",
    "concurrent",
    "multiprocessing",
    "http",
    "email",
    "logging",
    "json",
    "unittest",
    "importlib",
    "xmlrpc",
    "urllib",
    "test/test_asyncio",
)
# The single-module latency input: a real, async-heavy stdlib module of ~2,000 lines
# (1,947 on CPython 3.11).
LATENCY_MODULE = "asyncio/base_events.py"
# Settings file (inside the corpus, so the settings folder stays the corpus) for inference off.
OFF_CONFIG = "riskhints-off.toml"

TARGET_COLD_VS_RUFF = 10.0
TARGET_WARM_VS_RUFF = 1.0
TARGET_P95_MS = 50.0


# --------------------------------------------------------------------------------- corpus


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def build_corpus(rebuild: bool) -> dict[str, Any]:
    """Copy the packages (without caches) into bench/corpus; report what is in it."""
    source = stdlib_dir()
    missing: list[str] = []
    if rebuild and CORPUS.exists():
        shutil.rmtree(CORPUS)
    for package in CORPUS_PACKAGES:
        src, dst = source / package, CORPUS / package
        if not src.is_dir():
            missing.append(package)
            continue
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # The corpus is a project of its own, as a user's tree would be: a marker file makes it
    # the root (modules ``asyncio.*``, not ``bench.corpus.asyncio.*``, and only its own files
    # are walked), and a second settings file turns inference off for the ``*_off`` runs.
    (CORPUS / "riskhints.toml").write_text("# bench corpus: its own project, default settings\n")
    (CORPUS / OFF_CONFIG).write_text('inference = "off"\n')
    files = sorted(CORPUS.rglob("*.py"))
    lines = 0
    size = 0
    for path in files:
        data = path.read_bytes()
        size += len(data)
        lines += data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    return {
        "stdlib": str(source),
        "packages": [p for p in CORPUS_PACKAGES if p not in missing],
        "missing_packages": missing,
        "files": len(files),
        "lines": lines,
        "bytes": size,
    }


# ------------------------------------------------------------------------------- commands


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "server"), env.get("PYTHONPATH", "")) if p
    )
    # bench/corpus is gitignored by the repository, and riskhints asks git which files are
    # ignored: stop git's repository search at bench/ so the corpus counts as plain files
    # (ruff checks it either way: a folder named on its command line is walked in full).
    env["GIT_CEILING_DIRECTORIES"] = str(BENCH)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def riskhints_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "riskhints", *args]


def ruff_exe() -> str:
    beside = Path(sys.executable).parent / "ruff"
    if beside.exists():
        return str(beside)
    found = shutil.which("ruff")
    if found is None:
        sys.exit("bench: ruff not found beside the interpreter nor on PATH (pip install ruff)")
    return found


def corpus_arg() -> str:
    return CORPUS.relative_to(ROOT).as_posix()


@dataclass
class Run:
    wall_s: float
    maxrss_kib: int
    returncode: int


def run_timed(cmd: Sequence[str], env: dict[str, str]) -> Run:
    """Wall time and the peak RSS of the child (wait4: the child and the children it reaped,
    so a process pool's workers count), output discarded."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    if proc.returncode != 0:
        sys.exit(
            f"bench: {' '.join(cmd)} exited {proc.returncode}:\n{err.decode(errors='replace')}"
        )
    return Run(wall, usage.ru_maxrss, proc.returncode)


@dataclass
class Config:
    key: str
    label: str
    argv: Callable[[int], list[str]]  # round index (-1: warm-up) -> command line
    kind: str  # "ruff" | "riskhints"
    runs: list[Run] = field(default_factory=list)


def make_configs(tmp: Path, warm_dir: Path) -> list[Config]:
    corpus = corpus_arg()
    ruff = ruff_exe()

    def fresh(tag: str, i: int) -> str:
        path = tmp / f"fill-{tag}-{i}"
        shutil.rmtree(path, ignore_errors=True)
        return str(path)

    common = ("check", corpus, "--exit-zero", "-q")
    return [
        Config(
            "ruff",
            "ruff check --select ASYNC,RUF006 --no-cache",
            lambda i: [
                ruff,
                "check",
                "--select",
                "ASYNC,RUF006",
                "--no-cache",
                "--exit-zero",
                corpus,
            ],
            "ruff",
        ),
        Config(
            "cold",
            "riskhints cold (--no-cache)",
            lambda i: riskhints_cmd(*common, "--no-cache"),
            "riskhints",
        ),
        Config(
            "cold_fill",
            "riskhints cold, filling a fresh cache",
            lambda i: riskhints_cmd(*common, "--cache-dir", fresh("auto", i)),
            "riskhints",
        ),
        Config(
            "warm",
            "riskhints warm (--cache-dir, filled)",
            lambda i: riskhints_cmd(*common, "--cache-dir", str(warm_dir)),
            "riskhints",
        ),
        Config(
            "cold_off",
            "riskhints cold, inference off",
            lambda i: riskhints_cmd(*common, "--no-cache", "--config", f"{corpus}/{OFF_CONFIG}"),
            "riskhints",
        ),
        Config(
            "cold_j1",
            "riskhints cold --jobs 1",
            lambda i: riskhints_cmd(*common, "--no-cache", "--jobs", "1"),
            "riskhints",
        ),
        Config(
            "warm_j1",
            "riskhints warm --jobs 1",
            lambda i: riskhints_cmd(*common, "--cache-dir", str(warm_dir), "--jobs", "1"),
            "riskhints",
        ),
        Config(
            "cold_off_j1",
            "riskhints cold, inference off, --jobs 1",
            lambda i: riskhints_cmd(
                *common, "--no-cache", "--jobs", "1", "--config", f"{corpus}/{OFF_CONFIG}"
            ),
            "riskhints",
        ),
        Config(
            "startup",
            "riskhints --version (start-up floor)",
            lambda i: riskhints_cmd("--version"),
            "riskhints",
        ),
    ]


def summarise_runs(runs: list[Run], lines: int) -> dict[str, Any]:
    walls = [r.wall_s for r in runs]
    median = statistics.median(walls)
    return {
        "n": len(walls),
        "median_s": median,
        "min_s": min(walls),
        "max_s": max(walls),
        "all_s": walls,
        "lines_per_s_median": lines / median if median else None,
        "maxrss_mib": max(r.maxrss_kib for r in runs) / 1024,
    }


# -------------------------------------------------------------------------------- latency


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def time_calls(fn: Any, reps: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {
        "n": reps,
        "p50_ms": percentile(samples, 50),
        "p95_ms": percentile(samples, 95),
        "min_ms": samples[0],
        "max_ms": samples[-1],
        "mean_ms": statistics.fmean(samples),
    }


def measure_latency(reps: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "server"))
    from riskhints.analysis import analyze_source, parse_source

    module = CORPUS / LATENCY_MODULE
    text = module.read_text(encoding="utf-8")
    shown = module.relative_to(ROOT).as_posix()
    findings = analyze_source(text, shown)
    return {
        "module": f"stdlib {LATENCY_MODULE}",
        "path": shown,
        "lines": text.count("\n"),
        "findings": len(findings),
        "analyze_source": time_calls(lambda: analyze_source(text, shown), reps, 10),
        "parse_source": time_calls(lambda: parse_source(text, shown), reps, 10),
        "ast_parse": time_calls(lambda: ast.parse(text, shown), reps, 10),
    }


def measure_phases() -> dict[str, Any]:
    """Where one in-process pass over the corpus spends its time: parsing, building the facts,
    and each rule (the engine's own entry points, timed piece by piece, no profiler overhead).
    Leans on engine internals (RuleContext, Program): on an API change it reports the error."""
    sys.path.insert(0, str(ROOT / "server"))
    try:
        from riskhints.analysis.engine import decode_source, finalize, parse_source
        from riskhints.analysis.options import AnalysisOptions
        from riskhints.analysis.rules import all_rules, ensure_loaded
        from riskhints.analysis.rules.registry import RuleContext
        from riskhints.analysis.summaries import Program

        ensure_loaded()
        totals: dict[str, float] = defaultdict(float)
        clock = time.perf_counter
        for path in sorted(CORPUS.rglob("*.py")):
            shown = path.relative_to(ROOT).as_posix()
            text = decode_source(path.read_bytes())
            start = clock()
            ast.parse(text, shown)
            totals["ast.parse (reference, not in total)"] += clock() - start
            start = clock()
            parsed = parse_source(text, shown)
            totals["parse_source: ast.parse + build_module_facts"] += clock() - start
            if parsed.facts is None:
                continue
            start = clock()
            ctx = RuleContext(parsed.facts, Program([parsed.facts]))
            totals["Program + RuleContext"] += clock() - start
            for spec in all_rules():
                start = clock()
                list(spec.check(ctx))
                name = f"{spec.check.__module__.rsplit('.', 1)[-1]}.{spec.check.__name__}"
                totals[f"rule {spec.id} ({name})"] += clock() - start
            start = clock()
            finalize([], parsed, AnalysisOptions())
            totals["finalize (suppressions, order)"] += clock() - start
    except Exception as error:  # noqa: BLE001 - a benchmark reports, it does not crash
        return {"error": f"{type(error).__name__}: {error}"}
    total = sum(v for k, v in totals.items() if not k.startswith("ast.parse"))
    rows = sorted(totals.items(), key=lambda kv: -kv[1])
    return {
        "total_s": total,
        "phases": [{"phase": k, "s": v, "share": v / total if total else 0.0} for k, v in rows],
    }


# ------------------------------------------------------------------------------- findings


def review_findings(env: dict[str, str], per_rule: int) -> dict[str, Any]:
    """One JSON run on the corpus: counts per rule, RH003 messages, samples for review."""
    cmd = riskhints_cmd("check", corpus_arg(), "--no-cache", "--format", "json", "--exit-zero")
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr}")
    report = json.loads(proc.stdout)
    findings = report["findings"]
    by_rule: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for finding in findings:
        by_rule[finding["rule"]].append(finding)
    source_lines: dict[str, list[str]] = {}

    def line_of(path: str, line: int) -> str:
        if path not in source_lines:
            try:
                source_lines[path] = (ROOT / path).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                source_lines[path] = []
        lines = source_lines[path]
        return lines[line - 1].strip() if 0 < line <= len(lines) else ""

    samples: dict[str, list[dict[str, Any]]] = {}
    for rule, items in sorted(by_rule.items()):
        # Spread the sample over files: first one finding per file, then the rest.
        firsts: dict[str, int] = {}
        for index, finding in enumerate(items):
            firsts.setdefault(finding["path"], index)
        order = sorted(range(len(items)), key=lambda i: (i not in firsts.values(), i))
        chosen = [items[i] for i in order[:per_rule]]
        samples[rule] = [
            {
                "where": f"{f['path']}:{f['line']}:{f['column']}",
                "function": f.get("function"),
                "message": f["message"],
                "code": line_of(f["path"], f["line"]),
                "evidence": [
                    f"{e.get('path') or f['path']}:{e.get('line')}: {e.get('message')}"
                    for e in f.get("evidence", [])
                ],
            }
            for f in chosen
        ]
    return {
        "command": " ".join(cmd[2:]),
        "wall_s": wall,
        "files_checked": report.get("files_checked"),
        "total": len(findings),
        "per_rule": dict(sorted(Counter(f["rule"] for f in findings).items())),
        "rh003": [f"{f['path']}:{f['line']}: {f['message']}" for f in by_rule.get("RH003", [])],
        "stderr_tracebacks": proc.stderr.count("Traceback"),
        "stderr_head": proc.stderr[:2000],
        "samples": samples,
    }


# ----------------------------------------------------------------------------------- main


def tool_versions(env: dict[str, str]) -> dict[str, str]:
    def out(cmd: list[str]) -> str:
        return subprocess.run(
            cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False
        ).stdout.strip()

    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "riskhints": out(riskhints_cmd("--version")),
        "ruff": out([ruff_exe(), "--version"]),
        "platform": platform.platform(),
        "cpus": str(os.cpu_count()),
    }


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "server")
    return {"commit": git("rev-parse", "HEAD"), "server_dirty": bool(dirty)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument(
        "--latency-reps", type=int, default=100, help="analyze_source repetitions (default 100)"
    )
    parser.add_argument(
        "--samples", type=int, default=10, help="sample findings kept per rule (default 10)"
    )
    parser.add_argument(
        "--rebuild-corpus", action="store_true", help="delete bench/corpus and copy it again"
    )
    parser.add_argument("--no-findings", action="store_true", help="skip the findings summary run")
    parser.add_argument(
        "--no-phases",
        action="store_true",
        help="skip the per-phase (parse, facts, each rule) breakdown",
    )
    parser.add_argument(
        "--only",
        default="",
        metavar="KEYS",
        help="time only these commands (comma-separated keys, ruff always; default all)",
    )
    parser.add_argument("--no-latency", action="store_true", help="skip the in-process latency")
    args = parser.parse_args(argv)

    began = time.perf_counter()
    env = child_env()
    corpus = build_corpus(args.rebuild_corpus)
    if corpus["missing_packages"]:
        print(f"note: not installed in {corpus['stdlib']}: {', '.join(corpus['missing_packages'])}")
    lines = corpus["lines"]
    print(f"corpus: {corpus['files']} files, {lines:,} lines from {corpus['stdlib']}")
    versions = tool_versions(env)
    print("tools: " + ", ".join(f"{k} {v}" for k, v in versions.items()))

    results: dict[str, Any] = {
        "corpus": corpus,
        "versions": versions,
        "git": git_state(),
        "loadavg_before": os.getloadavg(),
    }

    findings: dict[str, Any] | None = None
    if not args.no_findings:
        findings = review_findings(env, args.samples)
        if findings["files_checked"] != corpus["files"]:
            sys.exit(
                f"bench: riskhints checked {findings['files_checked']} of "
                f"{corpus['files']} corpus files; discovery is skipping some"
            )
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "corpus_findings.json").write_text(json.dumps(findings, indent=2) + "\n")

    with tempfile.TemporaryDirectory(prefix="riskhints-bench-") as tmp_name:
        tmp = Path(tmp_name)
        warm_dir = tmp / "warm"
        configs = make_configs(tmp, warm_dir)
        if args.only:
            keep = {"ruff", *args.only.split(",")}
            if any(k.startswith("warm") for k in keep):
                keep.add("cold_fill")  # not needed for the warm cache, but keeps it honest
            configs = [c for c in configs if c.key in keep]
        # Warm-up round (not counted): fills the warm cache and the OS page cache.
        for config in configs:
            run_timed(config.argv(-1), env)
        for i in range(args.rounds):
            for config in configs:
                config.runs.append(run_timed(config.argv(i), env))
            print(f"round {i + 1}/{args.rounds} done", flush=True)

    timing = {c.key: {"label": c.label, **summarise_runs(c.runs, lines)} for c in configs}
    ruff_median = timing["ruff"]["median_s"]
    for row in timing.values():
        row["vs_ruff_median"] = row["median_s"] / ruff_median if ruff_median else None
        row["vs_ruff_min"] = row["min_s"] / timing["ruff"]["min_s"]
    results["timing"] = timing
    results["targets"] = {}
    if "cold" in timing:
        results["targets"]["cold_vs_ruff"] = {
            "target": f"<= {TARGET_COLD_VS_RUFF:g}x",
            "measured": timing["cold"]["vs_ruff_median"],
            "met": timing["cold"]["vs_ruff_median"] <= TARGET_COLD_VS_RUFF,
        }
    if "warm" in timing:
        results["targets"]["warm_vs_ruff"] = {
            "target": f"<= {TARGET_WARM_VS_RUFF:g}x",
            "measured": timing["warm"]["vs_ruff_median"],
            "met": timing["warm"]["vs_ruff_median"] <= TARGET_WARM_VS_RUFF,
        }

    if not args.no_latency:
        latency = measure_latency(args.latency_reps)
        results["latency"] = latency
        results["targets"]["single_module_p95"] = {
            "target": f"<= {TARGET_P95_MS:g} ms",
            "measured": latency["analyze_source"]["p95_ms"],
            "met": latency["analyze_source"]["p95_ms"] <= TARGET_P95_MS,
        }
    if not args.no_phases:
        results["phases"] = measure_phases()
    if findings is not None:
        results["findings"] = {k: v for k, v in findings.items() if k != "samples"}
    results["rounds"] = args.rounds
    results["loadavg_after"] = os.getloadavg()
    results["bench_wall_s"] = time.perf_counter() - began

    print_report(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "check_speed.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"\nwrote {out.relative_to(ROOT)}"
        + (f" and {(RESULTS / 'corpus_findings.json').relative_to(ROOT)}" if findings else "")
    )
    return 0


def print_report(results: dict[str, Any]) -> None:
    corpus, timing = results["corpus"], results["timing"]
    load = ", ".join(f"{x:.2f}" for x in results["loadavg_before"])
    print(
        f"\nload average before: {load}; riskhints at {results['git']['commit'][:12]}"
        + (" + uncommitted changes in server/" if results["git"]["server_dirty"] else "")
    )
    print(
        f"\n== whole corpus: {corpus['files']} files, {corpus['lines']:,} lines, "
        f"{results['rounds']} rounds (+1 warm-up), {results['versions']['cpus']} cpus"
    )
    header = (
        f"{'command':44} {'median s':>9} {'min s':>8} {'lines/s':>10} {'x ruff':>7} {'RSS MiB':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in timing.values():
        print(
            f"{row['label']:44} {row['median_s']:9.3f} {row['min_s']:8.3f} "
            f"{row['lines_per_s_median']:10,.0f} {row['vs_ruff_median']:7.1f} "
            f"{row['maxrss_mib']:8.1f}"
        )
    lat = results.get("latency")
    if lat is not None:
        print(
            f"\n== single module: {lat['module']} ({lat['lines']:,} lines, "
            f"{lat['findings']} findings), {lat['analyze_source']['n']} reps"
        )
        print(f"{'step':44} {'p50 ms':>9} {'p95 ms':>8} {'min ms':>8} {'max ms':>8}")
        for key in ("analyze_source", "parse_source", "ast_parse"):
            row = lat[key]
            label = {
                "analyze_source": "analyze_source (everything)",
                "parse_source": "  of which parse_source (ast + facts)",
                "ast_parse": "ast.parse alone (reference)",
            }[key]
            print(
                f"{label:44} {row['p50_ms']:9.2f} {row['p95_ms']:8.2f} {row['min_ms']:8.2f} "
                f"{row['max_ms']:8.2f}"
            )
    print("\n== targets")
    for name, target in results["targets"].items():
        mark = "met" if target["met"] else "NOT MET"
        print(f"{name:24} {target['target']:>10}  measured {target['measured']:.2f}  {mark}")
    phases = results.get("phases")
    if phases and "error" in phases:
        print(f"\n== phases: not measured ({phases['error']})")
    elif phases:
        print(
            f"\n== where the time goes (one in-process pass, --jobs 1 equivalent, "
            f"{phases['total_s']:.2f} s)"
        )
        for row in phases["phases"]:
            if row["s"] >= 0.005:
                print(f"  {row['s']:7.3f} s {100 * row['share']:5.1f}%  {row['phase']}")
    findings = results.get("findings")
    if findings:
        print(
            f"\n== findings on the corpus ({findings['total']} total, "
            f"{findings['files_checked']} files, {findings['wall_s']:.2f} s)"
        )
        print("  " + ", ".join(f"{rule} {n}" for rule, n in findings["per_rule"].items()))
        print(f"  RH003 (not analysed / internal error): {len(findings['rh003'])}")
        for line in findings["rh003"][:20]:
            print(f"    {line}")
        if findings["stderr_tracebacks"]:
            print(f"  tracebacks on stderr: {findings['stderr_tracebacks']}")
    print(f"\nbench took {results['bench_wall_s']:.0f} s")


if __name__ == "__main__":
    raise SystemExit(main())
