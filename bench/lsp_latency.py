"""How quickly does ``riskhints serve`` answer an editor? A benchmark over stdio, not a test.

Run from the repository root (see bench/README.md)::

    PYTHONPATH=server .venv/bin/python bench/lsp_latency.py

It starts the language server as a child process (``python -m riskhints serve``) and drives it
with pygls' ``LanguageClient``, using the capability sets pytest-lsp ships for VS Code (push
diagnostics) and Neovim 0.11 (pull diagnostics), ``initializationOptions {"debounceMs": 0}``:

* **edit latency**: on a ~2,000-line real module (stdlib ``asyncio/base_events.py``, the one
  ``check_speed.py`` uses) 50 small incremental edits, as typing makes them (a statement line
  inserted a few characters at a time, a character deleted and typed again, the line deleted,
  so the text is sometimes invalid mid-typing); for each, the time from sending ``didChange``
  to the ``publishDiagnostics`` carrying that version (push), and from ``didChange`` to the
  response of a ``textDocument/diagnostic`` request sent right after it (pull);
* **cold start**: spawn, ``initialize``, ``initialized`` + ``didOpen`` of the module, first
  ``publishDiagnostics``; the total and its split, repeated;
* **responsiveness**: ``hover`` and ``codeAction`` requests on a small open document while a
  generated 20,000-line file is being analysed (after its ``didOpen``/``didChange``), next to
  the same requests on an idle server.

It prints a table and writes ``bench/results/lsp_latency.json``. Needs the test extra (pygls,
lsprotocol, pytest-lsp for its client capability sets); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import contextlib
import importlib
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pytest_lsp import client_capabilities

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
CORPUS = BENCH / "corpus"
RESULTS = BENCH / "results"

# The edited module: a real, async-heavy stdlib module of ~2,000 lines (1,947 on CPython 3.11),
# the same as check_speed.py's single-module latency.
LATENCY_MODULE = "asyncio/base_events.py"
CLIENTS = {
    "vscode": "visual-studio-code",  # push diagnostics, UTF-16 positions
    "neovim": "neovim@v0.11.0",  # pull diagnostics (textDocument/diagnostic), UTF-8 positions
}
INIT_OPTIONS = {"debounceMs": 0}
BIG_FILE_LINES = 20_000
TIMEOUT_S = 60.0

TARGET_PUBLISH_P95_MS = 100.0
TARGET_RESPONSIVE_P95_MS = 100.0

# The small document of the responsiveness test: two hazards, so hover has something to show
# and the code actions have fixes to compute (libcst quick fixes, fix-all).
SMALL_DOC = """\
import asyncio
import threading
import time

_lock = threading.Lock()


async def refresh(client, key):
    with _lock:
        data = await client.fetch(key)
    return data


async def poll(client):
    while True:
        await refresh(client, "prices")
        time.sleep(5)
