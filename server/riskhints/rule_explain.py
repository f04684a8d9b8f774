"""``riskhints rule RH203``: one rule explained in the terminal (like ``ruff rule``): what the
hazard is, an example it flags with the finding it gives (its evidence and the assumptions it
rests on), the advice and the quick fixes offered.

The examples are our own ``fixtures/rules/RHnnn/bad_*.py`` files, copied into
``rule_examples.json`` beside this module by ``make docs`` (an installed riskhints has no
fixtures folder); a test fails when the copy drifts from the fixtures. Each rule's example is
pinned in :data:`EXAMPLE_FIXTURES`.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

from .analysis.rules import RuleSpec, get_rule

_MARKER = re.compile(r"\s*# expect: RH\d{3}.*$")
EXAMPLES_FILE = "rule_examples.json"


#: The fixture each rule is explained with (pinned, so that adding fixtures changes nothing
#: here; a test fails when a rule has none, or when its example stops being flagged).
EXAMPLE_FIXTURES = {
    "RH101": "bad_webhook_forwarder.py",
    "RH102": "bad_directory_client_constructor.py",
    "RH103": "bad_threadsafe_future_on_own_loop.py",
    "RH104": "bad_executor_submits_coroutines.py",
    "RH105": "bad_worker_thread_reports_progress.py",
    "RH201": "bad_thumbnail_cache_sleeping_janitor.py",
    "RH202": "bad_price_cache_refresh.py",
    "RH203": "bad_repository_upsert_reenters_save.py",
    "RH204": "bad_transfer_vs_audit.py",
    "RH205": "bad_bounded_semaphore_param_in_batch_loop.py",
    "RH206": "bad_reply_table_timed_wait.py",
    "RH207": "bad_event_wait_under_lock.py",
    "RH208": "bad_joinable_queue_consumer_process.py",
    "RH301": "bad_webhook_dispatch_from_import.py",
    "RH302": "bad_coroutine_passed_to_logging_and_print.py",
    "RH303": "bad_queue_worker_continues_on_cancel.py",
    "RH401": "bad_cache_fill_across_await.py",
    "RH402": "bad_thread_pool_crawler.py",
    "RH501": "bad_session_opened_in_route_and_repository.py",
    "RH502": "bad_helper_queries_for_async_view.py",
    "RH503": "bad_channels_database_sync_to_async.py",
    "RH504": "bad_on_commit_called_too_early.py",
    "RH505": "bad_module_level_session.py",
    "RH506": "bad_loaded_lists_and_scalar.py",
    "RH507": "bad_task_waits_through_helper.py",
    "RH508": "bad_close_skipped_on_error.py",
}


def examples_json(fixtures: Path) -> str:
    """The committed ``rule_examples.json``, from the pinned rule fixtures under ``fixtures``;
    a pinned fixture that is gone, or no longer flagged by its rule, is an error."""
    from .analysis import analyze_source

    examples: dict[str, dict[str, str]] = {}
    for rule_id, name in sorted(EXAMPLE_FIXTURES.items()):
        path = fixtures / rule_id / name
        code = "\n".join(
            _MARKER.sub("", line) for line in path.read_text(encoding="utf-8").splitlines()
        )
        findings = analyze_source(code + "\n", path.name)
        if not any(f.rule == rule_id for f in findings):
            raise ValueError(f"{path}: the example of {rule_id} is not flagged by it")
        examples[rule_id] = {"file": f"{rule_id}/{name}", "code": code + "\n"}
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
