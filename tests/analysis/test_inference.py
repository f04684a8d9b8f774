"""jedi inference of call receivers, and workspace decorators that keep the wrapped function:
real jedi over small projects written to a temporary folder."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from riskhints.analysis.engine import parse_source
from riskhints.analysis.finding import Finding
from riskhints.analysis.inference import (
    INTERESTING_METHODS,
    AnswerStore,
    JediInference,
    canonical_inferred,
    query_plan,
    unresolved_receivers,
)
from riskhints.analysis.options import AnalysisOptions
from riskhints.analysis.workspace import Workspace
from riskhints.discovery import discover

# ``requests`` is not installed next to riskhints: the project's own virtual environment has
# it, as in real projects (jedi reads it there, with typeshed's stubs for ``requests``). The
# project's environment replaces riskhints' own: its ``httpx`` is the one jedi sees.
SITE = ".venv/lib/python3.11/site-packages"
FAKE_REQUESTS = {
    ".venv/pyvenv.cfg": "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.7\n",
    f"{SITE}/requests/__init__.py": "from .sessions import Session\n",
    f"{SITE}/requests/sessions.py": (
        "class Session:\n    def get(self, url, **kwargs):\n        raise NotImplementedError\n"
    ),
    f"{SITE}/httpx/__init__.py": "from ._client import AsyncClient\n",
    f"{SITE}/httpx/_client.py": (
        "class AsyncClient:\n    def __init__(self, timeout=5):\n        self.timeout = timeout\n\n"
        "    async def get(self, url):\n        raise NotImplementedError\n"
    ),
}
CLIENTS = """\
import httpx
import requests


def make_client():
    session = requests.Session()
    session.headers["User-Agent"] = "billing/1.0"
    return session


def make_async_client():
    return httpx.AsyncClient(timeout=10)
"""
SERVICES_INIT = "from .clients import make_client as build_http\n"
ROUTES = """\
from app.services import build_http
from app.services.clients import make_async_client, make_client


class ProfileApi:
    def __init__(self) -> None:
        self.client = make_client()
        self.async_client = make_async_client()

    async def profile(self, user_id: str) -> dict[str, str]:
        response = self.client.get(f"/users/{user_id}")
        return dict(response.json())

    async def avatar(self, user_id: str) -> bytes:
        response = await self.async_client.get(f"/avatars/{user_id}")
        return bytes(response.content)


async def health() -> int:
    client = build_http()
    return int(client.get("/health").status_code)
"""


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def analyse(root: Path, module: str, inference: JediInference | None) -> list[Finding]:
    files = discover([root], root, ())
    shown = {p: p.relative_to(root).as_posix() for p in files}
    workspace = Workspace.from_paths(files, root, shown, inference)
    analysis = workspace.analyze(module, AnalysisOptions())
    assert analysis is not None
    return analysis.findings


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(
        tmp_path,
        {
            **FAKE_REQUESTS,
            "app/__init__.py": "",
            "app/services/__init__.py": SERVICES_INIT,
            "app/services/clients.py": CLIENTS,
            "app/routes.py": ROUTES,
        },
    )
    return tmp_path


def test_session_from_a_helper_in_another_module_is_a_blocking_client(project: Path) -> None:
    findings = analyse(project, "app.routes", JediInference(project))
    profile = next(f for f in findings if f.span.line == 11)
    assert profile.rule == "RH101"
    assert "self.client.get()" in profile.message
    assert [e.message for e in profile.evidence] == [
        "`self.client` is a `requests.Session` (inferred across modules)"
    ]


def test_async_client_twin_stays_silent(project: Path) -> None:
    findings = analyse(project, "app.routes", JediInference(project))
    assert not [f for f in findings if f.span.line == 15]


def test_name_re_exported_through_package_init(project: Path) -> None:
    findings = analyse(project, "app.routes", JediInference(project))
    health = [f for f in findings if f.span.line == 21]
    assert [f.rule for f in health] == ["RH101"]
    assert "`client` is a `requests.Session`" in health[0].evidence[0].message


def test_without_inference_nothing_is_flagged(project: Path) -> None:
    assert analyse(project, "app.routes", None) == []


def test_user_code_is_never_executed(project: Path) -> None:
    marker = project / "executed.txt"
    write(
        project,
        {
            "app/services/clients.py": (
                "from pathlib import Path\n"
                f"Path({str(marker)!r}).write_text('imported')\n" + CLIENTS
            ),
        },
    )
    findings = analyse(project, "app.routes", JediInference(project))
    assert {f.span.line for f in findings} == {11, 21}  # inference did follow the module
    assert not marker.exists()


def test_cache_hit_does_not_ask_jedi_again(project: Path) -> None:
    path = project / "app" / "routes.py"
    facts = parse_source(ROUTES, str(path), "app.routes").facts
    assert facts is not None
    receivers = unresolved_receivers(facts)
    assert [ast.unparse(r) for r in receivers] == ["self.client", "self.async_client", "client"]
    inference = JediInference(project)
    first = inference.receiver_types(path, ROUTES, receivers)
    asked = inference.queries
    assert asked == 3 and set(first.values()) == {"requests.Session", "httpx.AsyncClient"}
    assert inference.receiver_types(path, ROUTES, receivers) == first
    assert inference.queries == asked
    inference.receiver_types(path, ROUTES + "\n", receivers)  # new content: asked again
    assert inference.queries == 2 * asked


UPLOADS = """\
from app.services import build_http
from app.services.clients import make_async_client


