from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Tests run against the source tree even before `pip install .`.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "server"))

pytest_plugins = ["pytester"]  # tests/test_suite_hygiene.py runs a small suite of its own

Spawn = Callable[..., "subprocess.Popen[Any]"]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """``subprocess.Popen`` for tests that run several processes at once: whatever is still
    running when the test ends (an assertion failed half-way) is killed and reaped."""
    started: list[subprocess.Popen[Any]] = []

    def start(*args: Any, **kwargs: Any) -> subprocess.Popen[Any]:
        process = subprocess.Popen(*args, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
