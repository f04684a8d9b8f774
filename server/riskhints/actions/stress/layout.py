"""Generated code laid out the way ruff format would: a call too long for a line split into its
arguments on one indented line, else one argument per line with a trailing comma (enough for
the one-line calls the generator writes; the generated files must pass ruff unchanged)."""

from __future__ import annotations

from collections.abc import Iterator

WIDTH = 100


def fit_lines(text: str, width: int = WIDTH) -> str:
    return "\n".join(fitted for line in text.split("\n") for fitted in fit(line, width))


def fit(line: str, width: int = WIDTH) -> list[str]:
    """A long call split the way ruff format splits it: its arguments on one indented line,
    else one argument per line with a trailing comma."""
    if len(line) <= width:
        return [line]
    opening = next((i for i, char, _ in _code_characters(line) if char in "([{"), -1)
    closing = _matching_paren(line, opening) if opening >= 0 else -1
    if closing < 0 or closing == opening + 1:
        return [line]
    indent = line[: len(line) - len(line.lstrip())]
    head, inner, tail = line[: opening + 1], line[opening + 1 : closing], line[closing:]
    arguments = _split_arguments(inner)
    one_line = f"{indent}    {', '.join(arguments)}"
    if len(one_line) <= width:
        return [head, one_line, indent + tail]
    split = [fitted for a in arguments for fitted in fit(f"{indent}    {a},", width)]
    return [head, *split, indent + tail]


def _code_characters(text: str) -> Iterator[tuple[int, str, int]]:
    """``(index, character, bracket depth after it)`` for each character outside string
    literals (enough for the one-line calls the generator writes)."""
    depth, quote = 0, ""
    for index, char in enumerate(text):
        if quote:
            if char == quote and text[index - 1] != "\\":
                quote = ""
            continue
        if char in "\"'":
            quote = char
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        yield index, char, depth


def _matching_paren(text: str, opening: int) -> int:
    for index, char, depth in _code_characters(text[opening:]):
        if char in ")]}" and depth == 0:
            return opening + index
    return -1


def _split_arguments(text: str) -> list[str]:
    parts: list[str] = []
    start = 0
    for index, char, depth in _code_characters(text):
        if char == "," and depth == 0:
            parts.append(text[start:index].strip())
            start = index + 1
    parts.append(text[start:].strip())
    return [part for part in parts if part]
