"""``riskhints rules``: the rule catalogue (text, JSON, or the markdown of docs/rules.md)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .common import EXIT_CLEAN


def add_parser(commands: Any) -> None:
    rules = commands.add_parser("rules", help="print the rule catalogue")
    rules.add_argument(
        "--format",
        choices=("text", "json", "markdown"),
        default="text",
        help="text (one line a rule), json, or markdown (docs/rules.md)",
    )


def run(args: argparse.Namespace) -> int:
    from ..docs import rules_json, rules_markdown, rules_text

    renderers = {"text": rules_text, "json": rules_json, "markdown": rules_markdown}
    sys.stdout.write(renderers[args.format]())
    return EXIT_CLEAN
