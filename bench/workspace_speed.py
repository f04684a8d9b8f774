"""Workspace-wide analysis in the language server: how long the background index of a ~100,000
line workspace takes, how quickly an edited module is re-analysed once it exists, and how much
memory the server then holds. A benchmark you run by hand, not a test (see bench/README.md)::

    PYTHONPATH=server .venv/bin/python bench/workspace_speed.py

The workspace is the stdlib corpus of ``check_speed.py`` (built by it on first use; 215 files,
110,704 lines on CPython 3.11.7), copied into a temporary folder outside the repository (the
repository's ``.gitignore`` ignores ``bench/corpus``, and the index honours it). Its packages
import each other (``asyncio`` modules import ``asyncio.events``, ``unittest`` its own), so
analyses really cross files.

It starts ``python -m riskhints serve`` over stdio with pygls' client and VS Code's capability
set plus ``window.workDoneProgress`` (push diagnostics, ``debounceMs`` 0), and measures:

* **cold index**: from ``initialized`` to the ``$/progress`` end of the folder's index (the walk,
  every module parsed into facts, then jedi asked about the receivers only it can type, with the
  default ``inference = "jedi"``), the server process's CPU time over the same span, and when
  the parse phase ended (its last ``N/M modules`` report);
* **re-analysis after one edit**: ``--edits`` modules (30 by default) spread over the corpus,
  sizes included, are opened one after another (each stays open, as in an editor session);
  once the index is built, each gets one edit that appends a helper calling ``time.sleep``
  (a real change of what the module exports to its importers); the time from ``didChange`` to
  the ``publishDiagnostics`` of that version. This is the path every keystroke takes: the
  index replaces the module's facts (and re-reads importers whose facts used its exports),
  then analyses it with the workspace modules it imports;
* **peak memory**: the server's ``VmHWM`` (peak resident set) from ``/proc`` at the end.

Prints a table; writes ``bench/results/workspace_speed.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import client_capabilities

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_speed import build_corpus  # noqa: E402
from lsp_latency import CORPUS, RESULTS, BenchClient, server_command, server_env, stats  # noqa: E402

TARGET_COLD_S = 20.0
TARGET_EDIT_P95_MS = 200.0


class IndexClient(BenchClient):
    """The bench client plus ``$/progress`` reports, timestamped."""

    def __init__(self) -> None:
        super().__init__()
        self.progress: list[tuple[float, Any]] = []
        self.index_done = asyncio.Event()

        def on_progress(params: types.ProgressParams) -> None:
            self.progress.append((time.perf_counter(), params.value))
            if _kind(params.value) == "end":
                self.index_done.set()

        self.feature(types.PROGRESS)(on_progress)


def server_cpu_s(pid: int) -> float:
    """User plus system CPU seconds of a live process (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pick_modules(folder: Path, count: int) -> list[Path]:
    """``count`` modules evenly spread over the corpus sorted by size (small to large)."""
    files = sorted(
        (p for p in folder.rglob("*.py") if p.stat().st_size > 200),
        key=lambda p: (p.stat().st_size, str(p)),
    )
    if len(files) <= count:
        return files
    step = (len(files) - 1) / (count - 1)
    return [files[round(i * step)] for i in range(count)]


def edited(text: str, n: int) -> str:
    """The module with one helper appended: a sync function that may block."""
    tail = "" if text.endswith("\n") else "\n"
    return (
        f"{text}{tail}\n\ndef _bench_probe_{n}(delay):\n"
        f"    import time\n\n    time.sleep(delay)\n    return delay\n"
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    corpus = build_corpus(rebuild=False)
    with tempfile.TemporaryDirectory(prefix="riskhints-ws-bench-") as tmp:
        folder = Path(tmp) / "corpus"
        shutil.copytree(CORPUS, folder)
        client = IndexClient()
        await client.spawn(server_command([]), server_env())
        server = client._server
        assert server is not None
        try:
            caps = client_capabilities("visual-studio-code")
            if caps.window is not None:
                caps.window.work_done_progress = True
            await client.bounded(
                client.initialize_async(
                    types.InitializeParams(
                        capabilities=caps,
                        process_id=os.getpid(),
                        root_uri=folder.as_uri(),
                        workspace_folders=[types.WorkspaceFolder(uri=folder.as_uri(), name="ws")],
                        initialization_options={"debounceMs": 0, "inference": args.inference},
                    )
                ),
                "initialize response",
            )
            cpu_before = server_cpu_s(server.pid)
            started = time.perf_counter()
            client.initialized(types.InitializedParams())
            await asyncio.wait_for(client.index_done.wait(), 600)
            cold_s = time.perf_counter() - started
            cold_cpu_s = server_cpu_s(server.pid) - cpu_before
            reports = [(t, v) for t, v in client.progress if _kind(v) == "report"]
            parsing = [(t, v) for t, v in reports if not _message(v).startswith("types")]
            typing = [(t, v) for t, v in reports if _message(v).startswith("types")]
            indexed = _message(parsing[-1][1]) if parsing else "?"
            parsed_s = parsing[-1][0] - started if parsing else float("nan")
            typed = _message(typing[-1][1]) if typing else "no jedi pass"
            rss_after_index = peak_rss_mb(server.pid)

            modules = pick_modules(folder, args.edits)
            texts = {path: path.read_text(encoding="utf-8") for path in modules}
            for path in modules:
                uri = path.as_uri()
                client.text_document_did_open(
                    types.DidOpenTextDocumentParams(
                        text_document=types.TextDocumentItem(
                            uri=uri, language_id="python", version=1, text=texts[path]
                        )
                    )
                )
                await client.wait_publish(uri, 1)

            samples: list[float] = []
            per_module: list[dict[str, Any]] = []
            for n, path in enumerate(modules):
                uri = path.as_uri()
                text = edited(texts[path], n)
                sent = time.perf_counter()
                client.text_document_did_change(
                    types.DidChangeTextDocumentParams(
                        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
                    )
                )
                published = await client.wait_publish(uri, 2)
                took_ms = (published.at - sent) * 1000
                samples.append(took_ms)
                per_module.append(
                    {
                        "module": path.relative_to(folder).as_posix(),
                        "lines": text.count("\n"),
                        "ms": round(took_ms, 1),
                        "diagnostics": len(published.diagnostics),
                    }
                )
                await asyncio.sleep(args.pause_ms / 1000)  # dependents settle, as between edits
            peak = peak_rss_mb(server.pid)
        finally:
            await client.close()

    return {
        "corpus": corpus,
        "cold_index": {
            "wall_s": round(cold_s, 2),
            "server_cpu_s": round(cold_cpu_s, 2),
            "indexed": indexed,
            "parsed_s": round(parsed_s, 2),
            "jedi_pass": typed,
            "target_s": TARGET_COLD_S,
            "met": cold_s <= TARGET_COLD_S,
        },
        "edit": {
            **{k: round(v, 1) if isinstance(v, float) else v for k, v in stats(samples).items()},
            "target_p95_ms": TARGET_EDIT_P95_MS,
            "met": stats(samples)["p95_ms"] <= TARGET_EDIT_P95_MS,
            "samples": per_module,
        },
        "memory": {"rss_after_index_mb": round(rss_after_index, 1), "peak_rss_mb": round(peak, 1)},
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_before": os.getloadavg(),
        },
    }


def _kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("kind")
    return getattr(value, "kind", None)


def _message(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("message", "?"))
    return str(getattr(value, "message", "?"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=30, help="modules edited (default 30)")
    parser.add_argument(
        "--pause-ms", type=int, default=300, help="pause between edits (default 300)"
    )
    parser.add_argument(
        "--inference", choices=("jedi", "off"), default="jedi", help="the server's setting"
    )
    args = parser.parse_args(argv)
    results = asyncio.run(run(args))
    results["inference"] = args.inference
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "workspace_speed.json" if args.inference == "jedi" else "workspace_speed_off.json"
    (RESULTS / name).write_text(json.dumps(results, indent=2))
    cold, edit, memory = results["cold_index"], results["edit"], results["memory"]
    corpus = results["corpus"]
    print(f"workspace: {corpus['files']} files, {corpus['lines']:,} lines (stdlib corpus)")
    print(
        f"cold index: {cold['wall_s']} s wall, {cold['server_cpu_s']} s server CPU "
        f"(target <= {TARGET_COLD_S:g} s: {'met' if cold['met'] else 'NOT met'}); "
        f"parsed {cold['indexed']} after {cold['parsed_s']} s, then jedi: {cold['jedi_pass']}"
    )
    print(
        f"re-analysis after one edit ({edit['n']} modules): p50 {edit['p50_ms']} ms, "
        f"p95 {edit['p95_ms']} ms, max {edit['max_ms']} ms "
        f"(target p95 <= {TARGET_EDIT_P95_MS:g} ms: {'met' if edit['met'] else 'NOT met'})"
    )
    slowest = sorted(edit["samples"], key=lambda s: -s["ms"])[:3]
    for sample in slowest:
        print(f"    slowest: {sample['module']} ({sample['lines']} lines) {sample['ms']} ms")
    print(
        f"server memory: {memory['rss_after_index_mb']} MB after indexing, "
        f"peak {memory['peak_rss_mb']} MB"
    )
    print(f"load average before: {results['machine']['load_before']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
