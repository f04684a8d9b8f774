"""The project a file belongs to, and the Python environment its imports come from.

- :func:`project_root`: the nearest folder at or above a path holding ``pyproject.toml``,
  ``setup.cfg``, ``riskhints.toml`` or ``.git`` — never the current directory, so results and
  the cache location do not change with ``cd``.
- :func:`find_environment`: the project's interpreter and its ``site-packages``: the ``python``
  setting (an interpreter), else the ``venv`` setting (an environment folder), else
  ``$VIRTUAL_ENV``, else ``.venv`` or ``venv`` in the project, else the interpreter riskhints
  runs in.

Invariant: nothing here runs the project's interpreter (it may be a program checked into an
untrusted repository). Everything is read from the file system: ``pyvenv.cfg`` (the version and
``home``), the executable's name, and the ``lib/pythonX.Y/site-packages`` (``Lib/site-packages``
on Windows) layout. Library look-ups and jedi read those folders; they never import from them.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .. import safe_read

#: What marks a project's root folder, looked for upward from each path.
PROJECT_MARKERS = ("pyproject.toml", "setup.cfg", "riskhints.toml", ".git")
_VERSION = re.compile(r"(\d+)\.(\d+)")
_EXECUTABLE_VERSION = re.compile(r"^python(\d+\.\d+)")


def project_root(path: Path) -> Path | None:
    """The nearest folder at or above ``path`` (a file or a folder) that holds one of
    :data:`PROJECT_MARKERS`, resolved; None when no folder above it does."""
    path = path.resolve()
    folder = path if path.is_dir() else path.parent
    for candidate in (folder, *folder.parents):
        if any((candidate / marker).exists() for marker in PROJECT_MARKERS):
            return candidate
    return None


@dataclass(frozen=True)
class PythonEnvironment:
    """Where a project's installed packages are, found without running anything."""

    #: Where it was found: "python setting", "venv setting", "VIRTUAL_ENV", ".venv", "venv",
    #: or "riskhints' interpreter".
    source: str
    #: The environment's folder (``sys.prefix`` of its interpreter), when known.
    prefix: Path | None
    #: ``site-packages`` (and Debian's ``dist-packages``) folders that exist, most specific first.
    site_packages: tuple[Path, ...]
    #: The standard library of the environment's base interpreter, when it can be found.
    stdlib: tuple[Path, ...] = ()
    #: "3.12", from ``pyvenv.cfg`` or the executable's name; None when unknown.
    version: str | None = None
    #: Why a setting or ``$VIRTUAL_ENV`` was not usable (the next candidate was used).
    problem: str | None = None

    @property
    def is_own(self) -> bool:
        """The interpreter riskhints runs in: jedi's own sys.path already covers it."""
        return self.source == OWN


OWN = "riskhints' interpreter"


def find_environment(
    root: Path | None,
    python: str = "",
    venv: str = "",
    environ: Mapping[str, str] | None = None,
) -> PythonEnvironment:
    """The project's environment (see the module docstring for the order). ``python`` and
    ``venv`` are the settings: absolute, ``~``-prefixed, or relative to ``root``."""
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    if python:
        found = _from_interpreter(_setting_path(python, root), "python setting")
        if found is not None:
            return found
        problems.append(f"python setting {python!r}: no such interpreter")
    if venv:
        found = _from_prefix(_setting_path(venv, root), "venv setting")
        if found is not None:
            return found
        problems.append(f"venv setting {venv!r}: not a virtual environment")
    active = environ.get("VIRTUAL_ENV", "")
    if active:
        found = _from_prefix(Path(active).expanduser(), "VIRTUAL_ENV")
        if found is not None:
            return _with_problem(found, problems)
        problems.append(f"VIRTUAL_ENV {active!r}: not a virtual environment")
    if root is not None:
        for name in (".venv", "venv"):
            found = _from_prefix(root / name, name)
            if found is not None:
                return _with_problem(found, problems)
    return _with_problem(own_environment(), problems)


def own_environment() -> PythonEnvironment:
    """The interpreter riskhints runs in (its site-packages, as its ``sys.path`` has them)."""
    site = tuple(
        Path(p) for p in sys.path if p and Path(p).name in ("site-packages", "dist-packages")
    )
    return PythonEnvironment(
        OWN,
        Path(sys.prefix),
        tuple(dict.fromkeys(p for p in site if p.is_dir())),
        _own_stdlib(),
        f"{sys.version_info[0]}.{sys.version_info[1]}",
    )


def project_sys_path(root: Path, environment: PythonEnvironment) -> list[Path]:
    """Where a project's imports are looked for, after the project folder itself: ``src/``
    (the src layout), then the environment's site-packages."""
    paths: list[Path] = []
    if (root / "src").is_dir():
        paths.append(root / "src")
    paths.extend(environment.site_packages)
    return paths


