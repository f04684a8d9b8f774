"""The engine's entry points: source text in, sorted findings out.

Pure and deterministic: the same text, path and options give the same findings in the same
order. Nothing here raises for bad input: undecodable bytes, syntax errors, pathological
nesting and even a bug in one rule become findings (or are confined to that rule), so a caller
— the CLI walking ten thousand files, or the server on every keystroke — never crashes.
"""

from __future__ import annotations

import io
import logging
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from .checklist_marks import review_checklists
from .facts import ExternalTypes, ModuleFacts, build_module_facts
from .finding import Finding, Severity, Span
from .options import AnalysisOptions
from .parse import ParseResult, parse_module
from .positions import lines_text
from .rules import all_rules, get_rule
from .rules.meta import BAD_SUPPRESSION, NOT_ANALYSED, STALE_ASSUMPTION, SYNTAX_ERROR
from .rules.registry import RuleContext
from .summaries import Program
from .suppressions import is_valid_rule_id, parse_suppressions, statement_heads

log = logging.getLogger(__name__)


def module_name_for(path: str) -> str:
    """``src/app/api/routes.py`` -> ``app.api.routes``; ``pkg/__init__.py`` -> ``pkg``."""
    parts = list(PurePosixPath(path.replace("\\", "/")).with_suffix("").parts)
    parts = [p for p in parts if p not in ("", ".", "..", "/")]
    if parts and parts[0] == "src":
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    cleaned = [p.replace("-", "_").replace(".", "_") for p in parts]
    return ".".join(cleaned) or "__main__"


def decode_source(data: bytes) -> str:
    """Decode per PEP 263 (BOM, coding cookie, else UTF-8). Raises ``ValueError`` with a clear
    message for binary or undecodable data."""
    if b"\x00" in data[:8192]:
        raise ValueError("looks like a binary file (contains NUL bytes)")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:
        # detect_encoding also fails on undecodable bytes in the first two lines.
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as decode_error:
            raise ValueError(f"not valid utf-8 text ({decode_error})") from None
        raise ValueError(f"bad encoding declaration: {error.msg}") from None
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as error:
        raise ValueError(f"not valid {encoding} text ({error})") from None
    return text.removeprefix("\ufeff")


@dataclass
class ParsedModule:
    """A module parsed and turned into facts, ready to join a :class:`Program`."""

    path: str
    text: str
    parse: ParseResult
    facts: ModuleFacts | None
    problem: Finding | None

    def release(self) -> None:
        """Break the facts' reference cycles (function -> scope -> module -> function) so the
        memory goes back at once, not at the next full garbage collection: in the server a full
        collection on the analysis thread cost 26-75 ms every few keystrokes."""
        if self.facts is not None:
            self.facts.release()
            self.facts = None


def parse_source(
    text: str,
    path: str,
    module: str | None = None,
    external: ExternalTypes | None = None,
    parsed: ParseResult | None = None,
) -> ParsedModule:
    """Parse (unless ``parsed`` is given) and build the facts; ``external`` are the types other
    workspace modules give to the names this one imports."""
    module = module or module_name_for(path)
    result = parsed if parsed is not None else parse_module(text, path)
    problem: Finding | None = None
    if result.problem is not None:
        rule_id = SYNTAX_ERROR if result.problem.kind == "syntax" else NOT_ANALYSED
        span = Span(
            result.problem.line, result.problem.column, result.problem.line, result.problem.column
        )
        note = ""
        if result.set_aside:
            note = f" ({lines_text(list(result.set_aside))} not analysed until it parses)"
        problem = Finding(
            rule=rule_id,
            severity=_default_severity(rule_id),
            path=path,
            span=span,
            message=f"{result.problem.message}{note}",
        )
    facts: ModuleFacts | None = None
    if result.tree is not None:
        try:
            facts = build_module_facts(result.tree, text, module, path, external or ExternalTypes())
        except RecursionError:
            problem = _not_analysed(path, "nested too deeply to analyse")
    return ParsedModule(path, text, result, facts, problem)


def analyze_source(
    text: str,
    path: str,
    options: AnalysisOptions | None = None,
    module: str | None = None,
) -> list[Finding]:
    """Findings for one module analysed on its own."""
    parsed = parse_source(text, path, module)
    try:
        return analyze_parsed([parsed], options or AnalysisOptions())[path]
    finally:
        parsed.release()


