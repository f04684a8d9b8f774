"""git never runs a program the repository configures: a ``.git/config`` that plants every kind
of program git can start on a read (fsmonitor, clean/smudge/process filters given to files by
``.gitattributes``, textconv, external diff and diff drivers, pager, ssh, gpg, hooks), and
riskhints' provenance (``git ls-files``, ``diff``, ``blame``, ``show``, ``check-ignore``) run
through the CLI and through the language server. Git must still answer: the AI-marked commit
is found, so the programs stay quiet because they were neutralised, not because git failed."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from ..e2e.lsp_support import CONFIG, capabilities, diagnostics_until, open_document
from ..gitrepo import CLAUDE, commit, git, init
from .hostile import marker_program, ran, riskhints

LEDGER = """import threading
import time

_ledger_lock = threading.Lock()


async def settle(gateway, account):
    with _ledger_lock:
        receipt = await gateway.capture(account.pending)
    time.sleep(0.5)
    return receipt
"""

JOBS = """import asyncio


async def refresh_rates(feed, cache):
    rates = await feed.latest()
    cache.update(rates)
    asyncio.create_task(feed.acknowledge())
"""

WARM_UP = """

async def warm_up(feed):
    asyncio.create_task(feed.prefetch())
"""

HOOKS = ("pre-commit", "post-checkout", "post-index-change", "reference-transaction", "pre-auto-gc")


def plant(repo: Path, programs: Path, marks: Path) -> None:
    """Every program-valued setting git reads on a read-only command, each a marker program."""

    def program(name: str) -> str:
        return str(marker_program(programs, name, marks))

    hooks = programs / "hooks"
    for hook in HOOKS:
        marker_program(hooks, hook, marks)
    settings = {
        "core.fsmonitor": program("fsmonitor"),
        "core.hooksPath": str(hooks),
        "core.pager": program("pager"),
        "pager.blame": program("pager-blame"),
        "core.sshCommand": program("ssh"),
        "diff.external": program("external-diff"),
        "filter.tidy.clean": program("clean"),
        "filter.tidy.smudge": program("smudge"),
        "filter.tidy.required": "true",
        "filter.vault.process": program("process"),
        "diff.pyconv.textconv": program("textconv"),
        "diff.pyconv.command": program("diff-driver"),
        "gpg.program": program("gpg"),
        "log.showSignature": "true",
    }
    for key, value in settings.items():
        git(repo, "config", key, value)


@pytest.fixture
def hostile_repo(tmp_path: Path) -> tuple[Path, Path]:
    """A repository whose config plants programs (after its commits: committing runs filters),
    with uncommitted changes in both files so that diff and blame read the working tree."""
    repo = init(tmp_path / "shop")
    (repo / "pyproject.toml").write_text('[tool.riskhints]\nscope = "changed"\n')
    gitattributes = "ledger.py filter=tidy diff=pyconv\njobs.py filter=vault diff=pyconv\n"
    commit(repo, {".gitattributes": gitattributes, "jobs.py": JOBS}, "Add the rate refresher")
    commit(repo, {"ledger.py": LEDGER}, f"Settle pending captures\n\n{CLAUDE}")
    (repo / "ledger.py").write_text(LEDGER + "\n\nRETRIES = 3\n")
    (repo / "jobs.py").write_text(JOBS + WARM_UP)
    marks = tmp_path / "marks"
    marks.mkdir()
    plant(repo, tmp_path / "programs", marks)
    return repo, marks


def test_cli_provenance_and_check_run_no_program_the_repository_configures(
    hostile_repo: tuple[Path, Path],
) -> None:
    repo, marks = hostile_repo
    shown = riskhints(repo, "provenance", "ledger.py", "jobs.py", "--base", "HEAD")
    assert shown.returncode == 0, shown.stderr
    assert "ledger.py:1-11: ai (commit" in shown.stdout  # blame and show answered
    assert "changed (changed since HEAD)" in shown.stdout  # diff answered
    for scope in ("ai", "changed"):
        checked = riskhints(repo, "check", "--no-cache", "--scope", scope, ".")
        assert checked.returncode == 1, checked.stderr
        assert "RH202" in checked.stdout
    assert ran(marks) == []


@pytest_lsp.fixture(config=CONFIG)
async def client(lsp_client: LanguageClient, hostile_repo: tuple[Path, Path]):
    repo, _ = hostile_repo
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities("vscode"),
            workspace_folders=[types.WorkspaceFolder(uri=repo.as_uri(), name="shop")],
            initialization_options={"debounceMs": 0},
        )
    )
    yield
    await lsp_client.shutdown_session()


async def test_server_provenance_on_open_and_save_runs_no_program_the_repository_configures(
    client: LanguageClient, hostile_repo: tuple[Path, Path]
) -> None:
    repo, marks = hostile_repo
    ledger = repo / "ledger.py"
    uri = open_document(client, ledger, ledger.read_text())

    def marked(found: list[types.Diagnostic]) -> bool:
        return any(d.message.endswith("(in AI-suggested code)") for d in found)

    await diagnostics_until(client, uri, 1, marked)  # blame ran and found the AI commit
    jobs = repo / "jobs.py"
    jobs_uri = open_document(client, jobs, jobs.read_text())
    await diagnostics_until(client, jobs_uri, 1, lambda found: bool(found))  # diff ran
    client.text_document_did_save(
        types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    await diagnostics_until(client, uri, 1, marked)
    assert ran(marks) == []