"""


# ---------------------------------------------------------------------------------- client


@dataclass
class Published:
    at: float  # time.perf_counter() when the client handled the notification
    uri: str
    version: int | None
    diagnostics: list[types.Diagnostic]


class BenchClient(LanguageClient):
    """pygls' client plus what an editor answers (configuration, registrations), recording
    every publishDiagnostics with its arrival time and version."""

    def __init__(self) -> None:
        super().__init__("riskhints-bench", "1")
        self.published: list[Published] = []
        self.log_messages: list[str] = []
        self.configuration_asked = asyncio.Event()
        self._waiters: list[asyncio.Future[None]] = []
        self._stderr: list[bytes] = []
        self._stderr_task: asyncio.Task[None] | None = None

        def on_publish(params: types.PublishDiagnosticsParams) -> None:
            now = time.perf_counter()
            self.published.append(
                Published(now, params.uri, params.version, list(params.diagnostics))
            )
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._waiters.clear()

        def on_configuration(params: types.ConfigurationParams) -> list[Any]:
            self.configuration_asked.set()
            return [None for _ in params.items]  # no client settings: initializationOptions

        def on_register(params: types.RegistrationParams) -> None:
            return None

        def on_refresh(params: None) -> None:
            return None

        def on_progress_create(params: types.WorkDoneProgressCreateParams) -> None:
            return None

        def on_log(params: types.LogMessageParams) -> None:
            self.log_messages.append(f"{params.type.name}: {params.message}")

        def on_show(params: types.ShowMessageParams) -> None:
            self.log_messages.append(f"showMessage {params.type.name}: {params.message}")

        handlers: dict[str, Any] = {
            types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS: on_publish,
            types.WORKSPACE_CONFIGURATION: on_configuration,
            types.CLIENT_REGISTER_CAPABILITY: on_register,
            types.WORKSPACE_DIAGNOSTIC_REFRESH: on_refresh,
            types.WINDOW_WORK_DONE_PROGRESS_CREATE: on_progress_create,
            types.WINDOW_LOG_MESSAGE: on_log,
            types.WINDOW_SHOW_MESSAGE: on_show,
        }
        for method, handler in handlers.items():
            self.feature(method)(handler)

    async def spawn(self, command: Sequence[str], env: dict[str, str]) -> None:
        await self.start_io(command[0], *command[1:], env=env, cwd=str(ROOT))
        server = self._server
        if server is not None and server.stderr is not None:
            self._stderr_task = asyncio.create_task(self._drain(server.stderr))

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self._stderr.append(line)
            del self._stderr[:-200]

    def stderr_tail(self) -> str:
        return b"".join(self._stderr[-40:]).decode(errors="replace")

    def publishes(self, uri: str, version: int | None) -> list[Published]:
        return [p for p in self.published if p.uri == uri and p.version == version]

    async def wait_publish(self, uri: str, version: int | None) -> Published:
        """The first publish for ``uri`` at ``version`` (also one that already arrived)."""

        async def wait() -> Published:
            while True:
                found = self.publishes(uri, version)
                if found:
                    return found[0]
                waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                await waiter

        published: Published = await self.bounded(wait(), f"publishDiagnostics of {uri} v{version}")
        return published

    async def bounded(self, awaitable: Any, what: str) -> Any:
        try:
            return await asyncio.wait_for(awaitable, TIMEOUT_S)
        except asyncio.TimeoutError:
            raise SystemExit(
                f"bench: no {what} within {TIMEOUT_S:g} s; server stderr:\n{self.stderr_tail()}"
            ) from None

    async def close(self) -> None:
        """shutdown + exit, then make sure the child is gone."""
        server = self._server
        try:
            if server is not None and server.returncode is None:
                await asyncio.wait_for(self.shutdown_async(None), 10)
                self.exit(None)
                await asyncio.wait_for(server.wait(), 10)
        except (asyncio.TimeoutError, RuntimeError, ConnectionError):
            pass
        finally:
            if server is not None and server.returncode is None:
                server.kill()
                await server.wait()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stop(), 10)  # type: ignore[no-untyped-call]
            if self._stderr_task is not None:
                self._stderr_task.cancel()


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "server"), env.get("PYTHONPATH", "")) if p
    )
    # An editor starts the server with bytecode caching on: a start-up without .pyc files
    # would compile every module of pygls, lsprotocol, cattrs and riskhints each time.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def server_command(prefix: Sequence[str]) -> list[str]:
    return [*prefix, sys.executable, "-m", "riskhints", "serve"]


@dataclass
class Workspace:
    folder: Path
    module: Path  # the ~2,000-line module, copied
    module_text: str
    small: Path
    big: Path
    big_text: str


@contextlib.asynccontextmanager
async def session(
    ws: Workspace, client_name: str, command: Sequence[str]
) -> AsyncIterator[BenchClient]:
    """A started, initialized server whose start-up settings exchange is over."""
    client = BenchClient()
    await client.spawn(command, server_env())
    try:
        await client.bounded(
            client.initialize_async(initialize_params(ws, client_name)), "initialize response"
        )
        client.initialized(types.InitializedParams())
        # The server asks for workspace/configuration on `initialized`; a document opened
        # before the answer is analysed twice (once more with the settings), which would
        # land in the first measurement.
        await client.bounded(client.configuration_asked.wait(), "workspace/configuration")
        await asyncio.sleep(0.1)
        yield client
    finally:
        await client.close()


def initialize_params(ws: Workspace, client_name: str) -> types.InitializeParams:
    return types.InitializeParams(
        capabilities=client_capabilities(CLIENTS[client_name]),
        process_id=os.getpid(),
        root_uri=ws.folder.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=ws.folder.as_uri(), name="bench")],
        initialization_options=INIT_OPTIONS,
    )


def did_open(client: BenchClient, path: Path, text: str, version: int = 1) -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=version, text=text
            )
        )
    )
    return uri


async def pull(
    client: BenchClient, uri: str, previous: str | None
) -> types.DocumentDiagnosticReport:
    report: types.DocumentDiagnosticReport = await client.bounded(
        client.text_document_diagnostic_async(
            types.DocumentDiagnosticParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                identifier="riskhints",
                previous_result_id=previous,
            )
        ),
        f"textDocument/diagnostic response for {uri}",
    )
    return report


# ----------------------------------------------------------------------------------- inputs


def module_source() -> tuple[Path, str]:
    """The module from bench/corpus when check_speed.py has copied it, else the stdlib's."""
    for base in (CORPUS, Path(sysconfig.get_paths()["stdlib"])):
        path = base / LATENCY_MODULE
        if path.is_file():
            return path, path.read_text(encoding="utf-8")
    raise SystemExit(f"bench: {LATENCY_MODULE} not found in {CORPUS} nor the stdlib")


