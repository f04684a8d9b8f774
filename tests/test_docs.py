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
