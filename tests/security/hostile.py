"""Pieces of a hostile workspace: programs that leave a marker file when something runs them,
and the CLI run as a real process from inside the workspace (where a user runs it)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CLI_ENV = {**os.environ, "PYTHONPATH": str(ROOT / "server")}
CLI_TIMEOUT_S = 300


def marker_program(folder: Path, name: str, marks: Path) -> Path:
    """An executable that records it ran (``marks/<name>``) and then passes its input on, as a
    filter or textconv program would (a file argument is printed, else stdin is copied)."""
    folder.mkdir(parents=True, exist_ok=True)
    program = folder / name
    program.write_text(
        f'#!/bin/sh\necho "$@" > "{marks / name}"\n[ -f "$1" ] && exec cat "$1"\nexec cat\n'
    )
    program.chmod(0o755)
    return program


def ran(marks: Path) -> list[str]:
    """The names of the planted programs that ran."""
    return sorted(p.name for p in marks.iterdir()) if marks.exists() else []


def riskhints(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m riskhints <args>`` run in ``cwd``, as a separate process."""
    return subprocess.run(
        [sys.executable, "-m", "riskhints", *args],
        cwd=cwd,
        env=CLI_ENV,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


#: How a console script starts (``riskhints`` on PATH): no folder of the cwd on ``sys.path``.
CONSOLE_SCRIPT = "import sys; del sys.path[0]; from riskhints.cli import main; sys.exit(main())"


def riskhints_script(
    cwd: Path, *args: str, prelude: str = "", timeout: float = CLI_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """``riskhints <args>`` run in ``cwd`` as its console script runs (``python -m`` would put
    the cwd first on this process's own ``sys.path``, which no user's ``riskhints`` does);
    ``prelude`` runs first (after the cwd left ``sys.path``)."""
    return subprocess.run(
        [sys.executable, "-c", CONSOLE_SCRIPT.replace("from", f"{prelude}from", 1), *args],
        cwd=cwd,
        env=CLI_ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def plant_modules(workspace: Path, marks: Path, names: tuple[str, ...]) -> None:
    """Modules named like standard ones that record being imported (and then break)."""
    for name in names:
        (workspace / f"{name}.py").write_text(
            f"open({str(marks / name)!r}, 'w').close()\n"
            "raise ImportError('a workspace module shadowing the standard library ran')\n"
        )


async def serve_in(
    workspace: Path, capabilities: str = "neovim", *serve_args: str, folders: Any = None
) -> Any:
    """A real client and the server started in ``workspace`` (as Neovim starts it, by its
    console script), initialised with the workspace (or ``folders``) as its workspace folders;
    the caller shuts it down."""
    from lsprotocol import types

    from ..e2e.lsp_support import TIMEOUT_S, make_client
    from ..e2e.lsp_support import capabilities as client_capabilities

    client = make_client()
    await client.start_io(
        sys.executable, "-c", CONSOLE_SCRIPT, "serve", *serve_args, env=CLI_ENV, cwd=str(workspace)
    )
    await asyncio.wait_for(
        client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities(capabilities),
                workspace_folders=[
                    types.WorkspaceFolder(uri=folder.as_uri(), name=folder.name)
                    for folder in (folders or [workspace])
                ],
                initialization_options={"debounceMs": 0},
            )
        ),
        TIMEOUT_S,
    )
    return client
