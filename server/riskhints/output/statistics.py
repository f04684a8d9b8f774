"""``riskhints check --statistics``: how many findings of each rule (like ruff's), the most
frequent first; as a JSON list with ``--output-format json``."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

from ..analysis import Finding


def render_statistics(findings: Sequence[Finding], as_json: bool) -> str:
    from ..analysis.rules import get_rule

    counts = Counter(f.rule for f in findings)
    rows = []
    for rule, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        spec = get_rule(rule)
        rows.append(
            {
                "code": rule,
                "name": spec.name if spec else "",
                "count": count,
                "summary": spec.summary if spec else "",
            }
        )
    if as_json:
        return json.dumps(rows, indent=2) + "\n"
    if not rows:
        return ""
    width = max(len(str(row["count"])) for row in rows)
    name_width = max(len(str(row["name"])) for row in rows)
    return "".join(
        f"{row['count']:>{width}}  {row['code']}  {row['name']:<{name_width}}  {row['summary']}\n"
        for row in rows
    )
