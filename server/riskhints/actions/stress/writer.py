"""The files a stress test lives in: the shared harness (``_riskhints_stress.py``, written once
into the stress folder, with the blocking APIs of riskhints' knowledge tables), and the module's
stress file (header, FAKES factories, tests), new or appended to.

Pure text here (``render_file``, ``harness_text``); ``write_stress_test`` is the one part that
touches the file system, used by ``riskhints stress`` and ``riskhints.insertStressTest``.

Invariants:
- Writes only inside the workspace root, into the configured stress folder; a folder that leads
  outside it (``..``, an absolute path, a symlink) is refused.
- Never overwrites a file: a test is appended to the module's own stress file (one carrying the
  marker of this harness version and naming the same module), or goes into a new file created
  with ``open(..., "x")``. The harness is created when missing; an existing one is replaced
  only by a newer version of itself (its first line names its version: a harness without the
  marker, or of this version or a later one, is left as it is), since tests written now call
  oracles an older harness lacks, and every version keeps the earlier ones' API.
- A factory already defined in the stress file is reused, never defined again: the user may have
  filled it in.
"""

from __future__ import annotations

import ast
import os
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

from ... import roots, safe_read
from ...analysis.finding import Finding
from ...analysis.knowledge.blocking import BLOCKING_CALLS
from ...analysis.options import AnalysisOptions
from ...analysis.parse import parse_python
from .build import build_test
from .entry import choose
from .layout import fit_lines
from .source import StressError, escape, import_name_for, module_context, parse

HARNESS_VERSION = 4
HARNESS_MARKER = f"riskhints-stress-harness: {HARNESS_VERSION}"
MODULE_MARKER = "riskhints-stress-module:"
HARNESS_FILE = "_riskhints_stress.py"
DEFAULT_STRESS_DIR = "tests/stress"
_STRESS_GLOB = "test_stress_*.py"


@dataclass(frozen=True)
class GeneratedTest:
    """``text`` is the whole new file, or (``appended``) the text to add to the existing one."""

    file_name: str
    test_name: str
    text: str
    appended: bool
    rule: str | None  # the finding the test proves, if any


@dataclass(frozen=True)
class WrittenTest:
    path: Path
    test_name: str
    appended: bool
    rule: str | None
    harness: Path
    harness_created: bool
    harness_updated: bool = False  # an older version of the harness was replaced


#: Blocking APIs the harness does not patch: pytest itself, the import system and the
#: libraries it loads read source through them (tracebacks, assertion rewriting, code
#: generation) on every thread.
_NOT_GUARDED = ("inspect.", "linecache.")


def harness_text() -> str:
    """The harness module, with the blocking APIs of the knowledge tables filled in."""
    source = resources.files(__package__).joinpath(HARNESS_FILE).read_text(encoding="utf-8")
    rows = "".join(
        f'    "{name}": "{escape(api.what)}",\n'
        for name, api in sorted(BLOCKING_CALLS.items())
        if not name.endswith(".*") and not name.startswith(_NOT_GUARDED)
    )
    return source.replace("    # __BLOCKING_APIS__\n", rows)


def stress_file_name(module: str, existing_modules: dict[str, str | None]) -> str:
    """``test_stress_<name>.py``, or a longer name when that file belongs to another module."""
    short = module.rsplit(".", 1)[-1]
    candidates = [f"test_stress_{short}.py", f"test_stress_{module.replace('.', '_')}.py"]
    for name in candidates:
        if name not in existing_modules or existing_modules[name] == module:
            return name
    base = candidates[-1][: -len(".py")]
    number = 2
    while f"{base}_{number}.py" in existing_modules:
        number += 1
    return f"{base}_{number}.py"


def file_module(text: str) -> str | None:
    """The module a generated stress file tests, from its marker; None without one, or when it
    was written for another harness version (nothing is appended to it then)."""
    if HARNESS_MARKER not in text:
        return None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(f"# {MODULE_MARKER}"):
            return stripped[len(f"# {MODULE_MARKER}") :].strip()
    return None


