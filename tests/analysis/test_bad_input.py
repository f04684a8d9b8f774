"""Bad input never crashes the engine and never hides what can still be found."""

from __future__ import annotations

import textwrap

from riskhints.analysis import analyze_bytes, analyze_source

HAZARD = textwrap.dedent(
    """\
    import threading

    _lock = threading.Lock()


    async def refresh(client, key):
        with _lock:
            return await client.fetch(key)
    """
)


def rules_at(findings) -> list[tuple[int, str]]:
    return [(f.span.line, f.rule) for f in findings]


def test_syntax_error_in_one_function_keeps_findings_elsewhere() -> None:
    broken = HAZARD + textwrap.dedent(
        """\


        async def half_typed(user):
            if user.id ==
                return None
        """
    )
    findings = analyze_source(broken, "svc.py")
    assert rules_at(findings) == [(8, "RH202"), (12, "RH001")]
    syntax = findings[1]
    assert "not analysed until it parses" in syntax.message
    assert syntax.severity.label == "error"


def test_syntax_error_is_reported_once_not_per_line() -> None:
    broken = "def ok():\n    pass\n\nx = (\n" + "\n".join(f"    {i}," for i in range(50))
    findings = analyze_source(broken, "svc.py")
    assert [f.rule for f in findings] == ["RH001"]


def test_syntax_error_in_method_keeps_other_methods() -> None:
    source = textwrap.dedent(
        """\
        import asyncio


        class Cache:
            def __init__(self):
                self._lock = asyncio.Lock()

            async def upsert(self, key, value):
                async with self._lock:
                    await self._save(key, value)

            async def _save(self, key, value):
                async with self._lock:
                    self.items[key] = value

            def broken(self:
                pass
        """
    )
    findings = analyze_source(source, "cache.py")
    assert rules_at(findings) == [(10, "RH203"), (16, "RH001")]


def test_unclosed_bracket_at_end_of_file() -> None:
    findings = analyze_source(HAZARD + "\nitems = [1, 2,\n", "svc.py")
    assert ("RH202" in {f.rule for f in findings}) and ("RH001" in {f.rule for f in findings})


def test_empty_and_whitespace_files() -> None:
    assert analyze_source("", "empty.py") == []
    assert analyze_source("\n\n   \n", "blank.py") == []
    assert analyze_bytes(b"", "empty.py") == []


def test_non_utf8_file_is_reported_not_crashed() -> None:
    [finding] = analyze_bytes("x = 'caf\u00e9'\n".encode("latin-1"), "legacy.py")
    assert finding.rule == "RH003"
    assert "not valid utf-8" in finding.message


def test_declared_latin1_file_is_analysed() -> None:
    source = "# -*- coding: latin-1 -*-\n" + HAZARD.replace("fetch(key)", "fetch(key)  # caf\u00e9")
    findings = analyze_bytes(source.encode("latin-1"), "legacy.py")
    assert rules_at(findings) == [(9, "RH202")]


def test_binary_file_is_reported() -> None:
    [finding] = analyze_bytes(b"\x7fELF\x00\x00\x01binary", "blob.py")
    assert finding.rule == "RH003"
    assert "binary" in finding.message


def test_utf8_bom_is_accepted() -> None:
    findings = analyze_bytes(b"\xef\xbb\xbf" + HAZARD.encode(), "bom.py")
    assert rules_at(findings) == [(8, "RH202")]


def test_deeply_nested_expression_is_reported_not_crashed() -> None:
    deep = "x = " + "(" * 5000 + "1" + ")" * 5000 + "\n"
    findings = analyze_source(deep, "deep.py")
    assert [f.rule for f in findings] in (["RH001"], ["RH003"])


def test_long_binary_operation_chain() -> None:
    chain = "total = " + " + ".join(f"v{i}" for i in range(20000)) + "\n"
    findings = analyze_source(HAZARD + chain, "chain.py")
    assert "RH202" in {f.rule for f in findings} or {f.rule for f in findings} == {"RH003"}


def test_deep_attribute_chain() -> None:
    source = "import asyncio\nasync def f(a):\n    return a" + ".b" * 3000 + "()\n"
    findings = analyze_source(source, "attrs.py")
    assert all(f.rule in ("RH001", "RH003") for f in findings)


def test_fifty_thousand_line_file() -> None:
    block = textwrap.dedent(
        """\
        def handler_{i}(request):
            value = request.get("k{i}")
            if value is None:
                return {{}}
            return {{"k": value}}

        """
    )
    body = "".join(block.format(i=i) for i in range(8400))
    source = HAZARD + body
    assert source.count("\n") > 50_000
    findings = analyze_source(source, "huge.py")
    assert rules_at(findings) == [(8, "RH202")]


def test_crlf_line_endings_keep_lines_and_columns() -> None:
    findings = analyze_source(HAZARD.replace("\n", "\r\n"), "crlf.py")
    assert [(f.span.line, f.span.column, f.rule) for f in findings] == [(8, 15, "RH202")]


def test_tabs_for_indentation() -> None:
    findings = analyze_source(HAZARD.replace("    ", "\t"), "tabs.py")
    assert [(f.span.line, f.span.column, f.rule) for f in findings] == [(8, 9, "RH202")]


def test_emoji_and_cjk_before_the_flagged_call_give_code_point_columns() -> None:
    source = HAZARD.replace(
        "            return await client.fetch(key)",
        '            note = "\U0001f512 \u9501"; data = await client.fetch(key)\n'
        "            return data",
    )
    [finding] = analyze_source(source, "emoji.py")
    line = source.splitlines()[finding.span.line - 1]
    assert line[finding.span.column : finding.span.end_column] == "await client.fetch(key)"


def test_non_ascii_identifiers() -> None:
    source = HAZARD.replace("_lock", "_verrou_\u00e9t\u00e9").replace("refresh", "rafra\u00eechir")
    [finding] = analyze_source(source, "fr.py")
    assert finding.rule == "RH202"
    assert "_verrou_\u00e9t\u00e9" in finding.message


def test_form_feed_and_unicode_line_separator_do_not_shift_lines() -> None:
    source = "# section\x0c\n" + '"""doc \u2028 with a line separator"""\n' + HAZARD
    [finding] = analyze_source(source, "ff.py")
    assert finding.span.line == 10


def test_findings_are_deterministic() -> None:
    first = analyze_source(HAZARD * 3, "dup.py")
    assert first == analyze_source(HAZARD * 3, "dup.py")
