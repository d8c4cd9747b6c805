"""The report's "User launches" section, from the launch evidence and the launch rules' findings.
Pure; says how strong the evidence is: a standalone launch that read the patient's chart with the
patient's own token is *verified* patient app access, not just advertised."""

from __future__ import annotations

from typing import Any

from ehrcheck.evidence.ids import ProbeId
from ehrcheck.models import AttemptStatus, Evidence, Finding, Status
from ehrcheck.rules.schema import all_rules

HOW = "No user launch was run: ehrcheck launch URL (or audit --launch standalone|ehr) with an app registration runs one; see docs/launch.md."


def launch_rule_ids() -> list[str]:
    return [r.id for r in all_rules() if ProbeId.launch in r.needs]


def patient_access_verified(evidence: Evidence, findings: list[Finding]) -> bool:
    """A standalone launch completed and the patient's token read the patient's record (PRT-400, PRT-402)."""
    status = {f.rule_id: f.status for f in findings}
    return status.get("PRT-400") == Status.passed and status.get("PRT-402") == Status.passed


def launch_summary(evidence: Evidence, findings: list[Finding]) -> dict[str, Any]:
    attempt = evidence.probes.get(ProbeId.launch)
    if attempt is None:
        return {"ran": False, "note": HOW, "rows": []}
    if attempt.status != AttemptStatus.completed:
        return {
            "ran": False,
            "note": f"The user launch {attempt.status.value}: {attempt.reason or 'no reason given'}.",
            "rows": [],
        }
    data = attempt.data
    ids = set(launch_rule_ids())
    rows = [
        {"rule": f.rule_id, "title": f.title, "status": f.status.value, "message": f.message}
        for f in findings
        if f.rule_id in ids and f.status != Status.not_applicable
    ]
    rows.sort(key=lambda r: r["rule"])
    client = data.get("client") or {}
    verified = patient_access_verified(evidence, findings)
    n = data.get("authorizations", 0)
    return {
        "ran": True,
        "note": (
            f"{'An EHR' if data.get('mode') == 'ehr' else 'A standalone'} launch as a {client.get('client_type', 'registered')} app "
            f"({n} authorization{'' if n == 1 else 's'})."
        ),
        "strength": "verified" if verified else "observed",
        "strength_note": (
            "Patient app access is verified: a patient signed in, and the app read the patient's record with the patient's own token."
            if verified
            else "What the launch showed is observed behaviour; patient app access is verified only when a standalone launch reads the patient's record."
        ),
        "rows": rows,
    }