def generate_stress_test(
    text: str,
    path: str,
    target: str | int,
    findings: Sequence[Finding],
    *,
    stress_dir: str = DEFAULT_STRESS_DIR,
    existing: dict[str, str] | None = None,
) -> GeneratedTest:
    """The stress test of ``target`` (a name, or a 1-based line: the finding there, else the
    function holding it) in the module ``text`` at workspace-relative ``path``. ``existing``
    maps the names of the stress files already in ``stress_dir`` to their text."""
    existing = existing or {}
    tree = parse(text)
    module_name, subdir = import_name_for(path)
    module = module_context(tree, module_name)
    plan = choose(module, target, findings)
    markers = {name: file_module(body) for name, body in existing.items()}
    file_name = stress_file_name(module_name, markers)
    current = existing.get(file_name)
    taken = _defined_names(current) if current is not None else set()
    test = build_test(module, plan, taken)
    factories = [source for name, source in test.factories.items() if name not in taken]
    section = fit_lines("\n\n\n".join([*factories, test.text]))
    rule = plan.finding.rule if plan.finding else None
    if current is not None:
        separator = "\n" * max(0, 3 - (len(current) - len(current.rstrip("\n"))))
        return GeneratedTest(file_name, test.name, separator + section, True, rule)
    stress = PurePosixPath(_clean_stress_dir(stress_dir))
    header = _header(path, (stress / file_name).as_posix(), module_name, len(stress.parts), subdir)
    return GeneratedTest(file_name, test.name, header + "\n\n" + section, False, rule)


def _header(path: str, test_path: str, module: str, depth: int, subdir: str) -> str:
    subdir_arg = f', subdir="{subdir}"' if subdir else ""
    about = "\n".join(
        textwrap.wrap(
            f"Each test drives code of `{path}` the way production does (many calls at once, a "
            "cancellation, a request) and fails with a report when the hazard riskhints found "
            f"happens; it passes once the hazard is fixed. The harness `{HARNESS_FILE}` beside "
            "this file needs only pytest and the standard library; during a test no network, "
            "process or disk outside `tmp_path` is touched.",
            96,
            break_on_hyphens=False,
        )
    )
    return f'''"""Stress tests for `{path}`, generated by riskhints.

{about}

    python -m pytest {test_path}
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the harness beside this file

import _riskhints_stress as rh  # noqa: E402

# {HARNESS_MARKER}
# {MODULE_MARKER} {module}
MODULE = "{module}"


def stress_run(tmp_path: Path) -> rh.Stress:
    """A run of `{module}`, imported by its package path from the workspace root."""
    return rh.Stress(__file__, MODULE, tmp_path, root_up={depth}{subdir_arg})


# == FAKES =========================================================================================
# What riskhints could not build is faked in the factories below: replace a fake with the real
# thing there. A test added to this file later reuses these factories and never redefines them.
'''


