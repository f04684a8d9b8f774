"""The command line: ``riskhints check``, ``riskhints rule RH203``, ... — the same engine as the
server. One module per command in this package; each has ``add_parser(commands)`` and
``run(args) -> int``.

Invariant: building the parser imports only the command modules, and they import only the
standard library at module level; every command imports what it needs (the engine, libcst,
jedi, rich, pygls) inside ``run``, so ``riskhints --version`` or a cached ``check`` stays cheap.

Exit codes: 0 no findings (or ``--exit-zero``), 1 findings, 2 usage, configuration or internal
error. Reports go to stdout (or ``--output``); progress and errors go to stderr.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence

from .. import __version__
from . import check, failures, prompt, provenance, rule, rules, serve, settings, stress
from .common import EXIT_ERROR, UsageError, err

# (name, module): the order of `riskhints --help`.
_COMMANDS = (
    ("check", check),
    ("serve", serve),
    ("settings", settings),
    ("rules", rules),
    ("rule", rule),
    ("failures", failures),
    ("prompt", prompt),
    ("stress", stress),
    ("provenance", provenance),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="riskhints",
        description="Flags the concurrency hazards that AI-written Python gets wrong.",
    )
    parser.add_argument("--version", action="version", version=f"riskhints {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for _name, module in _COMMANDS:
        module.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0) and EXIT_ERROR
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        name: module.run for name, module in _COMMANDS
    }
    from ..config import ConfigError

    try:
        return handlers[args.command](args)
    except (ConfigError, UsageError) as error:
        err(f"error: {error}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        err("interrupted")
        return EXIT_ERROR
    except Exception:  # an internal error is reported, with exit code 2, never a bare crash
        err("internal error, please report it with this traceback:")
        traceback.print_exc(file=sys.stderr)
        return EXIT_ERROR
