"""``riskhints check`` and ``riskhints rules`` end to end, on real files in temp folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from riskhints.cli import main

ROOT = Path(__file__).resolve().parents[2]

LOCK_ACROSS_AWAIT = textwrap.dedent(
    """\
    import threading

    _lock = threading.Lock()


    async def refresh(client, key):
        with _lock:
            data = await client.fetch(key)
        return data
    """
)

CLEAN = textwrap.dedent(
    """\
    import asyncio

    _lock = asyncio.Lock()


    async def refresh(client, key):
        async with _lock:
            return await client.fetch(key)
    """
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_text_report_has_location_rule_and_indented_evidence(project: Path, capsys) -> None:
    (project / "cache.py").write_text(LOCK_ACROSS_AWAIT)
    code, out, _ = run(capsys, "check", "--output-format", "text", "cache.py")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("cache.py:8:16: RH202 [error] thread lock `_lock`")
    assert lines[1] == "    cache.py:7:10: _lock taken here"
    assert lines[-1] == "Found 1 finding (1 error) in 1 file."


def test_full_report_is_the_default_with_source_carets_evidence_and_advice(
    project: Path, capsys
) -> None:
    (project / "cache.py").write_text(LOCK_ACROSS_AWAIT)
    code, out, _ = run(capsys, "check", "cache.py")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("cache.py:8:16: RH202 [error] thread lock `_lock`")
    assert lines[1] == "  8 |         data = await client.fetch(key)"
    assert lines[2] == "    |                " + "^" * len("await client.fetch(key)")
    assert lines[3] == "    cache.py:7:10: _lock taken here"
    assert lines[4].startswith("  Instead: Use `asyncio.Lock` with `async with`")
    assert lines[-1] == "Found 1 finding (1 error) in 1 file."


def test_concise_report_is_one_line_per_finding(project: Path, capsys) -> None:
    (project / "cache.py").write_text(LOCK_ACROSS_AWAIT)
    code, out, _ = run(capsys, "check", "--output-format", "concise", "cache.py")
    assert code == 1
    assert len(out.splitlines()) == 2
    assert out.splitlines()[0].startswith("cache.py:8:16: RH202 [error] thread lock")


def test_clean_file_exits_zero(project: Path, capsys) -> None:
    (project / "cache.py").write_text(CLEAN)
    code, out, _ = run(capsys, "check", ".")
    assert code == 0
    assert out.strip() == "All clear: no findings in 1 file."


def test_exit_zero_keeps_the_report(project: Path, capsys) -> None:
    (project / "cache.py").write_text(LOCK_ACROSS_AWAIT)
    code, out, _ = run(capsys, "check", "--exit-zero", "cache.py")
    assert code == 0
    assert "RH202" in out


def test_json_report_shape(project: Path, capsys) -> None:
    (project / "cache.py").write_text(LOCK_ACROSS_AWAIT)
    code, out, _ = run(capsys, "check", "--format", "json", ".")
    assert code == 1
    document = json.loads(out)
    assert document["files_checked"] == 1
    [finding] = document["findings"]
    assert finding["path"] == "cache.py"
    assert finding["rule"] == "RH202"
    assert finding["severity"] == "error"
    assert (finding["line"], finding["column"]) == (8, 16)
    assert (finding["end_line"], finding["end_column"]) == (8, 39)
    assert finding["evidence"][0]["line"] == 7
    assert finding["assumptions"] and "_lock" in finding["assumptions"][0]


def test_select_and_ignore(project: Path, capsys) -> None:
    (project / "cache.py").write_text(LOCK_ACROSS_AWAIT)
    assert run(capsys, "check", "--select", "RH1", ".")[0] == 0
    assert run(capsys, "check", "--select", "RH2", ".")[0] == 1
    assert run(capsys, "check", "--ignore", "RH202", ".")[0] == 0
    assert run(capsys, "check", "--select", "RH1,RH202", ".")[0] == 1


def test_pyproject_severity_override_and_ignore(project: Path, capsys) -> None:
    (project / "cache.py").write_text(LOCK_ACROSS_AWAIT)
    (project / "pyproject.toml").write_text(
        '[tool.riskhints]\nexclude = ["generated"]\n[tool.riskhints.severity]\nRH202 = "info"\n'
    )
    (project / "generated").mkdir()
    (project / "generated" / "copy.py").write_text(LOCK_ACROSS_AWAIT)
    code, out, _ = run(capsys, "check", ".")
    assert code == 1
    assert "cache.py:8:16: RH202 [info]" in out
    assert "generated" not in out


def test_unknown_config_key_is_a_clear_error(project: Path, capsys) -> None:
    (project / "cache.py").write_text(CLEAN)
    (project / "pyproject.toml").write_text('[tool.riskhints]\nselekt = ["RH2"]\n')
    code, out, err = run(capsys, "check", ".")
    assert code == 2
    assert out == ""
    assert "unknown key 'selekt'" in err
    assert "pyproject.toml" in err


def test_bad_config_value_is_a_clear_error(project: Path, capsys) -> None:
    (project / "pyproject.toml").write_text('[tool.riskhints.severity]\nRH202 = "loud"\n')
    code, _, err = run(capsys, "check", ".")
    assert code == 2
    assert "'severity.RH202'" in err and "unknown severity 'loud'" in err


def test_explicit_config_file(project: Path, capsys) -> None:
    (project / "cache.py").write_text(LOCK_ACROSS_AWAIT)
    (project / "riskhints.toml").write_text('ignore = ["RH2"]\n')
    assert run(capsys, "check", "--config", "riskhints.toml", ".")[0] == 0
    code, _, err = run(capsys, "check", "--config", "missing.toml", ".")
    assert code == 2 and "missing.toml" in err


def test_missing_path_is_a_usage_error(project: Path, capsys) -> None:
    code, _, err = run(capsys, "check", "nowhere")
    assert code == 2
    assert "nowhere: no such file or folder" in err


def test_bad_flag_is_a_usage_error(project: Path, capsys) -> None:
    assert run(capsys, "check", "--format", "xml")[0] == 2


def test_gitignored_files_are_skipped_but_explicit_files_are_checked(project: Path, capsys) -> None:
    subprocess.run(["git", "init", "-q"], cwd=project, check=True, timeout=60)
    (project / ".gitignore").write_text("build_out/\n")
    (project / "build_out").mkdir()
    (project / "build_out" / "gen.py").write_text(LOCK_ACROSS_AWAIT)
    (project / "app.py").write_text(CLEAN)
    code, out, _ = run(capsys, "check", ".")
    assert code == 0, out
    code, out, _ = run(capsys, "check", "build_out/gen.py")
    assert code == 1 and "RH202" in out
    # A folder that is itself ignored is checked when named, like ruff does.
    code, out, _ = run(capsys, "check", "build_out")
    assert code == 1 and "RH202" in out


def test_cache_gives_the_same_report_and_is_used(project: Path, capsys) -> None:
    (project / "cache.py").write_text(LOCK_ACROSS_AWAIT)
    first = run(capsys, "check", ".")
    entries = list((project / ".riskhints" / "cache").rglob("*.json"))
    assert len(entries) == 1
    second = run(capsys, "check", ".")
    assert first == second
    # A changed file is a miss: the new content is analysed, not the cached one.
    (project / "cache.py").write_text(CLEAN)
    assert run(capsys, "check", ".")[0] == 0
    assert (project / ".riskhints" / "cache" / ".gitignore").read_text().strip().endswith("*")
    assert not (project / ".riskhints" / ".gitignore").exists()


def test_corrupt_cache_entry_is_ignored(project: Path, capsys) -> None:
    (project / "cache.py").write_text(LOCK_ACROSS_AWAIT)
    run(capsys, "check", ".")
    for entry in (project / ".riskhints" / "cache").rglob("*.json"):
        entry.write_text("{not json")
    code, out, _ = run(capsys, "check", ".")
    assert code == 1 and "RH202" in out


def test_no_cache_writes_nothing(project: Path, capsys) -> None:
    (project / "cache.py").write_text(LOCK_ACROSS_AWAIT)
    run(capsys, "check", "--no-cache", ".")
    assert not (project / ".riskhints").exists()


def test_parallel_run_matches_serial(project: Path, capsys) -> None:
    for i in range(60):
        (project / f"mod_{i:02}.py").write_text(LOCK_ACROSS_AWAIT if i % 3 == 0 else CLEAN)
    serial = run(capsys, "check", "--no-cache", "--jobs", "1", ".")
    parallel = run(capsys, "check", "--no-cache", "--jobs", "2", ".")
    assert serial == parallel
    assert serial[1].count("RH202") == 20


def test_rules_catalogue_lists_every_rule(capsys) -> None:
    code, out, _ = run(capsys, "rules", "--format", "json")
    assert code == 0
    ids = [rule["id"] for rule in json.loads(out)]
    assert ids == sorted(ids)
    assert {"RH101", "RH202", "RH203", "RH301", "RH401"} <= set(ids)


def test_python_dash_m_entry_point(tmp_path: Path) -> None:
    (tmp_path / "cache.py").write_text(LOCK_ACROSS_AWAIT)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "server")}
    result = subprocess.run(
        [sys.executable, "-m", "riskhints", "check", "--no-cache", "cache.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout.startswith("cache.py:8:16: RH202")


def test_extra_blocking_calls_from_config(project: Path, capsys) -> None:
    (project / "svc.py").write_text(
        "from vendor import sdk\n\n\nasync def sync_orders():\n    return sdk.fetch_all()\n"
    )
    assert run(capsys, "check", ".")[0] == 0
    (project / "pyproject.toml").write_text(
        '[tool.riskhints]\nextra-blocking-calls = ["vendor.sdk.*"]\n'
    )
    code, out, _ = run(capsys, "check", ".")
    assert code == 1
    assert "svc.py:5:12: RH101 [warning] `sdk.fetch_all()` is configured as blocking" in out


def test_concurrent_runs_share_the_cache_safely(tmp_path: Path, spawn) -> None:
    for i in range(80):
        (tmp_path / f"mod_{i:02}.py").write_text(LOCK_ACROSS_AWAIT if i % 4 == 0 else CLEAN)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "server")}
    command = [sys.executable, "-m", "riskhints", "check", "--jobs", "2", "--cache-dir", "c", "."]
    runs = [
        spawn(command, cwd=tmp_path, stdout=subprocess.PIPE, text=True, env=env) for _ in range(3)
    ]
    outputs = [proc.communicate(timeout=120)[0] for proc in runs]
    assert [proc.returncode for proc in runs] == [1, 1, 1], outputs
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0].count("RH202") == 20
    assert len(list((tmp_path / "c").rglob("*.json"))) == 80
    assert not list((tmp_path / "c").rglob(".tmp-*"))
