"""A fuzzed editing session against ``riskhints serve``: a benchmark, not a test (``make
bench-fuzz``; not part of ``make test``).

Run from the repository root::

    PYTHONPATH=server .venv/bin/python bench/fuzz_session.py --edits 2000

It starts the server (in a temporary workspace folder, VS Code capabilities: push diagnostics,
UTF-16 positions, ``debounceMs 0``) and sends a seeded random session on one document: small
incremental edits (snippets with emoji, CJK, CRLF, a lone surrogate, broken syntax), deletions,
whole-document replacements, and every ``--paste-every`` edits a 20,000-line paste. After
about one edit in four it asks for a hover and for code actions at a random line. It reports:

* **crashes**: the server exiting, or logging an error to the client (``window/logMessage``);
* **stale publishes**: a ``publishDiagnostics`` for an older version after a newer one;
* **bad ranges**: a diagnostic outside the text of the version it was published for;
* **slowest request** on documents of at most 20,000 lines (hover, code action), in seconds;
* **memory**: the server's resident size (``/proc``) after warm-up, first and last sample.

It prints one JSON object. The figures depend on the machine: they are not asserted anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pytest_lsp import client_capabilities

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 300

BASE = """import asyncio
import threading
import time

_lock = threading.Lock()


async def refresh(client, key):
    time.sleep(0.1)
    with _lock:
        data = await client.fetch(key)
    asyncio.create_task(client.log(key))
    return data
