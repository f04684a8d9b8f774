"""AI-suggested code over LSP, under the VS Code (UTF-16, push) and Neovim 0.11 (UTF-8, pull)
capability sets: a bulk insertion marks its findings, typing does not, a hand edit shrinks the
region, ``scope = "ai"`` hides human code, regions survive close and reopen (and a record for
changed content is dropped), the code lens, and a real git repository with an AI-trailer commit.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from ..gitrepo import CLAUDE, commit, init
from .lsp_support import (
    CONFIG,
    TIMEOUT_S,
    capabilities,
    diagnostics,
    diagnostics_until,
    open_document,
)

AI = "(in AI-suggested code)"
HEADER = "import threading\nimport time\n\n_lock = threading.Lock()\n\n\n"


def function(name: str) -> str:
    # Emoji and CJK before the flagged call: hand edits after them need the client's encoding.
    return (
        f"async def {name}(client, key):\n"
        '    note = "🚀 进度"; time.sleep(1)\n'
        "    with _lock:\n"
        "        return await client.fetch(key, note)\n"
    )


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    plain, review, changes = tmp_path / "plain", tmp_path / "review", tmp_path / "changes"
    for folder in (plain, review, changes):
        folder.mkdir()
    (plain / "pyproject.toml").write_text('[tool.riskhints.severity]\nRH101 = "hint"\n')
    (review / "pyproject.toml").write_text('[tool.riskhints]\nscope = "ai"\n')
    (changes / "pyproject.toml").write_text('[tool.riskhints]\nscope = "changed"\n')
    return plain, review, changes


@pytest_lsp.fixture(config=CONFIG, params=["vscode", "neovim"])
async def client(
    lsp_client: LanguageClient, request: pytest.FixtureRequest, folders: tuple[Path, Path, Path]
):
    lsp_client.applied_edits = []  # type: ignore[attr-defined]

    @lsp_client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        lsp_client.applied_edits.append(params)  # type: ignore[attr-defined]
        return types.ApplyWorkspaceEditResult(applied=True)

    plain, review, changes = folders
    result = await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities(request.param),
            workspace_folders=[
                types.WorkspaceFolder(uri=plain.as_uri(), name="plain"),
                types.WorkspaceFolder(uri=review.as_uri(), name="review"),
                types.WorkspaceFolder(uri=changes.as_uri(), name="changes"),
            ],
            initialization_options={"debounceMs": 0},
        )
    )
    encoding = result.capabilities.position_encoding or types.PositionEncodingKind.Utf16
    lsp_client.encoding = str(getattr(encoding, "value", encoding))  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


class Editor:
    """One open document: edits as an editor sends them, keeping its own copy of the text."""

    def __init__(self, client: LanguageClient, path: Path, text: str, version: int = 1) -> None:
        # A reopened document starts at a new version: the publishes of an earlier one (same
        # uri, same version) would answer for it otherwise.
        self.client, self.path, self.text, self.version = client, path, text, version
        self.uri = open_document(client, path, text, version)

    def units(self, text: str) -> int:
        if self.client.encoding == "utf-8":  # type: ignore[attr-defined]
            return len(text.encode("utf-8"))
        return len(text.encode("utf-16-le")) // 2

    def position(self, offset: int) -> types.Position:
        before = self.text[:offset]
        line = before.count("\n")
        return types.Position(line=line, character=self.units(before[before.rfind("\n") + 1 :]))

    def replace(self, start: int, end: int, new: str) -> None:
        """Replace ``text[start:end]`` with ``new`` in one didChange."""
        rng = types.Range(start=self.position(start), end=self.position(end))
        self.text = self.text[:start] + new + self.text[end:]
        self.version += 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=self.uri, version=self.version
                ),
                content_changes=[types.TextDocumentContentChangePartial(range=rng, text=new)],
            )
        )

    def insert(self, offset: int, new: str) -> None:
        self.replace(offset, offset, new)

    def type(self, offset: int, new: str) -> None:
        for index, char in enumerate(new):
            self.insert(offset + index, char)

    def save_and_close(self) -> None:
        self.path.write_text(self.text, encoding="utf-8")
        document = types.TextDocumentIdentifier(uri=self.uri)
        self.client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=document))
        self.client.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=document)
        )

    async def diagnostics(self) -> dict[tuple[str, str], types.Diagnostic]:
        """By (function, rule); the function is read from the flagged line's text."""
        found = await diagnostics(self.client, self.uri, self.version)
        return {(self.function_at(d.range.start.line), str(d.code)): d for d in found}

    def function_at(self, line: int) -> str:
        lines = self.text.splitlines()
        defs = [text for text in lines[: line + 1] if text.startswith("async def ")]
        return defs[-1].split("(")[0].removeprefix("async def ") if defs else ""


