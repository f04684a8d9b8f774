"""``riskhints rule RH203``: one rule explained (hazard, example, assumptions, advice, fixes)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .common import EXIT_CLEAN, UsageError


def add_parser(commands: Any) -> None:
    rule = commands.add_parser(
        "rule", help="explain one rule: the hazard, an example, its assumptions and fixes"
    )
    rule.add_argument("rule_id", metavar="RULE", help="a rule id, e.g. RH203")


def run(args: argparse.Namespace) -> int:
    from ..rule_explain import explain

    text = explain(args.rule_id)
    if text is None:
        raise UsageError(f"{args.rule_id}: no such rule (`riskhints rules` lists them)")
    sys.stdout.write(text)
    return EXIT_CLEAN
