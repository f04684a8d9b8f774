"""Only regular files of bounded size are read: a project that commits ``z.py -> /dev/zero``,
``in.py -> /proc/self/fd/0`` (the reader's own stdin: the server's is the LSP stream), a FIFO
named ``fifo.py`` and a 5 MB ``generated.py`` (the importable ones imported by the module under
review). The CLI says why each is not analysed and still reports the real hazard; the server
(which walks the folder for its index) answers, publishes and shuts down."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ..e2e.lsp_support import diagnostics, open_document
from .hostile import riskhints_script, serve_in

SERVICE = """import time

from . import fifo, generated, z


async def publish_prices(bus, catalogue):
    prices = await catalogue.current()
    time.sleep(0.1)
    await bus.send(prices)
"""

SPECIAL = {"z.py", "in.py", "fifo.py", "generated.py"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    workspace = tmp_path / "pricing"
    package = workspace / "pricing"
    package.mkdir(parents=True)
    (workspace / "pyproject.toml").write_text('[project]\nname = "pricing"\n')
    (package / "__init__.py").write_text("")
    (package / "service.py").write_text(SERVICE)
    (package / "z.py").symlink_to("/dev/zero")
    (package / "in.py").symlink_to("/proc/self/fd/0")
    os.mkfifo(package / "fifo.py")
    (package / "generated.py").write_bytes(b"TABLE = [" + b"0, " * 1_800_000 + b"]\n")
    return workspace


def test_check_reports_special_and_huge_files_as_not_analysed_and_goes_on(project: Path) -> None:
    for cache in (["--no-cache"], [], []):  # cold, then a cache to fill and to read
        done = riskhints_script(project, "check", *cache, ".")
        assert done.returncode == 1, done.stderr
        lines = done.stdout.splitlines()
        assert any("service.py" in line and "RH101" in line for line in lines)
        refused = {Path(line.split(":")[0]).name: line for line in lines if "RH003" in line}
        assert set(refused) == SPECIAL, done.stdout
        assert "a character device, not a regular file" in refused["z.py"]
        assert "a FIFO, not a regular file" in refused["fifo.py"]
        assert "not a regular file" in refused["in.py"]
        assert "too large" in refused["generated.py"]


async def test_server_indexes_a_folder_with_special_files_and_keeps_answering(
    project: Path,
) -> None:
    client = await serve_in(project)
    try:
        path = project / "pricing" / "service.py"
        uri = open_document(client, path, path.read_text())
        found = await diagnostics(client, uri, 1)
        assert [str(d.code) for d in found] == ["RH101"]
    finally:
        await client.shutdown_session()  # bounded: a server that stopped answering fails here
