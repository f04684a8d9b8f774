"""The packaged extension in a real VS Code: code-server 4.100.3 driven in Debian's headless
Chromium by playwright-core (see ../shared/E2E-CLIENTS.md for why each flag is there).

One session, four steps, run by ``client-vscode/e2e/scenario.js``: open a file with a lock held
across an await and see the squiggle and the hover with the evidence (01), the Problems entry
(02), apply the quick fix and see the squiggle go (03), run the checklist action and see the
comment inserted (04). The extension, in test mode (``RISKHINTS_VSCODE_TEST_OUT``), writes the
diagnostics VS Code holds to a JSON file on every change: the assertions are on those and on the
editor's text, the screenshots in ``test-output/vscode/`` are for a reviewer.

Tools: ``client-vscode/e2e/node_modules`` (``make vscode-e2e-deps``), ``/usr/bin/chromium`` and the
``.vsix`` (``client-vscode/riskhints-*.vsix``, from ``npm run package``; ``RISKHINTS_E2E_VSIX``
overrides). Under ``CI=true`` a missing one fails the test, elsewhere it skips with the reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ..fixture_expectations import FIXTURES

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "client-vscode"
HARNESS = CLIENT / "e2e"
CODE_SERVER = HARNESS / "node_modules" / "code-server" / "out" / "node" / "entry.js"
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-output" / "vscode"
FIXTURE = FIXTURES / "rules" / "RH202" / "bad_price_cache_refresh.py"
_EXPECT_MARKER = re.compile(r"\s*# expect: .*$", re.MULTILINE)

# Keep the workbench quiet: no trust prompt, welcome page, telemetry, update or AI popups.
SETTINGS = {
    "security.workspace.trust.enabled": False,
    "workbench.startupEditor": "none",
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "extensions.autoUpdate": False,
    "extensions.autoCheckUpdates": False,
    "chat.disableAIFeatures": True,
    "workbench.tips.enabled": False,
    "extensions.ignoreRecommendations": True,
    "git.enabled": False,
}


def missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def find_vsix() -> Path | None:
    override = os.environ.get("RISKHINTS_E2E_VSIX")
    if override:
        if not Path(override).is_file():
            missing(f"RISKHINTS_E2E_VSIX={override} is not a file")
        return Path(override)
    built = sorted(CLIENT.glob("riskhints-*.vsix"), key=lambda p: p.stat().st_mtime)
    return built[-1] if built else None


@dataclass(frozen=True)
class Tools:
    node: str
    vsix: Path


def require_tools() -> Tools:
    node = shutil.which("node")
    if node is None:
        missing("node is not on PATH")
    if not CODE_SERVER.is_file():
        missing(f"code-server is not installed: {CODE_SERVER} missing; run `make vscode-e2e-deps`")
    if not CHROMIUM.is_file():
        missing(f"{CHROMIUM} missing: apt-get install chromium")
    vsix = find_vsix()
    if vsix is None:
        missing(f"no {CLIENT}/riskhints-*.vsix: run `npm run package` in client-vscode")
    assert node is not None and vsix is not None
    return Tools(node, vsix)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, server: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"code-server exited {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"code-server not healthy after {seconds}s:\n{log.read_text()}")


def stop_group(server: subprocess.Popen[bytes]) -> None:
    """Ends code-server's whole process group: the main PID alone leaves the file watcher, the
    extension host and the language server running."""
    pgid = server.pid  # start_new_session: the leader of its own group
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            server.poll()
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
    server.wait(timeout=5)


@dataclass
class Session:
    url: str
    file: Path
    diagnostics: Path
    log: Path
    env: dict[str, str]
    extensions: Path
    user_data: Path
    pgid: int

    def extension_log(self) -> str:
        """The extension's output channels, as code-server logged them."""
        logs = sorted(self.user_data.glob("logs/**/*riskhints*.log"))
        return "\n".join(f"--- {log}\n{log.read_text(errors='replace')[-3000:]}" for log in logs)

    def language_servers(self) -> list[dict[str, str]]:
        """The ``riskhints serve`` processes in code-server's group: argv, cwd, PYTHONPATH."""
        found = []
        for proc in Path("/proc").iterdir():
            try:
                if not proc.name.isdigit() or os.getpgid(int(proc.name)) != self.pgid:
                    continue
                argv = (proc / "cmdline").read_bytes().split(b"\0")
                if b"riskhints" not in argv or b"serve" not in argv:
                    continue
                environ = dict(
                    item.split(b"=", 1)
                    for item in (proc / "environ").read_bytes().split(b"\0")
                    if b"=" in item
                )
                found.append(
                    {
                        "pid": proc.name,
                        "argv": " ".join(a.decode() for a in argv if a),
                        "cwd": os.readlink(proc / "cwd"),
                        "PYTHONPATH": environ.get(b"PYTHONPATH", b"").decode(),
                    }
                )
            except (OSError, ProcessLookupError):
                continue  # gone meanwhile
        return found


