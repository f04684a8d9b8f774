"""Framework contracts across files: routers, dependencies, session factories, thread targets
and client sessions defined in one module and used in another (see fixtures/projects/)."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from riskhints.analysis.finding import Finding
from riskhints.analysis.options import AnalysisOptions
from riskhints.analysis.workspace import Workspace

from ..fixture_expectations import FIXTURES
from .test_workspace import workspace_for

PROJECTS = FIXTURES / "projects"


def findings(root: Path, module: str, rule: str | None = None) -> list[Finding]:
    workspace, _ = workspace_for(root)
    analysis = workspace.analyze(module, AnalysisOptions())
    assert analysis is not None, module
    return [f for f in analysis.findings if rule is None or f.rule == rule]


def project(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return tmp_path


def copy_of(tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(PROJECTS / name, target)
    return target


# -- entry points registered on objects from other modules -----------------------------------


def test_routes_on_an_imported_router_are_entry_points() -> None:
    rh102 = findings(PROJECTS / "fastapi_orders", "orders.api.routes", "RH102")
    assert [f.span.line for f in rh102] == [28]
    assert "FastAPI route POST /quote (`quote`)" in rh102[0].message
    live = findings(PROJECTS / "fastapi_orders", "orders.api.live", "RH102")
    assert "FastAPI websocket route WEBSOCKET /{order_id}/live" in live[0].message


def test_router_re_exported_through_a_package(tmp_path: Path) -> None:
    """``api/__init__.py`` re-exports the router built in ``api/router.py``: the sync route
    registered on it runs in the thread pool, and its counter update is reported."""
    root = project(
        tmp_path,
        {
            "svc/__init__.py": "",
            "svc/api/__init__.py": "from .routing import router\n",
            "svc/api/routing.py": "from fastapi import APIRouter\n\nrouter = APIRouter()\n",
            "svc/api/hits.py": """
                from svc.api import router

                HITS: dict[str, int] = {}

                @router.post("/hit/{page}")
                def hit(page: str) -> None:
                    HITS[page] = HITS.get(page, 0) + 1
            """,
        },
    )
    rh402 = findings(root, "svc.api.hits", "RH402")
    assert [f.span.line for f in rh402] == [7]
    assert "FastAPI runs sync `def` routes in its thread pool" in rh402[0].message
    # The same view, not registered on any application object, runs on one thread only.
    (root / "svc/api/routing.py").write_text("router = object()\n")
    assert findings(root, "svc.api.hits", "RH402") == []


# -- RH501: the session factory lives in db.py ------------------------------------------------


def test_sync_session_from_a_factory_in_another_module(tmp_path: Path) -> None:
    root = copy_of(tmp_path, "fastapi_orders")
    rh501 = findings(root, "orders.api.reports", "RH501")
    assert [f.span.line for f in rh501] == [12]
    assert "`db` comes from `Depends(get_db)`, a sync Session" in [
        hop.message for hop in rh501[0].evidence
    ]
    # An async session factory in db.py makes the same dependency harmless for this rule.
    db = root / "orders" / "db.py"
    async_import = "from sqlalchemy.ext.asyncio import AsyncSession\n"
    db.write_text(
        async_import
        + db.read_text().replace(
            "expire_on_commit=False)", "expire_on_commit=False, class_=AsyncSession)"
        )
    )
    assert findings(root, "orders.api.reports", "RH501") == []


# -- RH402: reported where the thread's work enters the other file ----------------------------


def test_read_modify_write_in_a_service_module_is_reported_at_the_route() -> None:
    rh402 = findings(PROJECTS / "fastapi_orders", "orders.api.routes", "RH402")
    by_line = {f.span.line: f for f in rh402}
    assert set(by_line) == {18, 34}
    view = by_line[34]
    assert view.message.startswith("`stats.record_view()` does an unsynchronised")
    assert "(orders/services/stats.py:11)" in view.message
    assert [hop.path for hop in view.evidence] == [None, None, "orders/services/stats.py"]
    dependency = by_line[18]
    assert "FastAPI runs sync `def` dependencies" in dependency.message
    assert dependency.evidence[-1].path == "orders/api/deps.py"
    assert findings(PROJECTS / "fastapi_orders", "orders.services.stats") == []


def test_findings_do_not_depend_on_which_files_are_analysed_together() -> None:
    """The CLI analyses files in batches against one program; a helper's file must not gain
    (or lose) findings because the route's file happens to be in its batch."""
    for name in ("fastapi_orders", "flask_inventory", "threads_ingest", "aiohttp_catalog"):
        workspace, files = workspace_for(PROJECTS / name)
        modules = [m for m in map(workspace.module_for, files) if m is not None]
        together = workspace.analyze_many(modules, AnalysisOptions())
        for module in modules:
            alone = Workspace(workspace.files).analyze(module, AnalysisOptions())
            assert alone is not None
            key = lambda f: (f.span.line, f.rule, f.message)  # noqa: E731
            assert sorted(map(key, together[module].findings)) == sorted(
                map(key, alone.findings)
            ), module


