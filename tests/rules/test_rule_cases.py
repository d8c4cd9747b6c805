"""Run every rule against its YAML cases: tests/rules/cases/<RULE-ID>.yaml.

A case file names its rule and lists cases. Each case gives the evidence a probe would have
recorded (source -> data, only the keys the rule reads), optional `missing` sources (recorded as
errored probes), optional `claims`, an optional `as_of` date and the expected status. One
parametrised test runs them all; meta-tests keep the corpus honest: every rule has a passing case
and a failing (or warn) case, and every case file points at a rule that exists.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from ehrcheck.engine.evaluate import evaluate
from ehrcheck.models import Evidence, Status
from ehrcheck.rules.schema import all_rules, find_rule
from tests.support.evidence import evidence

CASES_DIR = Path(__file__).parent / "cases"
DEFAULT_AS_OF = dt.date(2026, 6, 1)
CASE_KEYS = {"name", "expect", "evidence", "missing", "claims", "as_of", "message_contains"}
STATUSES = {s.value for s in Status}


def _case_files() -> list[tuple[Path, dict[str, Any]]]:
    return [(p, yaml.safe_load(p.read_text(encoding="utf-8"))) for p in sorted(CASES_DIR.glob("*.yaml"))]


def _params() -> list[Any]:
    params = []
    for _path, doc in _case_files():
        for i, case in enumerate(doc.get("cases") or []):
            name = case.get("name") or f"case {i}"
            params.append(pytest.param(doc.get("rule"), case, id=f"{doc.get('rule')}: {name}"))
    return params


def build_evidence(case: dict[str, Any]) -> Evidence:
    """An Evidence document whose probes completed with the case's data; `missing` ones errored."""
    probes = {source: data or {} for source, data in (case.get("evidence") or {}).items()}
    return evidence(probes, case.get("claims"), errored=case.get("missing") or ())


def _as_of(case: dict[str, Any]) -> dt.date:
    value = case.get("as_of")
    if value is None:
        return DEFAULT_AS_OF
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


@pytest.mark.parametrize(("rule_id", "case"), _params())
def test_rule_case(rule_id: str, case: dict[str, Any]) -> None:
    rule = find_rule(rule_id)
    assert rule is not None, f"case file names unknown rule {rule_id}"
    finding = evaluate(build_evidence(case), [rule], _as_of(case))[0]
    assert finding.status.value == case["expect"], (
        f"{rule_id} '{case.get('name')}': expected {case['expect']}, got {finding.status.value}: {finding.message}"
    )
    if case.get("message_contains"):
        assert case["message_contains"] in finding.message, finding.message


def test_case_files_reference_existing_rules() -> None:
    for path, doc in _case_files():
        assert isinstance(doc, dict) and doc.get("rule"), f"{path.name}: needs a top-level 'rule:'"
        assert find_rule(doc["rule"]) is not None, f"{path.name}: rule {doc['rule']} does not exist"
        assert path.stem == doc["rule"], f"{path.name}: file must be named {doc['rule']}.yaml"
        assert doc.get("cases"), f"{path.name}: has no cases"


def test_case_files_are_well_formed() -> None:
    for path, doc in _case_files():
        for case in doc.get("cases") or []:
            unknown = set(case) - CASE_KEYS
            assert not unknown, f"{path.name} '{case.get('name')}': unknown keys {sorted(unknown)}"
            assert case.get("name"), f"{path.name}: every case needs a name"
            expect = case.get("expect")
            assert expect in STATUSES, f"{path.name} '{case['name']}': expect must be one of {sorted(STATUSES)}"


def _expected_by_rule() -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for _, doc in _case_files():
        seen.setdefault(doc["rule"], set()).update(c["expect"] for c in doc.get("cases") or [])
    return seen


def test_every_rule_has_a_passing_and_a_failing_case() -> None:
    """Claims-only rules can never pass (a claim is at best unverified), so they need an unverified case."""
    seen = _expected_by_rule()
    problems = []
    for rule in all_rules():
        got = seen.get(rule.id, set())
        claims_only = set(rule.needs) <= {"claims"}
        good = "unverified" if claims_only else "pass"
        bad = "warn" if rule.fail_status == "warn" else "fail"
        for want in (good, bad):
            if want not in got:
                problems.append(f"{rule.id} has no '{want}' case (tests/rules/cases/{rule.id}.yaml)")
    assert not problems, "\n".join(problems)