# Templates of the generated big file: request handlers, services, workers as an async web
# backend has them; one block in ten carries hazards (lock across await, blocking sleep, a
# fire-and-forget task), so the file has findings throughout. "__N__" is the block number.
BIG_HEADER = '''\
"""Generated by bench/lsp_latency.py: a large async backend module (not real code)."""

import asyncio
import collections
import json
import logging
import threading
import time

logger = logging.getLogger(__name__)


class NotFound(Exception):
    pass


def json_response(payload, status=200):
    return {"status": status, "body": json.dumps(payload)}

'''
BIG_TEMPLATES = (
    '''
async def handle_get_order___N__(request, db, cache):
    """Return order __N__ as JSON, from the cache while it is fresh."""
    order_id = int(request.match_info["order_id"])
    key = f"order:{order_id}:__N__"
    cached = await cache.get(key)
    if cached is not None:
        return json_response(cached)
    async with db.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT id, status, total FROM orders WHERE id = $1", order_id
        )
    if row is None:
        raise NotFound(f"order {order_id}")
    payload = {"id": row["id"], "status": row["status"], "total": str(row["total"])}
    await cache.set(key, payload, ttl=30)
    return json_response(payload)
''',
    '''
class InventoryService__N__:
    """Stock levels for one warehouse, refreshed from the upstream API."""

    def __init__(self, client, limit=10):
        self._client = client
        self._lock = asyncio.Lock()
        self._stock = {}
        self._limit = asyncio.Semaphore(limit)

    async def refresh(self, sku):
        async with self._limit:
            data = await self._client.fetch(sku)
        async with self._lock:
            self._stock[sku] = data["count"]
        return data

    async def reserve(self, sku, count):
        async with self._lock:
            available = self._stock.get(sku, 0)
            if available < count:
                return False
            self._stock[sku] = available - count
        logger.info("reserved %s x %s", count, sku)
        return True

    def snapshot(self):
        return dict(self._stock)
''',
    '''
def summarise_sales___N__(rows):
    """Totals per region, written as CSV lines (a synchronous helper)."""
    totals = collections.Counter()
    for row in rows:
        if row.get("cancelled"):
            continue
        totals[row["region"]] += row["amount"]
    lines = []
    for region, amount in sorted(totals.items()):
        lines.append(f"{region},{amount:.2f}")
    return "\\n".join(lines)
''',
    '''
async def consume_events___N__(queue, handler, stop):
    """Worker loop: take events off the queue until `stop` is set."""
    while not stop.is_set():
        try:
            event = await asyncio.wait_for(queue.get(), timeout=1.0)
        except asyncio.TimeoutError:
            continue
        try:
            await handler(event)
        except Exception:
            logger.exception("handler failed for %r", event)
        finally:
            queue.task_done()
''',
    '''
_price_lock___N__ = threading.Lock()
_prices___N__ = {}


async def refresh_prices___N__(client, skus):
    """Reload prices for `skus` (legacy code, with the usual mistakes)."""
    with _price_lock___N__:
        prices = await client.fetch_prices(skus)
        _prices___N__.update(prices)
    time.sleep(0.05)
    asyncio.create_task(client.audit("refresh", len(skus)))
    return prices


async def handle_prices___N__(request, client):
    skus = request.query.get("skus", "").split(",")
    prices = await refresh_prices___N__(client, skus)
    return json_response(prices)
''',
)


