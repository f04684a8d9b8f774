"""``riskhints stress FILE:FUNCTION`` / ``FILE:LINE``: write a stress test (the same test as the
server's ``riskhints.insertStressTest`` command) and print the path of the file it went into.

FUNCTION is a name (``handle_event``, ``EventHandler.handle_event``); LINE is a 1-based line:
the finding there (the most serious with an oracle), else the function holding the line. The
shared harness ``_riskhints_stress.py`` is written beside the test when missing. The test goes
under the ``stress-test-dir`` setting (default ``tests/stress``) of the workspace: the git root
above the file, else the current directory (which must hold the file). Nothing is overwritten:
the test is appended to the module's stress file or starts a new one.

Exit codes: 0 written; 2 when the argument is malformed, the file cannot be read, or the test
cannot be generated or written (with a message saying why).
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
    stress = commands.add_parser(
        "stress",
        help="write a stress test that makes the hazard at FILE:FUNCTION or FILE:LINE show up",
    )
    stress.add_argument(
        "location",
        metavar="FILE:FUNCTION|FILE:LINE",
        help="a file and a function in it (name or Class.method), or a 1-based line of a finding",
    )
    stress.add_argument(
        "--stress-dir",
        metavar="DIR",
        help="folder of the workspace to write into (default: the stress-test-dir setting)",
    )


def run(args: argparse.Namespace) -> int:
    from ..actions.stress import (
        StressError,
        project_findings,
        workspace_root,
        write_stress_test,
    )
    from ..analysis import decode_source
    from ..config import ConfigError, Settings, find_pyproject, load_pyproject, parse_settings

    file_name, _, function = str(args.location).rpartition(":")
    if not file_name or not function:
        return fail(f"{args.location}: expected FILE:FUNCTION")
    file = Path(file_name)
    target: str | int = int(function) if function.isdigit() else function
    try:
        text = decode_source(safe_read.read_bytes(file))
    except OSError as error:
        return fail(f"{file}: cannot read it ({error.strerror})")
    except ValueError as error:
        return fail(f"{file}: {error}")
    try:
        pyproject = find_pyproject(file.resolve().parent)
        settings = load_pyproject(pyproject) if pyproject else Settings()
        if args.stress_dir:
            settings = parse_settings(
                {"stress-test-dir": args.stress_dir}, "--stress-dir", settings
            )
        root = workspace_root(file, fallback=Path.cwd())
        options = settings.analysis_options()
        findings = project_findings(file, text, root, options, settings.exclude)
        written = write_stress_test(file, text, target, findings, root, settings.stress_test_dir)
    except (StressError, ConfigError) as error:
        return fail(str(error))
    except OSError as error:
        return fail(f"cannot write the stress test ({error.strerror}: {error.filename})")
    shown = display_path(written.path)
    sys.stdout.write(f"{shown}\n")
    verb = "appended to" if written.appended else "written to"
    note = f"{written.test_name} {verb} {shown}; run it with: python -m pytest {shown}"
    if written.harness_created:
        note += f"\nthe shared harness is {display_path(written.harness)}"
    elif written.harness_updated:
        note += f"\nthe shared harness {display_path(written.harness)} was updated to this version"
    sys.stderr.write(note + "\n")
    return EXIT_OK
