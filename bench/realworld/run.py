"""The real-project precision loop: riskhints on pinned releases of real async projects, scored
against the committed triage (bench/realworld/triage.csv). A benchmark, not a test (network).

Run from the repository root (see bench/realworld/README.md)::

    .venv/bin/python bench/realworld/run.py [--project NAME ...] [--offline] [--jobs N]

For each project of projects.toml: ``pip download --no-deps --only-binary=:all:`` of the pinned
release (the wheels of these projects hold their Python source; an sdist would have to be built
to be read, which runs the project's build code) into ``~/.cache/riskhints-bench/realworld/``
(``$RISKHINTS_BENCH_CACHE`` overrides), the ``analyse`` folders extracted into a tree of their own
(so paths are the distribution's and module names the project's own), then the installed
``riskhints check --format json --no-cache`` with default settings on it, timed (wall, and the
CPU of the child and the workers it reaped, from ``os.wait4``). Nothing downloaded is written
inside the repository; the JSON summary goes to ``bench/results/realworld.json`` (gitignored).

``--worksheet FILE`` also writes the untriaged findings as triage rows with an empty verdict and
the message, for a person to fill in (outside the repository: messages quote the project's names).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

import scoring  # noqa: E402  (a sibling module of this script, not a package)

PROJECTS = HERE / "projects.toml"
TRIAGE = HERE / "triage.csv"
RESULTS = ROOT / "bench" / "results" / "realworld.json"
TREE_MARK = ".riskhints-bench-tree"  # written last: a tree without it was cut short


class BenchError(RuntimeError):
    pass


def cache_root() -> Path:
    override = os.environ.get("RISKHINTS_BENCH_CACHE")
    base = Path(override) if override else Path.home() / ".cache" / "riskhints-bench"
    return base / "realworld"


def fetch_wheel(project: scoring.Project, cache: Path, offline: bool) -> Path:
    folder = cache / "downloads" / f"{project.name}-{project.version}"
    wheels = sorted(folder.glob("*.whl")) if folder.is_dir() else []
    if wheels:
        return wheels[0]
    if offline:
        raise BenchError(
            f"{project.name} {project.version}: not in the cache ({folder}), --offline"
        )
    folder.mkdir(parents=True, exist_ok=True)
    # This machine's pip may carry a constraints file (pins unrelated to us): not wanted here.
    env = {**os.environ, "PIP_CONSTRAINT": ""}
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet"]
    cmd += ["-d", str(folder), f"{project.name}=={project.version}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    wheels = sorted(folder.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise BenchError(f"{project.name}=={project.version}: pip download failed: {tail}")
    return wheels[0]


def lay_out_tree(project: scoring.Project, wheel: Path, cache: Path) -> Path:
    """The project's ``analyse`` folders from the wheel, under a tree of its own."""
    tree = cache / "trees" / f"{project.name}-{project.version}"
    if (tree / TREE_MARK).is_file():
        return tree
    if tree.exists():
        subprocess.run(["rm", "-rf", str(tree)], check=True, timeout=300)
    tree.mkdir(parents=True)
    wanted = tuple(f"{top}/" for top in project.analyse)
    with zipfile.ZipFile(wheel) as archive:
        members = [n for n in archive.namelist() if n.startswith(wanted) and not n.endswith("/")]
        for name in members:
            target = tree / name
            if ".." in Path(name).parts:
                raise BenchError(f"{wheel.name}: unsafe member {name}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(name))
    missing = [top for top in project.analyse if not (tree / top).is_dir()]
    if missing:
        raise BenchError(f"{wheel.name}: no folder {', '.join(missing)} in the wheel")
    # The project root for riskhints (default settings: no [tool.riskhints] table).
    (tree / "pyproject.toml").write_text(f'[project]\nname = "{project.name}"\n', encoding="utf-8")
    (tree / TREE_MARK).write_text(wheel.name + "\n", encoding="utf-8")
    return tree


def measure_tree(tree: Path, project: scoring.Project) -> tuple[int, int]:
    files = lines = 0
    for top in project.analyse:
        for path in sorted((tree / top).rglob("*.py")):
            files += 1
            lines += scoring.count_lines(path.read_text(encoding="utf-8", errors="replace"))
    return files, lines


def riskhints_command() -> list[str]:
    beside = Path(sys.executable).parent / "riskhints"
    return [str(beside)] if beside.is_file() else [sys.executable, "-m", "riskhints"]


def run_riskhints(
    project: scoring.Project, tree: Path, jobs: int | None
) -> tuple[dict[str, Any], float, float]:
    """The JSON report, wall seconds, CPU seconds (child plus the workers it reaped)."""
    with tempfile.TemporaryDirectory(prefix="riskhints-realworld-") as scratch:
        report_path = Path(scratch) / "report.json"
        cmd = [*riskhints_command(), "check", "--format", "json", "--no-cache", "--exit-zero"]
        cmd += ["--quiet", "-o", str(report_path)]
        if jobs is not None:
            cmd += ["--jobs", str(jobs)]
        cmd += list(project.analyse)
        # git must not see a repository above the cache (it would decide what is ignored).
        env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(tree.parent)}
        err_path = Path(scratch) / "stderr.txt"
        with err_path.open("wb") as err:
            start = time.perf_counter()
            proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=err)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        stderr = err_path.read_text(encoding="utf-8", errors="replace")
        if proc.returncode != 0 or not report_path.is_file():
            raise BenchError(f"{project.name}: riskhints exited {proc.returncode}: {stderr[-500:]}")
        if "Traceback" in stderr:
            print(f"warning: {project.name}: riskhints printed a traceback:\n{stderr[-800:]}")
        text = report_path.read_text(encoding="utf-8")
    # Kept beside the tree (outside the repository) for triage: the evidence of each finding.
    saved_report(tree).parent.mkdir(exist_ok=True)
    saved_report(tree).write_text(text, encoding="utf-8")
    return json.loads(text), wall, usage.ru_utime + usage.ru_stime