def _with_problem(found: PythonEnvironment, problems: list[str]) -> PythonEnvironment:
    if not problems:
        return found
    return PythonEnvironment(
        found.source,
        found.prefix,
        found.site_packages,
        found.stdlib,
        found.version,
        "; ".join(problems) + f" (using {found.source})",
    )


def _setting_path(value: str, root: Path | None) -> Path:
    path = Path(value).expanduser()
    if not path.is_absolute() and root is not None:
        path = root / path
    return path


def _from_interpreter(executable: Path, source: str) -> PythonEnvironment | None:
    """An interpreter named by path: a virtual environment's (``bin/python`` next to a
    ``pyvenv.cfg``) or a base installation (``/usr/bin/python3.12``)."""
    if not executable.is_file():
        return None
    prefix = executable.parent.parent  # bin/python or Scripts/python.exe
    if (prefix / "pyvenv.cfg").is_file():
        return _from_prefix(prefix, source)
    version = _executable_version(executable)
    site = _site_folders(prefix, version)
    if prefix.as_posix() == "/usr":  # Debian: pip's /usr/local, the distribution's dist-packages
        site += _site_folders(Path("/usr/local"), version)
    return PythonEnvironment(source, prefix, site, _stdlib_of(prefix, version), version)


def _from_prefix(prefix: Path, source: str) -> PythonEnvironment | None:
    """An environment folder: a virtual environment (it has a ``pyvenv.cfg``), or a folder
    with the layout of one (a conda environment, a copied tree)."""
    config = prefix / "pyvenv.cfg"
    values = _read_pyvenv(config) if config.is_file() else {}
    version = _major_minor(values.get("version_info") or values.get("version") or "")
    if version is None:
        version = _version_from_layout(prefix)
    site = _site_folders(prefix, version)
    if not site:  # a pyvenv.cfg naming another version than the folders (a rebuilt venv)
        version = _version_from_layout(prefix) or version
        site = _site_folders(prefix, version)
    if not config.is_file() and not site:
        return None
    stdlib: tuple[Path, ...] = ()
    home = values.get("home")
    if home:  # the base interpreter's bin folder: its standard library is beside it
        stdlib = _stdlib_of(Path(home).parent, version)
    if values.get("include-system-site-packages", "false").lower() == "true" and home:
        site += _site_folders(Path(home).parent, version)
    return PythonEnvironment(source, prefix, site, stdlib, version)


def _read_pyvenv(config: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    try:
        lines = safe_read.read_text(config, errors="replace").splitlines()
    except OSError:
        return values
    for line in lines:
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip().lower()] = value.strip()
    return values


def _major_minor(text: str) -> str | None:
    match = _VERSION.search(text)
    return f"{match[1]}.{match[2]}" if match else None


def _executable_version(executable: Path) -> str | None:
    """``python3.12`` names its version; ``python3`` is often a link to such a name."""
    for candidate in (executable, executable.resolve()):
        match = _EXECUTABLE_VERSION.match(candidate.name)
        if match:
            return match[1]
    return _version_from_layout(executable.parent.parent)


def _version_from_layout(prefix: Path) -> str | None:
    """The newest ``lib/pythonX.Y`` folder of a prefix."""
    versions = [
        _major_minor(folder.name[len("python") :])
        for folder in (prefix / "lib").glob("python3.*")
        if folder.is_dir()
    ]
    known = [v for v in versions if v is not None]
    return max(known, key=lambda v: tuple(int(part) for part in v.split("."))) if known else None


def _site_folders(prefix: Path, version: str | None) -> tuple[Path, ...]:
    candidates: list[Path] = []
    if version is not None:
        for lib in ("lib", "lib64"):
            candidates.append(prefix / lib / f"python{version}" / "site-packages")
            candidates.append(prefix / lib / f"python{version}" / "dist-packages")
        candidates.append(prefix / "lib" / "python3" / "dist-packages")  # Debian's own packages
    candidates.append(prefix / "Lib" / "site-packages")  # Windows
    found: dict[Path, Path] = {}
    for candidate in candidates:
        if candidate.is_dir():
            found.setdefault(candidate.resolve(), candidate)
    return tuple(found.values())


def _stdlib_of(prefix: Path, version: str | None) -> tuple[Path, ...]:
    candidates = [prefix / "Lib"]
    if version is not None:
        candidates.insert(0, prefix / "lib" / f"python{version}")
    return tuple(c for c in candidates if (c / "os.py").is_file())


def _own_stdlib() -> tuple[Path, ...]:
    paths = sysconfig.get_paths()
    folders = [Path(paths[key]) for key in ("stdlib", "platstdlib") if key in paths]
    dynload = Path(paths.get("platstdlib", "")) / "lib-dynload"
    return tuple(dict.fromkeys(p for p in (*folders, dynload) if p.is_dir()))
