"""The pure analysis engine: source text (and the modules around it) in, findings out.

Never imports pygls or lsprotocol, never imports or runs the code it analyses. The engine is
imported on first use (PEP 562), so a warm ``riskhints check`` that only reads its cache does
not pay for loading the rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .finding import Evidence, Finding, Provenance, Severity, Span
from .options import AnalysisOptions

if TYPE_CHECKING:
    from .engine import (
        ParsedModule,
        analyze_bytes,
        analyze_parsed,
        analyze_source,
        decode_source,
        module_name_for,
        parse_source,
    )

_ENGINE = {
    "ParsedModule",
    "analyze_bytes",
    "analyze_parsed",
    "analyze_source",
    "decode_source",
    "module_name_for",
    "parse_source",
}


def __getattr__(name: str) -> Any:
    if name in _ENGINE:
        from . import engine

        return getattr(engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AnalysisOptions",
    "Evidence",
    "Finding",
    "ParsedModule",
    "Provenance",
    "Severity",
    "Span",
    "analyze_bytes",
    "analyze_parsed",
    "analyze_source",
    "decode_source",
    "module_name_for",
    "parse_source",
]
