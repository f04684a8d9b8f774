"""The CI and commit-time examples run for real: the GitHub Actions step of ``docs/ci.md`` on a
temp repository with a base branch (its SARIF validated against the official schema), and the
hook of ``.pre-commit-hooks.yaml`` through ``pre-commit try-repo``.

``try-repo`` builds a virtualenv and pip-installs riskhints into it from a temp git copy of the
package (a copy, so uncommitted work in this checkout is what gets tried); dependencies come from
the package index, or pip's cache when warm (about 8 s here, well under a minute cold).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.gitrepo import CLAUDE, commit, git, init

ROOT = Path(__file__).resolve().parent.parent
CI_DOC = ROOT / "docs" / "ci.md"
BASE = "import time\n\n\nasync def handle(event):\n    time.sleep(1)\n    return event\n"
AI_PART = "\n\nasync def poll():\n    time.sleep(2)\n    return 1\n"  # finding on line 10
HUMAN_PART = "\n\nasync def tick():\n    time.sleep(3)\n"  # finding on line 15
OTHER = "import time\n\n\nasync def untouched():\n    time.sleep(1)\n"


def _require(module: str, extra: str) -> None:
    if os.environ.get("CI") == "true":
        __import__(module)  # in CI a missing test extra is a failure, not a skip
    pytest.importorskip(module, reason=f"needs the {extra} test extra")


def workflow() -> dict[str, Any]:
    _require("yaml", "pre-commit (which brings PyYAML)")
    import yaml

    text = CI_DOC.read_text(encoding="utf-8")
    match = re.search(
        r"<!-- ci-example:begin.*?-->\s*```yaml\n(?P<yaml>.*?)```\s*<!-- ci-example:end -->",
        text,
        re.DOTALL,
    )
    assert match, "docs/ci.md lost its ci-example markers"
    loaded: dict[str, Any] = yaml.safe_load(match.group("yaml"))
    return loaded


def steps() -> list[dict[str, Any]]:
    [job] = workflow()["jobs"].values()
    found: list[dict[str, Any]] = job["steps"]
    return found


def test_workflow_checks_out_history_and_uploads_the_sarif_it_writes() -> None:
    all_steps = steps()
    checkout = next(s for s in all_steps if str(s.get("uses", "")).startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0
    command = shlex.split(next(s for s in all_steps if s.get("name") == "riskhints")["run"])
    upload = next(
        s
        for s in all_steps
        if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif")
    )
    assert upload["with"]["sarif_file"] == command[command.index("-o") + 1]
    assert upload["if"] == "always()"
    assert workflow()["jobs"]["riskhints"]["permissions"]["security-events"] == "write"


def test_the_documented_ci_command_on_a_pull_request(tmp_path: Path) -> None:
    from tests.test_sarif_schema import _errors, _schema

    _schema()  # skips when the schema's test extra is missing
    command = shlex.split(next(s for s in steps() if s.get("name") == "riskhints")["run"])
    assert command[:4] == ["riskhints", "check", "--scope", "changed"]
    upstream = init(tmp_path / "upstream")
    commit(upstream, {"app.py": BASE, "other.py": OTHER}, "Add the handler")
    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", str(upstream), str(checkout))
    git(checkout, "checkout", "-q", "-b", "feature")
    commit(checkout, {"app.py": BASE + AI_PART}, f"Add polling\n\n{CLAUDE}")
    commit(checkout, {"app.py": BASE + AI_PART + HUMAN_PART}, "Add tick")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "server"), GIT_CEILING_DIRECTORIES=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "riskhints", *command[1:]],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr  # findings: the step fails, upload still runs
    import json

    log = json.loads((checkout / command[command.index("-o") + 1]).read_text())
    errors = _errors(log)
    assert not errors, "\n".join(errors[:20])
    found = [
        (
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
            r["properties"]["provenance"],
        )
        for r in log["runs"][0]["results"]
    ]
    assert found == [("app.py", 10, "ai"), ("app.py", 15, "changed")]


@pytest.fixture(scope="module")
def hook_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This package as a git repository of its own, the way pre-commit fetches a hook repo."""
    _require("pre_commit", "pre-commit")
    source = tmp_path_factory.mktemp("hook") / "riskhints"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "server" / "riskhints",
        source / "server" / "riskhints",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    init(source)
    git(source, "add", "-A")
    git(source, "commit", "-q", "-m", "riskhints")
    return source


def try_repo(source: Path, target: Path, *files: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        PRE_COMMIT_HOME=str(source.parent / "pre-commit-home"),  # reused by both runs
        GIT_CEILING_DIRECTORIES=str(target.parent),
        PRE_COMMIT_COLOR="never",
    )
    env.pop("PYTHONPATH", None)  # the hook must run the riskhints pip installed in its venv
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pre_commit",
            "try-repo",
            str(source),
            "riskhints",
            "--files",
            *files,
        ],
        cwd=target,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_pre_commit_hook_reports_only_what_the_commit_changes(
    hook_source: Path, tmp_path: Path
) -> None:
    target = init(tmp_path / "target")
    commit(target, {"app.py": BASE, "other.py": OTHER}, "Add the handler")
    (target / "app.py").write_text(BASE + HUMAN_PART)
    git(target, "add", "app.py")
    proc = try_repo(hook_source, target, "app.py", "other.py")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "Failed" in output and "app.py:10:5: RH101" in output  # the staged lines
    assert "app.py:5:" not in output and "other.py:" not in output  # committed before
    git(target, "commit", "-q", "-m", "Add tick")
    passed = try_repo(hook_source, target, "app.py", "other.py")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout
