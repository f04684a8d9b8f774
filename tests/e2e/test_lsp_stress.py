"""The stress-test action over stdio, under the VS Code (UTF-16) and Neovim 0.11 (UTF-8)
capability sets: the code action runs ``riskhints.insertStressTest``, which writes the test into
the workspace's stress folder and has the client open it; a second test for the same module is
appended to that file, never overwriting it; outside any workspace nothing is written."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from .lsp_support import (
    CONFIG,
    TIMEOUT_S,
    capabilities,
    diagnostics,
    open_document,
    tell_code_actions_from_commands,
)
from .test_lsp_quickfixes import _actions

KIND = "refactor.riskhints.stressTest"
COMMAND = "riskhints.insertStressTest"
# Emoji and CJK on the line of the check: the action is found from the cursor's line only.
SOURCE = textwrap.dedent(
    '''\
    """Currency rates cached per pair; the service is rate-limited and billed per call."""
    import asyncio


    class RateCache:
        def __init__(self) -> None:
            self._cache: dict[str, float] = {}

        async def _fetch_rate(self, pair: str) -> float:
            await asyncio.sleep(0.01)
            return 1.08

        async def rate(self, pair: str) -> float:
            if pair not in self._cache:  # 🚀 进度
                self._cache[pair] = await self._fetch_rate(pair)
            return self._cache[pair]


    def format_rate(value: float) -> str:
        return f"{value:.4f}"


    async def quote_all(cache: RateCache, pairs: list[str]) -> list[float]:
        return await asyncio.gather(*(cache.rate(pair) for pair in pairs))
    '''
)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    (root / "shop").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'shop'\n")
    return root


@pytest_lsp.fixture(config=CONFIG, params=["vscode", "neovim"])
async def client(lsp_client: LanguageClient, request: pytest.FixtureRequest, workspace: Path):
    tell_code_actions_from_commands(lsp_client)
    params = types.InitializeParams(
        capabilities=capabilities(request.param),
        workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="shop")],
        initialization_options={"debounceMs": 0},
    )
    result = await lsp_client.initialize_session(params)
    kinds = result.capabilities.code_action_provider
    assert isinstance(kinds, types.CodeActionOptions)
    assert KIND in {str(k) for k in kinds.code_action_kinds or []}
    assert COMMAND in (
        result.capabilities.execute_command_provider.commands  # type: ignore[union-attr]
    )
    yield
    await lsp_client.shutdown_session()


def _at(line: int) -> types.Range:
    position = types.Position(line=line, character=8)
    return types.Range(start=position, end=position)


def _line(needle: str) -> int:
    return next(n for n, line in enumerate(SOURCE.splitlines()) if needle in line)


async def _shown(client: LanguageClient, count: int) -> types.ShowDocumentParams:
    async def wait() -> types.ShowDocumentParams:
        while len(client.shown_documents) < count:
            await asyncio.sleep(0.01)
        return client.shown_documents[count - 1]

    return await asyncio.wait_for(wait(), TIMEOUT_S)


async def _run(client: LanguageClient, arguments: list[object]) -> dict[str, object]:
    result = await asyncio.wait_for(
        client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=COMMAND, arguments=arguments)
        ),
        TIMEOUT_S,
    )
    assert isinstance(result, dict)
    return result


async def test_action_writes_the_test_in_the_workspace_and_shows_it(
    client: LanguageClient, workspace: Path
) -> None:
    uri = open_document(client, workspace / "shop" / "rates.py", SOURCE)
    assert [d.code for d in await diagnostics(client, uri, 1)] == ["RH401"]
    # On the finding's line: the action for that finding, by its 0-based line (as FILE:LINE).
    update = _line("self._cache[pair] = await")
    [action] = await _actions(client, uri, _at(update), [], only=[KIND])
    assert action.title == "Insert stress test for RH401 in `RateCache.rate`"
    assert action.kind == KIND and action.command is not None
    assert list(action.command.arguments or ()) == [uri, update]
    # Elsewhere in a coroutine: the action for the function, by name.
    [by_name] = await _actions(client, uri, _at(_line("if pair not in")), [], only=[KIND])
    assert by_name.title == "Insert stress test for `RateCache.rate`"

    result = await _run(client, list(action.command.arguments or ()))
    folder = workspace / "tests" / "stress"
    written = folder / "test_stress_rates.py"
    assert result["path"] == "tests/stress/test_stress_rates.py"
    assert result["test"] == "test_rate_check_then_act" and result["appended"] is False
    assert result["rule"] == "RH401" and result["harness"] == "tests/stress/_riskhints_stress.py"
    assert (await _shown(client, 1)).uri == written.as_uri()
    first = written.read_text(encoding="utf-8")
    assert 'MODULE = "shop.rates"' in first and "import _riskhints_stress as rh" in first
    assert 'probe = stress.probe(rate_cache, "_fetch_rate")' in first
    harness = (folder / "_riskhints_stress.py").read_text(encoding="utf-8")

    # The same module again, by 0-based line: appended to that file, nothing overwritten, the
    # factory of the shared instance not defined twice, the harness left as it was.
    again = await _run(client, [uri, _line("async def _fetch_rate")])
    assert again["test"] == "test_fetch_rate_under_load" and again["appended"] is True
    after = written.read_text(encoding="utf-8")
    assert after.startswith(first) and "def test_fetch_rate_under_load(" in after
    assert after.count("def make_rate_cache(") == 1
    assert (folder / "_riskhints_stress.py").read_text(encoding="utf-8") == harness
    assert (await _shown(client, 2)).uri == written.as_uri()
    assert sorted(p.name for p in folder.iterdir()) == [
        "_riskhints_stress.py",
        "test_stress_rates.py",
    ]


async def test_the_action_and_the_cli_by_function_and_by_line_write_the_same_test(
    client: LanguageClient, workspace: Path, tmp_path: Path
) -> None:
    """One finding, three ways in: the editor action on its line, `riskhints stress
    FILE:FUNCTION` and `riskhints stress FILE:LINE` (the real CLI, in copies of the workspace)
    write the same stress file, byte for byte."""
    module = workspace / "shop" / "rates.py"
    module.write_text(SOURCE, encoding="utf-8")
    uri = open_document(client, module, SOURCE)
    assert [d.code for d in await diagnostics(client, uri, 1)] == ["RH401"]
    update = _line("self._cache[pair] = await")
    [action] = await _actions(client, uri, _at(update), [], only=[KIND])
    await _run(client, list(action.command.arguments or ()))  # type: ignore[union-attr]
    by_editor = (workspace / "tests" / "stress" / "test_stress_rates.py").read_text()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "server")}
    for number, target in enumerate(("RateCache.rate", str(update + 1))):
        copy = tmp_path / f"cli-{number}"
        shutil.copytree(workspace, copy, ignore=shutil.ignore_patterns("tests", ".riskhints"))
        done = subprocess.run(
            [sys.executable, "-m", "riskhints", "stress", f"shop/rates.py:{target}"],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == "tests/stress/test_stress_rates.py\n"
        assert (copy / done.stdout.strip()).read_text() == by_editor, target


async def test_no_action_on_a_plain_function(client: LanguageClient, workspace: Path) -> None:
    uri = open_document(client, workspace / "shop" / "rates.py", SOURCE)
    await diagnostics(client, uri, 1)
    assert await _actions(client, uri, _at(_line("return f")), [], only=[KIND]) == []


async def test_outside_any_workspace_nothing_is_written(
    client: LanguageClient, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "scratch"
    elsewhere.mkdir()
    uri = open_document(client, elsewhere / "rates.py", SOURCE)
    await diagnostics(client, uri, 1)
    with pytest.raises(Exception, match="not inside a workspace folder or a git repository"):
        await _run(client, [uri, "RateCache.rate"])
    assert list(elsewhere.iterdir()) == []
    with pytest.raises(Exception, match=r"takes \[uri: string, function: name or 0-based line\]"):
        await _run(client, [uri])
