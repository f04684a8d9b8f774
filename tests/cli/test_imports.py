"""Each subcommand imports only what it uses: the parser imports no third-party package, and
libcst, jedi, rich and pygls load only for the commands (and settings) that need them. Run in a
fresh interpreter per case, since this process has imported everything already."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("libcst", "jedi", "rich", "pygls", "lsprotocol")

PROBE = """\
import json, sys
from riskhints.cli import main
code = main(sys.argv[1:])
loaded = sorted({name.split(".")[0] for name in sys.modules} & set(HEAVY))
sys.__stdout__.write("\\n" + json.dumps({"code": code, "loaded": loaded}) + "\\n")
"""


def imported_by(cwd: Path, *args: str) -> tuple[int, set[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "server")}
    result = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{PROBE}", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    last = json.loads(result.stdout.strip().splitlines()[-1])
    return last["code"], set(last["loaded"])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'shop'\n")
    (tmp_path / "orders.py").write_text(
        "import threading\n\n_lock = threading.Lock()\n\n\n"
        "async def refresh(client, key):\n    with _lock:\n        return await client.get(key)\n"
    )
    return tmp_path


@pytest.mark.parametrize(
    "args",
    [("--version",), ("rules",), ("settings",), ("provenance", "orders.py")],
    ids=["version", "rules", "settings", "provenance"],
)
def test_commands_that_need_no_third_party_package_import_none(project: Path, args) -> None:
    code, loaded = imported_by(project, *args)
    assert code == 0
    assert loaded == set()


def test_check_without_inference_loads_neither_jedi_nor_libcst_nor_rich(project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.riskhints]\ninference = "off"\n')
    code, loaded = imported_by(project, "check", "--no-cache", "orders.py")
    assert code == 1
    assert loaded == set()


def test_check_asks_jedi_about_a_receiver_the_syntax_cannot_type(project: Path) -> None:
    (project / "health.py").write_text(
        # A lambda factory: the facts type functions' results, not lambdas', so this is jedi's.
        "import httpx\n\nmake_client = lambda: httpx.Client()  # noqa: E731\n\n\n"
        "async def health():\n    client = make_client()\n    return client.get('/health')\n"
    )
    code, loaded = imported_by(project, "check", "--no-cache", "health.py")
    assert code == 1
    assert loaded == {"jedi"}


def test_language_server_loads_libcst_and_jedi_only_when_asked(tmp_path: Path) -> None:
    # What `riskhints serve` imports before its first diagnostics: code actions (libcst) and
    # inference (jedi) are loaded by the first request that needs them.
    probe = (
        "import json, sys\nimport riskhints.lsp.server\n"
        f"print(json.dumps(sorted({{n.split('.')[0] for n in sys.modules}} & set({HEAVY!r}))))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "server")}
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout.strip().splitlines()[-1])) == {"pygls", "lsprotocol"}
