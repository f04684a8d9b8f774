"""Property-based fuzzing of the live server: random edit sequences — invalid code, random
unicode, CRLF, form feeds and U+2028 included — sent as incremental changes in the client's
own position encoding. The server never crashes, every diagnostics report it gives for a
version is the analysis of exactly that version's text, and the final report equals a fresh
``riskhints`` analysis of the final text."""

from __future__ import annotations

import itertools
import re
import textwrap
from pathlib import Path

import pytest
import pytest_lsp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types
from pytest_lsp import LanguageClient

from riskhints.analysis import analyze_source

from .lsp_support import CONFIG, capabilities, diagnostics, open_document, publishes, uses_pull

BASE = textwrap.dedent(
    """\
    import asyncio
    import threading
    import time

    _lock = threading.Lock()
    _tasks = set()


    async def refresh(client, key):
        time.sleep(0.1)
        with _lock:
            data = await client.fetch(key)
        asyncio.create_task(client.log(key))
        return data


    async def worker(queue):
        while True:
            try:
                item = await queue.get()
            except asyncio.CancelledError:
                pass
    """
)
SNIPPETS = [
    "await ",
    "async def handler(request):\n    ",
    "with _lock:\n    ",
    "    ",
    "\n",
    "\r\n",
    "\r",
    "\t",
    "(",
    ")",
    ":",
    '"""',
    "#",
    "\\",
    "\x0c",
    "\u2028",
    "\U0001f512",
    "\u9501",
    "time.sleep(1)\n",
    "asyncio.create_task(job())\n",
    "except:\n        pass\n",
    "",
]
EDIT = st.tuples(
    st.floats(0, 1),
    st.integers(0, 30),
    st.one_of(st.sampled_from(SNIPPETS), st.text(max_size=6)),
)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_COUNTER = itertools.count()


def client_position(text: str, offset: int, encoding: str) -> types.Position:
    """LSP position of a code-point offset: lines end at \\r\\n, \\r or \\n only."""
    line, start = 0, 0
    for match in _LINE_BREAK.finditer(text, 0, offset):
        if match.end() <= offset:
            line, start = line + 1, match.end()
    prefix = text[start:offset]
    if encoding == "utf-8":
        units = len(prefix.encode("utf-8"))
    elif encoding == "utf-16":
        units = len(prefix.encode("utf-16-le")) // 2
    else:
        units = len(prefix)
    return types.Position(line=line, character=units)


def safe_offset(text: str, offset: int) -> int:
    """Not between the \\r and \\n of a CRLF: no LSP position points there."""
    if 0 < offset < len(text) and text[offset - 1] == "\r" and text[offset] == "\n":
        return offset + 1
    return offset


def expected(text: str, path: str) -> set[tuple[str, int, str]]:
    return {(f.rule, f.span.line - 1, f.message) for f in analyze_source(text, path)}


def reported(found: list[types.Diagnostic]) -> set[tuple[str, int, str]]:
    return {(str(d.code), d.range.start.line, d.message) for d in found}


@pytest_lsp.fixture(config=CONFIG, params=["vscode", "neovim"])
async def client(lsp_client: LanguageClient, request: pytest.FixtureRequest, tmp_path: Path):
    result = await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities(request.param),
            workspace_folders=[types.WorkspaceFolder(uri=tmp_path.as_uri(), name="fuzz")],
            initialization_options={"debounceMs": 0},
        )
    )
    lsp_client.encoding = str(result.capabilities.position_encoding or "utf-16")  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(edits=st.lists(EDIT, min_size=1, max_size=10))
async def test_random_edits_never_crash_or_publish_stale_results(
    client: LanguageClient, tmp_path: Path, edits: list[tuple[float, int, str]]
) -> None:
    encoding: str = client.encoding  # type: ignore[attr-defined]
    name = f"fuzz_{next(_COUNTER)}.py"
    uri = open_document(client, tmp_path / name, BASE)
    texts = {1: BASE}
    text = BASE
    version = 1
    for where, length, inserted in edits:
        start = safe_offset(text, int(where * len(text)))
        end = safe_offset(text, min(len(text), start + length))
        change = types.TextDocumentContentChangePartial(
            range=types.Range(
                start=client_position(text, start, encoding),
                end=client_position(text, end, encoding),
            ),
            text=inserted,
        )
        text = text[:start] + inserted + text[end:]
        version += 1
        texts[version] = text
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[change],
            )
        )
    final = await diagnostics(client, uri, version)
    assert reported(final) == expected(text, name)
    # Every push the server made for this document matches the text of the version it names.
    if not uses_pull(client):
        for published in publishes(client, uri, None):
            raise AssertionError(f"unversioned publish while open: {published}")
        for published_version, published_text in texts.items():
            for published in publishes(client, uri, published_version):
                assert reported(list(published.diagnostics)) == expected(published_text, name)
    assert client.error is None
    assert not [m for m in client.log_messages if m.type == types.MessageType.Error]
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
