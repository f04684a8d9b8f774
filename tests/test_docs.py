"""``docs/rules.md`` is generated from the rule registry; it must not drift."""

from __future__ import annotations

from pathlib import Path

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
