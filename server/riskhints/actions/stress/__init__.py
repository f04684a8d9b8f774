"""Stress-test generation: a pytest test that drives the code riskhints flagged so that the
hazard (a blocked event loop, a deadlock, a check-then-act race, a swallowed cancellation, a
dropped task, a coroutine never awaited, a client session per call, a task waiting on a task)
shows up as a failing test with a report, and passes once the code is fixed.

Modules, one idea each:
- ``source``: what is read from the module under test (functions, imports, apps, import name);
- ``entry``: the entry point, chosen from the finding's evidence chain;
- ``fakes``: arguments and instances, inferred or faked;
- ``literals``: constants the code compares arguments with, exceptions its handlers catch;
- ``drivers``: how the entry point is called (function, method, context manager, decorator's
  wrapper, ASGI route, Flask view, aiohttp handler, Django view, Celery task);
- ``oracles``: rule -> hazard family -> the harness oracle that proves it;
- ``build``: one test's source; ``writer``: the files (harness, stress file) and writing them;
- ``_riskhints_stress.py``: the harness itself, written once into the user's stress folder.

Pure apart from ``writer.write_stress_test``: nothing of the user's is imported or run here.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...analysis.finding import Finding
from .oracles import family_of, has_oracle
from .source import StressError, import_name_for, module_context, parse
from .source import find_target as _find
from .writer import (
    DEFAULT_STRESS_DIR,
    HARNESS_FILE,
    HARNESS_VERSION,
    GeneratedTest,
    WrittenTest,
    file_module,
    generate_stress_test,
    harness_text,
    project_findings,
    stress_file_name,
    workspace_root,
    write_stress_test,
)


def find_target(text: str, target: str | int) -> tuple[str, int]:
    """(display name, 1-based line of the ``def``) of ``target``: a name or a 1-based line."""
    found = _find(module_context(parse(text), "module"), target)
    return found.display, found.node.lineno


def stress_target_at(text: str, line: int, findings: Sequence[Finding]) -> str | None:
    """The function at 1-based ``line`` worth a stress test (a coroutine, or one with findings
    that have an oracle), by display name; None otherwise or when the module does not parse."""
    try:
        found = _find(module_context(parse(text), "module"), line)
    except (StressError, RecursionError):
        return None
    if found.is_async or any(
        f.function and f.function.split(".<locals>")[0] == found.display and has_oracle(f.rule)
        for f in findings
    ):
        return found.display
    return None


__all__ = [
    "DEFAULT_STRESS_DIR",
    "HARNESS_FILE",
    "HARNESS_VERSION",
    "GeneratedTest",
    "StressError",
    "WrittenTest",
    "family_of",
    "file_module",
    "find_target",
    "generate_stress_test",
    "harness_text",
    "has_oracle",
    "import_name_for",
    "project_findings",
    "stress_file_name",
    "stress_target_at",
    "workspace_root",
    "write_stress_test",
]
