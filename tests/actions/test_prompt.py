"""The assistant prompt: the function's code, the findings with their evidence, the facts, and
instructions that ask for every assumption, how to verify it, and "I don't know" over a guess."""

from __future__ import annotations

import textwrap

from riskhints.actions.prompt import build_prompt, prompt_file_name
from riskhints.analysis import analyze_source

PATH = "plugins/registry.py"
SOURCE = textwrap.dedent(
    '''\
    """Plugin registry shared by the loader threads."""

    import threading

    _registry_lock = threading.Lock()
    _plugins: dict[str, object] = {}


    def _lookup(name: str) -> object | None:
        with _registry_lock:
            return _plugins.get(name)


    def _validate(name: str) -> None:
        if _lookup(name) is not None:
            raise ValueError(f"plugin {name} already registered")


    def register(name: str, plugin: object) -> None:
        """Register ``plugin``; the docs show it as:

        ```python
        register("csv", CsvPlugin())
        ```
        """
        with _registry_lock:
            _validate(name)
            _plugins[name] = plugin
    '''
)


def _line(needle: str) -> int:
    return next(n for n, line in enumerate(SOURCE.splitlines(), 1) if needle in line)


def test_prompt_holds_code_findings_evidence_and_instructions() -> None:
    findings = analyze_source(SOURCE, PATH)
    prompt = build_prompt(SOURCE, PATH, findings, _line("_plugins[name] = plugin"))
    assert prompt is not None
    assert prompt.function == "register"
    assert (prompt.first_line, prompt.last_line) == (_line("def register"), _line("= plugin"))
    text = prompt.text
    assert text.startswith("# Assumptions checklist for `register`")
    # The whole function, in a fence longer than the one inside its docstring.
    assert "````python\ndef register(name: str, plugin: object) -> None:" in text
    assert '    register("csv", CsvPlugin())' in text
    # The finding, its chain of evidence (with the code of hops outside the function) and
    # what must be true for it to be safe.
    assert "**RH203** (error, line" in text
    assert "register() calls _validate()" in text
    assert (
        f"evidence, line {_line('with _registry_lock:')}: takes (with) _registry_lock here" in text
    )
    assert "— `with _registry_lock:`" in text
    assert "safe only if: nothing called while `register` holds `_registry_lock`" in text
    # The instructions.
    for required in (
        "**every** assumption",
        "**concurrency**",
        "**locking**",
        "**event loop**",
        "**framework**",
        "how to verify it",
        '**"I don\'t know"**',
        "Do not guess",
    ):
        assert required in text, required


def test_prompt_without_findings_says_so() -> None:
    prompt = build_prompt(SOURCE, PATH, analyze_source(SOURCE, PATH), _line("def _lookup"))
    assert prompt is not None and prompt.function == "_lookup"
    assert "Nothing. That is not proof of safety" in prompt.text
    assert "every function that reads or writes `_plugins` holds `_registry_lock`" in prompt.text


def test_no_function_at_the_line() -> None:
    findings = analyze_source(SOURCE, PATH)
    assert build_prompt(SOURCE, PATH, findings, _line("_registry_lock = threading")) is None
    assert build_prompt("def broken(:\n", PATH, [], 1) is None


def test_prompt_file_names_stay_one_safe_name() -> None:
    assert prompt_file_name("app/api/cache.py", "Cache.refresh") == "app-api-cache-Cache.refresh.md"
    assert prompt_file_name("../../etc/passwd", "f.<locals>.g") == "etc-passwd-f.-locals-.g.md"
    assert "/" not in prompt_file_name("a\\b/c.py", "../x")