def big_source(lines: int) -> str:
    parts = [BIG_HEADER]
    count = BIG_HEADER.count("\n")
    block = 0
    while count < lines:
        # One block in ten is the hazardous one (the last template), the rest rotate.
        if block % 10 == 9:
            template = BIG_TEMPLATES[-1]
        else:
            template = BIG_TEMPLATES[block % (len(BIG_TEMPLATES) - 1)]
        text = template.replace("__N__", str(block))
        parts.append(text)
        count += text.count("\n")
        block += 1
    return "".join(parts)


def make_workspace(folder: Path, big_lines: int) -> Workspace:
    source, text = module_source()
    (folder / "pyproject.toml").write_text("[project]\nname = 'bench'\n", encoding="utf-8")
    module = folder / "base_events.py"
    module.write_text(text, encoding="utf-8")
    small = folder / "cache.py"
    small.write_text(SMALL_DOC, encoding="utf-8")
    big = folder / "backend.py"
    big_text = big_source(big_lines)
    big.write_text(big_text, encoding="utf-8")
    return Workspace(folder, module, text, small, big, big_text)


# ------------------------------------------------------------------------------------ edits


@dataclass(frozen=True)
class Edit:
    """One incremental change: replace ``[start, end)`` (line, character) with ``text``."""

    start: tuple[int, int]
    end: tuple[int, int]
    text: str
    what: str

    def change(self) -> types.TextDocumentContentChangePartial:
        return types.TextDocumentContentChangePartial(
            range=types.Range(
                start=types.Position(line=self.start[0], character=self.start[1]),
                end=types.Position(line=self.end[0], character=self.end[1]),
            ),
            text=self.text,
        )

    def apply(self, text: str) -> str:
        """The same change on the client's copy (ASCII text: characters are code units)."""
        lines = text.split("\n")
        offsets = [0]
        for line in lines:
            offsets.append(offsets[-1] + len(line) + 1)
        start = offsets[self.start[0]] + self.start[1]
        end = offsets[self.end[0]] + self.end[1]
        return text[:start] + self.text + text[end:]


def edit_sites(text: str, count: int) -> list[tuple[int, int, str]]:
    """``count`` places spread over the module, each the first statement of an ``async def``
    body (after its docstring): (0-based line, indentation, function name)."""
    sites: list[tuple[int, int, str]] = []
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.AsyncFunctionDef):
            continue
        body = node.body
        if (
            len(body) > 1
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            body = body[1:]
        first = body[0]
        if first.lineno == node.lineno:
            continue
        sites.append((first.lineno - 1, first.col_offset, node.name))
    sites.sort()
    if len(sites) < count:
        raise SystemExit(f"bench: only {len(sites)} async functions to edit in the module")
    step = len(sites) / count
    return [sites[int(i * step)] for i in range(count)]


def edit_script(text: str, edits: int) -> list[Edit]:
    """Cycles of five edits, each cycle in another async function, each leaving the text as it
    found it: type ``time.sleep(`` on a new line (invalid: unclosed paren), type ``0.1)``
    (valid, and a new RH101 finding), delete the ``)`` (invalid), type it again (valid),
    delete the line (valid, the original text)."""
    cycles = math.ceil(edits / 5)
    script: list[Edit] = []
    opened = "time.sleep("
    for line, indent, name in edit_sites(text, cycles):
        pad = " " * indent
        close = indent + len(opened) + len("0.1")  # the column of ")"
        script += [
            Edit((line, 0), (line, 0), f"{pad}{opened}\n", f"type `{opened}` in {name}"),
            Edit((line, indent + len(opened)), (line, indent + len(opened)), "0.1)", "type `0.1)`"),
            Edit((line, close), (line, close + 1), "", "delete `)`"),
            Edit((line, close), (line, close), ")", "type `)`"),
            Edit((line, 0), (line + 1, 0), "", "delete the line"),
        ]
    return script[:edits]


def parses(text: str) -> bool:
    try:
        ast.parse(text)
    except SyntaxError:
        return False
    return True


# ---------------------------------------------------------------------------------- figures


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def stats(samples_ms: Sequence[float]) -> dict[str, Any]:
    ordered = sorted(samples_ms)
    if not ordered:
        return {"n": 0}
    return {
        "n": len(ordered),
        "p50_ms": percentile(ordered, 50),
        "p95_ms": percentile(ordered, 95),
        "min_ms": ordered[0],
        "max_ms": ordered[-1],
        "mean_ms": statistics.fmean(ordered),
    }


def ms(seconds: float) -> float:
    return seconds * 1000


# ---------------------------------------------------------------------------- measurements


@dataclass
class EditSample:
    version: int
    what: str
    valid: bool
    ms: float
    diagnostics: int


async def measure_push(ws: Workspace, command: Sequence[str], script: list[Edit]) -> dict[str, Any]:
    """VS Code: didChange -> the publishDiagnostics carrying that version."""
    samples: list[EditSample] = []
    async with session(ws, "vscode", command) as client:
        uri = did_open(client, ws.module, ws.module_text)
        await client.wait_publish(uri, 1)
        await asyncio.sleep(0.2)
        text = ws.module_text
        for version, edit in enumerate(script, start=2):
            text = edit.apply(text)
            sent = time.perf_counter()
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                    content_changes=[edit.change()],
                )
            )
            published = await client.wait_publish(uri, version)
            samples.append(
                EditSample(
                    version,
                    edit.what,
                    parses(text),
                    ms(published.at - sent),
                    len(published.diagnostics),
                )
            )
        if text != ws.module_text:
            raise SystemExit("bench: the edit script did not restore the module's text")
        stray = [p for p in client.published if p.uri == uri and p.version not in (None, 1)]
        duplicates = len(stray) - len(script)
    return edit_summary(samples, extra={"duplicate_publishes": duplicates})


