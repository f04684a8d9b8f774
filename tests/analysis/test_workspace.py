"""Workspace-wide analysis: calls, locks and types followed across modules of a project."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from riskhints.analysis.options import AnalysisOptions
from riskhints.analysis.workspace import Workspace
from riskhints.cli import main
from riskhints.discovery import discover

from ..fixture_expectations import FIXTURES, expected_findings

PROJECTS = sorted(p for p in (FIXTURES / "projects").iterdir() if p.is_dir())


def workspace_for(root: Path) -> tuple[Workspace, list[Path]]:
    files = discover([root], root, ())
    shown = {p: p.relative_to(root).as_posix() for p in files}
    return Workspace.from_paths(files, root, shown), files


@pytest.mark.parametrize("project", PROJECTS, ids=[p.name for p in PROJECTS])
def test_project_findings_match_inline_expectations(project: Path) -> None:
    workspace, files = workspace_for(project)
    for path in files:
        module = workspace.module_for(path)
        assert module is not None
        analysis = workspace.analyze(module, AnalysisOptions())
        assert analysis is not None
        actual = {(f.span.line, f.rule) for f in analysis.findings}
        details = "\n".join(f"  {f.span.line}: {f.rule} {f.message}" for f in analysis.findings)
        assert actual == expected_findings(path.read_text()), f"{path}:\n{details}"


def test_evidence_names_the_files_it_crosses() -> None:
    workspace, _ = workspace_for(FIXTURES / "projects" / "shop")
    analysis = workspace.analyze("shop.api.routes", AnalysisOptions())
    assert analysis is not None
    rh102 = next(f for f in analysis.findings if f.rule == "RH102")
    assert [hop.path for hop in rh102.evidence] == [
        None,
        "shop/services/profiles.py",
        "shop/services/profiles.py",
    ]
    assert set(analysis.dependencies) >= {
        "shop/services/__init__.py",
        "shop/services/profiles.py",
        "shop/services/ledger.py",
    }


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_import_cycles_unresolvable_imports_and_src_layout(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "src/jobs/__init__.py": "",
            "src/jobs/a.py": "import time\nfrom jobs import b\n\ndef slow():\n    time.sleep(1)\n",
            "src/jobs/b.py": (
                "from jobs.a import slow\nimport not_installed.anything\n\n"
                "async def run():\n    slow()\n"
            ),
        },
    )
    workspace, _ = workspace_for(tmp_path)
    assert "jobs.b" in workspace.files
    analysis = workspace.analyze("jobs.b", AnalysisOptions())
    assert analysis is not None
    assert [(f.rule, f.span.line) for f in analysis.findings] == [("RH102", 5)]


def test_cached_result_is_invalidated_when_a_dependency_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "shop"
    shutil.copytree(FIXTURES / "projects" / "shop", project)
    (project / "pyproject.toml").write_text("[project]\nname = 'shop'\n")
    monkeypatch.chdir(project)
    assert main(["check", "."]) == 1
    assert "RH102" in capsys.readouterr().out
    profiles = project / "shop" / "services" / "profiles.py"
    profiles.write_text(
        profiles.read_text().replace(
            'response = requests.get(f"{USER_SERVICE}{path}", timeout=5)',
            "response = _CACHE[path]",
        )
        + "\n_CACHE: dict[str, object] = {}\n"
    )
    main(["check", "."])
    out = capsys.readouterr().out
    assert "RH102" not in out
    assert "RH204" in out  # routes.py itself did not change: its other finding stays
