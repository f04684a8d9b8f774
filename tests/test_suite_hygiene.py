"""The test suite never hangs: every subprocess a test starts is bounded and reaped.

Checked on the tests' own source (a new test that forgets a timeout fails here, before it can
hang a loaded CI machine): ``subprocess.run``/``check_output``/``check_call`` and
``communicate``/``wait`` pass ``timeout=``; a ``subprocess.Popen`` is a ``with`` item (its exit
waits for the child) or goes through the ``spawn`` fixture (``tests/conftest.py``), which kills
and reaps what is left when the test ends. pytest-timeout bounds the rest (pyproject.toml).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
BOUNDED = {"run", "check_output", "check_call", "communicate", "wait"}
# Calls named like the bounded ones that are not subprocesses (events, asyncio processes
# bounded by asyncio.wait_for, argparse, ...): (file, receiver text).
NOT_SUBPROCESSES = {
    ("e2e/test_lsp_workspace.py", "released"),  # an asyncio.Event released at teardown
    ("e2e/lsp_support.py", "server"),  # an asyncio process, waited for in asyncio.wait_for
}
# Popen outside `with`, reaped otherwise: code-server runs in its own session and the fixture
# kills its whole process group in a `finally`; the dying client's server is the process
# test_lsp_client_death.py waits for, and kills in a `finally` if it lives on.
POPEN_REAPED = {"conftest.py", "e2e/test_vscode.py", "e2e/dying_client.py"}


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _with_items(tree: ast.AST) -> set[int]:
    return {
        id(item.context_expr)
        for node in ast.walk(tree)
        if isinstance(node, (ast.With, ast.AsyncWith))
        for item in node.items
    }


def _problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    relative = path.relative_to(TESTS).as_posix()
    in_with = _with_items(tree)
    found = []
    for call in _calls(tree):
        func = call.func
        if not isinstance(func, ast.Attribute):
            continue
        receiver = ast.unparse(func.value)
        keywords = {k.arg for k in call.keywords}
        where = f"{relative}:{call.lineno}"
        spawned = func.attr == "Popen" and receiver == "subprocess"
        if spawned and id(call) not in in_with and relative not in POPEN_REAPED:
            found.append(f"{where}: subprocess.Popen outside `with` (use the spawn fixture)")
        elif func.attr in BOUNDED and "timeout" not in keywords:
            if func.attr in {"run", "check_output", "check_call"} and receiver != "subprocess":
                continue
            if (relative, receiver) in NOT_SUBPROCESSES:
                continue
            found.append(f"{where}: {receiver}.{func.attr}() without timeout=")
    return found


def test_every_subprocess_a_test_starts_is_bounded() -> None:
    problems = [p for path in sorted(TESTS.rglob("*.py")) for p in _problems(path)]
    assert problems == []


def test_the_check_sees_an_unbounded_call(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import subprocess\n"
        "subprocess.run(['git', 'status'])\n"
        "proc = subprocess.Popen(['sleep', '1'])\n"
        "proc.communicate()\n"
        "with subprocess.Popen(['true']) as ok:\n"
        "    ok.wait(timeout=5)\n"
    )
    original = TESTS
    try:
        globals()["TESTS"] = tmp_path
        problems = _problems(sample)
    finally:
        globals()["TESTS"] = original
    assert [p.split(": ", 1)[0] for p in problems] == ["sample.py:2", "sample.py:3", "sample.py:4"]


def test_a_test_that_overruns_is_stopped_by_the_timeout(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        "import time\n\n"
        "import pytest\n\n\n"
        "@pytest.mark.timeout(1)\n"
        "def test_stuck():\n"
        "    time.sleep(600)\n\n\n"
        "def test_next():\n"
        "    pass\n"
    )
    result = pytester.runpytest_subprocess(timeout=120)
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*Timeout*"])


def test_the_suite_has_a_timeout_for_every_test(pytestconfig: pytest.Config) -> None:
    assert float(pytestconfig.getini("timeout")) > 0
