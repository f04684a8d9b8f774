"""Small pieces every ``riskhints`` subcommand shares: exit codes, report paths, usage errors
and the settings of a run.

Imported by every command module at parse time, so it imports nothing heavy itself.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Project:
    """One project of a run: where its root is and the settings that apply to it."""

    #: The project root: the nearest folder above the named path with a pyproject.toml,
    #: setup.cfg, riskhints.toml or .git (see :mod:`riskhints.analysis.project`); else the
    #: named folder (or a named file's folder).
    root: Path
    settings: Settings
    #: The folder of the settings file (``exclude`` and the ``python``/``venv`` paths are
    #: relative to it); the root when there is none.
    settings_folder: Path
    #: ``"marked"``, ``"package"`` or ``"folder"`` (see :func:`project_of`).
    kind: str


def project_of(path: Path) -> tuple[Path, str]:
    """The project root of a named path, and what kind of root it is:

    - ``"marked"``: the nearest folder above with a marker (see :mod:`riskhints.analysis.project`);
    - ``"package"``: no marker, the file is inside a package: the folder above its top package
      (what the package's absolute imports are relative to);
    - ``"folder"``: neither: the named folder, or the named file's own folder.

    Marked and package roots are walked for the modules the named files import; a bare folder
    is not (it may be a home folder). Only a marked root holds a cache."""
    from ..analysis.project import project_root

    root = project_root(path)
    if root is not None:
        return root, "marked"
    resolved = path.resolve()
    folder = resolved if resolved.is_dir() else resolved.parent
    top = folder
    while (top / "__init__.py").is_file() and top.parent != top:
        top = top.parent
    return top, ("package" if top != folder else "folder")


def load_project(args: argparse.Namespace, start: Path) -> Project:
    """The project ``start`` belongs to, with the settings of the run: ``--config`` or the
    nearest settings file above ``start`` (never anything found from the current directory),
    then the command line's overrides."""
    from ..config import Settings, find_settings_file, load_config_file, parse_settings

    root, kind = project_of(start)
    config: Path | None = getattr(args, "config", None)
    if config is not None:
        if not config.is_file():
            raise UsageError(f"--config {config}: no such file")
        settings_file: Path | None = config
    else:
        settings_file = find_settings_file(start)
    settings = load_config_file(settings_file) if settings_file is not None else Settings()
    folder = settings_file.resolve().parent if settings_file is not None else root
    overrides: dict[str, object] = {}
    if getattr(args, "select", None):
        overrides["--select"] = split_ids(args.select)
    if getattr(args, "ignore", None):
        overrides["--ignore"] = [*settings.ignore, *split_ids(args.ignore)]
    for key in ("scope", "base"):  # riskhints check --scope/--base, riskhints provenance --base
        if getattr(args, key, None) is not None:
            overrides[f"--{key}"] = getattr(args, key)
    if overrides:
        settings = parse_settings(overrides, "command line", settings)
    return Project(root, settings, folder, kind)


def load_settings(args: argparse.Namespace, start: Path) -> tuple[Settings, Path]:
    """Settings for a run and the project root of ``start``."""
    project = load_project(args, start)
    return project.settings, project.root