def _clean_stress_dir(stress_dir: str) -> str:
    path = PurePosixPath(stress_dir.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise StressError(f"stress-test-dir `{stress_dir}` must be a folder inside the workspace")
    return path.as_posix()


def _defined_names(text: str) -> set[str]:
    try:
        tree = parse_python(text)
    except (SyntaxError, ValueError):
        raise StressError("the existing stress file does not parse; fix it first") from None
    return {
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }


# -- writing -------------------------------------------------------------------------------------


def project_findings(
    file: Path, text: str, root: Path, options: AnalysisOptions, exclude: Sequence[str] = ()
) -> list[Finding]:
    """The findings of ``file`` (whose current text is ``text``) analysed with the workspace
    modules it imports, as ``riskhints check`` sees them: a chain through a helper of the
    package gives the same test from the CLI as from the editor."""
    from ...analysis.workspace import Workspace
    from ...discovery import discover

    paths = discover([root], root, exclude)
    if file.resolve() not in {p.resolve() for p in paths}:
        paths.append(file)
    workspace = Workspace.from_paths(paths, root, {p: p.as_posix() for p in paths})
    module = workspace.module_for(file)
    if module is None:
        return []
    workspace.set_text(module, text)
    analysis = workspace.analyze(module, options)
    return list(analysis.findings) if analysis is not None else []


def workspace_root(file: Path, folder: Path | None = None, fallback: Path | None = None) -> Path:
    """The workspace folder holding ``file``, else the git root above it, else ``fallback``
    (the current directory for the CLI) when it holds the file."""
    root = roots.workspace_root(file, folder, fallback)
    if root is not None:
        return root
    raise StressError(
        f"{file.name} is not inside a workspace folder or a git repository, or is reached "
        "through a symlink that leads out of its workspace: no place to write its stress test"
    )


def write_stress_test(
    file: Path,
    text: str,
    target: str | int,
    findings: Sequence[Finding],
    root: Path,
    stress_dir: str,
) -> WrittenTest:
    """Generate the stress test of ``target`` in ``file`` (whose current text is ``text``) and
    write it, with the harness if missing, under ``root / stress_dir``."""
    root = root.resolve()
    if not file.resolve().is_relative_to(root):
        raise StressError(f"{file.name} is not inside the workspace {root.name}")
    relative = file.resolve().relative_to(root).as_posix()
    folder = root / _clean_stress_dir(stress_dir)
    _inside(folder, root, stress_dir)
    existing: dict[str, str] = {}
    if folder.is_dir():
        for path in sorted(folder.glob(_STRESS_GLOB)):
            try:
                existing[path.name] = safe_read.read_text(path)
            except (OSError, UnicodeDecodeError):
                existing[path.name] = ""  # unreadable: never appended to, never overwritten
    generated = generate_stress_test(
        text, relative, target, findings, stress_dir=stress_dir, existing=existing
    )
    try:
        folder = roots.make_folder(root, folder)
    except roots.OutsideWorkspace:
        raise StressError(f"stress-test-dir `{stress_dir}` leads outside the workspace") from None
    harness = folder / HARNESS_FILE
    harness_created = _create(harness, harness_text(), root)
    harness_updated = not harness_created and _update_harness(harness, root)
    destination = folder / generated.file_name
    _inside(destination, root, stress_dir)
    if generated.appended:
        if safe_read.read_text(destination) != existing[generated.file_name]:
            raise StressError(f"{destination.name} changed while the test was generated; retry")
        with destination.open("a", encoding="utf-8", newline="\n") as handle:
            handle.write(generated.text)
    elif not _create(destination, generated.text, root):
        raise StressError(f"{destination.name} already exists; not overwritten")
    return WrittenTest(
        destination,
        generated.test_name,
        generated.appended,
        generated.rule,
        harness,
        harness_created,
        harness_updated,
    )


def _inside(path: Path, root: Path, stress_dir: str) -> None:
    if not path.resolve().is_relative_to(root):
        raise StressError(f"stress-test-dir `{stress_dir}` leads outside the workspace")


_HARNESS_FIRST_LINE = re.compile(r"riskhints-stress-harness: (\d+)\)")


def _update_harness(path: Path, root: Path) -> bool:
    """Replace the harness at ``path`` when it is an older version of ours (see the module
    docstring); True when it was replaced."""
    if path.is_symlink() or not path.parent.resolve().is_relative_to(root):
        raise StressError(f"{path.name} leads outside the workspace; not written")
    try:
        first = safe_read.read_text(path).partition("\n")[0]
    except (OSError, UnicodeDecodeError):
        return False
    found = _HARNESS_FIRST_LINE.search(first)
    if found is None or int(found.group(1)) >= HARNESS_VERSION:
        return False
    fresh = path.with_name(f".{path.name}.{os.getpid()}.new")
    try:
        with fresh.open("x", encoding="utf-8", newline="\n") as handle:
            handle.write(harness_text())
        os.replace(fresh, path)
    finally:
        fresh.unlink(missing_ok=True)
    return True


def _create(path: Path, text: str, root: Path) -> bool:
    """Create ``path`` with ``text``; False when it exists (it is never overwritten)."""
    if path.is_symlink() or not path.parent.resolve().is_relative_to(root):
        raise StressError(f"{path.name} leads outside the workspace; not written")
    try:
        with path.open("x", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
    except FileExistsError:
        return False
    return True