class ReportUploader:
    def __init__(self, bucket_url):
        self.http = build_http()
        self.bucket_url = bucket_url

    async def upload(self, name, body):
        self.http.put(f"{self.bucket_url}/{name}", data=body)

    async def remove(self, name):
        self.http.delete(f"{self.bucket_url}/{name}")


async def refresh_all(names):
    client = build_http()
    for name in names:
        client.get(f"/refresh/{name}")
    client.post("/refresh/done")
    session = build_http()
    session.get("/warm")
    session = make_async_client()
    await session.get("/cold")
"""


def test_one_query_per_value_not_per_use() -> None:
    facts = parse_source(UPLOADS, "app/uploads.py", "app.uploads").facts
    assert facts is not None
    plan = {(ast.unparse(node), node.lineno): len(uses) for node, uses in query_plan(facts)}
    # ``self.http`` in two methods of one class, ``client`` bound once: one query each, asked
    # at the last use; ``session`` is bound twice in its function, so each use is asked.
    assert plan == {("self.http", 14): 2, ("client", 21): 2, ("session", 23): 1, ("session", 25): 1}
    assert sum(plan.values()) == len(unresolved_receivers(facts))


def test_one_answer_types_every_use_that_shares_it(project: Path) -> None:
    write(project, {"app/uploads.py": UPLOADS})
    inference = JediInference(project)
    findings = analyse(project, "app.uploads", inference)
    # Two questions (``self.http``, ``client``; the facts type ``session`` themselves), four
    # blocking calls typed by their answers.
    assert inference.queries == 2
    assert sorted(f.span.line for f in findings if f.rule == "RH101") == [11, 14, 20, 21]


def test_answers_kept_in_the_store_are_not_asked_again(project: Path, tmp_path: Path) -> None:
    path = project / "app" / "routes.py"
    facts = parse_source(ROUTES, str(path), "app.routes").facts
    assert facts is not None
    receivers = unresolved_receivers(facts)
    store = AnswerStore(tmp_path / "store")
    first = JediInference(project, store=store)
    found = first.receiver_types(path, ROUTES, receivers, "imports-v1")
    assert first.queries == 3 and set(found.values()) == {"requests.Session", "httpx.AsyncClient"}
    # Another run (a new engine) with the same text and imports: answered from the store.
    again = JediInference(project, store=AnswerStore(tmp_path / "store"))
    assert again.receiver_types(path, ROUTES, receivers, "imports-v1") == found
    assert again.queries == 0
    # A module it imports changed: asked again.
    assert again.receiver_types(path, ROUTES, receivers, "imports-v2") == found
    assert again.queries == 3


def test_jedi_failure_is_no_inference(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import jedi  # type: ignore[import-untyped]

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("jedi crashed")

    monkeypatch.setattr(jedi, "Script", broken)
    assert analyse(project, "app.routes", JediInference(project)) == []


def test_names_map_to_the_knowledge_tables() -> None:
    assert canonical_inferred("requests.sessions.Session") == "requests.Session"
    assert canonical_inferred("httpx._client.AsyncClient") == "httpx.AsyncClient"
    assert (
        canonical_inferred("concurrent.futures.thread.ThreadPoolExecutor")
        == "concurrent.futures.ThreadPoolExecutor"
    )
    assert canonical_inferred("app.models.Invoice") is None
    # Derived from the tables: HTTP verbs and queue methods, not module functions.
    assert {"get", "post", "put", "result", "join"} <= INTERESTING_METHODS
    assert "sleep" not in INTERESTING_METHODS


# -- workspace decorators that keep the wrapped function -------------------------------------

DECORATORS = """\
import asyncio
import functools
import logging

