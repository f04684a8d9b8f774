"""Where the project and its rule documentation live (``docs/rules.md``, generated from the
rule registry).

The project URL is configured in one place, ``[project.urls] Homepage`` in pyproject.toml,
and read here from the installed package's metadata (or, run from a source tree that was not
installed, from that pyproject.toml).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from .analysis.rules import RuleSpec

_HOMEPAGE_LINE = re.compile(r'^Homepage\s*=\s*"(?P<url>[^"]+)"', re.MULTILINE)


@functools.cache
def homepage() -> str:
    from importlib import metadata

    try:
        for entry in metadata.metadata("riskhints").get_all("Project-URL") or ():
            label, _, url = entry.partition(",")
            if label.strip().lower() == "homepage":
                return str(url).strip()
    except metadata.PackageNotFoundError:
        pass
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        match = _HOMEPAGE_LINE.search(pyproject.read_text(encoding="utf-8"))
    except OSError:
        match = None
    return match.group("url") if match else ""


def rules_doc() -> str:
    return f"{homepage()}/blob/main/docs/rules.md"


def rule_url(spec: RuleSpec) -> str:
    return f"{rules_doc()}#{spec.anchor}"
