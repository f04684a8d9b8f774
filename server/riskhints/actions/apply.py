"""The editor's actions applied to files from the command line: ``riskhints check --fix`` /
``--diff`` (the quick fixes, safe ones unless ``--unsafe-fixes``) and ``--add-noqa`` (a
suppression comment with a reason placeholder on each finding's line).

Invariant: a file that parsed before parses after. Every action already passes
:func:`~riskhints.actions.edits.leaves_valid_python`; the whole new text is checked once more
with ``compile()`` before it is returned, and a file whose result would not compile is left
as it was.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ..analysis.finding import Finding
from ..analysis.options import AnalysisOptions
from .edits import apply_edits


@dataclass(frozen=True)
class FileChange:
    path: str  # as displayed
    before: str
    after: str
    count: int  # findings fixed or suppressed

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                fromfile=f"a/{self.path}",
                tofile=f"b/{self.path}",
            )
        )


def _compiles(text: str, path: str) -> bool:
    try:
        compile(text, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def fixed(
    path: str,
    text: str,
    findings: Sequence[Finding],
    options: AnalysisOptions,
    unsafe: bool = False,
) -> FileChange | None:
    """The file with the quick fixes of ``findings`` applied, or None when none applies."""
    from ..analysis.engine import analyze_source
    from .fixes import fix_all

    fixable = [f for f in findings if f.fix]
    if not fixable or not _compiles(text, path):
        return None
    present = analyze_source(text, path, options)
    action = fix_all(text, fixable, options, path, unsafe=unsafe, present=present)
    if action is None:
        return None
    after = apply_edits(text, action.edits)
    if not _compiles(after, path):
        return None
    before_keys = _keys(present)
    after_keys = _keys(analyze_source(after, path, options))
    count = sum((before_keys - after_keys).values())
    return FileChange(path, text, after, count)


def _keys(findings: Sequence[Finding]) -> Counter[tuple[str, str]]:
    return Counter((f.rule, f.message) for f in findings)


def suppressed(path: str, text: str, findings: Sequence[Finding]) -> FileChange | None:
    """The file with a ``# riskhints: ignore[RHnnn] -- <why this is safe>`` comment for each
    finding (joined to an existing one on the line); findings whose line cannot take a comment
    (it ends inside a string) are left alone."""
    from .suppress import suppress_action

    if not _compiles(text, path):
        return None
    current = text
    count = 0
    for finding in findings:
        action = suppress_action(current, finding)
        if action is None:
            continue
        candidate = apply_edits(current, action.edits)
        if _compiles(candidate, path):
            current, count = candidate, count + 1
    return FileChange(path, text, current, count) if current != text else None
