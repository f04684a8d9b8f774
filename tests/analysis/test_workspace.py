"""Workspace-wide analysis: calls, locks and types followed across modules of a project."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from riskhints.analysis.inference import JediInference
from riskhints.analysis.options import AnalysisOptions
from riskhints.analysis.workspace import Workspace, WorkspaceFile
from riskhints.cli import main
from riskhints.discovery import discover

from ..fixture_expectations import FIXTURES, expected_findings

PROJECTS = sorted(p for p in (FIXTURES / "projects").iterdir() if p.is_dir())


def workspace_for(root: Path) -> tuple[Workspace, list[Path]]:
    """As ``riskhints check`` builds it by default: with jedi inference (see billing/)."""
    files = discover([root], root, ())
    shown = {p: p.relative_to(root).as_posix() for p in files}
    return Workspace.from_paths(files, root, shown, JediInference(root)), files


@pytest.mark.parametrize("project", PROJECTS, ids=[p.name for p in PROJECTS])
def test_project_findings_match_inline_expectations(project: Path) -> None:
    workspace, files = workspace_for(project)
    for path in files:
        module = workspace.module_for(path)
        assert module is not None
        analysis = workspace.analyze(module, AnalysisOptions())
        assert analysis is not None
        actual = {(f.span.line, f.rule) for f in analysis.findings}
        details = "\n".join(f"  {f.span.line}: {f.rule} {f.message}" for f in analysis.findings)
        assert actual == expected_findings(path.read_text()), f"{path}:\n{details}"


def test_evidence_names_the_files_it_crosses() -> None:
    workspace, _ = workspace_for(FIXTURES / "projects" / "shop")
    analysis = workspace.analyze("shop.api.routes", AnalysisOptions())
    assert analysis is not None
    rh102 = next(f for f in analysis.findings if f.rule == "RH102")
    assert [hop.path for hop in rh102.evidence] == [
        None,
        "shop/services/profiles.py",
        "shop/services/profiles.py",
    ]
    assert set(analysis.dependencies) >= {
        "shop/services/__init__.py",
        "shop/services/profiles.py",
        "shop/services/ledger.py",
    }


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_import_cycles_unresolvable_imports_and_src_layout(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "src/jobs/__init__.py": "",
            "src/jobs/a.py": "import time\nfrom jobs import b\n\ndef slow():\n    time.sleep(1)\n",
            "src/jobs/b.py": (
                "from jobs.a import slow\nimport not_installed.anything\n\n"
                "async def run():\n    slow()\n"
            ),
        },
    )
    workspace, _ = workspace_for(tmp_path)
    assert "jobs.b" in workspace.files
    analysis = workspace.analyze("jobs.b", AnalysisOptions())
    assert analysis is not None
    assert [(f.rule, f.span.line) for f in analysis.findings] == [("RH102", 5)]


def test_cached_result_is_invalidated_when_a_dependency_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "shop"
    shutil.copytree(FIXTURES / "projects" / "shop", project)
    (project / "pyproject.toml").write_text("[project]\nname = 'shop'\n")
    monkeypatch.chdir(project)
    assert main(["check", "."]) == 1
    assert "RH102" in capsys.readouterr().out
    profiles = project / "shop" / "services" / "profiles.py"
    profiles.write_text(
        profiles.read_text().replace(
            'response = requests.get(f"{USER_SERVICE}{path}", timeout=5)',
            "response = _CACHE[path]",
        )
        + "\n_CACHE: dict[str, object] = {}\n"
    )
    main(["check", "."])
    out = capsys.readouterr().out
    assert "RH102" not in out
    assert "RH204" in out  # routes.py itself did not change: its other finding stays


LEDGER = (
    "import threading\n\n"
    "ledger_lock = threading.Lock()\n\n\n"
    "def post(entry: dict) -> None:\n"
    "    with ledger_lock:\n"
    "        entry['posted'] = True\n"
)
CHECKOUT = (
    "from billing.gateway import PaymentGateway\n"
    "from billing.ledger import ledger_lock, post\n\n\n"
    "async def checkout(order: dict, gateway: PaymentGateway) -> None:\n"
    "    with ledger_lock:\n"
    "        await gateway.charge(order)\n"
    "    post(order)\n"
)


def billing_workspace(root: Path) -> Workspace:
    write(
        root,
        {"billing/__init__.py": "", "billing/ledger.py": LEDGER, "billing/checkout.py": CHECKOUT},
    )
    workspace, _ = workspace_for(root)
    return workspace


def rules_of(workspace: Workspace, module: str) -> list[tuple[str, int]]:
    analysis = workspace.analyze(module, AnalysisOptions())
    assert analysis is not None
    return sorted((f.rule, f.span.line) for f in analysis.findings)


def test_an_editor_text_equal_to_the_file_drops_nothing(tmp_path: Path) -> None:
    workspace = billing_workspace(tmp_path)
    workspace.analyze("billing.checkout", AnalysisOptions())
    assert workspace.set_text("billing.ledger", LEDGER) == set()
    assert workspace.set_text("billing.ledger", None) == set()  # closed again, unchanged


def test_a_body_edit_keeps_importers_but_a_changed_export_drops_them(tmp_path: Path) -> None:
    workspace = billing_workspace(tmp_path)
    assert rules_of(workspace, "billing.checkout") == [("RH202", 7)]  # thread lock across await

    # Inside a function: what checkout's facts took from ledger (types) is unchanged.
    body_edit = LEDGER.replace("entry['posted'] = True", "entry['posted'] = entry.get('ok')")
    assert workspace.set_text("billing.ledger", body_edit) == {"billing.ledger"}

    # The lock becomes an asyncio.Lock: checkout's facts typed it, so checkout is re-read.
    async_lock = LEDGER.replace("threading.Lock()", "asyncio.Lock()").replace(
        "import threading", "import asyncio"
    )
    assert workspace.set_text("billing.ledger", async_lock) == {
        "billing.ledger",
        "billing.checkout",
    }
    assert ("RH202", 7) not in rules_of(workspace, "billing.checkout")


def test_dependents_are_the_modules_analysed_with_the_changed_one(tmp_path: Path) -> None:
    workspace = billing_workspace(tmp_path)
    among = ["billing.checkout", "billing.ledger", "billing"]
    assert workspace.dependents("billing.ledger", among) == {"billing.checkout"}
    assert workspace.dependents("billing.checkout", among) == set()


def test_a_created_module_resolves_an_import_that_did_not(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "jobs/__init__.py": "",
            "jobs/worker.py": (
                "from jobs.fetch import download\n\n\n"
                "async def run(url: str) -> bytes:\n"
                "    return download(url)\n"
            ),
        },
    )
    workspace, _ = workspace_for(tmp_path)
    assert rules_of(workspace, "jobs.worker") == []
    fetch = tmp_path / "jobs" / "fetch.py"
    fetch.write_text(
        "import urllib.request\n\n\n"
        "def download(url: str) -> bytes:\n"
        "    return urllib.request.urlopen(url).read()\n"
    )
    dropped = workspace.add_file("jobs.fetch", WorkspaceFile(fetch, "jobs/fetch.py"))
    assert "jobs.worker" in dropped
    assert rules_of(workspace, "jobs.worker") == [("RH102", 5)]
    assert "jobs.worker" in workspace.remove_file("jobs.fetch")
    assert rules_of(workspace, "jobs.worker") == []


def test_a_name_bound_in_a_package_wins_over_a_submodule_of_that_name(tmp_path: Path) -> None:
    # ``from billing.locks import ledger``: ``billing/locks/__init__.py`` binds ``ledger`` to a
    # lock, and a submodule ``billing/locks/ledger.py`` exists too. Both are read.
    write(
        tmp_path,
        {
            "billing/__init__.py": "",
            "billing/locks/__init__.py": "import threading\n\nledger = threading.Lock()\n",
            "billing/locks/ledger.py": "RETENTION_DAYS = 30\n",
            "billing/payout.py": (
                "from billing.locks import ledger\n\n\n"
                "async def payout(account, bank) -> None:\n"
                "    with ledger:\n"
                "        await bank.transfer(account)\n"
            ),
        },
    )
    workspace, _ = workspace_for(tmp_path)
    assert rules_of(workspace, "billing.payout") == [("RH202", 6)]
    assert workspace.dependencies("billing.payout") >= {"billing.locks", "billing.locks.ledger"}


def test_a_never_awaited_coroutine_points_at_its_declaration_in_the_other_file(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "audit/__init__.py": "",
            "audit/trail.py": (
                "import asyncio\n\n\n"
                "async def record(event: str) -> None:\n"
                "    await asyncio.sleep(0)\n"
            ),
            "audit/api.py": (
                "from audit.trail import record\n\n\n"
                "async def refund(order_id: int) -> None:\n"
                "    record(f'refund {order_id}')\n"
            ),
        },
    )
    workspace, _ = workspace_for(tmp_path)
    analysis = workspace.analyze("audit.api", AnalysisOptions())
    assert analysis is not None
    [finding] = analysis.findings
    assert (finding.rule, finding.span.line) == ("RH302", 5)
    [declared] = finding.evidence
    assert (declared.path, declared.span.line) == ("audit/trail.py", 4)


TICKETS = (
    '"""A ticket reserved for whichever kiosk built it."""\n\n\n'
    "class Ticket:\n"
    "    def __init__(self, kiosk, seat):\n"
    "        self._kiosk = kiosk\n"
    "        self.seat = seat\n\n"
    "    async def confirm(self):\n"
    "        self._kiosk.notify_reserved(self.seat)\n"
)
KIOSK = (
    "from .tickets import Ticket\n\n\n"
    "class Kiosk:\n"
    "    async def notify_reserved(self, seat):\n"
    "        await self.display.show(seat)\n\n"
    "    def reserve(self, seat):\n"
    "        return Ticket(self, seat)\n"
)


def test_a_constructor_written_into_an_unread_file_types_the_attribute_after_it_changes(
    tmp_path: Path,
) -> None:
    write(tmp_path, {"box/__init__.py": "", "box/tickets.py": TICKETS, "box/kiosk.py": ""})
    workspace, _ = workspace_for(tmp_path)
    assert rules_of(workspace, "box.tickets") == []  # nobody builds a Ticket yet
    (tmp_path / "box" / "kiosk.py").write_text(KIOSK)
    workspace.invalidate("box.kiosk")  # as the server does when the file changes on disk
    # Kiosk.notify_reserved is async: the kiosk that builds the ticket types ``_kiosk``.
    assert rules_of(workspace, "box.tickets") == [("RH302", 10)]
