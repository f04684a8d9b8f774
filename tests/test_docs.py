"""``docs/rules.md`` is generated from the rule registry; it must not drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskhints.analysis.rules import all_rules
from riskhints.docs import rules_markdown

DOC = Path(__file__).resolve().parent.parent / "docs" / "rules.md"


def test_rules_doc_is_up_to_date() -> None:
    assert DOC.read_text(encoding="utf-8") == rules_markdown(), (
        "docs/rules.md is stale: run `make docs`"
    )


def test_every_rule_is_documented_with_an_explanation() -> None:
    for spec in all_rules():
        assert len(spec.doc) > 80, f"{spec.id} needs a docstring explaining the hazard"
        assert spec.summary.endswith("."), spec.id
        assert f'<a id="{spec.anchor}"></a>' in rules_markdown()


def test_settings_doc_is_up_to_date_and_every_setting_is_documented() -> None:
    import dataclasses

    from riskhints.config import SETTING_DOCS, Settings, settings_markdown

    assert set(SETTING_DOCS) == {f.name for f in dataclasses.fields(Settings)}
    page = DOC.parent / "settings.md"
    assert page.read_text(encoding="utf-8") == settings_markdown(), (
        "docs/settings.md is stale: run `make docs`"
    )


def test_settings_json_describes_every_setting_and_its_defaults_parse_back(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`riskhints settings --format json` is what the VS Code manifest is checked against
    (client-vscode/tools/settingsModel.ts): editor keys, JSON types and defaults must be exact."""
    import dataclasses
    import json

    from riskhints.cli import main
    from riskhints.config import Settings, parse_settings

    assert main(["settings", "--format", "json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in entries] == [f.name for f in dataclasses.fields(Settings)]
    python_types = {"array": list, "object": dict, "boolean": bool, "integer": int, "string": str}
    for entry in entries:
        assert type(entry["default"]) is python_types[entry["type"]], entry["name"]
        assert entry.get("enum", [entry["default"]]).count(entry["default"]) == 1
    editor_defaults = {e["editor"]: e["default"] for e in entries}
    assert parse_settings(editor_defaults, "test") == Settings()
    assert {e["name"]: e["enum"] for e in entries if "enum" in e} == {
        "diagnostic_mode": ["auto", "push"],
        "inference": ["jedi", "off"],
        "scope": ["all", "ai", "changed"],
    }


def test_every_generated_file_is_up_to_date() -> None:
    """`make docs` writes these (rules, settings, the command line, and the rule examples
    `riskhints rule` shows, copied from fixtures/rules for an installed riskhints)."""
    from riskhints.docs import generated

    root = DOC.parent.parent
    for path, text in generated(root).items():
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run `make docs`"


def _check_options() -> list[str]:
    import argparse

    from riskhints.cli import build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return [
        flag
        for action in commands.choices["check"]._actions
        for flag in action.option_strings
        if flag.startswith("--") and flag != "--help"
    ]


def test_readme_and_cli_page_describe_every_check_flag() -> None:
    readme = (DOC.parent.parent / "README.md").read_text(encoding="utf-8")
    page = (DOC.parent / "cli.md").read_text(encoding="utf-8")
    missing = [flag for flag in _check_options() if f"`{flag}" not in readme]
    assert not missing, f"README.md does not mention {missing}"
    assert all(f"`{flag}`" in page for flag in _check_options())


@pytest.mark.parametrize("spec", all_rules(), ids=lambda s: s.id)
def test_riskhints_rule_explains_every_rule(spec, capsys: pytest.CaptureFixture[str]) -> None:
    from riskhints.cli import main

    assert main(["rule", spec.id.lower()]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{spec.id} {spec.name} ({spec.family}; default severity ")
    assert spec.doc in out and out.rstrip().endswith(spec.anchor)
    if spec.family != "meta":  # every hazard rule has an example it really flags
        assert "Example (fixtures/rules/" in out
        assert "What riskhints reports (line " in out
        assert "It is safe only if:" in out
        assert "Instead: " in out


def test_riskhints_rule_shows_the_quick_fixes_and_rejects_unknown_ids(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from riskhints.cli import main

    assert main(["rule", "RH301"]) == 0
    out = capsys.readouterr().out
    assert "Quick fixes (editor, `riskhints check --fix`):" in out and "(safe: --fix)" in out
    assert main(["rule", "RH299"]) == 2
    assert "RH299: no such rule" in capsys.readouterr().err


def test_the_project_url_is_configured_in_one_place_and_no_doc_installs_from_pypi() -> None:
    """riskhints is not on PyPI: no page says `pip install riskhints` as if it were, and the
    project's address is written only in pyproject.toml (links read it from there)."""
    import subprocess
    import sys

    from riskhints.links import homepage

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    root = DOC.parent.parent
    url = tomllib.loads((root / "pyproject.toml").read_text())["project"]["urls"]["Homepage"]
    assert homepage() == url
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=root, capture_output=True, timeout=60, check=True
    ).stdout.split(b"\0")
    offenders = []
    for name in filter(None, (raw.decode() for raw in listed)):
        path = root / name
        if name in ("pyproject.toml", "tests/test_docs.py") or not path.is_file():
            continue
        if name.startswith(("bench/", "fixtures/")) or "node_modules" in name:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if url in text or "pip install riskhints" in text or "pipx install riskhints" in text:
            offenders.append(name)
    assert not offenders, f"hard-coded project URL or PyPI install in {offenders}"


def test_the_readme_example_report_is_what_check_prints(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from riskhints.cli import main

    root = DOC.parent.parent
    monkeypatch.chdir(root / "fixtures" / "projects" / "bookshop")
    assert main(["check", "--no-cache", "--select", "RH203", "."]) == 1
    report = capsys.readouterr().out.split("\n\n")[0]
    assert f"```text\n{report}\n```" in (root / "README.md").read_text(encoding="utf-8")


def test_every_hazard_rule_has_a_pinned_example() -> None:
    from riskhints.rule_explain import EXAMPLE_FIXTURES

    hazards = {spec.id for spec in all_rules() if spec.family != "meta"}
    assert set(EXAMPLE_FIXTURES) == hazards, "pin an example in rule_explain.EXAMPLE_FIXTURES"
