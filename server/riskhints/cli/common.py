"""Small pieces every ``riskhints`` subcommand shares: exit codes, report paths, usage errors
and the settings of a run.

Imported by every command module at parse time, so it imports nothing heavy itself.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Settings

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class UsageError(Exception):
    """A command line that cannot be run: reported as ``riskhints: error: ...``, exit 2."""


def display_path(path: Path) -> str:
    """Relative to the working directory when possible: no absolute paths in reports."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def err(message: str) -> None:
    sys.stderr.write(f"riskhints: {message}\n")


def fail(message: str) -> int:
    """Say what is wrong on stderr and return the usage/config error exit code."""
    err(f"error: {message}")
    return EXIT_ERROR


def split_ids(values: Iterable[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def load_settings(args: argparse.Namespace, start: Path) -> tuple[Settings, Path]:
    """Settings for a run and the project root (the folder of the pyproject we used)."""
    from ..config import Settings, find_pyproject, load_config_file, load_pyproject, parse_settings

    if args.config is not None:
        if not args.config.is_file():
            raise UsageError(f"--config {args.config}: no such file")
        settings = load_config_file(args.config)
        root = args.config.resolve().parent
    else:
        pyproject = find_pyproject(start)
        settings = load_pyproject(pyproject) if pyproject else Settings()
        root = pyproject.parent if pyproject else Path.cwd()
    overrides: dict[str, object] = {}
    if getattr(args, "select", None):
        overrides["select"] = split_ids(args.select)
    if getattr(args, "ignore", None):
        overrides["ignore"] = [*settings.ignore, *split_ids(args.ignore)]
    for key in ("scope", "base"):  # riskhints check --scope/--base, riskhints provenance --base
        if getattr(args, key, None) is not None:
            overrides[key] = getattr(args, key)
    if overrides:
        settings = parse_settings(overrides, "command line", settings)
    return settings, root
