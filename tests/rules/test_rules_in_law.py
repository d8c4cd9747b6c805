"""The rule packs say what the law says (research/regulations.md), and proposed rules stay apart.

Each assertion here failed on the packs before issue 13: a wrong paragraph, a period the law does
not set, a proposed requirement scored as current law."""

from __future__ import annotations

import datetime as dt

from ehrcheck.engine.gates import gate_failures
from ehrcheck.engine.scorecard import score_evidence
from ehrcheck.models import AttemptStatus, Evidence, ProbeAttempt, Severity
from ehrcheck.rules.schema import builtin_packs, find_rule

NPRM = "90 FR 898"


def _cites(rule_id: str) -> str:
    rule = find_rule(rule_id)
    assert rule is not None, rule_id
    return " ".join(r.cite for r in rule.references)


def _text(rule_id: str) -> str:
    rule = find_rule(rule_id)
    assert rule is not None, rule_id
    return " ".join((rule.title, rule.pass_message, rule.fail_message, str(rule.check)))


def test_proposed_hipaa_rules_live_in_their_own_unscored_pack() -> None:
    packs = {p.pack: p for p in builtin_packs()}
    proposed = packs["hipaa-proposed"]
    assert proposed.proposed and "not in force" in proposed.title
    assert {r.id for r in proposed.rules} >= {"HIP-018", "HIP-102", "HIP-108", "HIP-500", "HIP-501"}
    for rule in proposed.rules:
        assert NPRM in _cites(rule.id), rule.id
    for rule in packs["hipaa"].rules:
        assert NPRM not in _cites(rule.id), f"{rule.id} cites the NPRM but is scored as current law"


def test_current_hipaa_rules_set_no_period_the_law_does_not_set() -> None:
    assert "Addressable" in _text("HIP-019") and find_rule("HIP-019").fail_status == "warn"  # type: ignore[union-attr]
    assert "6" not in str(find_rule("HIP-020").check) and "no retention period" in _cites("HIP-020")  # type: ignore[union-attr]
    assert "12 months" not in _text("HIP-021") and "within_months: 12," not in str(find_rule("HIP-021").check)  # type: ignore[union-attr]
    assert "yearly" not in _text("HIP-109")
    assert "164.308(b)(1) (satisfactory" not in _cites("HIP-110") and "not a HIPAA requirement" in _text("HIP-110")
    assert "automatic logoff" not in _cites("HIP-309")
    assert find_rule("HIP-020").severity == find_rule("HIP-022").severity == Severity.high  # type: ignore[union-attr]


def test_certification_paths_cite_the_right_paragraphs() -> None:
    for rid in ("INT-011", "INT-012"):
        assert "170.315(g)(10)(ii)(A)" in _cites(rid), rid
    for rid in ("INT-020", "INT-021", "PRT-001", "PRT-003", "PRT-005", "PRT-100"):
        assert "170.315(g)(10)(v)(A)" in _cites(rid), rid
    for rid in ("INT-031", "INT-300"):
        assert "170.315(g)(10)(v)(B)" in _cites(rid), rid
    assert "170.404(a)(3)" in _cites("PRT-012")
    assert "170.315(b)(10)(i)(E)" in _cites("CRT-005") and "(b)(10)(ii)(B)" in _cites("CRT-005")
    assert "2015 Edition" not in _text("CRT-008")
    assert find_rule("INT-026").fail_status == "warn" and "RECOMMENDED" in _cites("INT-026")  # type: ignore[union-attr]
    assert find_rule("CRT-006").fail_status == "warn" and "30 June 2025" in _cites("CRT-006")  # type: ignore[union-attr]


def _claims_only(claims: dict) -> Evidence:
    return Evidence.model_validate(
        {
            "tool_version": "test",
            "target": {"base_url": "https://ehr.example.test/fhir"},
            "started_at": "2026-06-01T00:00:00Z",
            "finished_at": "2026-06-01T00:00:01Z",
            "probes": {
                "availability": ProbeAttempt(status=AttemptStatus.completed, data={"reachable": True, "server_errors": 0}),
                "transport": ProbeAttempt(status=AttemptStatus.completed, data={"scheme": "https"}),
            },
            "claims": claims,
        }
    )


def test_a_proposed_rule_is_reported_but_never_scored_or_gated() -> None:
    result = score_evidence(
        _claims_only({"claims_version": 1, "hipaa": {"mfa_users": False, "mfa_admins": False}}), dt.date(2026, 6, 1)
    )
    mfa = next(f for f in result.findings if f.rule_id == "HIP-018")
    assert mfa.proposed and mfa.status.value == "warn"
    proposed = next(p for p in result.packs if p.pack == "hipaa-proposed")
    assert proposed.score is None and proposed.not_judged.startswith("proposed rule, not in force")
    assert all("HIP-018" not in reason for reason in gate_failures(result, None, Severity.info))


def test_without_a_claims_file_the_serious_unobserved_rules_become_questions() -> None:
    result = score_evidence(_claims_only(None), dt.date(2026, 6, 1))  # type: ignore[arg-type]
    asked = {q.rule_id: q.reason for q in result.vendor_questions}
    # BAA, MFA, encryption at rest, breach notification, audit logs
    for rid in ("HIP-017", "HIP-018", "HIP-019", "HIP-022", "HIP-020"):
        assert asked.get(rid) == "not_observed", (rid, asked.get(rid))
