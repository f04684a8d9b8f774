"""``riskhints prompt FILE:LINE``: print the assistant prompt for the function at that line
(the same text as the server's ``riskhints.assumptionsPrompt`` command).

Exit codes: 0 printed; 2 when the argument is malformed, the file cannot be read or analysed,
or no function is at that line (with a message saying which).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .. import safe_read
from .common import display_path, fail

EXIT_OK, EXIT_ERROR = 0, 2


def add_parser(commands: Any) -> None:
    prompt = commands.add_parser(
        "prompt",
        help="print an assistant prompt asking for the assumptions of the function at FILE:LINE",
    )
    prompt.add_argument("location", metavar="FILE:LINE", help="a file and a 1-based line in it")


def run(args: argparse.Namespace) -> int:
    from ..actions.prompt import build_prompt
    from ..analysis import analyze_source, decode_source
    from ..config import Settings, find_pyproject, load_pyproject

    file, line = _location(args.location)
    if file is None or line is None:
        return fail(f"{args.location}: expected FILE:LINE, with LINE a number from 1")
    try:
        data = safe_read.read_bytes(file)
    except OSError as error:
        return fail(f"{file}: cannot read it ({error.strerror})")
    try:
        text = decode_source(data)
    except ValueError as error:
        return fail(f"{file}: {error}")
    pyproject = find_pyproject(file.resolve().parent)
    settings = load_pyproject(pyproject) if pyproject else Settings()
    shown = display_path(file)
    findings = analyze_source(text, shown, settings.analysis_options())
    prompt = build_prompt(text, shown, findings, line)
    if prompt is None:
        return fail(f"{shown}:{line}: no function at this line (or the file does not parse)")
    sys.stdout.write(prompt.text + "\n")
    return EXIT_OK


def _location(value: str) -> tuple[Path | None, int | None]:
    name, _, number = value.rpartition(":")
    if not name or not number.isdigit() or int(number) < 1:
        return None, None
    return Path(name), int(number)