def assert_ai(found: types.Diagnostic) -> None:
    assert found.message.endswith(AI), found.message
    assert found.severity in (types.DiagnosticSeverity.Warning, types.DiagnosticSeverity.Error)


def assert_not_ai(found: types.Diagnostic) -> None:
    assert AI not in found.message, found.message


async def test_bulk_insertion_is_ai_suggested_and_typing_is_not(
    client: LanguageClient, folders: tuple[Path, Path, Path]
) -> None:
    editor = Editor(client, folders[0] / "cache.py", HEADER)
    assert await editor.diagnostics() == {}
    editor.type(len(editor.text), function("typed"))  # one character at a time
    editor.insert(len(editor.text), "\n\n" + function("pasted"))  # an accepted completion
    found = await editor.diagnostics()
    assert set(found) == {(f, r) for f in ("typed", "pasted") for r in ("RH101", "RH202")}
    assert_not_ai(found["typed", "RH101"])
    assert_not_ai(found["typed", "RH202"])
    assert found["typed", "RH101"].severity == types.DiagnosticSeverity.Hint  # config says so
    assert_ai(found["pasted", "RH202"])
    assert_ai(found["pasted", "RH101"])
    assert found["pasted", "RH101"].severity == types.DiagnosticSeverity.Warning  # at least


async def test_a_hand_edit_in_the_region_shrinks_it_and_lines_above_move_it(
    client: LanguageClient, folders: tuple[Path, Path, Path]
) -> None:
    editor = Editor(client, folders[0] / "cache.py", HEADER)
    editor.insert(len(editor.text), function("pasted"))
    found = await editor.diagnostics()
    assert_ai(found["pasted", "RH101"])
    # The user rewrites the sleep (after the emoji: the column is in the client's encoding).
    one = editor.text.index("sleep(1)") + len("sleep(")
    editor.replace(one, one + 1, "2")
    editor.insert(editor.text.index("async def"), "\n")  # Enter above the function
    found = await editor.diagnostics()
    assert "time.sleep(2)" in editor.text
    assert_not_ai(found["pasted", "RH101"])
    assert found["pasted", "RH101"].severity == types.DiagnosticSeverity.Hint
    assert_ai(found["pasted", "RH202"])


async def test_scope_ai_hides_findings_in_human_typed_code(
    client: LanguageClient, folders: tuple[Path, Path, Path]
) -> None:
    editor = Editor(client, folders[1] / "jobs.py", HEADER + function("typed"))
    assert await editor.diagnostics() == {}
    editor.insert(len(editor.text), "\n\n" + function("pasted"))
    found = await editor.diagnostics()
    assert set(found) == {("pasted", "RH101"), ("pasted", "RH202")}
    assert all(d.message.endswith(AI) for d in found.values())


async def test_regions_survive_close_and_reopen_and_stale_records_are_dropped(
    client: LanguageClient, folders: tuple[Path, Path, Path]
) -> None:
    path = folders[0] / "cache.py"
    editor = Editor(client, path, HEADER)
    editor.insert(len(editor.text), function("pasted"))
    assert_ai((await editor.diagnostics())["pasted", "RH202"])
    editor.save_and_close()

    reopened = Editor(client, path, editor.text, version=100)
    found = await reopened.diagnostics()
    assert_ai(found["pasted", "RH202"])
    assert_ai(found["pasted", "RH101"])
    assert list((folders[0] / ".riskhints" / "provenance").glob("*.json"))
    reopened.save_and_close()

    # Edited outside the editor: the record no longer matches and is never misapplied.
    changed = editor.text.replace("key, note)", "key)")
    path.write_text(changed, encoding="utf-8")
    again = Editor(client, path, changed, version=200)
    found = await again.diagnostics()
    assert_not_ai(found["pasted", "RH202"])
    assert_not_ai(found["pasted", "RH101"])


