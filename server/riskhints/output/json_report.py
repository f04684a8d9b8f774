"""One JSON document: ``{"version", "files_checked", "summary", "findings": [...]}``."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

from .. import __version__
from ..analysis import Finding


def render_json(findings: Sequence[Finding], files_checked: int) -> str:
    document = {
        "tool": "riskhints",
        "version": __version__,
        "files_checked": files_checked,
        "summary": dict(sorted(Counter(f.rule for f in findings).items())),
        "findings": [f.to_dict() for f in findings],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
