"""``riskhints failures add | report | sync``: the failure log from the command line (the
commands themselves are :mod:`riskhints.failures.commands`, imported when one runs)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(commands: Any) -> None:
    failures = commands.add_parser("failures", help="the log of AI assistant failures")
    actions = failures.add_subparsers(dest="failures_command", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="log the finding at FILE:LINE as an AI failure")
    add.add_argument("location", metavar="FILE:LINE", help="where the finding is (1-based line)")
    add.add_argument("--rule", metavar="RHnnn", help="which finding, when a line has several")
    add.add_argument("--note", metavar="TEXT", help="what was asked, what went wrong")
    add.add_argument("--format", choices=("text", "json"), default="text")

    report = actions.add_parser("report", help="counts, trends and the worst examples")
    report.add_argument("--since", metavar="WHEN", help="7d, 12h, 2w, or a date (2025-03-01)")
    report.add_argument("--format", choices=("markdown", "json"), default="markdown")
    report.add_argument("--limit", type=int, default=5, metavar="N", help="worst examples shown")
    report.add_argument("-o", "--output", type=Path, help="write the report to a file")

    sync = actions.add_parser("sync", help="append resolutions for logged failures now fixed")
    sync.add_argument("paths", nargs="*", type=Path, help="only these files or folders")

    for parser in (add, report, sync):
        parser.add_argument("--config", type=Path, metavar="FILE", help="settings file")
        parser.add_argument("--log", type=Path, metavar="FILE", help="the log (default: setting)")


def run(args: argparse.Namespace) -> int:
    from ..failures.commands import run as run_failures

    return run_failures(args)
