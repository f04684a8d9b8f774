"""The project root and the project's Python environment (riskhints.analysis.project), and jedi
reading that environment without running it: real folders laid out as venv, virtualenv, Debian
and Windows installs write them."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from riskhints.analysis.engine import parse_source
from riskhints.analysis.inference import (
    JediInference,
    isolated_env,
    jedi_project_options,
    unresolved_receivers,
)
from riskhints.analysis.project import (
    OWN,
    find_environment,
    own_environment,
    project_root,
    project_sys_path,
)


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def trap_interpreter(path: Path, marker: Path) -> None:
    """An executable that records being run: the project's interpreter must never be."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\ntouch {marker}\nexec {sys.executable} "$@"\n')
    path.chmod(0o755)


def no_marker_above(path: Path) -> bool:
    return all(
        not (folder / m).exists()
        for folder in (path, *path.parents)
        for m in ("pyproject.toml", "setup.cfg", "riskhints.toml", ".git")
    )


# -- the root ----------------------------------------------------------------------------------


@pytest.mark.parametrize("marker", ["pyproject.toml", "setup.cfg", "riskhints.toml", ".git"])
def test_the_root_is_the_nearest_folder_with_a_marker(tmp_path: Path, marker: str) -> None:
    project = tmp_path / "billing"
    write(project, {"app/api/routes.py": "", "app/__init__.py": ""})
    if marker == ".git":
        (project / ".git").mkdir()
    else:
        (project / marker).write_text("")
    assert project_root(project / "app" / "api" / "routes.py") == project.resolve()
    assert project_root(project / "app" / "api") == project.resolve()
    assert project_root(project) == project.resolve()


def test_a_git_file_marks_a_worktree_and_the_nearest_marker_wins(tmp_path: Path) -> None:
    write(tmp_path, {"pyproject.toml": "", "services/orders/.git": "gitdir: ../../.git/x\n"})
    write(tmp_path, {"services/orders/app.py": ""})
    assert (
        project_root(tmp_path / "services" / "orders" / "app.py")
        == (tmp_path / "services" / "orders").resolve()
    )


def test_the_root_does_not_depend_on_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, {"shop/pyproject.toml": "", "shop/app/views.py": "", "elsewhere/x.py": ""})
    found = []
    for cwd in (tmp_path, tmp_path / "shop" / "app", tmp_path / "elsewhere", Path("/")):
        monkeypatch.chdir(cwd)
        found.append(project_root(tmp_path / "shop" / "app" / "views.py"))
    assert found == [(tmp_path / "shop").resolve()] * 4


def test_no_marker_no_root(tmp_path: Path) -> None:
    if not no_marker_above(tmp_path):
        pytest.skip("the temporary folder is inside a project")
    write(tmp_path, {"loose/script.py": ""})
    assert project_root(tmp_path / "loose" / "script.py") is None


# -- the environment ---------------------------------------------------------------------------

VENV_CFG = "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.12.4\n"
VIRTUALENV_CFG = "home = /usr/bin\nimplementation = CPython\nversion_info = 3.11.9.final.0\n"


def make_venv(prefix: Path, cfg: str = VENV_CFG, version: str = "3.12") -> Path:
    site = prefix / "lib" / f"python{version}" / "site-packages"
    site.mkdir(parents=True)
    (prefix / "pyvenv.cfg").write_text(cfg)
    return site


def test_dot_venv_in_the_project(tmp_path: Path) -> None:
    site = make_venv(tmp_path / ".venv")
    env = find_environment(tmp_path, environ={})
    assert (env.source, env.version, env.site_packages) == (".venv", "3.12", (site,))
    assert env.problem is None and not env.is_own


def test_virtualenv_layout_and_version_info(tmp_path: Path) -> None:
    site = make_venv(tmp_path / "venv", VIRTUALENV_CFG, "3.11")
    env = find_environment(tmp_path, environ={})
    assert (env.source, env.version, env.site_packages) == ("venv", "3.11", (site,))


def test_virtual_env_variable_comes_before_the_project_folders(tmp_path: Path) -> None:
    make_venv(tmp_path / "project" / ".venv")
    active = make_venv(tmp_path / "envs" / "billing")
    env = find_environment(tmp_path / "project", environ={"VIRTUAL_ENV": str(active.parents[2])})
    assert (env.source, env.site_packages) == ("VIRTUAL_ENV", (active,))


def test_venv_setting_relative_to_the_settings_folder(tmp_path: Path) -> None:
    make_venv(tmp_path / ".venv")
    chosen = make_venv(tmp_path / "envs" / "py312")
    env = find_environment(tmp_path, venv="envs/py312", environ={"VIRTUAL_ENV": "/nowhere"})
    assert (env.source, env.site_packages) == ("venv setting", (chosen,))


def test_python_setting_naming_a_venv_interpreter_is_read_never_run(tmp_path: Path) -> None:
    site = make_venv(tmp_path / ".venv-prod")
    marker = tmp_path / "ran"
    trap_interpreter(tmp_path / ".venv-prod" / "bin" / "python", marker)
    env = find_environment(tmp_path, python=".venv-prod/bin/python", environ={})
    assert (env.source, env.version, env.site_packages) == ("python setting", "3.12", (site,))
    assert not marker.exists()


def test_python_setting_naming_a_base_install(tmp_path: Path) -> None:
    prefix = tmp_path / "opt" / "python"
    site = prefix / "lib" / "python3.13" / "site-packages"
    site.mkdir(parents=True)
    (prefix / "lib" / "python3.13" / "os.py").write_text("")
    marker = tmp_path / "ran"
    trap_interpreter(prefix / "bin" / "python3.13", marker)
    (prefix / "bin" / "python3").symlink_to("python3.13")
    env = find_environment(tmp_path, python=str(prefix / "bin" / "python3"), environ={})
    assert (env.version, env.site_packages) == ("3.13", (site,))
    assert env.stdlib == (prefix / "lib" / "python3.13",)
    assert not marker.exists()


