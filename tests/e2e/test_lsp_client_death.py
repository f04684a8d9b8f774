"""Server hygiene: when its client dies — killed (SIGKILL: a crashed editor) or its pipe
closed — the server and every process it started (the big-document worker, multiprocessing's
resource tracker, jedi's helpers) end, even with a big document's analysis and the workspace
index under way. The client is a real process (tests/e2e/dying_client.py) speaking LSP over
stdio; the processes are found in /proc and waited for with pidfds (no polling of exits).

The bound below ends a hang; it measures nothing (the exits take about a second here; before
the fix the server stayed 35 s with a busy worker).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from .lsp_support import ROOT, SERVER_ENV

pytestmark = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and hasattr(os, "pidfd_open")),
    reason="reads /proc and waits on pidfds",
)

EXIT_BOUND_S = 30  # generous for a loaded 2-core machine
CLIENT = Path(__file__).with_name("dying_client.py")

ROUTES = textwrap.dedent(
    """\
    import time

    import httpx

    from .clients import make_client


    async def health(request):
        client = make_client()
        time.sleep(0.1)
        return client.get("/health")
    """
)
HANDLER = textwrap.dedent(
    """\
    async def handle_{n}(request, ledger_lock):
        with ledger_lock:
            payload = await request.json()
        return payload.get("amount_{n}", {n})


    """
)


def _workspace(folder: Path) -> Path:
    folder.mkdir()
    (folder / "pyproject.toml").write_text("[project]\nname = 'payments'\n")
    (folder / "__init__.py").write_text("")
    (folder / "routes.py").write_text(ROUTES)
    (folder / "clients.py").write_text(
        "import httpx\n\n\ndef make_client():\n    return httpx.Client()\n"
    )
    # Big enough for the server's separate worker process, and for its analysis to take a while.
    (folder / "generated_handlers.py").write_text(
        "".join(HANDLER.format(n=n) for n in range(12_000))
    )
    for n in range(60):  # something for the background index (and jedi) to work on
        (folder / f"service_{n}.py").write_text(ROUTES.replace("health", f"status_{n}"))
    return folder


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid:
            found.append(int(entry.name))
    return found


def _descendants(pid: int) -> list[int]:
    out = []
    for child in _children(pid):
        out += [child, *_descendants(child)]
    return out


def _wait_for_children(server: int) -> list[int]:
    """The server's processes once its worker is up (the big document was handed to it)."""
    deadline = time.monotonic() + EXIT_BOUND_S * 4
    while time.monotonic() < deadline:
        found = _descendants(server)
        if any(_is_worker(pid) for pid in found):
            return found
        time.sleep(0.05)  # a process appearing has no notification to wait for
    raise AssertionError(f"the server started no worker process: {_descendants(server)}")


def _is_worker(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"serve_calls" in command or b"spawn_main" in command  # an isolated pool worker


@pytest.mark.timeout(400)
@pytest.mark.parametrize("death", ["sigkill", "closed-pipe"])
def test_every_server_process_ends_when_the_client_dies(
    tmp_path: Path, death: str, spawn: Any
) -> None:
    folder = _workspace(tmp_path / "payments")
    client = spawn(
        [sys.executable, str(CLIENT), str(folder), "close" if death == "closed-pipe" else "kill"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**SERVER_ENV, "PYTHONPATH": str(ROOT / "server")},
        text=True,
    )
    server_pid = 0
    try:
        assert client.stdout is not None
        line = client.stdout.readline()
        assert line.strip().isdigit(), client.stderr.read() if client.stderr else line
        server_pid = int(line)
        processes = [server_pid, *_wait_for_children(server_pid)]
        pidfds = {pid: os.pidfd_open(pid) for pid in processes}
        if death == "sigkill":
            client.send_signal(signal.SIGKILL)
        else:
            assert client.stdin is not None
            client.stdin.write("close\n")
            client.stdin.flush()
        started = time.monotonic()
        alive = dict(pidfds)
        while alive and time.monotonic() - started < EXIT_BOUND_S:
            ready, _, _ = select.select(list(alive.values()), [], [], 1.0)
            alive = {pid: fd for pid, fd in alive.items() if fd not in ready}
        took = time.monotonic() - started
        names = {pid: _command(pid) for pid in alive}
        assert not alive, f"still running {EXIT_BOUND_S} s after the client died: {names}"
        sys.stderr.write(f"{len(processes)} processes ended {took:.1f} s after the {death}\n")
    finally:
        for pid in [server_pid, *(_descendants(server_pid) if server_pid else [])]:
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        client.kill()
        client.wait(timeout=60)


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
    except OSError:
        return "?"
