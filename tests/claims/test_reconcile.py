"""Claims against observations: verified, contradicted or unverified; how they score, what the
report's table and vendor questions make of them; and which rules the as-of date puts in force."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydantic import ValidationError

from ehrcheck.claims.table import claims_table, vendor_questions
from ehrcheck.engine.evaluate import evaluate
from ehrcheck.engine.scorecard import score_evidence
from ehrcheck.engine.scoring import score_findings
from ehrcheck.models import (
    AttemptStatus,
    Evidence,
    Finding,
    ProbeAttempt,
    Severity,
    Status,
)
from ehrcheck.render import RENDERERS
from ehrcheck.rules.schema import Rule, find_rule
from tests.support.evidence import evidence, finding

AS_OF = dt.date(2026, 6, 1)
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"


def judge(rule_id: str, ev: Evidence, as_of: dt.date = AS_OF) -> Finding:
    rule = find_rule(rule_id)
    assert rule is not None
    return evaluate(ev, [rule], as_of)[0]


SMART_V2_PATIENT = {
    "found": True,
    # Everything a SMART 2.0 claim implies (the checks read this; permission-v2 alone is "partly").
    "document": {
        "authorization_endpoint": "https://ehr.example.test/auth",
        "token_endpoint": "https://ehr.example.test/token",
        "grant_types_supported": ["authorization_code"],
        "code_challenge_methods_supported": ["S256"],
    },
    "capabilities": ["launch-standalone", "context-standalone-patient", "permission-patient", "permission-v2"],
}
SMART_V1_EHR = {"found": True, "document": {}, "capabilities": ["launch-ehr", "permission-v1"]}

# Every claim a probe can check: (rule, claims, evidence that verifies it, evidence that contradicts
# it, the probe whose absence leaves it unverified).
RECONCILED = [
    (
        "INT-100",
        {"standards": {"fhir_version": "4.0.1"}},
        {"capability": {"found": True, "fhir_version": "4.0.1"}},
        {"capability": {"found": True, "fhir_version": "3.0.2", "fhir_release": "STU3"}},
        "capability",
    ),
    (
        "INT-101",
        {"standards": {"us_core": "6.1.0"}},
        {"capability": {"found": True, "supported_profiles": [US_CORE + "us-core-patient|6.1.0"]}},
        {"capability": {"found": True, "supported_profiles": []}},
        "capability",
    ),
    ("INT-102", {"standards": {"smart_app_launch": "2.0.0"}}, {"smart": SMART_V2_PATIENT}, {"smart": SMART_V1_EHR}, "smart"),
    (
        "INT-103",
        {"standards": {"bulk_data": "1.0.1"}},
        {"capability": {"found": True, "resources": {"Group": {"operations": ["export"]}}}},
        {"capability": {"found": True, "resources": {}, "system_operations": []}},
        "capability",
    ),
    (
        "INT-104",
        {"standards": {"uscdi": "v4"}},
        {"capability": {"found": True, "supported_profiles": [US_CORE + "us-core-patient|7.0.0"]}},
        {"capability": {"found": True, "supported_profiles": [US_CORE + "us-core-patient|6.1.0"]}},
        "capability",
    ),
    ("PRT-100", {"portal": {"third_party_app_access": True}}, {"smart": SMART_V2_PATIENT}, {"smart": SMART_V1_EHR}, "smart"),
    (
        "HIP-100",
        {"hipaa": {"tls_minimum": "1.2"}},
        {
            "transport": {
                "scheme": "https",
                "tls": {"negotiated_version": "TLSv1.3", "legacy": {"TLSv1.0": "rejected", "TLSv1.1": "rejected"}},
            }
        },
        {
            "transport": {
                "scheme": "https",
                "tls": {"negotiated_version": "TLSv1.2", "legacy": {"TLSv1.0": "accepted", "TLSv1.1": "rejected"}},
            }
        },
        "transport",
    ),
    (
        "HIP-101",
        {"hipaa": {"unique_user_ids": True}},
        {"access": {"patient_search": {"http_status": 401, "returned_patient_data": False}}},
        {"access": {"patient_search": {"http_status": 200, "returned_patient_data": True, "patient_entries": 3}}},
        "access",
    ),
    (
        "CRT-007",
        {"certification": {"cms_ehr_certification_id": "0015H7CW6NF3QJD"}},
        {"chpl": {"certification_id": {"id": "0015H7CW6NF3QJD", "valid": True}}},
        {"chpl": {"certification_id": {"id": "0015H7CW6NF3QJD", "valid": False}}},
        "chpl",
    ),
]


@pytest.mark.parametrize(("rule_id", "claims", "agrees", "disagrees", "probe"), RECONCILED, ids=[r[0] for r in RECONCILED])
def test_every_checkable_claim_is_verified_contradicted_or_unverified(rule_id, claims, agrees, disagrees, probe):
    verified = judge(rule_id, evidence(agrees, claims))
    assert (verified.status, verified.claim and verified.claim.outcome) == (Status.passed, "verified"), verified.message

    contradicted = judge(rule_id, evidence(disagrees, claims))
    assert (contradicted.status, contradicted.claim and contradicted.claim.outcome) == (Status.fail, "contradicted"), (
        contradicted.message
    )

    others = {k: v for k, v in agrees.items() if k != probe}
    unverified = judge(rule_id, evidence(others, claims, errored=(probe,) if probe != "chpl" else ()))
    assert (unverified.status, unverified.claim and unverified.claim.outcome) == (Status.unverified, "unverified")
    assert unverified.claim.claimed  # the report can say what was claimed


@pytest.mark.parametrize("rule_id", [r[0] for r in RECONCILED if r[0] != "CRT-007"])
def test_a_claim_not_made_is_not_judged(rule_id):
    """No claims file, or a file that is silent on the point: nothing to reconcile, no score."""
    _, _, agrees, _, _ = next(r for r in RECONCILED if r[0] == rule_id)
    for claims in (None, {"claims_version": 1, "hipaa": {"baa_offered": True}}):
        f = judge(rule_id, evidence(agrees, claims))
        assert f.status == Status.not_applicable and f.claim is None, (claims, f.message)


def test_claims_with_chpl_are_unverified_only_when_the_claim_is_made():
    """The old engine called any [claims, chpl] rule unverified whenever a claims file existed."""
    silent = judge("CRT-007", evidence({}, {"claims_version": 1, "hipaa": {"baa_offered": True}}))
    assert silent.status == Status.not_observed and "cms_ehr_certification_id" in silent.message
    assert judge("CRT-007", evidence({}, None)).status == Status.not_observed
    made = judge("CRT-007", evidence({}, {"certification": {"cms_ehr_certification_id": "0015H7CW6NF3QJD"}}))
    assert made.status == Status.unverified and made.claim.claimed == "0015H7CW6NF3QJD"


def test_an_empty_list_is_not_a_claim():
    f = judge("CRT-207", evidence({}, {"certification": {"certified_criteria": []}}))
    assert f.status == Status.not_observed and f.claim is None


def test_attestations_are_unverified_or_fall_short_never_contradicted():
    yes = judge("HIP-017", evidence({}, {"hipaa": {"baa_offered": True}}))
    no = judge("HIP-017", evidence({}, {"hipaa": {"baa_offered": False}}))
    assert (yes.status, yes.claim.outcome) == (Status.unverified, "unverified")
    assert (no.status, no.claim.outcome) == (Status.fail, "falls_short")
    assert "yes" in yes.message and "True" not in yes.message


def _finding(rule_id: str, status: Status, weight: float, outcome: str | None = None, path: str = "claims.x.y", **more):
    return finding(rule_id, status, weight, claim_outcome=outcome, claim_path=path, **more)


def test_a_contradiction_weighs_more_than_a_plain_miss():
    plain = score_findings("p", "P", [_finding("A", Status.passed, 5), _finding("B", Status.fail, 5)])
    contradicted = score_findings("p", "P", [_finding("A", Status.passed, 5), _finding("B", Status.fail, 5, "contradicted")])
    assert plain.score == 50.0
    assert contradicted.score == pytest.approx(33.3)


def test_claims_table_and_questions_order_and_deduplicate():
    findings = [
        _finding("INT-1", Status.passed, 5, "verified", "claims.standards.smart_app_launch"),
        _finding("CRT-1", Status.unverified, 3, "unverified", "claims.standards.smart_app_launch"),  # settled by INT-1
        _finding("INT-2", Status.fail, 5, "contradicted", "claims.standards.us_core", severity=Severity.medium),
        _finding("CRT-2", Status.unverified, 3, "unverified", "claims.standards.us_core"),  # settled by INT-2
        _finding("HIP-1", Status.unverified, 3, "unverified", "claims.hipaa.baa_offered"),
        _finding("HIP-2", Status.fail, 3, "falls_short", "claims.hipaa.backups"),
        _finding("INT-3", Status.fail, 5, severity=Severity.critical),
        _finding("INT-4", Status.fail, 5, question="question INT-3?"),  # the same question, asked once
        _finding("INT-5", Status.warn, 1),
        _finding("INT-6", Status.passed, 1),
    ]
    table = claims_table(findings)
    assert [(r.rule_id, r.status) for r in table] == [
        ("INT-2", "contradicted"),
        ("HIP-2", "falls_short"),
        ("HIP-1", "unverified"),
        ("INT-1", "verified"),
    ]
    assert table[0].claim == "US Core" and table[0].path == "standards.us_core"
    questions = vendor_questions(findings)
    assert [(q.rule_id, q.reason) for q in questions] == [
        ("INT-2", "contradicted"),
        ("INT-3", "failed"),
        ("HIP-2", "failed"),
        ("INT-5", "warning"),
        ("HIP-1", "unverified"),
    ]


def test_as_of_decides_which_requirement_applies():
    """US Core 3.1.1 is fine for certification in 2025 and expired from 2026-01-01."""
    ev = evidence({}, {"claims_version": 1, "standards": {"us_core": "3.1.1", "smart_app_launch": "1.0.0"}})
    before = {f.rule_id: f for f in score_evidence(ev, dt.date(2025, 6, 1)).findings}
    after = {f.rule_id: f for f in score_evidence(ev, dt.date(2026, 6, 1)).findings}
    assert [before[r].status for r in ("CRT-101", "CRT-102", "CRT-103", "CRT-104")] == [
        Status.unverified,
        Status.not_applicable,
        Status.unverified,
        Status.not_applicable,
    ]
    assert [after[r].status for r in ("CRT-101", "CRT-102", "CRT-103", "CRT-104")] == [
        Status.not_applicable,
        Status.fail,
        Status.not_applicable,
        Status.fail,
    ]
    assert "expired on 2026-01-01" in after["CRT-101"].message
    assert (
        "applies from 2024-12-31"
        in judge("CRT-100", evidence({}, {"information_blocking": {"service_base_urls": False}}), dt.date(2024, 6, 1)).message
    )


def test_as_of_defaults_to_the_day_the_evidence_was_gathered():
    ev = evidence({}, {"standards": {"us_core": "3.1.1"}}, finished_at="2025-07-01T12:00:00Z")
    result = score_evidence(ev)
    assert result.as_of == "2025-07-01"
    assert {f.rule_id: f.status for f in result.findings}["CRT-102"] == Status.not_applicable


def test_rule_dates_and_claims_are_validated():
    base = {
        "id": "INT-199",
        "title": "t",
        "severity": "low",
        "weight": 1,
        "check": {"path": "claims.a.b", "op": "exists"},
        "pass_message": "p",
        "fail_message": "f",
        "references": [{"cite": "x"}],
        "remediation": "r",
        "vendor_question": "q",
    }
    with pytest.raises(ValidationError, match="must be before expires"):
        Rule.model_validate({**base, "needs": ["claims"], "effective": "2026-01-01", "expires": "2025-01-01"})
    with pytest.raises(ValidationError, match="needs must include claims"):
        Rule.model_validate({**base, "needs": ["capability"], "claim": "claims.standards.us_core"})


def test_rescoring_evidence_with_claims_is_byte_identical():
    ev = evidence(
        {"capability": {"found": True, "fhir_version": "4.0.1"}, "smart": SMART_V1_EHR},
        {"claims_version": 1, "standards": {"fhir_version": "4.0.1", "smart_app_launch": "2.0.0"}},
    )
    again = Evidence.model_validate(json.loads(json.dumps(ev.to_json_dict())))
    render = RENDERERS["json"].fn
    assert render(score_evidence(ev, profile="solo")) == render(score_evidence(again, profile="solo"))


def test_a_smart_2_claim_with_only_permission_v2_is_partly_verified_naming_what_is_missing() -> None:
    """permission-v2 alone used to verify "SMART App Launch 2.0.0"; the claim implies more."""
    from ehrcheck.claims.table import claims_table

    only_flag = {"found": True, "document": {}, "capabilities": ["launch-standalone", "permission-v2"]}
    ev = Evidence.model_validate(
        {
            "tool_version": "test",
            "target": {"base_url": "https://ehr.example.test/fhir"},
            "started_at": "2026-06-01T00:00:00Z",
            "finished_at": "2026-06-01T00:00:01Z",
            "probes": {"smart": ProbeAttempt(status=AttemptStatus.completed, data=only_flag)},
            "claims": {"claims_version": 1, "standards": {"smart_app_launch": "2.0.0"}},
        }
    )
    rows = {r.rule_id: r for r in claims_table(evaluate(ev, [find_rule("INT-102")], dt.date(2026, 6, 1)))}
    assert rows["INT-102"].status == "partly_verified"
    assert rows["INT-102"].missing == ["authorization_code grant", "PKCE S256", "authorization_endpoint", "token_endpoint"]
