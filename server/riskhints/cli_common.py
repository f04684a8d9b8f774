"""Small pieces every ``riskhints`` subcommand shares: report paths and usage errors."""

from __future__ import annotations

import sys
from pathlib import Path

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def display_path(path: Path) -> str:
    """Relative to the working directory when possible: no absolute paths in reports."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def fail(message: str) -> int:
    """Say what is wrong on stderr and return the usage/config error exit code."""
    sys.stderr.write(f"riskhints: error: {message}\n")
    return EXIT_ERROR
