""" "Ask the assistant for an assumptions checklist": a markdown prompt for an AI assistant.

The prompt holds the function's source (decorators included), what riskhints found in it with
the chain of evidence, the facts the analysis knows, and instructions that make guessing the
wrong answer: list every concurrency, locking, event-loop and framework assumption, say how to
verify each, and answer "I don't know" where the code shown does not settle it.

Pure: the same text, path, findings and line give the same prompt.
"""

from __future__ import annotations

import hashlib
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from ..analysis.assumptions import first_line, function_at, function_of, items_for
from ..analysis.engine import parse_source
from ..analysis.finding import Finding
from ..analysis.positions import lines_text, split_lines

INSTRUCTIONS = """\
List **every** assumption this function relies on to be correct when it runs concurrently:

- **concurrency** — which tasks or threads can run it (or code touching the same state) at the
  same time, and which state they share;
- **locking** — which lock guards which state, which calls and awaits happen while a lock is
  held, the order in which locks are taken, and whether anything re-enters a lock;
- **event loop** — what runs on the loop thread, what may block it, what happens at each
  `await` (other tasks run there), cancellation and timeouts;
- **framework** — what the framework, server or library promises about how and where it calls
  this code (threads, processes, event loop, retries, request concurrency).

For each assumption:

1. state it in this code's own names (functions, locks, attributes), one line;
2. say how to verify it: which code to read (name it), which test to write, or what to
   measure or log in production;
3. say whether the code shown **holds**, **violates**, or does not settle it.

Rules:

- If the code shown does not let you tell, answer **"I don't know"** for that item and say what
  you would need to see. Do not guess, and do not assume a framework's behaviour you cannot
  name.
- Do not rewrite the code. Finish the list first; a fix, if any, comes after it.
- Answer as a markdown checklist:
  `- [ ] <assumption> — verify: <how> — status: holds | violated | I don't know`
"""


@dataclass(frozen=True)
class Prompt:
    function: str  # display name: ``Cache.refresh``
    first_line: int
    last_line: int
    text: str  # markdown


def build_prompt(text: str, path: str, findings: Sequence[Finding], line: int) -> Prompt | None:
    """The prompt for the function at ``line`` (1-based); None when no function is there."""
    parsed = parse_source(text, path)
    if parsed.facts is None:
        return None
    fn = function_at(parsed.facts, line)
    if fn is None or fn.is_module_scope:
        return None
    mine = [f for f in findings if function_of(parsed.facts, f) is fn]
    start = first_line(fn)
    end = getattr(fn.node, "end_lineno", None) or start
    lines = split_lines(text)
    source = textwrap.dedent("\n".join(lines[start - 1 : end]))
    fence = _fence(source)
    kind = "async function" if fn.is_async else "function"
    parts = [
        f"# Assumptions checklist for `{fn.display}`",
        "",
        f"You are reviewing the concurrency of the Python {kind} `{fn.display}` "
        f"(`{path}`, {lines_text([(start, end)]).replace('-', '–')}). A static analyser, "
        f"riskhints, has already looked at it; its findings and facts are below. Your job is "
        f"to make every assumption explicit, not to reassure.",
        "",
        "## The code",
        "",
        f"{fence}python",
        source,
        fence,
        "",
        "## What riskhints found",
        "",
    ]
    if mine:
        for number, finding in enumerate(sorted(mine, key=Finding.sort_key), start=1):
            parts.append(
                f"{number}. **{finding.rule}** ({finding.severity.label}, line "
                f"{finding.span.line}): {finding.message}"
            )
            for hop in finding.evidence:
                where = f"{hop.path}:{hop.span.line}" if hop.path else f"line {hop.span.line}"
                code = ""
                if hop.path is None and not start <= hop.span.line <= end:
                    shown = lines[hop.span.line - 1].strip() if hop.span.line <= len(lines) else ""
                    code = f" — `{shown}`" if shown and "`" not in shown else ""
                parts.append(f"   - evidence, {where}: {hop.message}{code}")
            for assumption in finding.assumptions:
                parts.append(f"   - safe only if: {assumption}")
    else:
        parts.append(
            "Nothing. That is not proof of safety: the analyser only reports what it can "
            "name evidence for."
        )
    facts = [item for item in items_for(fn, mine, text) if not item.is_finding]
    if facts:
        parts += ["", "## What the code relies on (from the analysis)", ""]
        parts += [f"- {item.text}" for item in facts]
    parts += ["", "## Your task", "", INSTRUCTIONS]
    return Prompt(fn.display, start, end, "\n".join(parts))


_MAX_NAME = 120


def prompt_file_name(path: str, function: str) -> str:
    """``app/cache.py`` + ``Cache.refresh`` -> ``app-cache-Cache.refresh.md`` (no folders)."""
    stem = re.sub(r"[^A-Za-z0-9_.]+", "-", path.removesuffix(".py")).strip("-.")
    name = re.sub(r"[^A-Za-z0-9_.]+", "-", function).strip("-.")
    full = f"{stem or 'module'}-{name or 'function'}"
    if len(full) > _MAX_NAME:  # file systems take 255 bytes; copies add "-2" and ".md"
        tail = hashlib.blake2b(full.encode(), digest_size=4).hexdigest()
        full = f"{full[: _MAX_NAME - len(tail) - 1]}-{tail}"
    return f"{full}.md"


def _fence(source: str) -> str:
    longest = max((len(m.group(0)) for m in re.finditer(r"`{3,}", source)), default=0)
    return "`" * max(3, longest + 1)
