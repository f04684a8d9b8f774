"""Child processes never import workspace modules: a project that ships ``threading.py``,
``runpy.py``, ``pickle.py`` and ``sitecustomize.py`` (each records its import in a marker file)
is checked with ``riskhints check --jobs 2`` under both multiprocessing start methods, and a
document big enough for the server's separate worker process is analysed by a server started
in the project (as Neovim starts it). Both must still find the hazards."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..e2e.lsp_support import diagnostics, open_document
from .hostile import plant_modules, ran, riskhints_script, serve_in

PLANTED = ("threading", "runpy", "pickle", "sitecustomize")

WORKER = """import time


async def poll_inventory_{n}(warehouse, sku):
    stock = await warehouse.count(sku)
    time.sleep(0.2)
    return stock
"""


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Path]:
    workspace = tmp_path / "warehouse"
    package = workspace / "stock"
    package.mkdir(parents=True)
    (workspace / "pyproject.toml").write_text('[project]\nname = "warehouse"\n')
    (package / "__init__.py").write_text("")
    for n in range(60):  # past the size where check starts a pool
        (package / f"poller_{n}.py").write_text(WORKER.format(n=n))
    marks = tmp_path / "marks"
    marks.mkdir()
    plant_modules(workspace, marks, PLANTED)
    return workspace, marks


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_check_jobs_workers_import_nothing_from_the_workspace(
    project: tuple[Path, Path], start_method: str
) -> None:
    workspace, marks = project
    select = f"import multiprocessing; multiprocessing.set_start_method({start_method!r}); "
    done = riskhints_script(workspace, "check", "--jobs", "2", "--no-cache", ".", prelude=select)
    assert done.returncode == 1, done.stderr
    assert done.stdout.count("RH101") == 60, done.stdout[-2000:]
    assert ran(marks) == []


async def test_big_document_worker_imports_nothing_from_the_workspace(
    project: tuple[Path, Path],
) -> None:
    workspace, marks = project
    client = await serve_in(workspace)
    try:
        # Past the size the server analyses in its separate worker process.
        text = "".join(WORKER.format(n=n) for n in range(3_000))
        assert len(text) > 300_000
        uri = open_document(client, workspace / "stock" / "pollers.py", text)
        found = await diagnostics(client, uri, 1)
        assert sum(str(d.code) == "RH101" for d in found) == 3_000
    finally:
        await client.shutdown_session()
    assert ran(marks) == []