def analyze_bytes(data: bytes, path: str, options: AnalysisOptions | None = None) -> list[Finding]:
    try:
        text = decode_source(data)
    except ValueError as error:
        return [_not_analysed(path, f"not analysed: {error}")]
    return analyze_source(text, path, options)


def analyze_parsed(
    modules: Iterable[ParsedModule],
    options: AnalysisOptions,
    targets: set[str] | None = None,
    program: Program | None = None,
) -> dict[str, list[Finding]]:
    """Findings for each module (or for the ``targets`` paths only), with calls followed across
    all of ``modules``."""
    modules = list(modules)
    own_program = program is None
    if program is None:
        program = Program(
            [m.facts for m in modules if m.facts is not None], options.extra_blocking_calls
        )
    results: dict[str, list[Finding]] = {}
    try:
        for parsed in modules:
            if targets is not None and parsed.path not in targets:
                continue
            findings: list[Finding] = [parsed.problem] if parsed.problem else []
            if parsed.facts is not None:
                findings.extend(_run_rules(parsed.facts, program, options))
            results[parsed.path] = finalize(findings, parsed, options)
    finally:
        if own_program:
            program.memo.clear()  # rule summaries point back at the program: no cycle outlives it
            program.release()  # and the call sites it typed in the facts are put back
    return results


def _run_rules(facts: ModuleFacts, program: Program, options: AnalysisOptions) -> list[Finding]:
    ctx = RuleContext(facts, program)
    findings: list[Finding] = []
    for spec in all_rules():
        if not options.enabled(spec.id):
            continue
        try:
            findings.extend(spec.check(ctx))
        except RecursionError:
            findings.append(_not_analysed(facts.path, f"{spec.id} stopped: nested too deeply"))
        except Exception:  # a bug in one rule must not hide the others' findings
            log.exception("rule %s failed on %s", spec.id, facts.path)
            findings.append(
                _not_analysed(facts.path, f"internal error in rule {spec.id} (see the log)")
            )
    return findings


def finalize(
    findings: list[Finding], parsed: ParsedModule, options: AnalysisOptions
) -> list[Finding]:
    """Checklists, suppressions, unknown ids in them, severity overrides, selection, order,
    dedup."""
    review = review_checklists(parsed.text, parsed.facts, findings, options, _stale_assumption)
    findings = [*findings, *review.stale]
    suppressions = parse_suppressions(parsed.text)
    out: list[Finding] = []
    if suppressions:
        tree = parsed.parse.tree
        heads = statement_heads(tree)
        by_line = {s.line: s for s in suppressions if not s.whole_file}
        whole = [s for s in suppressions if s.whole_file]
        for sup in suppressions:
            for rule_id in sorted(sup.rules or ()):
                if not is_valid_rule_id(rule_id) or get_rule(rule_id) is None:
                    findings.append(
                        Finding(
                            rule=BAD_SUPPRESSION,
                            severity=_default_severity(BAD_SUPPRESSION),
                            path=parsed.path,
                            span=Span(sup.line, sup.column, sup.line, sup.column),
                            message=f"unknown rule id `{rule_id}` in suppression comment",
                        )
                    )
        kept: list[Finding] = []
        for finding in findings:
            if finding.rule == BAD_SUPPRESSION:
                kept.append(finding)
                continue
            line = finding.span.line
            candidates = [by_line.get(line), by_line.get(heads.get(line, line))] + whole
            if any(
                s is not None and (s.rules is None or finding.rule in s.rules) for s in candidates
            ):
                continue
            kept.append(finding)
        findings = kept
    seen: set[tuple[str, int, int, str, str]] = set()
    for finding in findings:
        if not options.enabled(finding.rule):
            continue
        override = options.severity.get(finding.rule)
        if override is not None:
            finding = finding.with_severity(override)
        finding = review.acknowledge(finding)
        key = finding.sort_key()
        if key in seen:
            continue
        seen.add(key)
        out.append(finding)
    out.sort(key=Finding.sort_key)
    return out


def _default_severity(rule_id: str) -> Severity:
    spec = get_rule(rule_id)
    return spec.severity if spec else Severity.WARNING


def _stale_assumption(path: str, span: Span, message: str, function: str) -> Finding:
    severity = _default_severity(STALE_ASSUMPTION)
    return Finding(STALE_ASSUMPTION, severity, path, span, message, function=function)


def _not_analysed(path: str, message: str) -> Finding:
    return Finding(
        rule=NOT_ANALYSED,
        severity=_default_severity(NOT_ANALYSED),
        path=path,
        span=Span(1, 0, 1, 0),
        message=message,
    )
