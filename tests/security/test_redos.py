"""``ai-commit-patterns`` from the workspace cannot freeze riskhints: ``^(a|aa)+$`` (exponential
on a commit message of many ``a``) is refused as a settings error naming it, and
``x?.*.*.*.*=`` (polynomial: minutes on 300 characters, no nested repeat to see) is matched in
a child process that is stopped after a few seconds, so the CLI finishes with a warning and the
server keeps answering. The bounds below end a hang; they measure nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types

from ..e2e.lsp_support import TIMEOUT_S, diagnostics, open_document
from ..gitrepo import commit, init
from .hostile import riskhints_script, serve_in

EXPONENTIAL = "^(a|aa)+$"
POLYNOMIAL = "x?.*.*.*.*="

RELAY = """import time


async def relay(upstream, downstream):
    chunk = await upstream.read()
    time.sleep(0.05)
    await downstream.write(chunk)
"""


def repo_with_patterns(folder: Path, pattern: str) -> Path:
    repo = init(folder)
    settings = f"[tool.riskhints]\nai-commit-patterns = ['{pattern}']\n"
    commit(repo, {"pyproject.toml": settings, "relay.py": RELAY}, "a" * 300 + "!")
    return repo


@pytest.fixture
def repos(tmp_path: Path) -> tuple[Path, Path]:
    return (
        repo_with_patterns(tmp_path / "exponential", EXPONENTIAL),
        repo_with_patterns(tmp_path / "polynomial", POLYNOMIAL),
    )


def test_cli_refuses_an_exponential_pattern_and_bounds_a_slow_one(
    repos: tuple[Path, Path],
) -> None:
    exponential, polynomial = repos
    refused = riskhints_script(exponential, "check", "--scope", "ai", ".", timeout=120)
    assert refused.returncode == 2
    assert "ai-commit-patterns" in refused.stderr and "exponential" in refused.stderr
    bounded = riskhints_script(polynomial, "provenance", "relay.py", timeout=120)
    assert bounded.returncode == 0, bounded.stderr
    assert "ai-commit-patterns took over" in bounded.stderr
    assert ": ai (" not in bounded.stdout


async def test_server_keeps_answering_with_workspace_patterns(
    tmp_path: Path, repos: tuple[Path, Path]
) -> None:
    client = await serve_in(tmp_path, "vscode", folders=list(repos))  # settings per folder
    try:
        for repo in repos:
            uri = open_document(client, repo / "relay.py", RELAY)
            found = await diagnostics(client, uri, 1)
            assert [str(d.code) for d in found] == ["RH101"]
            hover = client.text_document_hover_async(
                types.HoverParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=found[0].range.start,
                )
            )
            assert await asyncio.wait_for(hover, TIMEOUT_S) is not None
        refused = [m.message for m in client.log_messages if "exponential" in m.message]
        assert refused and "using the defaults for this folder" in refused[0]
    finally:
        await client.shutdown_session()
