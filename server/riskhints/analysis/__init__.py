"""The pure analysis engine: source text (and the modules around it) in, findings out.

Never imports pygls or lsprotocol, never imports or runs the code it analyses.
"""

from .engine import (
    AnalysisOptions,
    ParsedModule,
    analyze_bytes,
    analyze_parsed,
    analyze_source,
    decode_source,
    module_name_for,
    parse_source,
)
from .finding import Evidence, Finding, Provenance, Severity, Span

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
