"""``riskhints check`` sees the whole project on every run: a file named alone (as pre-commit
names staged files) keeps the findings whose chain crosses into modules it imports, and the
project root — hence settings, results and the cache folder — comes from the named paths, never
from the current directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from riskhints.analysis.project import project_root
from riskhints.cli import main

from ..fixture_expectations import FIXTURES

SHOP = FIXTURES / "projects" / "shop"


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """The shop fixture project (routes calling services in other modules), as a project."""
    project = tmp_path / "work" / "shop"
    shutil.copytree(SHOP, project)
    (project / "pyproject.toml").write_text("[project]\nname = 'shop'\n")
    return project


def check_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict], str]:
    code = main(["check", "--format", "json", *args])
    captured = capsys.readouterr()
    return code, json.loads(captured.out)["findings"], captured.err


def located(findings: list[dict], base: Path) -> list[tuple[str, int, str, list[str]]]:
    """Findings with absolute paths, so runs from different folders compare."""
    return [
        (
            str((base / f["path"]).resolve()),
            f["line"],
            f["rule"],
            [str((base / e["path"]).resolve()) for e in f["evidence"]],
        )
        for f in findings
    ]


def test_a_file_named_alone_keeps_its_cross_file_findings(
    shop: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(shop)
    _, everything, _ = check_json(capsys, "--no-cache", ".")
    code, alone, _ = check_json(capsys, "--no-cache", "shop/api/routes.py")
    assert code == 1
    assert [(f["line"], f["rule"]) for f in alone] == [(8, "RH102"), (14, "RH204")]
    assert alone == [f for f in everything if f["path"] == "shop/api/routes.py"]
    rh102 = alone[0]
    assert "shop/services/profiles.py" in [e["path"] for e in rh102["evidence"]]


def test_results_and_cache_do_not_depend_on_the_current_directory(
    shop: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    routes = shop / "shop" / "api" / "routes.py"
    outside = shop.parent.parent
    runs = []
    for cwd in (shop, shop / "shop" / "api", outside, Path("/")):
        monkeypatch.chdir(cwd)
        code, findings, _ = check_json(capsys, str(routes))
        runs.append((code, located(findings, cwd)))
    assert runs[0][0] == 1 and runs[0][1]
    assert all(run == runs[0] for run in runs), runs
    assert (shop / ".riskhints" / "cache").is_dir()
    for cwd in (shop / "shop" / "api", outside):
        assert not (cwd / ".riskhints").exists()


def test_relative_paths_from_a_parent_folder_are_shown_relative_to_it(
    shop: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(shop.parent)
    code, findings, _ = check_json(capsys, "--no-cache", "shop/shop/api/routes.py")
    assert code == 1
    assert {f["path"] for f in findings} == {"shop/shop/api/routes.py"}
    assert "shop/shop/services/profiles.py" in [e["path"] for f in findings for e in f["evidence"]]


def test_each_named_path_uses_its_own_project_settings(
    shop: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = shop.parent / "billing"
    shutil.copytree(SHOP, other)
    (other / "riskhints.toml").write_text('ignore = ["RH102"]\n')
    monkeypatch.chdir(shop.parent)
    code, findings, _ = check_json(
        capsys, "--no-cache", "shop/shop/api/routes.py", "billing/shop/api/routes.py"
    )
    assert code == 1
    assert [(f["path"], f["rule"]) for f in findings] == [
        ("billing/shop/api/routes.py", "RH204"),
        ("shop/shop/api/routes.py", "RH102"),
        ("shop/shop/api/routes.py", "RH204"),
    ]


def test_riskhints_toml_wins_over_pyproject_in_the_same_folder(
    shop: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    (shop / "pyproject.toml").write_text('[tool.riskhints]\nignore = ["RH204"]\n')
    (shop / "riskhints.toml").write_text('ignore = ["RH102"]\n')
    monkeypatch.chdir(shop)
    _, findings, _ = check_json(capsys, "--no-cache", "shop/api/routes.py")
    assert [f["rule"] for f in findings] == ["RH204"]


def test_outside_any_project_a_package_is_its_own_project(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    if project_root(tmp_path) is not None:
        pytest.skip("the temporary folder is inside a project")
    shutil.copytree(SHOP / "shop", tmp_path / "loose" / "shop")
    (tmp_path / "loose" / "notes.py").write_text("import time\n\n\nasync def f():\n    pass\n")
    monkeypatch.chdir(tmp_path)
    code, findings, _ = check_json(capsys, "loose/shop/api/routes.py")
    # No marker above: the folder above the top package is the root, and the package's
    # modules are followed; nothing is cached (no project to hold it).
    assert code == 1
    assert [(f["line"], f["rule"]) for f in findings] == [(8, "RH102"), (14, "RH204")]
    assert not list(tmp_path.rglob(".riskhints"))


def test_a_script_outside_any_project_and_package_is_analysed_alone(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    if project_root(tmp_path) is not None:
        pytest.skip("the temporary folder is inside a project")
    (tmp_path / "helpers.py").write_text("import time\n\n\ndef pause():\n    time.sleep(1)\n")
    (tmp_path / "tool.py").write_text(
        "from helpers import pause\n\n\nasync def main():\n    pause()\n"
    )
    monkeypatch.chdir("/")
    code, findings, _ = check_json(capsys, "--no-cache", str(tmp_path / "tool.py"))
    assert (code, findings) == (0, [])  # its folder is not walked: helpers.py is not read
    code, findings, _ = check_json(capsys, "--no-cache", str(tmp_path))  # named: walked
    assert [(Path(f["path"]).name, f["rule"]) for f in findings] == [("tool.py", "RH102")]


def test_the_project_environment_setting_is_checked(
    shop: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    (shop / "pyproject.toml").write_text('[tool.riskhints]\nvenv = "envs/missing"\n')
    monkeypatch.chdir(shop)
    code, _, err = check_json(capsys, "--no-cache", "shop/api/routes.py")
    assert code == 1
    assert "warning: venv setting 'envs/missing': not a virtual environment" in err
