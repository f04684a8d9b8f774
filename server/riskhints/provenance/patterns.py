"""Matching commit messages against the ``ai-commit-patterns`` setting without letting a
pattern freeze anything.

The setting comes from the workspace (its pyproject.toml), and Python's ``re`` backtracks: a
pattern like ``^(a|aa)+$`` takes exponential time on a long run of ``a``, ``x?.*.*.*.*=``
polynomial time (26 s on 200 characters), and a match holds the GIL, so in the server it
stopped every request and ``shutdown``. Two defences:

- :func:`pattern_problem` rejects, as a settings error naming the pattern, the shape that
  backtracks exponentially: a repeated group that holds another repeat or an alternation
  (``(a|aa)+``, ``(\\w+\\s?)*``), and backreferences;
- patterns other than the built-in ones are matched in an isolated child process
  (:mod:`riskhints.isolation`) that is killed after :data:`MATCH_TIMEOUT_S`; the commits then
  count as unmarked and the caller says so. The built-in patterns (ours, linear on real
  messages) are matched here. Every message is cut at :data:`MAX_MESSAGE_CHARS` first.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from ..isolation import child_env, neutral_cwd, python_command

MATCH_TIMEOUT_S = 3.0
MAX_MESSAGE_CHARS = 20_000
_FLAGS = re.IGNORECASE | re.MULTILINE

if sys.version_info >= (3, 11):
    from re import _constants as _sre_constants  # type: ignore[attr-defined]
    from re import _parser as _sre_parser  # type: ignore[attr-defined]
else:  # pragma: no cover - 3.10
    import sre_constants as _sre_constants
    import sre_parse as _sre_parser

_REPEATS = {_sre_constants.MAX_REPEAT, _sre_constants.MIN_REPEAT}
_REPEATS |= {getattr(_sre_constants, "POSSESSIVE_REPEAT", _sre_constants.MAX_REPEAT)}


class PatternTimeout(Exception):
    """The patterns did not finish on the messages within the time allowed."""


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` may take exponential time (None when it cannot)."""
    try:
        parsed = _sre_parser.parse(pattern, _FLAGS)
    except re.error as error:
        return f"is not a valid regex: {error}"
    return _problem(parsed, inside_repeat=False)


def _problem(items: Any, inside_repeat: bool) -> str | None:
    for op, av in items:
        if op in _REPEATS:
            _low, high, body = av
            repeats = high > 1
            if repeats and inside_repeat:
                return "repeats a group that holds another repeat, which can take exponential time"
            if repeats and _has_branch(body):
                return (
                    "repeats a group that holds an alternation (such as (a|aa)+), which can "
                    "take exponential time"
                )
            found = _problem(body, inside_repeat or repeats)
        elif op in (_sre_constants.GROUPREF, _sre_constants.GROUPREF_EXISTS):
            return "uses a backreference, which can take exponential time"
        else:
            found = None
            for sub in _subpatterns(op, av):
                found = found or _problem(sub, inside_repeat)
        if found:
            return found
    return None


def _subpatterns(op: Any, av: Any) -> list[Any]:
    if op == _sre_constants.SUBPATTERN:
        return [av[-1]]
    if op == _sre_constants.BRANCH:
        return list(av[1])
    if op in (_sre_constants.ASSERT, _sre_constants.ASSERT_NOT):
        return [av[1]]
    return []


def _has_branch(items: Any) -> bool:
    for op, av in items:
        if op == _sre_constants.BRANCH:
            return True
        if any(_has_branch(sub) for sub in _subpatterns(op, av)):
            return True
    return False


def first_markers(
    messages: Mapping[str, str], patterns: Sequence[str], trusted: bool
) -> dict[str, str | None]:
    """Each message's first match (or None) by key; ``trusted`` patterns (the built-in ones)
    are matched in this process, others in a child killed after :data:`MATCH_TIMEOUT_S`
    (:class:`PatternTimeout`)."""
    cut = {key: message[:MAX_MESSAGE_CHARS] for key, message in messages.items()}
    if not cut:
        return {}
    if trusted:
        return match_all(cut, patterns)
    code = "from riskhints.provenance.patterns import serve_match; serve_match()"
    try:
        done = subprocess.run(
            python_command(code),
            input=json.dumps({"messages": cut, "patterns": list(patterns)}).encode(),
            capture_output=True,
            timeout=MATCH_TIMEOUT_S,
            cwd=neutral_cwd(),
            env=child_env(),
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise PatternTimeout(
            f"ai-commit-patterns took over {MATCH_TIMEOUT_S:g} s on {len(cut)} commit "
            "message(s): not applied"
        ) from None
    except OSError as error:
        raise PatternTimeout(f"ai-commit-patterns could not be matched: {error}") from None
    if done.returncode != 0:
        raise PatternTimeout("ai-commit-patterns could not be matched (the matcher failed)")
    found: dict[str, str | None] = json.loads(done.stdout)
    return found


def match_all(messages: Mapping[str, str], patterns: Sequence[str]) -> dict[str, str | None]:
    compiled = [re.compile(p, _FLAGS) for p in patterns if pattern_problem(p) is None]
    return {key: _first_match(message, compiled) for key, message in messages.items()}


def _first_match(message: str, patterns: Sequence[re.Pattern[str]]) -> str | None:
    for pattern in patterns:
        match = pattern.search(message)
        if match is not None:
            return match.group(0).strip()[:80]
    return None


def serve_match() -> None:
    """The child's side: a JSON request on stdin, the markers as JSON on stdout."""
    request = json.loads(sys.stdin.buffer.read())
    sys.stdout.write(json.dumps(match_all(request["messages"], request["patterns"])))