log = logging.getLogger("reports")


def logged(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        log.info("calling %s", fn.__name__)
        return fn(*args, **kwargs)

    return wrapper


def timed(fn):
    @functools.wraps(fn)
    async def wrapper(*args, **kwargs):
        return await fn(*args, **kwargs)

    return wrapper


def offloaded(fn):
    @functools.wraps(fn)
    async def wrapper(*args, **kwargs):
        return await asyncio.to_thread(fn, *args, **kwargs)

    return wrapper


def in_executor(fn):
    @functools.wraps(fn)
    async def wrapper(*args):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, fn, *args)

    return wrapper
"""
HELPERS = """\
import requests

from .observability import in_executor, logged, offloaded, timed


@logged
def fetch_report(report_id):
    return requests.get(f"https://reports.internal/{report_id}", timeout=5).json()


@timed
async def store_report(report_id, body):
    return None


@offloaded
def export_report(report_id):
    return requests.get(f"https://reports.internal/{report_id}/pdf", timeout=30).content


@in_executor
def archive_report(report_id):
    return requests.post(f"https://archive.internal/{report_id}", timeout=30).status_code
"""
HANDLERS = """\
from .helpers import archive_report, export_report, fetch_report, store_report


async def show(report_id):
    return fetch_report(report_id)


async def save(report_id, body):
    store_report(report_id, body)


async def export(report_id):
    return await export_report(report_id)


async def archive(report_id):
    return await archive_report(report_id)
"""


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    write(
        tmp_path,
        {
            "reports/__init__.py": "",
            "reports/observability.py": DECORATORS,
            "reports/helpers.py": HELPERS,
            "reports/handlers.py": HANDLERS,
        },
    )
    return tmp_path


def test_transparent_sync_decorator_is_followed_across_files(reports: Path) -> None:
    findings = analyse(reports, "reports.handlers", None)
    show = next(f for f in findings if f.span.line == 5)
    assert show.rule == "RH102"
    assert [(e.path, e.span.line) for e in show.evidence] == [
        (None, 5),
        ("reports/helpers.py", 8),
    ]


def test_transparent_async_decorator_keeps_the_coroutine_function(reports: Path) -> None:
    findings = analyse(reports, "reports.handlers", None)
    assert [f.rule for f in findings if f.span.line == 9] == ["RH302"]


@pytest.mark.parametrize("line", [13, 17], ids=["to_thread", "run_in_executor"])
def test_decorator_running_the_function_in_a_thread_is_not_transparent(
    reports: Path, line: int
) -> None:
    findings = analyse(reports, "reports.handlers", None)
    assert [f for f in findings if f.span.line == line] == []
    # The same helper without the decorator blocks the loop: the silence is the decorator's.
    helpers = reports / "reports" / "helpers.py"
    helpers.write_text(
        helpers.read_text().replace("@offloaded\n", "").replace("@in_executor\n", "")
    )
    text = (reports / "reports" / "handlers.py").read_text()
    (reports / "reports" / "handlers.py").write_text(text.replace("return await ", "return "))
    findings = analyse(reports, "reports.handlers", None)
    assert [f.rule for f in findings if f.span.line == line] == ["RH102"]