async def test_code_lens_above_ai_suggested_functions_with_their_actions(
    client: LanguageClient, folders: tuple[Path, Path, Path]
) -> None:
    editor = Editor(client, folders[0] / "cache.py", HEADER + function("typed"))
    editor.insert(len(editor.text), "\n\n" + function("pasted"))
    await editor.diagnostics()
    lenses = await asyncio.wait_for(
        client.text_document_code_lens_async(
            types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=editor.uri))
        ),
        TIMEOUT_S,
    )
    assert lenses is not None
    def_line = editor.text.splitlines().index("async def pasted(client, key):")
    assert {lens.range.start.line for lens in lenses} == {def_line}
    commands = {lens.command.title: lens.command for lens in lenses if lens.command}
    assert list(commands) == [
        "AI-suggested · 2 concurrency risks",
        "Insert assumptions checklist",
        "Insert stress test",
    ]
    assert commands["Insert stress test"].command == "riskhints.insertStressTest"
    assert list(commands["Insert stress test"].arguments or ()) == [editor.uri, "pasted"]
    checklist = commands["Insert assumptions checklist"]
    assert checklist.command == "riskhints.insertChecklist"
    answer: Any = await asyncio.wait_for(
        client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command=checklist.command, arguments=list(checklist.arguments or ())
            )
        ),
        TIMEOUT_S,
    )
    assert answer == {"title": "Insert assumptions checklist for `pasted`"}

    async def applied() -> types.ApplyWorkspaceEditParams:
        while not client.applied_edits:  # type: ignore[attr-defined]
            await asyncio.sleep(0.01)
        return client.applied_edits[0]  # type: ignore[attr-defined]

    params = await asyncio.wait_for(applied(), TIMEOUT_S)
    [change] = params.edit.document_changes or []
    assert isinstance(change, types.TextDocumentEdit)
    [edit] = change.edits
    assert isinstance(edit, types.TextEdit)
    assert edit.new_text.startswith("# riskhints assumptions for pasted:")
    assert edit.range.start.line == def_line


async def test_git_commit_with_an_ai_trailer_makes_findings_ai_without_any_edit(
    client: LanguageClient, folders: tuple[Path, Path, Path]
) -> None:
    repo = init(folders[0] / "repo")
    commit(repo, {"app.py": HEADER + function("human")}, "Add the handler")
    text = HEADER + function("human") + "\n\n" + function("generated")
    commit(repo, {"app.py": text}, f"Add the generated handler\n\n{CLAUDE}")
    editor = Editor(client, repo / "app.py", text)

    def marked(found: list[types.Diagnostic]) -> bool:
        return any(d.message.endswith(AI) for d in found)

    found = await diagnostics_until(client, editor.uri, 1, marked)
    by_function = {(editor.function_at(d.range.start.line), str(d.code)): d for d in found}
    assert_ai(by_function["generated", "RH202"])
    assert_ai(by_function["generated", "RH101"])
    assert_not_ai(by_function["human", "RH202"])
    assert by_function["human", "RH101"].severity == types.DiagnosticSeverity.Hint


async def test_scope_changed_keeps_findings_on_lines_changed_since_head_or_edited(
    client: LanguageClient, folders: tuple[Path, Path, Path]
) -> None:
    repo = init(folders[2])
    commit(repo, {"app.py": HEADER + function("old")}, "Add the old handler")
    text = HEADER + function("old") + "\n\n" + function("new")  # not committed yet
    (repo / "app.py").write_text(text, encoding="utf-8")
    editor = Editor(client, repo / "app.py", text)

    def where(found: list[types.Diagnostic]) -> set[tuple[str, str]]:
        return {(editor.function_at(d.range.start.line), str(d.code)) for d in found}

    found = await diagnostics_until(
        client, editor.uri, 1, lambda found: where(found) == {("new", "RH101"), ("new", "RH202")}
    )
    assert all(AI not in d.message for d in found)  # changed, not AI-suggested
    one = editor.text.index("sleep(1)") + len("sleep(")  # in the old function
    editor.replace(one, one + 1, "2")  # edited, not saved: changed too
    assert set(await editor.diagnostics()) == {("old", "RH101"), ("new", "RH101"), ("new", "RH202")}