async def measure_pull(ws: Workspace, command: Sequence[str], script: list[Edit]) -> dict[str, Any]:
    """Neovim 0.11: didChange, then at once textDocument/diagnostic -> its response."""
    samples: list[EditSample] = []
    async with session(ws, "neovim", command) as client:
        uri = did_open(client, ws.module, ws.module_text)
        report = await pull(client, uri, None)
        previous = getattr(report, "result_id", None)
        await asyncio.sleep(0.2)
        text = ws.module_text
        for version, edit in enumerate(script, start=2):
            text = edit.apply(text)
            sent = time.perf_counter()
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                    content_changes=[edit.change()],
                )
            )
            report = await pull(client, uri, previous)
            done = time.perf_counter()
            previous = getattr(report, "result_id", None)
            items = getattr(report, "items", None)
            samples.append(
                EditSample(
                    version,
                    edit.what,
                    parses(text),
                    ms(done - sent),
                    len(items) if items is not None else -1,  # -1: "unchanged"
                )
            )
    return edit_summary(samples)


def edit_summary(samples: list[EditSample], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "all": stats([s.ms for s in samples]),
        "valid_text": stats([s.ms for s in samples if s.valid]),
        "invalid_text": stats([s.ms for s in samples if not s.valid]),
        **(extra or {}),
        "samples": [asdict(s) for s in samples],
    }


async def measure_cold(ws: Workspace, command: Sequence[str], reps: int) -> dict[str, Any]:
    """Spawn -> initialize response -> (initialized, didOpen) -> first publishDiagnostics, as
    an editor opening a file does it: didOpen right after initialized, not waiting. One
    uncounted warm-up start first."""
    runs: list[dict[str, float | int]] = []
    for rep in range(-1, reps):  # rep -1: a warm-up start (bytecode, page cache), not counted
        client = BenchClient()
        try:
            start = time.perf_counter()
            await client.spawn(command, server_env())
            spawned = time.perf_counter()
            await client.bounded(
                client.initialize_async(initialize_params(ws, "vscode")), "initialize response"
            )
            initialized = time.perf_counter()
            client.initialized(types.InitializedParams())
            uri = did_open(client, ws.module, ws.module_text)
            published = await client.wait_publish(uri, 1)
            # Whether the settings answer made the server analyse the document again.
            await asyncio.sleep(0.3)
            if rep < 0:
                continue
            runs.append(
                {
                    "total_ms": ms(published.at - start),
                    "spawn_ms": ms(spawned - start),
                    "start_initialize_ms": ms(initialized - start),
                    "first_analysis_ms": ms(published.at - initialized),
                    "publishes_v1": len(client.publishes(uri, 1)),
                }
            )
        finally:
            await client.close()
    keys = ("total_ms", "start_initialize_ms", "first_analysis_ms", "spawn_ms")
    return {
        "reps": reps,
        **{key: stats([float(run[key]) for run in runs]) for key in keys},
        "runs": runs,
    }