"""
SNIPPETS = [
    "await ",
    "async def handler(request):\n    ",
    "with _lock:\n    ",
    "\n",
    "\r\n",
    "(",
    ")",
    "time.sleep(1)\n",
    'note = "🚀 进度"\n',
    "\ud83d",
    "def broken(:\n",
    "    " * 3,
    "x = " + "-" * 50 + "1\n",
]


def paste(lines: int) -> str:
    block = "async def pasted_{n}(queue):\n    item = await queue.get()\n    time.sleep(0)\n\n"
    return "".join(block.format(n=n) for n in range(lines // 4))


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def position(text: str, offset: int) -> types.Position:
    before = text[:offset]
    line = before.count("\n")
    return types.Position(line=line, character=utf16(before[before.rfind("\n") + 1 :]))


def line_widths(text: str) -> list[int]:
    return [utf16(line) for line in text.split("\n")]


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


async def session(edits: int, paste_every: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    folder = Path(tempfile.mkdtemp(prefix="riskhints-fuzz-"))
    (folder / "pyproject.toml").write_text('[project]\nname = "fuzzed"\n')
    client = LanguageClient("riskhints-fuzz", "1")
    published: list[tuple[int | None, list[types.Diagnostic]]] = []
    errors: list[str] = []
    arrived = asyncio.Event()

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_publish(params: types.PublishDiagnosticsParams) -> None:
        published.append((params.version, list(params.diagnostics)))
        arrived.set()

    @client.feature(types.WINDOW_LOG_MESSAGE)
    def on_log(params: types.LogMessageParams) -> None:
        if params.type == types.MessageType.Error:
            errors.append(params.message)

    @client.feature(types.WORKSPACE_CONFIGURATION)
    def configuration(params: types.ConfigurationParams) -> list[Any]:
        return [None for _ in params.items]

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(params: types.RegistrationParams) -> None:
        return None

    @client.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
    def progress(params: types.WorkDoneProgressCreateParams) -> None:
        return None

    env = {**os.environ, "PYTHONPATH": str(ROOT / "server")}
    await client.start_io(sys.executable, "-m", "riskhints", "serve", env=env, cwd=str(folder))
    pid = client._server.pid  # type: ignore[attr-defined]
    await asyncio.wait_for(
        client.initialize_async(
            types.InitializeParams(
                capabilities=client_capabilities("visual-studio-code"),
                workspace_folders=[types.WorkspaceFolder(uri=folder.as_uri(), name="fuzzed")],
                initialization_options={"debounceMs": 0},
            )
        ),
        TIMEOUT_S,
    )
    client.initialized(types.InitializedParams())
    uri = (folder / "fuzzed.py").as_uri()
    text, version = BASE, 1
    widths: dict[int, list[int]] = {1: line_widths(text)}
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=text
            )
        )
    )
    slowest, memory = 0.0, []
    started = time.perf_counter()
    for n in range(1, edits + 1):
        version += 1
        kind = rng.random()
        if paste_every and n % paste_every == 0:
            start = end = rng.randrange(len(text) + 1)
            new = paste(20_000)
        elif kind < 0.05:
            start, end, new = 0, len(text), BASE + rng.choice(SNIPPETS) * rng.randrange(1, 5)
        elif kind < 0.25 and len(text) > 1:
            start = rng.randrange(len(text))
            end, new = min(len(text), start + rng.randrange(1, 200)), ""
        else:
            start = end = rng.randrange(len(text) + 1)
            new = rng.choice(SNIPPETS)
        if (start, end) == (0, len(text)):
            change: Any = types.TextDocumentContentChangeWholeDocument(text=new)
        else:
            change = types.TextDocumentContentChangePartial(
                range=types.Range(start=position(text, start), end=position(text, end)), text=new
            )
        text = text[:start] + new + text[end:]
        if text.count("\n") > 40_000:  # keep the session on documents an editor holds
            change, text = types.TextDocumentContentChangeWholeDocument(text=BASE), BASE
        widths[version] = line_widths(text)
        widths.pop(version - 50, None)
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[change],
            )
        )
        if rng.random() < 0.25:
            line = rng.randrange(text.count("\n") + 1)
            where = types.Position(line=line, character=0)
            document = types.TextDocumentIdentifier(uri=uri)
            asked = time.perf_counter()
            await asyncio.wait_for(
                client.text_document_hover_async(
                    types.HoverParams(text_document=document, position=where)
                ),
                TIMEOUT_S,
            )
            await asyncio.wait_for(
                client.text_document_code_action_async(
                    types.CodeActionParams(
                        text_document=document,
                        range=types.Range(start=where, end=where),
                        context=types.CodeActionContext(diagnostics=[]),
                    )
                ),
                TIMEOUT_S,
            )
            if text.count("\n") <= 20_000:
                slowest = max(slowest, time.perf_counter() - asked)
        if n % 50 == 0:
            memory.append(rss_kib(pid))
    while not published or published[-1][0] != version:  # the last version's diagnostics
        arrived.clear()
        await asyncio.wait_for(arrived.wait(), TIMEOUT_S)
    elapsed = time.perf_counter() - started
    stale = bad = 0
    newest = 0
    for published_version, found in published:
        if published_version is None:
            continue
        if published_version < newest:
            stale += 1
        newest = max(newest, published_version)
        lines = widths.get(published_version)
        for diagnostic in found if lines is not None else []:
            end = diagnostic.range.end
            if end.line >= len(lines) or end.character > lines[end.line]:
                bad += 1
    await asyncio.wait_for(client.shutdown_async(None), TIMEOUT_S)
    client.exit(None)
    crashed = client._server.returncode not in (None, 0)  # type: ignore[attr-defined]
    await client.stop()
    warm = [m for m in memory[len(memory) // 10 :] if m is not None]
    return {
        "edits": edits,
        "seed": seed,
        "seconds": round(elapsed, 1),
        "publishes": len(published),
        "crashes": int(crashed) + len(errors),
        "stale_publishes": stale,
        "bad_ranges": bad,
        "slowest_request_s_up_to_20k_lines": round(slowest, 3),
        "rss_mib_after_warmup_first_last": [round(warm[0] / 1024), round(warm[-1] / 1024)]
        if warm
        else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=2000)
    parser.add_argument("--paste-every", type=int, default=250, help="a 20k-line paste every N")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    report = asyncio.run(session(args.edits, args.paste_every, args.seed))
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    ok = report["crashes"] == report["stale_publishes"] == report["bad_ranges"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
