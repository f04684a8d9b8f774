"""``make dist``'s Python half for real: the sdist and the wheel build from this checkout, the
wheel installs (with its dependencies) into a clean virtualenv, and the installed
``riskhints`` runs there — its version, and a rule explanation that needs the packaged data
(riskhints is not on PyPI, so this wheel is how it is installed elsewhere)."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*command: str | Path, cwd: Path, timeout: int) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.mark.timeout(900)
def test_the_wheel_installs_into_a_clean_venv_and_runs(tmp_path: Path) -> None:
    from riskhints import __version__

    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "build", "--outdir", dist, ROOT, cwd=tmp_path, timeout=600)
    [wheel] = dist.glob("riskhints-*.whl")
    [sdist] = dist.glob("riskhints-*.tar.gz")
    assert wheel.name == f"riskhints-{__version__}-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    assert "riskhints/rule_examples.json" in names and "riskhints/py.typed" in names
    assert not [n for n in names if n.startswith(("tests/", "fixtures/", "bench/"))]
    with tarfile.open(sdist) as archive:
        members = archive.getnames()
    assert any(m.endswith("server/riskhints/rule_examples.json") for m in members)

    venv = tmp_path / "clean"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path, timeout=300)
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "--quiet", wheel, cwd=tmp_path, timeout=600)
    riskhints = venv / "bin" / "riskhints"
    version = _run(riskhints, "--version", cwd=tmp_path, timeout=60)
    assert version.stdout.strip() == f"riskhints {__version__}"
    explained = _run(riskhints, "rule", "RH203", cwd=tmp_path, timeout=120)
    assert "Example (fixtures/rules/RH203/" in explained.stdout
    assert "/blob/main/docs/rules.md#rh203-lock-reentry" in explained.stdout
    # The installed copy, not this checkout: nothing of ROOT on its path.
    where = _run(
        python, "-c", "import riskhints; print(riskhints.__file__)", cwd=tmp_path, timeout=60
    )
    assert str(venv) in where.stdout