@dataclass
class RequestSample:
    kind: str
    ms: float
    during_analysis: bool
    answered: bool


async def measure_responsiveness(
    ws: Workspace, command: Sequence[str], per_kind: int, idle_per_kind: int, gap_s: float
) -> dict[str, Any]:
    """hover / codeAction on the small document while the big one is analysed. A request
    counts when it was sent after the big document's didOpen/didChange and answered before
    the publishDiagnostics of that version; after each such publish the big document gets
    another small edit, so analysis goes on until enough requests are in."""
    kinds = ("hover", "codeAction")
    async with session(ws, "vscode", command) as client:
        small_uri = did_open(client, ws.small, SMALL_DOC)
        small = await client.wait_publish(small_uri, 1)
        if not small.diagnostics:
            raise SystemExit("bench: the small document has no findings to hover")
        diagnostic = small.diagnostics[0]

        async def request(kind: str) -> tuple[float, bool]:
            start = time.perf_counter()
            if kind == "hover":
                hover = await client.bounded(
                    client.text_document_hover_async(
                        types.HoverParams(
                            text_document=types.TextDocumentIdentifier(uri=small_uri),
                            position=diagnostic.range.start,
                        )
                    ),
                    "hover response",
                )
                answered = hover is not None
            else:
                # What VS Code sends when the user asks for the light bulb (Ctrl+.) on the
                # diagnostic: quick fixes for it plus the document's fix-all.
                actions = await client.bounded(
                    client.text_document_code_action_async(
                        types.CodeActionParams(
                            text_document=types.TextDocumentIdentifier(uri=small_uri),
                            range=diagnostic.range,
                            context=types.CodeActionContext(
                                diagnostics=[diagnostic],
                                trigger_kind=types.CodeActionTriggerKind.Invoked,
                            ),
                        )
                    ),
                    "codeAction response",
                )
                answered = bool(actions)
            return ms(time.perf_counter() - start), answered

        # Idle server first: the floor of each request.
        idle: dict[str, list[float]] = {kind: [] for kind in kinds}
        for i in range(idle_per_kind * len(kinds)):
            kind = kinds[i % len(kinds)]
            took, answered = await request(kind)
            if not answered:
                raise SystemExit(f"bench: {kind} on the small document returned nothing")
            idle[kind].append(took)
            await asyncio.sleep(gap_s)

        # The big file's next edits: "#" typed on an empty line in its middle half (a comment
        # is valid anywhere outside a string), so every analysis is of valid text.
        lines = ws.big_text.split("\n")
        blank_lines = [
            n
            for n, text in enumerate(lines)
            if not text and len(lines) // 4 < n < len(lines) * 3 // 4
        ][::97]
        big_uri = did_open(client, ws.big, ws.big_text)
        opened = time.perf_counter()
        version = 1
        analyses: list[dict[str, Any]] = []
        samples: list[RequestSample] = []
        counted = dict.fromkeys(kinds, 0)
        i = 0
        big_text = ws.big_text
        while min(counted.values()) < per_kind:
            kind = kinds[i % len(kinds)]
            i += 1
            took, answered = await request(kind)
            done = time.perf_counter()
            publish = client.publishes(big_uri, version)
            during = not publish or publish[0].at > done
            if during and counted[kind] < per_kind:
                counted[kind] += 1
                samples.append(RequestSample(kind, took, True, answered))
            elif not during:
                samples.append(RequestSample(kind, took, False, answered))
            if publish:
                analyses.append(
                    {
                        "version": version,
                        "ms": ms(publish[0].at - opened),
                        "diagnostics": len(publish[0].diagnostics),
                    }
                )
                # Next analysis: a one-character edit somewhere in the middle of the file.
                version += 1
                line = blank_lines[len(analyses) % len(blank_lines)]
                edit = Edit((line, 0), (line, 0), "#", "type `#` on an empty line")
                big_text = edit.apply(big_text)
                opened = time.perf_counter()
                client.text_document_did_change(
                    types.DidChangeTextDocumentParams(
                        text_document=types.VersionedTextDocumentIdentifier(
                            uri=big_uri, version=version
                        ),
                        content_changes=[edit.change()],
                    )
                )
            await asyncio.sleep(gap_s)
            if i > 2000:
                raise SystemExit("bench: too many requests without enough during analysis")
        last = await client.wait_publish(big_uri, version)
        analyses.append(
            {"version": version, "ms": ms(last.at - opened), "diagnostics": len(last.diagnostics)}
        )
    busy = [s for s in samples if s.during_analysis]
    return {
        "big_file_lines": big_text.count("\n"),
        "gap_ms": ms(gap_s),
        "idle": {kind: stats(idle[kind]) for kind in kinds},
        "busy": {kind: stats([s.ms for s in busy if s.kind == kind]) for kind in kinds},
        "busy_all": stats([s.ms for s in busy]),
        "unanswered_busy": sum(not s.answered for s in busy),
        "big_analyses": analyses,
        "samples": [asdict(s) for s in samples],
    }


