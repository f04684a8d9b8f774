"""Adopting riskhints on an existing codebase from the command line: ``--fix``/``--diff`` with
the editor's quick fixes (safe ones unless ``--unsafe-fixes``; the result always compiles),
``--add-noqa`` and ``--baseline`` (robust to lines moving), ``--statistics`` and the
``github`` annotations."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from riskhints.cli import main

WORKER = textwrap.dedent(
    """\
    import asyncio
    import threading
    import time

    import requests


    class InventorySync:
        def __init__(self, warehouse):
            self._warehouse = warehouse
            self._guard = threading.Lock()
            self._pending = {}

        async def poll(self, sku):
            time.sleep(0.2)
            return await self._warehouse.stock(sku)

        async def refresh(self, sku):
            return requests.get(f"https://warehouse.invalid/{sku}")

        async def schedule(self, sku):
            asyncio.create_task(self.poll(sku))

        async def record(self, sku, count):
            with self._guard:
                await self._warehouse.save(sku, count)
    """
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'inventory'\n")
    (tmp_path / "sync").mkdir()
    (tmp_path / "sync" / "__init__.py").write_text("")
    (tmp_path / "sync" / "worker.py").write_text(WORKER)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def rules_of(capsys, *args: str) -> list[str]:
    code, out, _ = run(capsys, "check", "--output-format", "json", *args)
    return [f["rule"] for f in json.loads(out)["findings"]]


def test_diff_shows_the_safe_fixes_and_changes_nothing(project: Path, capsys) -> None:
    before = (project / "sync" / "worker.py").read_text()
    code, out, err = run(capsys, "check", "--diff", ".")
    assert code == 1
    assert out.startswith("--- a/sync/worker.py\n+++ b/sync/worker.py\n")
    assert "+        await asyncio.sleep(0.2)" in out
    assert "+        task = asyncio.create_task(self.poll(sku))" in out
    assert "asyncio.to_thread" not in out and "async with self._guard" not in out  # unsafe
    assert "would fix 2 findings in 1 file" in err
    assert (project / "sync" / "worker.py").read_text() == before


def test_fix_applies_safe_fixes_reports_what_is_left_and_leaves_valid_python(
    project: Path, capsys
) -> None:
    assert sorted(rules_of(capsys, ".")) == ["RH101", "RH101", "RH202", "RH301"]
    code, out, err = run(capsys, "check", "--fix", "--output-format", "concise", ".")
    assert code == 1 and "fixed 2 findings in 1 file" in err
    assert "RH301" not in out and "time.sleep" not in out and "requests.get()" in out
    fixed = (project / "sync" / "worker.py").read_text()
    compile(fixed, "worker.py", "exec")
    assert sorted(rules_of(capsys, ".")) == ["RH101", "RH202"]


def test_unsafe_fixes_apply_the_rest(project: Path, capsys) -> None:
    code, _, err = run(capsys, "check", "--fix", "--unsafe-fixes", ".")
    fixed = (project / "sync" / "worker.py").read_text()
    compile(fixed, "worker.py", "exec")
    assert "await asyncio.to_thread(requests.get" in fixed
    assert "async with self._guard:" in fixed and "asyncio.Lock()" in fixed
    assert "fixed 4 findings in 1 file" in err
    assert code == 0 and rules_of(capsys, ".") == []


def test_fix_never_touches_a_file_that_does_not_compile(project: Path, capsys) -> None:
    broken = WORKER + "\n    def half(:\n"
    (project / "sync" / "worker.py").write_text(broken)
    run(capsys, "check", "--fix", "--unsafe-fixes", ".")
    assert (project / "sync" / "worker.py").read_text() == broken


def test_unsafe_fixes_need_fix_or_diff(project: Path, capsys) -> None:
    code, _, err = run(capsys, "check", "--unsafe-fixes", ".")
    assert code == 2 and "--unsafe-fixes goes with --fix or --diff" in err


def test_add_noqa_suppresses_every_finding_with_a_reason_placeholder(project: Path, capsys) -> None:
    code, _, err = run(capsys, "check", "--add-noqa", ".")
    assert code == 0 and "suppressed 4 findings in 1 file" in err
    text = (project / "sync" / "worker.py").read_text()
    compile(text, "worker.py", "exec")
    assert "time.sleep(0.2)  # riskhints: ignore[RH101] -- <why this is safe>" in text
    assert text.count("# riskhints: ignore[") == 4
    assert rules_of(capsys, ".") == []
    # Run again: nothing more to add.
    assert run(capsys, "check", "--add-noqa", ".")[0] == 0
    assert (project / "sync" / "worker.py").read_text() == text


def test_baseline_records_today_and_reports_only_new_findings(
    project: Path, capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run(capsys, "check", "--baseline", "riskhints-baseline.json", ".")
    assert code == 0 and "recorded 4 findings in riskhints-baseline.json" in err
    recorded = json.loads((project / "riskhints-baseline.json").read_text())
    assert {e["path"] for e in recorded["findings"]} == {"sync/worker.py"}
    # Lines move (an import and a method above), and a new hazard appears below.
    moved = WORKER.replace("import time\n", "import logging\nimport time\n").replace(
        "    async def poll(",
        "    def describe(self):\n        return 'sync'\n\n    async def poll(",
    )
    moved += "\n    async def drain(self):\n        time.sleep(1)\n"
    (project / "sync" / "worker.py").write_text(moved)
    # From another folder: the baseline's paths are relative to the baseline, not the cwd.
    monkeypatch.chdir(project / "sync")
    code, out, err = run(
        capsys, "check", "--output-format", "json", "--baseline", "../riskhints-baseline.json", ".."
    )
    assert code == 1
    assert [(f["rule"], f["function"]) for f in json.loads(out)["findings"]] == [
        ("RH101", "InventorySync.drain")
    ]
    assert "4 findings recorded in ../riskhints-baseline.json not shown" in err
    # A second copy of a recorded hazard is new too.
    copy = moved.replace("        time.sleep(0.2)\n", "        time.sleep(0.2)\n" * 2)
    (project / "sync" / "worker.py").write_text(copy)
    assert len(rules_of(capsys, "--baseline", "../riskhints-baseline.json", "..")) == 2
    # --update-baseline records today's findings again.
    run(capsys, "check", "--baseline", "../riskhints-baseline.json", "--update-baseline", "..")
    assert rules_of(capsys, "--baseline", "../riskhints-baseline.json", "..") == []


def test_a_broken_baseline_is_an_error_naming_the_file(project: Path, capsys) -> None:
    (project / "old.json").write_text("[1, 2")
    code, _, err = run(capsys, "check", "--baseline", "old.json", ".")
    assert code == 2 and "old.json: not a riskhints baseline" in err


def test_statistics_counts_findings_by_rule(project: Path, capsys) -> None:
    code, out, _ = run(capsys, "check", "--statistics", "--output-format", "concise", ".")
    assert code == 1
    head = out.splitlines()[:3]
    assert head[0].split()[:3] == ["2", "RH101", "blocking-call-in-async"]
    assert {line.split()[1] for line in head[1:]} == {"RH202", "RH301"}
    assert out.splitlines()[-1].startswith("Found 4 findings")
    code, out, _ = run(capsys, "check", "--statistics", "--quiet", ".")
    assert code == 1 and out.splitlines() == head
    code, out, _ = run(capsys, "check", "--statistics", "--output-format", "json", ".")
    rows = json.loads(out)
    assert rows[0] == {
        "code": "RH101",
        "name": "blocking-call-in-async",
        "count": 2,
        "summary": rows[0]["summary"],
    }


def test_github_format_writes_workflow_annotations(project: Path, capsys) -> None:
    code, out, _ = run(capsys, "check", "--output-format", "github", ".")
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith(
        "::warning file=sync/worker.py,line=15,col=9,endLine=15,endColumn=24,"
        "title=riskhints RH101::RH101 `time.sleep()` sleeps"
    )
    record = next(line for line in lines if "RH202" in line)
    assert (
        record.startswith("::error ") and "%0A  sync/worker.py:25: self._guard taken here" in record
    )


def test_json_fix_is_present_only_where_a_fix_is_offered(project: Path, capsys) -> None:
    code, out, _ = run(capsys, "check", "--output-format", "json", ".")
    fixes = {f["message"].split()[0]: f["fix"] for f in json.loads(out)["findings"]}
    assert fixes["`time.sleep()`"] == {
        "title": "Use `await asyncio.sleep(...)`",
        "applicability": "safe",
    }
    assert fixes["`requests.get()`"]["applicability"] == "unsafe"


def test_fix_keeps_crlf_line_endings_byte_for_byte(project: Path, capsys) -> None:
    worker = project / "sync" / "worker.py"
    worker.write_bytes(WORKER.replace("\n", "\r\n").encode())
    code, _, err = run(capsys, "check", "--fix", "--unsafe-fixes", ".")
    data = worker.read_bytes()
    assert "fixed 4 findings in 1 file" in err and code == 0
    assert data.count(b"\n") == data.count(b"\r\n")  # no line lost its CR, none gained a bare LF
    assert b"await asyncio.to_thread(requests.get" in data
    compile(data, "worker.py", "exec")
