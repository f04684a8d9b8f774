"""``riskhints prompt FILE:LINE``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from riskhints.cli import main

SOURCE = textwrap.dedent(
    """\
    import threading

    _cache_lock = threading.Lock()
    _cache: dict[str, bytes] = {}


    async def thumbnail(key: str, render) -> bytes:
        with _cache_lock:
            if key not in _cache:
                _cache[key] = await render(key)
            return _cache[key]
    """
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'thumbs'\n")
    (tmp_path / "thumbs.py").write_text(SOURCE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_prints_the_prompt(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompt", "thumbs.py:10"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Assumptions checklist for `thumbnail`")
    assert "(`thumbs.py`, lines 7–11)" in out
    assert "**RH202**" in out and "I don't know" in out


def test_no_function_at_that_line(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompt", "thumbs.py:3"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "thumbs.py:3: no function at this line" in captured.err


@pytest.mark.parametrize("location", ["thumbs.py", "thumbs.py:0", "thumbs.py:x", ":4"])
def test_malformed_location(
    project: Path, capsys: pytest.CaptureFixture[str], location: str
) -> None:
    assert main(["prompt", location]) == 2
    assert "expected FILE:LINE" in capsys.readouterr().err


def test_missing_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompt", "nope.py:1"]) == 2
    assert "nope.py: cannot read it" in capsys.readouterr().err
