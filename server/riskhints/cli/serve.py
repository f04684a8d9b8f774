"""``riskhints serve``: the language server, on stdio (or TCP for debugging)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from .common import EXIT_CLEAN, UsageError


def add_parser(commands: Any) -> None:
    serve = commands.add_parser("serve", help="start the language server (stdio by default)")
    serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead (debugging)")
    serve.add_argument("--log-file", type=Path, help="write the server log to this file")
    serve.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv)")


def run(args: argparse.Namespace) -> int:
    import logging

    from ..lsp.server import create_server

    level = logging.WARNING - 10 * min(args.verbose, 2)
    handler: logging.Handler = (
        logging.FileHandler(args.log_file, encoding="utf-8")
        if args.log_file
        else logging.StreamHandler(sys.stderr)  # never stdout: that is the protocol stream
    )
    logging.basicConfig(
        level=level, handlers=[handler], format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    server = create_server()
    # Everything imported so far (pygls, lsprotocol, cattrs, libcst: ~66k objects) lives as long
    # as the server: keep it out of every later collection, which then costs ~1 ms, not ~20.
    import gc

    gc.collect()
    gc.freeze()
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        if not port.isdigit():
            raise UsageError(f"--tcp {args.tcp}: expected HOST:PORT")
    code: object = EXIT_CLEAN
    try:
        if args.tcp:
            server.start_tcp(host or "127.0.0.1", int(port))
        else:
            server.start_io()
    except SystemExit as exit_:  # pygls after `exit`: 0 after a shutdown request, else 1
        code = exit_.code
    finally:
        # The client is gone (`exit`, or its pipe closed because it died): end now. The
        # big-document worker is killed rather than waited for, and threads still analysing
        # for nobody are not joined, as an interpreter exit would (it joins every executor
        # thread: a jedi pass over a large workspace kept the process 35 s after its client).
        server.session.shutdown()
        logging.shutdown()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else EXIT_CLEAN)
    return EXIT_CLEAN  # pragma: no cover - os._exit above
