"""Checking the arguments of our ``workspace/executeCommand`` commands: a bad call gets a clear
InvalidParams error naming the command and the expected shape, never a crash."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pygls.exceptions import JsonRpcInvalidParams


def uri_and_line(command: str, arguments: Sequence[Any]) -> tuple[str, int]:
    """``[uri: string, line: 0-based integer]``."""
    if (
        len(arguments) != 2
        or not isinstance(arguments[0], str)
        or isinstance(arguments[1], bool)
        or not isinstance(arguments[1], int)
        or arguments[1] < 0
    ):
        raise JsonRpcInvalidParams(
            f"{command} takes [uri: string, line: 0-based integer], got {list(arguments)}"
        )
    return arguments[0], arguments[1]