@pytest.fixture
def code_server(tmp_path: Path) -> Iterator[Session]:
    tools = require_tools()
    workspace = tmp_path / "shop"
    workspace.mkdir()
    source = _EXPECT_MARKER.sub("", FIXTURE.read_text(encoding="utf-8"))
    (workspace / "prices.py").write_text(source, encoding="utf-8")
    user_data = tmp_path / "user-data"
    (user_data / "User").mkdir(parents=True)
    (user_data / "User" / "settings.json").write_text(json.dumps(SETTINGS, indent=2))
    extensions = tmp_path / "extensions"
    diagnostics = tmp_path / "diagnostics.json"
    env = {
        **os.environ,
        # code-server writes its config.yaml and state under XDG folders, not into $HOME.
        "XDG_CONFIG_HOME": str(tmp_path / "xdg" / "config"),
        "XDG_DATA_HOME": str(tmp_path / "xdg" / "data"),
        "XDG_CACHE_HOME": str(tmp_path / "xdg" / "cache"),
        "RISKHINTS_VSCODE_TEST_OUT": str(diagnostics),
    }
    env.pop("PYTHONPATH", None)  # the extension must run its bundled server, not this tree
    base = [tools.node, str(CODE_SERVER), "--user-data-dir", str(user_data)]
    base += ["--extensions-dir", str(extensions)]

    install = subprocess.run(
        [*base, "--install-extension", str(tools.vsix)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert install.returncode == 0, f"--install-extension failed:\n{install.stdout}{install.stderr}"
    assert "was successfully installed" in install.stdout, install.stdout

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "code-server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                *base,
                "--auth", "none",
                "--bind-addr", f"127.0.0.1:{port}",
                "--disable-telemetry",
                "--disable-update-check",
                "--disable-workspace-trust",
                "--disable-getting-started-override",
                str(workspace),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # setsid: its own process group, killed as a whole
        )  # fmt: skip
    try:
        wait_healthy(url, server, log, 60)
        yield Session(
            url, workspace / "prices.py", diagnostics, log, env, extensions, user_data, server.pid
        )
    finally:
        stop_group(server)
    with pytest.raises(ProcessLookupError):  # nothing of it is left: no stray language server
        os.killpg(server.pid, 0)


def run_scenario(session: Session) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """What the scenario saw, and every language server that ran meanwhile (sampled while the
    browser is connected: once it leaves, code-server may end the extension host)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    result_file = session.diagnostics.with_name("scenario.json")
    config = {
        "url": session.url,
        "file": str(session.file),
        "diagnostics": str(session.diagnostics),
        "screenshots": str(SCREENSHOTS),
        "result": str(result_file),
        "chromium": str(CHROMIUM),
    }
    node = shutil.which("node") or "node"
    servers: dict[str, dict[str, str]] = {}
    with subprocess.Popen(
        [node, str(HARNESS / "scenario.js"), json.dumps(config)],
        cwd=HARNESS,
        env={**session.env, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as scenario:
        deadline = time.monotonic() + 240
        while scenario.poll() is None and time.monotonic() < deadline:
            servers.update((found["pid"], found) for found in session.language_servers())
            time.sleep(0.25)
        if scenario.poll() is None:
            scenario.kill()
        output = scenario.communicate(timeout=60)[0]
    result: dict[str, Any] = (
        json.loads(result_file.read_text(encoding="utf-8")) if result_file.is_file() else {}
    )
    (SCREENSHOTS / "result.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    assert scenario.returncode == 0 and result and not result.get("error"), (
        f"scenario failed (exit {scenario.returncode}): {result.get('error')}\n"
        f"steps done: {[s['name'] for s in result.get('steps', [])]}\n"
        f"output: {output[-3000:]}\n"
        f"code-server log:\n{session.log.read_text()[-3000:]}\n"
        f"screenshot: {SCREENSHOTS / 'failure.png'}"
    )
    return result, list(servers.values())


# Installing the extension (120 s), code-server's start (60 s) and the scenario (240 s).
@pytest.mark.timeout(600)
def test_squiggle_hover_problems_quick_fix_and_checklist(code_server: Session) -> None:
    result, servers = run_scenario(code_server)
    steps = {step["name"]: step for step in result["steps"]}
    assert list(steps) == [
        "01-squiggle-hover",
        "02-problems",
        "03-quick-fix-applied",
        "04-checklist-inserted",
    ]
    for name in [*steps, "03-quick-fix-menu", "04-checklist-menu"]:
        assert (SCREENSHOTS / f"{name}.png").is_file()
    source = _EXPECT_MARKER.sub("", FIXTURE.read_text(encoding="utf-8"))
    lines = source.splitlines()
    [await_line] = [i for i, line in enumerate(lines) if "await client.get(" in line]

    # 01: VS Code holds the RH202 warning on the awaited call, the squiggle is drawn and the
    # hover shows the evidence: which lock, and where it was taken.
    first = steps["01-squiggle-hover"]
    [lock] = [d for d in first["diagnostics"] if d["code"] == "RH202"]
    start, end = lock["range"]["start"], lock["range"]["end"]
    assert start["line"] == end["line"] == await_line
    assert lines[await_line][start["character"] : end["character"]].startswith("await client.get(")
    assert "_prices_lock" in lock["message"]
    assert (lock["source"], lock["severity"]) == ("riskhints", "error")
    assert first["squiggles"] == 1 and "squiggly-error" in first["squiggleClass"]
    assert "RH202" in first["hover"]
    assert "_prices_lock taken here" in first["hover"]  # the evidence chain
    assert first["text"] == source

    # 02: the Problems panel lists it.
    problems = "\n".join(steps["02-problems"]["problems"])
    assert "RH202" in problems and "_prices_lock" in problems

    # 03: the quick fix swapped the lock for an asyncio.Lock; VS Code no longer holds RH202 and
    # no squiggle is left.
    fixed = steps["03-quick-fix-applied"]
    assert any(label.startswith("Use an asyncio.Lock") for label in fixed["menu"])
    assert fixed["diagnostics"] == []
    assert "_prices_lock = asyncio.Lock()" in fixed["text"]
    assert "    async with _prices_lock:" in fixed["text"]
    assert "import threading" not in fixed["text"]

    # 04: the checklist block sits above the function, and is what was saved.
    checklist = steps["04-checklist-inserted"]
    text_lines = checklist["text"].splitlines()
    header = text_lines.index("# riskhints assumptions for refresh_price:")
    block = []
    for line in text_lines[header + 1 :]:
        if not line.startswith("# [ ] "):
            break
        block.append(line)
    assert block and text_lines[header + 1 + len(block)].startswith("async def refresh_price(")
    assert any("`_prices_lock` (asyncio.Lock)" in line for line in block)
    assert checklist["saved"] == checklist["text"]
    compile(checklist["saved"], "prices.py", "exec")

    # One server ran all along, the one bundled in the .vsix (no pip install): python3 from PATH
    # with the extension's bundled/libs first on PYTHONPATH.
    assert len(servers) == 1, f"{servers}\n{code_server.extension_log()}"
    [server] = servers
    assert server["argv"].endswith("-m riskhints serve"), server
    bundled = server["PYTHONPATH"].split(os.pathsep)[0]
    assert bundled.startswith(str(code_server.extensions)), server
    assert bundled.endswith("bundled/libs"), server