def test_thread_target_in_another_module_is_reported_at_the_thread_start() -> None:
    rh402 = findings(PROJECTS / "threads_ingest", "ingest.runner", "RH402")
    tail = next(f for f in rh402 if f.span.line == 13)
    assert "in `Throughput.record_line`, ingest/metrics.py:18" in tail.message
    assert [hop.path for hop in tail.evidence] == [
        None,
        "ingest/workers.py",
        "ingest/metrics.py",
    ]


def test_thread_local_imported_from_another_module_is_per_thread(tmp_path: Path) -> None:
    files = {
        "jobs/__init__.py": "",
        "jobs/context.py": "import threading\n\nstate = threading.local()\n",
        "jobs/work.py": """
            from concurrent.futures import ThreadPoolExecutor

            from . import context
            from .context import state

            def step(n: int) -> None:
                state.done += n
                context.state.seen += 1

            def run(items: list[int]) -> None:
                with ThreadPoolExecutor() as pool:
                    pool.map(step, items)
        """,
    }
    assert findings(project(tmp_path, files), "jobs.work", "RH402") == []
    (tmp_path / "jobs/context.py").write_text("import types\n\nstate = types.SimpleNamespace()\n")
    assert [f.span.line for f in findings(tmp_path, "jobs.work", "RH402")] == [7, 8]


def test_single_writer_thread_races_only_with_writers_of_the_same_attribute(
    tmp_path: Path,
) -> None:
    files = {
        "jobs/__init__.py": "",
        "jobs/metrics.py": "flushes = 0\nrows = 0\n",
        "jobs/work.py": """
            import threading

            from . import metrics

            def flush() -> None:
                metrics.flushes += 1

            def count_row() -> None:
                metrics.rows = 0

            def start() -> None:
                threading.Thread(target=flush).start()
        """,
    }
    assert findings(project(tmp_path, files), "jobs.work", "RH402") == []
    work = tmp_path / "jobs/work.py"
    work.write_text(work.read_text().replace("metrics.rows = 0", "metrics.flushes = 0"))
    assert [f.span.line for f in findings(tmp_path, "jobs.work", "RH402")] == [6]


# -- RH508: sessions created in helpers, closed in other modules ------------------------------


def test_session_per_request_in_a_client_module() -> None:
    rh508 = findings(PROJECTS / "aiohttp_catalog", "catalog.views", "RH508")
    assert [f.span.line for f in rh508] == [20]
    assert "(catalog/clients/pricing.py:10)" in rh508[0].message
    assert rh508[0].evidence[-1].path == "catalog/clients/pricing.py"
    assert findings(PROJECTS / "aiohttp_catalog", "catalog.clients.pricing") == []


def test_session_closed_by_a_cleanup_handler_in_another_module(tmp_path: Path) -> None:
    root = copy_of(tmp_path, "aiohttp_catalog")
    assert findings(root, "catalog.clients.http") == []
    assert [f.span.line for f in findings(root, "catalog.app", "RH508")] == [15]
    lifecycle = root / "catalog" / "lifecycle.py"
    lifecycle.write_text(lifecycle.read_text().replace("await app[HTTP].close()", "pass"))
    rh508 = findings(root, "catalog.app", "RH508")
    assert [f.span.line for f in rh508] == [13, 15]
    assert "`open_http_session` (catalog/clients/http.py:11)" in rh508[0].message


# -- RH401: state of another module -----------------------------------------------------------


def test_check_then_act_on_another_modules_global() -> None:
    rh401 = findings(PROJECTS / "aiohttp_catalog", "catalog.views", "RH401")
    assert [f.span.line for f in rh401] == [27]
    assert "`search_index.index` is checked" in rh401[0].message
