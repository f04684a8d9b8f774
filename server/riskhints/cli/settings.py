"""``riskhints settings``: every setting with its type, default and meaning (docs/settings.md)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .common import EXIT_CLEAN


def add_parser(commands: Any) -> None:
    settings = commands.add_parser("settings", help="print every setting (docs/settings.md)")
    settings.add_argument(
        "--format",
        choices=("markdown", "json"),
        default="markdown",
        help="markdown (docs/settings.md) or json (for editor manifests)",
    )


def run(args: argparse.Namespace) -> int:
    from ..config import settings_json, settings_markdown

    sys.stdout.write(settings_json() if args.format == "json" else settings_markdown())
    return EXIT_CLEAN
