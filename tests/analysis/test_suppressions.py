"""``# riskhints: ignore[...]`` comments: on the line, on the statement's first line, for the
whole file, and unknown ids reported."""

from __future__ import annotations

import textwrap

from riskhints.analysis import analyze_source

SOURCE = textwrap.dedent(
    """\
    import threading

    _lock = threading.Lock()


    async def refresh(client, key):
        with _lock:
            return await client.fetch(key){comment}
    """
)


def rules(source: str) -> list[tuple[int, str]]:
    return [(f.span.line, f.rule) for f in analyze_source(source, "svc.py")]


def test_unsuppressed() -> None:
    assert rules(SOURCE.format(comment="")) == [(8, "RH202")]


def test_suppressed_with_reason() -> None:
    src = SOURCE.format(comment="  # riskhints: ignore[RH202] -- lock is private to this task")
    assert rules(src) == []


def test_suppression_for_another_rule_does_not_apply() -> None:
    assert rules(SOURCE.format(comment="  # riskhints: ignore[RH101]")) == [(8, "RH202")]


def test_bare_ignore_suppresses_every_rule_on_the_line() -> None:
    assert rules(SOURCE.format(comment="  # riskhints: ignore")) == []


def test_several_ids() -> None:
    assert rules(SOURCE.format(comment="  # riskhints: ignore[RH101, RH202]")) == []


def test_unknown_rule_id_is_reported_and_suppresses_nothing() -> None:
    src = SOURCE.format(comment="  # riskhints: ignore[RH999] -- typo")
    assert rules(src) == [(8, "RH202"), (8, "RH002")]


def test_malformed_rule_id_is_reported() -> None:
    src = SOURCE.format(comment="  # riskhints: ignore[lock-reentry]")
    findings = analyze_source(src, "svc.py")
    assert [(f.rule, f.message) for f in findings if f.rule == "RH002"] == [
        ("RH002", "unknown rule id `lock-reentry` in suppression comment")
    ]


def test_statement_first_line_covers_a_multiline_statement() -> None:
    src = textwrap.dedent(
        """\
        import time


        async def poll(job):
            result = job.wait(  # riskhints: ignore[RH101] -- job.wait is async-safe here
                timeout=time.sleep(
                    1
                ),
            )
            return result
        """
    )
    assert rules(src) == []
    assert rules(
        src.replace("  # riskhints: ignore[RH101] -- job.wait is async-safe here", "")
    ) == [(6, "RH101")]


def test_ignore_file() -> None:
    src = "# riskhints: ignore-file -- generated code\n" + SOURCE.format(comment="")
    assert rules(src) == []


def test_ignore_file_for_listed_rules_only() -> None:
    src = "# riskhints: ignore-file[RH101]\n" + SOURCE.format(comment="")
    assert rules(src) == [(9, "RH202")]


def test_marker_inside_a_string_is_not_a_suppression() -> None:
    src = SOURCE.format(comment="") + 'HELP = "# riskhints: ignore[RH202]"\n'
    assert rules(src) == [(8, "RH202")]


def test_suppression_in_a_file_that_does_not_tokenize() -> None:
    src = SOURCE.format(comment="  # riskhints: ignore[RH202] -- ok") + 'NOTE = """unclosed\n'
    assert rules(src) == [(9, "RH001")]
