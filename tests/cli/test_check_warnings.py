"""``riskhints check`` says what it did not do: rule ids that match no rule are errors naming
them, a run that found no Python file and named files that are not Python are warnings, and
``.gitignore`` works the same with and without git (negations included)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from riskhints.cli import main
from riskhints.discovery import discover

from ..gitrepo import init

HANDLER = (
    "import time\n\n\nasync def refresh_prices(client, catalogue):\n"
    "    time.sleep(0.5)\n    return await client.fetch(catalogue)\n"
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'prices'\n")
    (tmp_path / "prices.py").write_text(HANDLER)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--select", "RH9"], "'--select' has 'RH9', which matches no rule"),
        (["--select", "RH2,RH999"], "'--select' has 'RH999', which matches no rule"),
        (["--ignore", "RH8", "--ignore", "RH299"], "'--ignore' has 'RH8', 'RH299', which match"),
    ],
)
def test_a_rule_id_that_matches_no_rule_is_an_error_naming_it(
    project: Path, capsys, args: list[str], named: str
) -> None:
    code, out, err = run(capsys, "check", *args, ".")
    assert code == 2 and out == ""
    assert named in err


def test_unknown_ids_in_pyproject_select_and_severity_are_errors(project: Path, capsys) -> None:
    (project / "pyproject.toml").write_text('[tool.riskhints]\nselect = ["RH1", "RH7"]\n')
    code, _, err = run(capsys, "check", ".")
    assert code == 2 and "'select' has 'RH7', which matches no rule" in err
    (project / "pyproject.toml").write_text('[tool.riskhints.severity]\nRH299 = "error"\n')
    code, _, err = run(capsys, "check", ".")
    assert code == 2 and "'severity.RH299' is no rule" in err
    (project / "pyproject.toml").write_text('[tool.riskhints.severity]\nRH101 = "error"\n')
    code, out, _ = run(capsys, "check", "--output-format", "concise", ".")
    assert code == 1 and "RH101 [error]" in out


def test_a_run_that_finds_no_python_file_warns_and_exits_zero(tmp_path: Path, capsys) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# Prices\n")
    code, out, err = run(capsys, "check", str(tmp_path / "docs"))
    assert code == 0
    assert "warning: no Python files found in" in err and "docs" in err
    assert out == "All clear: no findings in 0 files.\n"


def test_named_files_that_are_not_python_are_skipped_with_a_warning(project: Path, capsys) -> None:
    (project / "README.md").write_text("# Prices\n")
    (project / "deploy").write_text("#!/bin/sh\necho deploy\n")
    (project / "manage").write_text("#!/usr/bin/env python3\nimport time\ntime.sleep(1)\n")
    code, out, err = run(capsys, "check", "README.md", "deploy", "manage", "prices.py")
    assert code == 1
    assert "warning: README.md: not a Python file, skipped" in err
    assert "warning: deploy: not a Python file, skipped" in err
    assert "manage" not in err  # a script with a python shebang is Python
    assert "in 2 files." in out.splitlines()[-1]


def test_quiet_silences_the_warnings(tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, "check", "-q", str(tmp_path))
    assert (code, err) == (0, "")


GITIGNORE = """\
# generated clients, except the one we maintain by hand
clients/*.py
!clients/billing.py
build-output/
!build-output/keep.py
*_pb2.py
/top_only.py
"""
LAYOUT = [
    "clients/billing.py",
    "clients/shipping.py",
    "build-output/keep.py",
    "build-output/tmp.py",
    "proto/orders_pb2.py",
    "top_only.py",
    "app/top_only.py",
    "app/views.py",
]


def _layout(folder: Path) -> None:
    (folder / ".gitignore").write_text(GITIGNORE)
    for name in LAYOUT:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(HANDLER)
    (folder / "app" / ".gitignore").write_text("views.py\n")


def _walked(folder: Path) -> list[str]:
    return [p.relative_to(folder).as_posix() for p in discover([folder], folder, ())]


def test_gitignore_outside_git_matches_what_git_itself_decides(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    _layout(plain)
    repo = init(tmp_path / "repo")
    _layout(repo)
    expected = ["app/top_only.py", "clients/billing.py"]
    assert _walked(repo) == expected  # git check-ignore
    assert _walked(plain) == expected  # our matcher, with the same answers
    # And git agrees file by file (not just on what we walk).
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", *LAYOUT],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert sorted(set(LAYOUT) - set(done.stdout.split())) == expected