# ---------------------------------------------------------------------------------- report


def versions() -> dict[str, Any]:
    found: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    for dist in ("pygls", "lsprotocol", "pytest-lsp"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = None
    sys.path.insert(0, str(ROOT / "server"))
    found["riskhints"] = importlib.import_module("riskhints").__version__
    return found


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    dirty = git("status", "--porcelain", "--", "server")
    return {
        "commit": git("rev-parse", "HEAD"),
        "server_dirty": bool(dirty),
        "server_status": dirty.splitlines(),  # what differs from the commit, if anything
    }


def target(measured: float, limit: float) -> dict[str, Any]:
    return {"target": f"<= {limit:g} ms", "measured": measured, "met": measured <= limit}


def print_report(results: dict[str, Any]) -> None:
    load = ", ".join(f"{x:.2f}" for x in results["loadavg_before"])
    print(
        f"\nload average before: {load}; riskhints at {results['git']['commit'][:12]}"
        + (" + uncommitted changes in server/" if results["git"]["server_dirty"] else "")
    )
    inputs = results["inputs"]
    print(
        f"module: {inputs['module']} ({inputs['module_lines']:,} lines); big file: "
        f"{inputs['big_file_lines']:,} generated lines; server: {inputs['server_command']}"
    )
    header = f"{'measurement':50} {'n':>3} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}"

    def row(label: str, figures: dict[str, Any]) -> None:
        if not figures.get("n"):
            print(f"{label:50} {0:3}")
            return
        print(
            f"{label:50} {figures['n']:3} {figures['p50_ms']:8.1f} {figures['p95_ms']:8.1f} "
            f"{figures['max_ms']:8.1f}"
        )

    edits = results.get("push"), results.get("pull")
    if any(edits):
        print(f"\n== edit latency, {inputs['edits']} edits, debounceMs 0")
        print(header)
        print("-" * len(header))
        for key, label in (
            ("push", "didChange -> publishDiagnostics (VS Code, push)"),
            ("pull", "didChange -> diagnostic response (Neovim, pull)"),
        ):
            section = results.get(key)
            if section is None:
                continue
            row(label, section["all"])
            row("  text parses", section["valid_text"])
            row("  text invalid (mid-typing)", section["invalid_text"])
    cold = results.get("cold")
    if cold:
        print(f"\n== cold start to first diagnostics ({cold['reps']} runs, VS Code caps)")
        print(header)
        print("-" * len(header))
        row("total: spawn -> first publishDiagnostics", cold["total_ms"])
        row("  process start + initialize response", cold["start_initialize_ms"])
        row("    of which spawn (fork/exec returns)", cold["spawn_ms"])
        row("  initialized + didOpen -> first publish", cold["first_analysis_ms"])
        print(
            "  runs (total / start+init / first analysis / v1 publishes): "
            + "; ".join(
                f"{r['total_ms']:.0f}/{r['start_initialize_ms']:.0f}/{r['first_analysis_ms']:.0f}/"
                f"{r['publishes_v1']}"
                for r in cold["runs"]
            )
        )
    resp = results.get("responsiveness")
    if resp:
        print(
            f"\n== responsiveness: requests on a small document while a "
            f"{resp['big_file_lines']:,}-line file is analysed"
        )
        print(header)
        print("-" * len(header))
        for kind in ("hover", "codeAction"):
            row(f"{kind}, idle server", resp["idle"][kind])
            row(f"{kind}, during analysis", resp["busy"][kind])
        times = ", ".join(f"{a['ms']:.0f}" for a in resp["big_analyses"])
        print(f"  big file analyses (didOpen/didChange -> publish, ms): {times}")
        if resp["unanswered_busy"]:
            print(f"  requests answered with nothing during analysis: {resp['unanswered_busy']}")
    print("\n== targets")
    for name, figures in results["targets"].items():
        mark = "met" if figures["met"] else "NOT MET"
        print(f"{name:34} {figures['target']:>10}  measured {figures['measured']:7.1f}  {mark}")
    print(f"\nbench took {results['bench_wall_s']:.0f} s")


# ------------------------------------------------------------------------------------ main


async def run(args: argparse.Namespace) -> dict[str, Any]:
    command = (
        shlex.split(args.server_command)
        if args.server_command
        else server_command(shlex.split(args.server_prefix))
    )
    results: dict[str, Any] = {
        "versions": versions(),
        "git": git_state(),
        "loadavg_before": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="riskhints-lsp-bench-") as tmp:
        ws = make_workspace(Path(tmp), args.big_lines)
        script = edit_script(ws.module_text, args.edits)
        source, _ = module_source()
        results["inputs"] = {
            "module": f"stdlib {LATENCY_MODULE}",
            "module_path": str(source),
            "module_lines": ws.module_text.count("\n"),
            "big_file_lines": ws.big_text.count("\n"),
            "edits": len(script),
            "edit_script": [asdict(e) for e in script[:10]],
            "initialization_options": INIT_OPTIONS,
            "server_command": " ".join(command),
        }
        only = set(args.only.split(",")) if args.only else {"push", "pull", "cold", "responsive"}
        if "push" in only:
            results["push"] = await measure_push(ws, command, script)
            print(f"push: p95 {results['push']['all']['p95_ms']:.1f} ms", flush=True)
        if "pull" in only:
            results["pull"] = await measure_pull(ws, command, script)
            print(f"pull: p95 {results['pull']['all']['p95_ms']:.1f} ms", flush=True)
        if "cold" in only:
            results["cold"] = await measure_cold(ws, command, args.cold_reps)
            print(f"cold: p50 {results['cold']['total_ms']['p50_ms']:.0f} ms", flush=True)
        if "responsive" in only:
            results["responsiveness"] = await measure_responsiveness(
                ws, command, args.requests, args.idle_requests, args.gap_ms / 1000
            )
            print("responsiveness: done", flush=True)

    targets: dict[str, Any] = {}
    if "push" in results:
        targets["didChange->publish p95 (push)"] = target(
            results["push"]["all"]["p95_ms"], TARGET_PUBLISH_P95_MS
        )
    if "pull" in results:
        targets["didChange->pull response p95"] = target(
            results["pull"]["all"]["p95_ms"], TARGET_PUBLISH_P95_MS
        )
    if "responsiveness" in results:
        for kind, figures in results["responsiveness"]["busy"].items():
            if figures.get("n"):
                targets[f"{kind} p95 during analysis"] = target(
                    figures["p95_ms"], TARGET_RESPONSIVE_P95_MS
                )
    results["targets"] = targets
    results["loadavg_after"] = os.getloadavg()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=50, help="edits per mode (default 50)")
    parser.add_argument("--cold-reps", type=int, default=5, help="cold starts (default 5)")
    parser.add_argument(
        "--requests", type=int, default=20, help="hover and codeAction each (default 20)"
    )
    parser.add_argument(
        "--idle-requests", type=int, default=10, help="of each on an idle server (default 10)"
    )
    parser.add_argument(
        "--gap-ms", type=float, default=25.0, help="pause between requests (default 25)"
    )
    parser.add_argument("--big-lines", type=int, default=BIG_FILE_LINES, help="generated file size")
    parser.add_argument(
        "--only", default="", help="comma-separated subset of push,pull,cold,responsive"
    )
    parser.add_argument(
        "--server-prefix",
        default="",
        help="run the server under this command, e.g. 'py-spy record -o prof.svg --'",
    )
    parser.add_argument(
        "--server-command",
        default="",
        help="the whole server command instead (e.g. a profiling wrapper script)",
    )
    parser.add_argument(
        "--output", type=Path, default=RESULTS / "lsp_latency.json", help="where to write JSON"
    )
    args = parser.parse_args(argv)

    began = time.perf_counter()
    results = asyncio.run(run(args))
    results["bench_wall_s"] = time.perf_counter() - began
    print_report(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    shown = args.output.resolve()
    print(f"\nwrote {shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