def test_windows_layout(tmp_path: Path) -> None:
    site = tmp_path / ".venv" / "Lib" / "site-packages"
    site.mkdir(parents=True)
    (tmp_path / ".venv" / "pyvenv.cfg").write_text("home = C:\\Python312\nversion = 3.12.1\n")
    env = find_environment(tmp_path, environ={})
    assert env.site_packages == (site,)


def test_system_site_packages_come_after_the_venv_own(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base_site = base / "lib" / "python3.12" / "site-packages"
    base_site.mkdir(parents=True)
    cfg = f"home = {base / 'bin'}\ninclude-system-site-packages = true\nversion = 3.12.0\n"
    site = make_venv(tmp_path / ".venv", cfg)
    assert find_environment(tmp_path, environ={}).site_packages == (site, base_site)


def test_a_pyvenv_cfg_naming_another_version_than_the_folders(tmp_path: Path) -> None:
    site = make_venv(tmp_path / ".venv", VENV_CFG, "3.11")  # cfg says 3.12
    env = find_environment(tmp_path, environ={})
    assert (env.version, env.site_packages) == ("3.11", (site,))


def test_a_bad_setting_is_said_and_the_next_candidate_used(tmp_path: Path) -> None:
    site = make_venv(tmp_path / ".venv")
    env = find_environment(tmp_path, python="bin/nope", venv="missing", environ={})
    assert (env.source, env.site_packages) == (".venv", (site,))
    assert env.problem is not None
    assert "python setting 'bin/nope': no such interpreter" in env.problem
    assert "venv setting 'missing': not a virtual environment" in env.problem


def test_without_any_environment_riskhints_own_interpreter(tmp_path: Path) -> None:
    env = find_environment(tmp_path, environ={})
    assert env.source == OWN and env.is_own
    assert env == own_environment()
    assert all(p.name in ("site-packages", "dist-packages") for p in env.site_packages)


def test_src_layout_comes_first_on_the_project_path(tmp_path: Path) -> None:
    site = make_venv(tmp_path / ".venv")
    (tmp_path / "src").mkdir()
    env = find_environment(tmp_path, environ={})
    assert project_sys_path(tmp_path, env) == [tmp_path / "src", site]


# -- jedi on the project's environment ---------------------------------------------------------

# A factory our own facts cannot type (a lambda), so the receiver is a question for jedi.
SYNC_JOB = """\
import httpx

make_session = lambda: httpx.Client()  # noqa: E731


async def sync(account):
    session = make_session()
    return session.get(f"/ledger/{account}")
"""
# The project's own httpx differs from the one installed next to riskhints: its ``Client`` is
# the async client, so jedi's answer tells which environment it read.
PROJECT_HTTPX = {
    "httpx/__init__.py": (
        "from ._client import AsyncClient\nfrom ._client import AsyncClient as Client\n"
    ),
    "httpx/_client.py": "class AsyncClient:\n    async def get(self, url):\n        ...\n",
}


def receivers_of(path: Path) -> tuple[str, list[ast.expr]]:
    text = path.read_text()
    parsed = parse_source(text, path.name, "jobs.sync")
    assert parsed.facts is not None
    return text, unresolved_receivers(parsed.facts)


def test_jedi_reads_the_project_environment_not_riskhints_own(tmp_path: Path) -> None:
    write(tmp_path, {"pyproject.toml": "", "jobs/__init__.py": "", "jobs/sync.py": SYNC_JOB})
    job = tmp_path / "jobs" / "sync.py"
    text, receivers = receivers_of(job)
    own = JediInference(tmp_path).receiver_types(job, text, receivers)
    assert set(own.values()) == {"httpx.Client"}  # riskhints' own httpx: no project venv yet

    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    site = make_venv(tmp_path / ".venv", f"home = /usr/bin\nversion = {version}.0\n", version)
    write(site, PROJECT_HTTPX)
    env = find_environment(tmp_path, environ={})
    options = jedi_project_options(tmp_path, env)
    assert str(site) in options["sys_path"]
    assert not any(str(p) in options["sys_path"] for p in own_environment().site_packages)
    assert options["load_unsafe_extensions"] is False
    found = JediInference(tmp_path, env).receiver_types(job, text, receivers)
    assert set(found.values()) == {"httpx.AsyncClient"}


def test_jedi_helper_process_is_isolated_from_the_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A sitecustomize on PYTHONPATH runs in every Python started with that environment...
    trap = tmp_path / "workspace-path"
    marker = tmp_path / "sitecustomize-ran"
    write(trap, {"sitecustomize.py": f"open({str(marker)!r}, 'w').close()\n"})
    env = {**os.environ, "PYTHONPATH": str(trap)}
    subprocess.run([sys.executable, "-c", "pass"], env=env, check=True, timeout=60)
    assert marker.exists()  # the trap works
    marker.unlink()
    # ... but not in jedi's helper process, which starts like `python -I`.
    assert "PYTHONPATH" not in isolated_env(env)
    assert isolated_env(env)["PYTHONSAFEPATH"] == "1"
    monkeypatch.setenv("PYTHONPATH", str(trap))
    write(tmp_path, {"pyproject.toml": "", "jobs/__init__.py": "", "jobs/sync.py": SYNC_JOB})
    inference = JediInference(tmp_path)
    text, receivers = receivers_of(tmp_path / "jobs" / "sync.py")
    inference.receiver_types(tmp_path / "jobs" / "sync.py", text, receivers)
    assert inference.queries > 0
    assert not marker.exists()
