"""The verdict invariants (issue 13), as one function the panel and the property tests share.

Each returns a list of broken promises (empty when the run is sound), so a failure names them all.
"""

from __future__ import annotations

import re

from ehrcheck.engine.verdict import LABELS
from ehrcheck.models import AttemptStatus, Evidence, RunResult, Status

EHR_LEVELS = ("limited_ehr", "outdated_ehr", "interoperable_ehr", "certified_ehr_ready")
# Versions the rules may name as the requirement even where the server does not declare them.
REQUIRED_US_CORE = {"6.1.0", "7.0.0"}
US_CORE_VERSION = re.compile(r"US Core (\d+\.\d+\.\d+)")
FHIR_RELEASE = re.compile(r"\bFHIR (DSTU2|STU3|R4B|R4|R5)\b")


def _declared_us_core(evidence: Evidence) -> set[str]:
    cap = evidence.probes.get("capability")
    if cap is None or cap.status != AttemptStatus.completed:
        return set()
    text = (
        " ".join(str(p) for p in cap.data.get("supported_profiles") or [])
        + " "
        + " ".join(str(i) for i in cap.data.get("instantiates") or [])
    )
    return set(re.findall(r"\|(\d+\.\d+\.\d+)", text))


def _api_seen(evidence: Evidence) -> bool:
    cap = evidence.probes.get("capability")
    declared = cap is not None and cap.status == AttemptStatus.completed and bool(cap.data.get("found"))
    access = evidence.probes.get("access")
    leaked = (
        access is not None
        and access.status == AttemptStatus.completed
        and bool((access.data.get("patient_search") or {}).get("returned_patient_data"))
    )
    return declared or leaked


def broken(evidence: Evidence, result: RunResult) -> list[str]:
    v = result.verdict
    by_id = {f.rule_id: f for f in result.findings}
    problems = []
    reachable = bool((evidence.probes.get("availability") or type("A", (), {"data": {}})).data.get("reachable"))
    # 1. Never siloed when any FHIR API is declared or observed.
    if _api_seen(evidence) and v.level == "siloed_emr":
        problems.append("siloed although a FHIR API was declared or observed")
    # 2. Never interoperable or certified-ready while a safety blocker fails; a blocker leads.
    blockers = [f for f in result.findings if f.gate == "safe" and f.status == Status.fail and not f.proposed]
    if blockers and reachable and v.level != "unsafe":
        problems.append(f"level {v.level} while safety blockers failed: {[f.rule_id for f in blockers]}")
    if blockers and reachable and not v.sentence.startswith("Do not connect"):
        problems.append("a failed safety blocker does not lead the sentence")
    # 3. Every fact names a finding of the same run, with that finding's status.
    if [r.text for r in v.reasons] != v.facts:
        problems.append("facts and reasons disagree")
    for r in v.reasons + [x for a in (v.shares, v.safe, v.certification) if a for x in a.reasons]:
        f = by_id.get(r.rule_id)
        if f is None:
            problems.append(f"fact names {r.rule_id}, which is not a finding of this run")
        elif f.status != r.status:
            problems.append(f"fact on {r.rule_id} says {r.status.value}, the finding is {f.status.value}")
    # 4. No fact mentions a standard version the server does not declare (or the rules require).
    declared = _declared_us_core(evidence)
    cap = evidence.probes.get("capability")
    release = str(cap.data.get("fhir_release")) if cap is not None and cap.status == AttemptStatus.completed else ""
    for text in v.facts + [v.sentence]:
        for version in US_CORE_VERSION.findall(text):
            if version not in declared | REQUIRED_US_CORE:
                problems.append(f"'{text}' names US Core {version}, which the server does not declare")
        for named in FHIR_RELEASE.findall(text):
            if named not in (release, "R4"):
                problems.append(f"'{text}' names FHIR {named}; the server declares {release or 'nothing'}")
    # 5. Label, sentence and answers agree with each other and with the matrix.
    if v.label != LABELS.get(v.level):
        problems.append(f"label {v.label!r} is not the label of level {v.level}")
    if v.shares and v.shares.sentence and reachable and v.shares.sentence not in v.sentence:
        problems.append("the sentence leaves out the sharing answer")
    if v.shares and v.shares.answer in ("yes", "outdated", "limited") and v.level in ("siloed_emr",):
        problems.append("shares the chart, yet siloed")
    if v.level in EHR_LEVELS and v.shares and v.shares.answer not in ("yes", "outdated", "limited"):
        problems.append(f"level {v.level} but shares is {v.shares.answer}")
    if v.level == "certified_ehr_ready" and (not v.certification or v.certification.answer != "ready"):
        problems.append("certified-ready without every certification gate passing")
    ehr_rows = [m for m in result.matrix if m.marks == "EHR" and m.state in ("declared", "observed", "verified")]
    if v.level == "siloed_emr" and any(m.key == "demographics" for m in ehr_rows):
        problems.append("siloed while the matrix shows demographics shared")
    observed_rows = [
        m.key
        for m in result.matrix
        if m.state in ("observed", "verified") and m.key not in ("onc_certification", "population_health")
    ]
    if observed_rows and not (v.evidence and v.evidence.strength in ("observed", "verified")):
        problems.append(
            f"matrix rows {observed_rows} are observed but the verdict's evidence is {v.evidence and v.evidence.strength}"
        )
    # 6. Proposed rules never reach a score.
    for p in result.packs:
        if p.pack == "hipaa-proposed" and p.score is not None:
            problems.append("the proposed-rule pack was scored")
    return problems
