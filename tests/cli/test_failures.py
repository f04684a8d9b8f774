"""``riskhints failures add | report | sync`` end to end, on temp workspaces (real git repos
where a commit matters)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from riskhints.cli import main

from ..failures.samples import LOCK_LINE, PRICES_BAD, PRICES_FIXED, SLEEP_LINE


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    root = tmp_path / "shop"
    (root / "app").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'shop'\n")
    (root / "app" / "prices.py").write_text(PRICES_BAD)
    monkeypatch.chdir(root)
    return root


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def test_add_logs_the_finding_at_the_line(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["failures", "add", f"app/prices.py:{LOCK_LINE}", "--note", "asked for a cache"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith(f"logged RH202 at app/prices.py:{LOCK_LINE} in refresh_price as ")
    assert out.rstrip().endswith("in .riskhints/failures.jsonl")
    [record] = _records(workspace / ".riskhints" / "failures.jsonl")
    assert record["status"] == "open" and record["path"] == "app/prices.py"
    assert record["note"] == "asked for a cache" and record["commit"] is None
    assert "with _prices_lock:" in str(record["code"])

    assert main(["failures", "add", f"app/prices.py:{LOCK_LINE}"]) == 0
    assert capsys.readouterr().out.startswith("already logged: RH202")
    assert len(_records(workspace / ".riskhints" / "failures.jsonl")) == 1


def test_add_from_a_subfolder_records_the_workspace_path_and_commit(
    workspace: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _git(workspace, "init", "-q")
    _git(workspace, "add", "-A")
    _git(workspace, "commit", "-q", "-m", "prices")
    monkeypatch.chdir(workspace / "app")
    assert main(["failures", "add", f"prices.py:{SLEEP_LINE}", "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    [record] = _records(workspace / ".riskhints" / "failures.jsonl")
    assert printed == record
    assert record["path"] == "app/prices.py" and record["rule"] == "RH101"
    assert record["commit"] == _git(workspace, "rev-parse", "HEAD")


def test_add_without_a_finding_there_is_a_usage_error(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["failures", "add", "app/prices.py:3"]) == 2
    assert "error: no finding at line 3" in capsys.readouterr().err
    assert main(["failures", "add", f"app/prices.py:{LOCK_LINE}", "--rule", "RH101"]) == 2
    assert f"no RH101 finding at line {LOCK_LINE} (findings there: RH202)" in (
        capsys.readouterr().err
    )
    assert main(["failures", "add", "app/prices.py"]) == 2
    assert "expected FILE:LINE" in capsys.readouterr().err
    assert main(["failures", "add", "app/missing.py:3"]) == 2
    assert not (workspace / ".riskhints").exists()


def test_the_failure_log_setting_moves_the_log(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace / "pyproject.toml").write_text(
        "[project]\nname = 'shop'\n\n[tool.riskhints]\nfailure-log = 'docs/ai-failures.jsonl'\n"
    )
    assert main(["failures", "add", f"app/prices.py:{LOCK_LINE}"]) == 0
    assert len(_records(workspace / "docs" / "ai-failures.jsonl")) == 1
    (workspace / "pyproject.toml").write_text("[tool.riskhints]\nfailure-log = '../x.jsonl'\n")
    assert main(["failures", "report"]) == 2
    assert "'failure-log' must stay inside the workspace" in capsys.readouterr().err


def test_a_file_in_no_workspace_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    (tmp_path / "scripts").mkdir()
    (tmp_path / "elsewhere").mkdir()
    script = tmp_path / "scripts" / "prices.py"
    script.write_text(PRICES_BAD)
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(["failures", "add", f"{script}:{LOCK_LINE}"]) == 2
    assert "refusing to write a failure log" in capsys.readouterr().err
    assert not any(tmp_path.rglob("failures.jsonl"))


def test_report_and_sync_end_to_end(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workspace / "app" / "quotes.py").write_text(PRICES_BAD)
    for location in (f"prices.py:{LOCK_LINE}", f"prices.py:{SLEEP_LINE}", f"quotes.py:{LOCK_LINE}"):
        assert main(["failures", "add", f"app/{location}"]) == 0
    capsys.readouterr()

    assert main(["failures", "report", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["logged"] == 3 and report["totals"]["open"] == 3

    # Only prices.py is fixed; syncing quotes.py alone resolves nothing.
    (workspace / "app" / "prices.py").write_text(PRICES_FIXED)
    assert main(["failures", "sync", "app/quotes.py"]) == 0
    assert capsys.readouterr().out == "0 resolved, 1 still open\n"
    assert main(["failures", "sync"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"resolved RH202 at app/prices.py:{LOCK_LINE} in refresh_price (fixed)",
        f"resolved RH101 at app/prices.py:{SLEEP_LINE} in poll_prices (fixed)",
        "2 resolved, 1 still open",
    ]
    records = _records(workspace / ".riskhints" / "failures.jsonl")
    resolved = [r for r in records if r["status"] == "resolved"]
    assert len(records) == 5 and len(resolved) == 2
    assert "async with _prices_lock:" in str(resolved[0]["code"])
    assert "    with _prices_lock:" in str(resolved[0]["original_code"])
    assert main(["failures", "sync"]) == 0  # idempotent
    assert capsys.readouterr().out == "0 resolved, 1 still open\n"

    assert main(["failures", "report", "--since", "7d"]) == 0
    page = capsys.readouterr().out
    assert "**3 failures logged: 1 open, 2 resolved**" in page
    assert "<th>As written</th><th>As fixed</th>" in page
    assert main(["failures", "report", "--since", "soon"]) == 2
    assert "expected a duration" in capsys.readouterr().err


def test_report_reads_a_named_log_and_writes_a_file(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["failures", "add", f"app/prices.py:{LOCK_LINE}", "--log", "team.jsonl"]) == 0
    out = workspace / "report.md"
    assert main(["failures", "report", "--log", "team.jsonl", "-o", str(out)]) == 0
    assert "**1 failure logged: 1 open, 0 resolved**" in out.read_text()
