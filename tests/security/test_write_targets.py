"""riskhints writes only inside the workspace once symlinks are resolved: ``.riskhints`` linked
out of the project (the check cache, the assistant prompt), ``.riskhints/provenance`` linked out
(the server's provenance store), and a folder of the project linked into another repository
(stress test, failure log, prompt for a file in it): each write is refused with a message, and
nothing appears in the folder the link leads to."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types

from ..e2e.lsp_support import TIMEOUT_S, diagnostics, open_document
from ..gitrepo import commit, init
from .hostile import riskhints_script, serve_in

GATEWAY = """import threading

_settle_lock = threading.Lock()


async def charge(processor, order):
    with _settle_lock:
        return await processor.capture(order.total)
"""

PASTED = """

async def refund(processor, order):
    with _settle_lock:
        return await processor.reverse(order.total)
"""


def everything_in(folder: Path) -> list[str]:
    return sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if ".git" not in p.parts
    )


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(workspace, outside, other repository): the workspace is a git repository with its own
    module and ``vendor/`` linked to the other repository's package."""
    outside = tmp_path / "outside"
    outside.mkdir()
    other = init(tmp_path / "payments-sdk")
    commit(other, {"sdk/gateway.py": GATEWAY, "pyproject.toml": '[project]\nname = "sdk"\n'}, "SDK")
    before = everything_in(other)
    workspace = init(tmp_path / "shop")
    commit(
        workspace,
        {"shop/gateway.py": GATEWAY, "pyproject.toml": '[project]\nname = "shop"\n'},
        "Shop",
    )
    (workspace / "vendor").symlink_to(other / "sdk", target_is_directory=True)
    assert everything_in(other) == before
    return workspace, outside, other


def test_check_cache_is_not_written_through_a_linked_riskhints_folder(
    layout: tuple[Path, Path, Path],
) -> None:
    workspace, outside, _ = layout
    (workspace / ".riskhints").symlink_to(outside, target_is_directory=True)
    done = riskhints_script(workspace, "check", "shop")
    assert done.returncode == 1, done.stderr
    assert "RH202" in done.stdout
    assert "not caching" in done.stderr and "leads outside the workspace" in done.stderr
    assert everything_in(outside) == []


def test_stress_test_and_failure_log_for_a_linked_folder_are_refused(
    layout: tuple[Path, Path, Path],
) -> None:
    workspace, _, other = layout
    before = everything_in(other)
    stress = riskhints_script(workspace, "stress", "vendor/gateway.py:charge")
    assert stress.returncode == 2
    assert "no place to write" in stress.stderr
    logged = riskhints_script(workspace, "failures", "add", "vendor/gateway.py:8")
    assert logged.returncode == 2
    assert everything_in(other) == before


async def wait_for_log(client, text: str) -> str:  # type: ignore[no-untyped-def]
    async def wait() -> str:
        while True:
            for message in client.log_messages:
                if text in message.message:
                    return str(message.message)
            await client.wait_for_notification(types.WINDOW_LOG_MESSAGE)

    return await asyncio.wait_for(wait(), TIMEOUT_S)


async def test_server_writes_no_provenance_or_prompt_through_links(
    layout: tuple[Path, Path, Path],
) -> None:
    workspace, outside, other = layout
    (workspace / ".riskhints").mkdir()
    (workspace / ".riskhints" / "provenance").symlink_to(outside, target_is_directory=True)
    before = everything_in(other)
    client = await serve_in(workspace, "vscode")
    try:
        path = workspace / "shop" / "gateway.py"
        uri = open_document(client, path, GATEWAY)
        await diagnostics(client, uri, 1)
        end = types.Position(line=GATEWAY.count("\n"), character=0)
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(start=end, end=end), text=PASTED
                    )
                ],
            )
        )
        path.write_text(GATEWAY + PASTED)
        client.text_document_did_save(
            types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        await wait_for_log(client, "provenance not saved")
        linked = workspace / "vendor" / "gateway.py"
        linked_uri = open_document(client, linked, GATEWAY)
        prompt = await asyncio.wait_for(
            client.workspace_execute_command_async(
                types.ExecuteCommandParams(
                    command="riskhints.assumptionsPrompt", arguments=[linked_uri, 5]
                )
            ),
            TIMEOUT_S,
        )
        assert "charge" in prompt  # the prompt is still answered, only not written
        await wait_for_log(client, "prompt not written")
    finally:
        await client.shutdown_session()
    assert everything_in(outside) == []
    assert everything_in(other) == before
