"""Writing a generated stress test into the workspace: the one part of stress-test generation
that touches the file system (used by ``riskhints stress`` and ``riskhints.insertStressTest``).

Invariants:
- Writes only inside the workspace root, into the configured stress-test folder; a folder that
  leads outside it (``..``, an absolute path, a symlink) is refused.
- Never overwrites a file: a new test is appended to the module's own stress file (one that
  carries the harness marker and names the same module), or goes into a new file created with
  ``open(..., "x")``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import roots
from ..analysis.finding import Finding
from .stress import StressError, generate_stress_test

_STRESS_GLOB = "test_stress_*.py"


@dataclass(frozen=True)
class WrittenTest:
    path: Path
    test_name: str
    appended: bool
    skipped_until: tuple[str, ...]  # factories to fill in before the test runs


def workspace_root(file: Path, folder: Path | None = None, fallback: Path | None = None) -> Path:
    """The workspace folder holding ``file``, else the git root above it, else ``fallback``
    (the current directory for the CLI) when it holds the file."""
    root = roots.workspace_root(file, folder, fallback)
    if root is not None:
        return root
    raise StressError(
        f"{file.name} is not inside a workspace folder or a git repository: "
        "no place to write its stress test"
    )


def write_stress_test(
    file: Path,
    text: str,
    target: str | int,
    findings: Sequence[Finding],
    root: Path,
    stress_dir: str,
) -> WrittenTest:
    """Generate the stress test of ``target`` (a name or a 1-based line) in ``file`` (whose
    current text is ``text``) and write it under ``root / stress_dir``."""
    root = root.resolve()
    if not file.resolve().is_relative_to(root):
        raise StressError(f"{file.name} is not inside the workspace {root.name}")
    relative = file.resolve().relative_to(root).as_posix()
    folder = root / stress_dir
    if not folder.resolve().is_relative_to(root):
        raise StressError(f"stress-test-dir `{stress_dir}` leads outside the workspace")
    existing: dict[str, str] = {}
    if folder.is_dir():
        for path in sorted(folder.glob(_STRESS_GLOB)):
            try:
                existing[path.name] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                existing[path.name] = ""  # unreadable: never appended to, never overwritten
    generated = generate_stress_test(
        text, relative, target, findings, stress_dir=stress_dir, existing=existing
    )
    destination = folder / generated.file_name
    if generated.appended:
        if destination.read_text(encoding="utf-8") != existing[generated.file_name]:
            raise StressError(f"{destination.name} changed while the test was generated; retry")
        with destination.open("a", encoding="utf-8", newline="\n") as handle:
            handle.write(generated.text)
    else:
        folder.mkdir(parents=True, exist_ok=True)
        if not folder.resolve().is_relative_to(root):
            raise StressError(f"stress-test-dir `{stress_dir}` leads outside the workspace")
        try:
            with destination.open("x", encoding="utf-8", newline="\n") as handle:
                handle.write(generated.text)
        except FileExistsError:
            raise StressError(f"{destination.name} already exists; not overwritten") from None
    return WrittenTest(
        destination, generated.test_name, generated.appended, generated.skipped_until
    )