def saved_report(tree: Path) -> Path:
    return tree.parent.parent / "reports" / f"{tree.name}.json"


def run_project(
    project: scoring.Project, cache: Path, offline: bool, jobs: int | None, rescore: bool = False
) -> scoring.ProjectRun:
    wheel = fetch_wheel(project, cache, offline)
    tree = lay_out_tree(project, wheel, cache)
    files, lines = measure_tree(tree, project)
    if rescore:
        if not saved_report(tree).is_file():
            raise BenchError(f"{project.name}: no saved report to re-score ({saved_report(tree)})")
        report, wall, cpu = json.loads(saved_report(tree).read_text(encoding="utf-8")), 0.0, 0.0
    else:
        report, wall, cpu = run_riskhints(project, tree, jobs)
    if report.get("files_checked", files) != files:
        print(
            f"warning: {project.name}: riskhints checked {report.get('files_checked')} files "
            f"of {files}"
        )
    findings = scoring.findings_from_report(report, project.name)
    return scoring.ProjectRun(project, lines, files, findings, wall, cpu)


def git_commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        proc = subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=60
        )
        return proc.stdout.strip()

    return {
        "commit": git("rev-parse", "HEAD"),
        "server_dirty": bool(git("status", "--porcelain", "server")),
    }


def write_worksheet(path: Path, result: scoring.Score) -> None:
    rows = [
        scoring.TriageRow(
            f.project, version_of(result, f.project), f.path, f.line, f.rule, "", f.message
        )
        for f in result.untriaged
    ]
    path.write_text(scoring.format_triage(rows), encoding="utf-8")


def version_of(result: scoring.Score, name: str) -> str:
    return next(run.project.version for run in result.runs if run.project.name == name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", action="append", help="only this project (repeatable)")
    parser.add_argument("--offline", action="store_true", help="use the download cache only")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="projects checked at once (default 1: riskhints then uses its own default workers; "
        "with more, each riskhints run gets --jobs 1)",
    )
    parser.add_argument(
        "--rescore",
        action="store_true",
        help="score the reports saved by the last run against the triage (no riskhints run)",
    )
    parser.add_argument("--worksheet", type=Path, help="write untriaged findings as triage rows")
    parser.add_argument("--output", type=Path, default=RESULTS, help="the JSON summary")
    args = parser.parse_args(argv)

    projects = scoring.parse_projects(tomllib.loads(PROJECTS.read_text(encoding="utf-8")))
    if args.project:
        unknown = sorted(set(args.project) - {p.name for p in projects})
        if unknown:
            parser.error(f"unknown project(s): {', '.join(unknown)}")
        projects = [p for p in projects if p.name in args.project]
    rows = scoring.parse_triage(TRIAGE.read_text(encoding="utf-8")) if TRIAGE.is_file() else []
    cache = cache_root()
    load_before = os.getloadavg()
    riskhints_jobs = None if args.jobs <= 1 else 1
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [
            pool.submit(run_project, p, cache, args.offline, riskhints_jobs, args.rescore)
            for p in projects
        ]
        runs = []
        failed = []
        for project, future in zip(projects, futures, strict=True):
            try:
                runs.append(future.result())
            except BenchError as error:
                failed.append(f"{project.name}: {error}")
    elapsed = time.perf_counter() - started
    result = scoring.score(runs, rows)
    print(scoring.format_report(result))
    for failure in failed:
        print(f"FAILED {failure}")
    print(f"\nwhole run {elapsed:.0f} s, load average before {load_before[0]:.1f}")

    summary = scoring.summary(result)
    summary.update(
        {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "riskhints": git_commit(),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "load_average_before": load_before[0],
            "load_average_after": os.getloadavg()[0],
            "whole_run_s": round(elapsed, 1),
            "jobs": args.jobs,
            "failed": failed,
        }
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if args.worksheet:
        write_worksheet(args.worksheet, result)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
