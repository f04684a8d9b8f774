"""SARIF 2.1.0: rule metadata from the registry, evidence as ``relatedLocations``.

Columns are 1-based Unicode code points (``columnKind: unicodeCodePoints``); paths are
relative to ``%SRCROOT%`` (the folder the check ran from), so the log carries no absolute path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from .. import __version__
from ..analysis import Finding, Severity, Span
from ..analysis.rules import all_rules
from ..links import homepage, rule_url

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVELS = {
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFO: "note",
    Severity.HINT: "note",
}


def render_sarif(findings: Sequence[Finding]) -> str:
    specs = all_rules()
    index = {spec.id: i for i, spec in enumerate(specs)}
    rules = [
        {
            "id": spec.id,
            "name": spec.name,
            "shortDescription": {"text": spec.summary},
            "fullDescription": {"text": spec.doc},
            "help": {"text": spec.alternative or spec.summary},
            "helpUri": rule_url(spec),
            "defaultConfiguration": {"level": _LEVELS[spec.severity]},
            "properties": {"family": spec.family},
        }
        for spec in specs
    ]
    results = [_result(f, index) for f in findings]
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "riskhints",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": homepage(),
                        "rules": rules,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "originalUriBaseIds": {"%SRCROOT%": {"uri": "./"}},
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def _location(path: str, span: Span) -> dict[str, Any]:
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": quote(path), "uriBaseId": "%SRCROOT%"},
            "region": {
                "startLine": span.line,
                "startColumn": span.column + 1,
                "endLine": span.end_line,
                "endColumn": max(span.end_column + 1, 1),
            },
        }
    }


def _result(finding: Finding, index: dict[str, int]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "level": _LEVELS[finding.severity],
        "message": {"text": finding.message},
        "locations": [_location(finding.path, finding.span)],
        "properties": {
            "provenance": finding.provenance.value,
            "assumptions": list(finding.assumptions),
        },
    }
    if finding.rule in index:
        result["ruleIndex"] = index[finding.rule]
    if finding.evidence:
        result["relatedLocations"] = [
            {
                **_location(hop.path or finding.path, hop.span),
                "id": i,
                "message": {"text": hop.message},
            }
            for i, hop in enumerate(finding.evidence)
        ]
    return result
