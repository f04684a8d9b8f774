"""The server's folder index on its own (no client): background build racing with analyses
on other threads, editors' texts versus files on disk, files that appear and disappear."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest

from riskhints.analysis import AnalysisOptions
from riskhints.analysis.inference import JediInference
from riskhints.lsp import index as index_module
from riskhints.lsp.index import FolderIndex

OPTIONS = AnalysisOptions()

WORKER = (
    "from jobs.fetch import download\n\n\n"
    "async def sync_feed(url: str) -> bytes:\n"
    "    return download(url)\n"
)
FETCH_BLOCKING = (
    "import urllib.request\n\n\n"
    "def download(url: str) -> bytes:\n"
    "    with urllib.request.urlopen(url, timeout=10) as response:\n"
    "        return response.read()\n"
)
FETCH_CACHED = (
    "FEEDS: dict[str, bytes] = {}\n\n\n"
    "def download(url: str) -> bytes:\n"
    "    return FEEDS.get(url, b'')\n"
)


def make_jobs(root: Path, fetch: str = FETCH_BLOCKING, extra: int = 0) -> tuple[Path, Path]:
    (root / "jobs").mkdir()
    (root / "jobs" / "__init__.py").write_text("")
    worker = root / "jobs" / "worker.py"
    worker.write_text(WORKER)
    fetch_path = root / "jobs" / "fetch.py"
    fetch_path.write_text(fetch)
    for n in range(extra):
        (root / "jobs" / f"report_{n}.py").write_text(FETCH_CACHED)
    return worker, fetch_path


def rules(index: FolderIndex, path: Path, root: Path, text: str) -> list[tuple[str, int]]:
    shown = path.relative_to(root).as_posix()
    analysis = index.analyze(path, shown, text, OPTIONS)
    return sorted((f.rule, f.span.line) for f in analysis.findings)


def test_analyses_during_the_background_build_see_the_same_workspace(tmp_path: Path) -> None:
    worker, _ = make_jobs(tmp_path, extra=60)
    index = FolderIndex(tmp_path, ())
    assert index.discover() == 63
    reports: list[tuple[int, int]] = []
    builder = threading.Thread(target=index.build, args=(lambda d, n: reports.append((d, n)), 0))
    builder.start()
    results = [rules(index, worker, tmp_path, WORKER) for _ in range(20)]
    builder.join(timeout=60)
    assert not builder.is_alive()
    assert all(result == [("RH102", 5)] for result in results)
    assert reports[-1] == (63, 63)
    assert index.loaded() == 63


def test_the_editor_text_wins_until_closed(tmp_path: Path) -> None:
    worker, fetch = make_jobs(tmp_path, fetch=FETCH_CACHED)
    index = FolderIndex(tmp_path, ())
    index.discover()
    assert rules(index, worker, tmp_path, WORKER) == []

    changed = index.analyze(fetch, "jobs/fetch.py", FETCH_BLOCKING, OPTIONS).changed
    assert changed  # importers must be re-analysed
    assert rules(index, worker, tmp_path, WORKER) == [("RH102", 5)]
    assert not index.file_changed(fetch, exists=True)  # disk changes wait while it is open
    assert index.closed(fetch)
    assert rules(index, worker, tmp_path, WORKER) == []
    assert fetch.read_text() == FETCH_CACHED


def test_opening_a_file_as_it_is_on_disk_changes_nothing(tmp_path: Path) -> None:
    worker, fetch = make_jobs(tmp_path)
    index = FolderIndex(tmp_path, ())
    index.discover()
    rules(index, worker, tmp_path, WORKER)
    assert not index.analyze(fetch, "jobs/fetch.py", FETCH_BLOCKING, OPTIONS).changed
    assert index.dependents(fetch, [worker, fetch]) == {worker}
    assert index.dependents(worker, [worker, fetch]) == set()


def test_files_created_and_deleted_on_disk(tmp_path: Path) -> None:
    worker, fetch = make_jobs(tmp_path)
    fetch.unlink()
    index = FolderIndex(tmp_path, ("generated",))
    index.discover()
    assert rules(index, worker, tmp_path, WORKER) == []

    fetch.write_text(FETCH_BLOCKING)
    assert index.file_changed(fetch, exists=True)
    assert rules(index, worker, tmp_path, WORKER) == [("RH102", 5)]

    fetch.unlink()
    assert index.file_changed(fetch, exists=False)
    assert rules(index, worker, tmp_path, WORKER) == []

    excluded = tmp_path / "generated" / "stubs.py"
    excluded.parent.mkdir()
    excluded.write_text(FETCH_BLOCKING)
    assert not index.file_changed(excluded, exists=True)
    venv = tmp_path / ".venv" / "lib" / "site.py"
    venv.parent.mkdir(parents=True)
    venv.write_text(FETCH_BLOCKING)
    assert not index.file_changed(venv, exists=True)


def test_a_huge_folder_is_not_parsed_up_front(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker, _ = make_jobs(tmp_path, extra=5)
    monkeypatch.setattr(index_module, "INDEX_MAX_FILES", 4)
    index = FolderIndex(tmp_path, ())
    index.discover()
    assert index.build(lambda d, n: None) is False
    assert index.loaded() == 0
    # Open documents still follow their imports, read on demand.
    assert rules(index, worker, tmp_path, WORKER) == [("RH102", 5)]
    assert index.loaded() == 3  # the document, the module it imports and that one's package


# jedi through the index: never on the keystroke path, answers kept per receiver text.
FAKE_REQUESTS = {
    ".venv/pyvenv.cfg": "home = /usr/bin\nversion = 3.11.7\n",
    ".venv/lib/python3.11/site-packages/requests/__init__.py": "from .sessions import Session\n",
    ".venv/lib/python3.11/site-packages/requests/sessions.py": (
        "class Session:\n    def get(self, url, **kwargs):\n        raise NotImplementedError\n"
    ),
}
CLIENTS = (
    "import requests\n\n\n"
    "def make_client():\n"
    "    session = requests.Session()\n"
    "    session.headers['User-Agent'] = 'profiles/1.0'\n"
    "    return session\n"
)
PROFILES = (
    "from app.clients import make_client\n\n\n"
    "class ProfileApi:\n"
    "    def __init__(self) -> None:\n"
    "        self.client = make_client()\n\n"
    "    async def profile(self, user_id: str) -> dict:\n"
    "        response = self.client.get(f'/users/{user_id}')\n"
    "        return dict(response.json())\n"
)


def test_jedi_answers_come_from_the_background_and_stick_across_edits(tmp_path: Path) -> None:
    for name, text in {
        **FAKE_REQUESTS,
        "app/__init__.py": "",
        "app/clients.py": CLIENTS,
        "app/profiles.py": PROFILES,
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    profiles = tmp_path / "app" / "profiles.py"
    index = FolderIndex(tmp_path, (), inference="jedi")
    index.discover()
    index.build(lambda d, n: None)
    assert index.inference is not None
    jedi = index.inference.inner
    assert isinstance(jedi, JediInference)

    # Built without asking jedi; the receiver is stale, so nothing is claimed yet.
    assert jedi.queries == 0
    first = index.analyze(profiles, "app/profiles.py", PROFILES, OPTIONS)
    assert first.findings == [] and first.inference_due
    assert index.refresh_inference() is True  # jedi: self.client is a requests.Session
    asked = jedi.queries
    assert asked >= 1
    assert rules(index, profiles, tmp_path, PROFILES) == [("RH101", 9)]

    # Typing elsewhere in the module: the answer sticks, jedi is not asked again.
    edited = PROFILES.replace("return dict(response.json())", "return {'id': user_id}")
    again = index.analyze(profiles, "app/profiles.py", edited, OPTIONS)
    assert [(f.rule, f.span.line) for f in again.findings] == [("RH101", 9)]
    assert not again.inference_due
    assert jedi.queries == asked

    # clients.py is saved with a client of its own: jedi is asked again about its importers.
    clients = tmp_path / "app" / "clients.py"
    clients.write_text(
        "class CachedClient:\n"
        "    def get(self, url: str) -> dict:\n"
        "        return {}\n\n\n"
        "def make_client():\n"
        "    return CachedClient()\n"
    )
    assert index.saved(clients) is True
    assert rules(index, profiles, tmp_path, edited) == [("RH101", 9)]  # until jedi answers
    assert index.refresh_inference() is True
    assert rules(index, profiles, tmp_path, edited) == []


def test_broken_files_in_the_folder_never_stop_the_index(tmp_path: Path) -> None:
    worker, _ = make_jobs(tmp_path)
    (tmp_path / "jobs" / "latin1.py").write_bytes(b"NAME = '\xe9t\xe9'\n")  # not UTF-8
    (tmp_path / "jobs" / "binary.py").write_bytes(b"\x00\x01\x02" * 100)
    (tmp_path / "jobs" / "half_typed.py").write_text("async def poll(:\n    return (\n")
    (tmp_path / "jobs" / "deep.py").write_text("VALUE = " + "(" * 3000 + "1" + ")" * 3000 + "\n")
    index = FolderIndex(tmp_path, ())
    assert index.discover() == 7
    reports: list[tuple[int, int]] = []
    assert index.build(lambda d, n: reports.append((d, n)), 0) is True
    assert reports[-1] == (7, 7)
    assert rules(index, worker, tmp_path, WORKER) == [("RH102", 5)]


def test_edits_do_not_leak_the_parses_they_replace(tmp_path: Path) -> None:
    # The index is frozen out of the cycle collector; a replaced parse must still be freed
    # (it leaked ~3 MB per keystroke on a 2,000-line module before its cycles were broken).
    service = tmp_path / "billing.py"
    text = "import threading\n\n" + "".join(
        f"class Ledger{n}:\n"
        f"    def __init__(self) -> None:\n"
        f"        self._lock = threading.Lock()\n"
        f"        self.entries: list[int] = []\n\n"
        f"    def post(self, amount: int) -> None:\n"
        f"        with self._lock:\n"
        f"            self.entries.append(amount)\n\n"
        for n in range(40)
    )
    service.write_text(text)
    index = FolderIndex(tmp_path, ())
    index.discover()
    index.build(lambda d, n: None)

    def tracked() -> int:
        gc.collect()
        return len(gc.get_objects()) + gc.get_freeze_count()

    index.analyze(service, "billing.py", text, OPTIONS)  # as on disk: the built parse is kept
    built = tracked()
    for n in range(20):
        index.analyze(service, "billing.py", f"{text}\nREVISION = {n}\n", OPTIONS)
    assert tracked() - built < 200
