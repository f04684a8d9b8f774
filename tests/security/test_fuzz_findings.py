"""What the fuzzing of the server found, each replayed over a real client: a lone surrogate in
the buffer, a syntax error in an unsaved buffer whose file on disk differs, a 100k-deep
expression under code actions, a 250-character function name for the prompt command, and
expected JSON-RPC errors (invalid params, unknown method) that must not be logged as internal
errors. The parse lock is checked on the package's source: no ``ast.parse``/``literal_eval``
outside ``analysis/parse.py``."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from ..e2e.lsp_support import TIMEOUT_S, diagnostics, open_document
from .hostile import ROOT, serve_in

EXPORTER = """import time


async def export_report(storage, report):
    title = "{title}"; time.sleep(0.2)
    await storage.put(report.key, title)
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "pyproject.toml").write_text('[project]\nname = "reports"\n')
    return folder


async def test_lone_surrogate_syntax_columns_deep_expressions_and_long_names(
    workspace: Path,
) -> None:
    log_file = workspace.parent / "server.log"
    client = await serve_in(workspace, "vscode", "--log-file", str(log_file), "-v")
    try:
        # A lone surrogate before the flagged call: analysed, at the right UTF-16 column.
        text = EXPORTER.format(title="\ud83d draft")
        uri = open_document(client, workspace / "export.py", text)
        found = await diagnostics(client, uri, 1)
        assert [str(d.code) for d in found] == ["RH101"]
        line = text.splitlines()[4]
        assert found[0].range.start.character == line.index("time.sleep")

        # A syntax error in the buffer; the file on disk has other text on that line.
        broken = workspace / "broken.py"
        broken.write_text("total = compute(1, 2)\n")
        uri = open_document(client, broken, "total = compute(1, 2))\n")
        found = await diagnostics(client, uri, 1)
        syntax = [d for d in found if str(d.code) == "RH001"]
        assert syntax and syntax[0].range.start.character == len("total = compute(1, 2)")

        # Code actions on a document holding a 100k-deep expression: an answer, not an error.
        deep = EXPORTER.format(title="final") + "\n\nDEPTH = " + "-" * 100_000 + "1\n"
        uri = open_document(client, workspace / "deep.py", deep)
        await diagnostics(client, uri, 1)
        everywhere = types.Range(
            start=types.Position(line=0, character=0), end=types.Position(line=8, character=0)
        )
        actions = client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=everywhere,
                context=types.CodeActionContext(diagnostics=[]),
            )
        )
        await asyncio.wait_for(actions, TIMEOUT_S)

        # The prompt for a function with a 250-character name is answered and written.
        name = "export_" + "quarterly_" * 24 + "report"
        uri = open_document(client, workspace / "long.py", EXPORTER.replace("export_report", name))
        await diagnostics(client, uri, 1)
        prompt = client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="riskhints.assumptionsPrompt", arguments=[uri, 3])
        )
        assert name in await asyncio.wait_for(prompt, TIMEOUT_S)

        # Expected errors: bad arguments, an unknown method.
        with pytest.raises(JsonRpcException):
            await asyncio.wait_for(
                client.workspace_execute_command_async(
                    types.ExecuteCommandParams(command="riskhints.assumptionsPrompt", arguments=[])
                ),
                TIMEOUT_S,
            )
        with pytest.raises(JsonRpcException):
            await asyncio.wait_for(
                client.protocol.send_request_async("riskhints/nope", {}), TIMEOUT_S
            )
    finally:
        await client.shutdown_session()
    prompts = list((workspace / ".riskhints" / "prompts").glob("long-export_*.md"))
    assert len(prompts) == 1 and len(prompts[0].name) <= 128
    logged = log_file.read_text(encoding="utf-8")
    assert " ERROR " not in logged and "Traceback" not in logged, logged[-3000:]
    errors = [m for m in client.log_messages if m.type == types.MessageType.Error]
    assert errors == []


def test_the_parser_runs_only_under_the_parse_lock() -> None:
    """CPython's AST constructor keeps one recursion counter per interpreter: two threads
    parsing at once fail with "AST constructor recursion depth mismatch"."""
    package = ROOT / "server" / "riskhints"
    outside = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "_riskhints_stress.py" or path == package / "analysis" / "parse.py":
            continue  # the stress harness runs in the user's tests, not in riskhints
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "ast"
                and node.func.attr in ("parse", "literal_eval")
            ):
                outside.append(f"{path.relative_to(package)}:{node.lineno}")
    assert outside == []
