"""``riskhints rule RH203``: one rule explained in the terminal (like ``ruff rule``): what the
hazard is, an example it flags with the finding it gives (its evidence and the assumptions it
rests on), the advice and the quick fixes offered.

The examples are our own ``fixtures/rules/RHnnn/bad_*.py`` files, copied into
``rule_examples.json`` beside this module by ``make docs`` (an installed riskhints has no
fixtures folder); a test fails when the copy drifts from the fixtures. The example of a rule is
its shortest bad fixture whose finding has the rule's default severity.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

from .analysis.rules import RuleSpec, all_rules, get_rule

_MARKER = re.compile(r"\s*# expect: RH\d{3}.*$")
EXAMPLES_FILE = "rule_examples.json"


def examples_json(fixtures: Path) -> str:
    """The committed ``rule_examples.json``, from the rule fixtures under ``fixtures``."""
    from .analysis import analyze_source

    examples: dict[str, dict[str, str]] = {}
    for spec in all_rules():
        candidates = sorted(
            (fixtures / spec.id).glob("bad_*.py"),
            key=lambda p: (len(p.read_text(encoding="utf-8").splitlines()), p.name),
        )
        for path in candidates:
            code = "\n".join(
                _MARKER.sub("", line) for line in path.read_text(encoding="utf-8").splitlines()
            )
            findings = analyze_source(code + "\n", path.name)
            if any(f.rule == spec.id and f.severity == spec.severity for f in findings):
                examples[spec.id] = {"file": f"{spec.id}/{path.name}", "code": code + "\n"}
                break
    return json.dumps(examples, indent=2, ensure_ascii=False) + "\n"


def _examples() -> dict[str, Any]:
    text = resources.files("riskhints").joinpath(EXAMPLES_FILE).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def explain(rule_id: str) -> str | None:
    """The text of ``riskhints rule``, or None when there is no such rule."""
    spec = get_rule(rule_id.upper())
    if spec is None:
        return None
    out = [
        f"{spec.id} {spec.name} ({spec.family}; default severity {spec.severity.label})",
        "",
        spec.summary,
        "",
        spec.doc,
    ]
    example = _examples().get(spec.id)
    if example is not None:
        out += _example_section(spec, example["file"], example["code"])
    elif spec.alternative:
        out += ["", f"Instead: {spec.alternative}"]
    from .links import rule_url

    out += ["", f"Documentation: {rule_url(spec)}"]
    return "\n".join(out) + "\n"


def _example_section(spec: RuleSpec, name: str, code: str) -> list[str]:
    from .actions.fixes import fixes_for
    from .analysis import analyze_source
    from .analysis.advice import advice

    lines = code.splitlines()
    width = len(str(len(lines)))
    out = ["", f"Example (fixtures/rules/{name}):", ""]
    out += [f"  {n:>{width}} | {line}".rstrip() for n, line in enumerate(lines, start=1)]
    findings = [f for f in analyze_source(code, Path(name).name) if f.rule == spec.id]
    if not findings:
        return out
    finding = findings[0]
    out += ["", f"What riskhints reports (line {finding.span.line}):", f"  {finding.message}"]
    out += [f"    line {hop.span.line}: {hop.message}" for hop in finding.evidence]
    if finding.assumptions:
        out += ["", "It is safe only if:"]
        out += [f"  - {assumption}" for assumption in finding.assumptions]
    instead = advice(finding)
    if instead:
        out += ["", f"Instead: {instead}"]
    offered = fixes_for(code, finding)
    if offered:
        out += ["", "Quick fixes (editor, `riskhints check --fix`):"]
        for action in offered:
            how = "safe: --fix" if action.safe_for_fix_all else "needs review: --unsafe-fixes"
            out.append(f"  - {action.title} ({how})")
    return out
