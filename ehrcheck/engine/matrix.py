"""The EMR-vs-EHR capability matrix: a pure function of the evidence (with its claims) and findings.

An EMR keeps one practice's chart; an EHR shares it. Each row says how strong the evidence for a
capability is (ehrcheck.models.Strength): *declared* (a CapabilityStatement, SMART discovery or
CHPL listing lists it), *observed* (a probe got a real answer: data, or a refusal of the right kind),
*verified* (the authenticated probes got conforming data), only *claimed* by the vendor,
*contradicted* (claims against evidence, or declared against observed), *missing*, or not judged;
and whether that marks an EMR or an EHR. Declared is never shown as observed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ehrcheck.engine.evaluate import claimed_text
from ehrcheck.models import STRENGTH_ORDER, AttemptStatus, Evidence, Finding, MatrixRow, Status, Strength

READABLE = {"read", "search-type"}
EHR_STRENGTHS = ("declared", "observed", "verified")


@dataclass(frozen=True)
class Facts:
    """What the rows read, gathered once."""

    capability: dict[str, Any] | None  # the CapabilityStatement facts, None when not observed
    capability_observed: bool  # the metadata probe completed (found or not)
    smart: list[str]
    claims: dict[str, Any]
    certified: set[str] | None  # criteria of Active CHPL listings; None when CHPL was not looked up
    findings: dict[str, Finding]
    seen: dict[str, Strength]  # resource type -> observed / verified, from data that came back
    patient_search_status: int | None  # what an anonymous GET Patient answered

    def claim(self, path: str) -> Any:
        cur: Any = self.claims
        for part in path.split("."):
            cur = cur.get(part) if isinstance(cur, dict) else None
        return cur

    def status(self, rule_id: str) -> Status | None:
        f = self.findings.get(rule_id)
        return f.status if f else None

    def contradicted(self, *rule_ids: str) -> list[Finding]:
        return [
            f for rid in rule_ids if (f := self.findings.get(rid)) and f.claim is not None and f.claim.outcome == "contradicted"
        ]


def _criterion(text: str) -> str:
    t = str(text).replace(" ", "").lower()
    return t[len("170.315") :] if t.startswith("170.315") else t


def facts(evidence: Evidence, findings: list[Finding]) -> Facts:
    probes = evidence.probes
    cap_attempt = probes.get("capability")
    cap_ok = cap_attempt is not None and cap_attempt.status == AttemptStatus.completed
    cap = cap_attempt.data if cap_ok and cap_attempt.data.get("found") else None  # type: ignore[union-attr]
    smart_attempt = probes.get("smart")
    smart = []
    if smart_attempt is not None and smart_attempt.status == AttemptStatus.completed:
        smart = [str(c) for c in smart_attempt.data.get("capabilities") or []]
    chpl_attempt = probes.get("chpl")
    certified: set[str] | None = None
    if chpl_attempt is not None and chpl_attempt.status == AttemptStatus.completed:
        listings = [x for x in chpl_attempt.data.get("listings") or [] if isinstance(x, dict)]
        certified = {
            _criterion(c)
            for x in listings
            if str(x.get("status", "")).strip().lower() == "active"
            for c in x.get("criteria_met") or []
        }
    access = probes.get("access")
    search = (access.data.get("patient_search") or {}) if access is not None and access.status == AttemptStatus.completed else {}
    return Facts(
        capability=cap,
        capability_observed=cap_ok,
        smart=smart,
        claims=evidence.claims or {},
        certified=certified,
        findings={f.rule_id: f for f in findings},
        seen=_seen(evidence, search),
        patient_search_status=search.get("http_status") if isinstance(search.get("http_status"), int) else None,
    )


def _seen(evidence: Evidence, search: dict[str, Any]) -> dict[str, Strength]:
    """Resource types that came back as data: verified when the US Core checks found them
    structurally valid with their mandatory elements, observed otherwise."""
    seen: dict[str, Strength] = {}
    uscore = evidence.probes.get("uscore")
    if uscore is not None and uscore.status == AttemptStatus.completed:
        for result in (uscore.data.get("profiles") or {}).values():
            if not isinstance(result, dict) or not result.get("resources"):
                continue
            rtype = str(result.get("resource"))
            good = not result.get("structure_invalid") and not result.get("resources_missing_mandatory")
            strength: Strength = "verified" if good and seen.get(rtype, "verified") == "verified" else "observed"
            seen[rtype] = strength
    if search.get("returned_patient_data"):
        for rtype in search.get("entry_types") or ["Patient"]:
            seen.setdefault(str(rtype), "observed")
    return seen


def _declared(f: Facts, resources: tuple[str, ...]) -> list[str]:
    """'Patient (read, search-type)' for each listed resource the API serves."""
    declared = (f.capability or {}).get("resources") or {}
    out = []
    for name in resources:
        interactions = [i for i in (declared.get(name) or {}).get("interactions") or [] if i in READABLE]
        if interactions:
            out.append(f"{name} ({', '.join(sorted(interactions))})")
    return out


def _said(value: Any) -> bool:
    """A claim that says the capability is there: yes, a name, a non-empty list, not 'none'."""
    if isinstance(value, list):
        return bool(value)
    if isinstance(value, str):
        return value.strip().lower() not in ("", "none", "no")
    return value is True


def _denied(value: Any) -> bool:
    """A claim that says the capability is not there: no, none, false."""
    if isinstance(value, str):
        return value.strip().lower() in ("none", "no")
    return value is False


def _claims_text(f: Facts, paths: dict[str, str]) -> str:
    """'Direct messaging: yes; HIE: CRISP' for the answered paths (label -> path)."""
    parts = []
    for label, path in paths.items():
        value = f.claim(path)
        if value is None:
            continue
        parts.append(f"{label}: {claimed_text(value) or 'none'}")
    return "; ".join(parts)


def _row(
    key: str,
    capability: str,
    *,
    shown: list[str],
    strength: Strength = "declared",
    missing_note: str,
    claimed: str,
    claimed_yes: bool,
    claimed_no: bool = False,
    contradicted: list[Finding],
    conflict: str = "",
    can_observe: bool,
) -> MatrixRow:
    """One row. `shown` is what the evidence shows and `strength` how strongly; `conflict` a
    declared-against-observed or claimed-against-declared disagreement."""
    if contradicted:
        return MatrixRow(
            key=key,
            capability=capability,
            state="contradicted",
            marks="EMR",
            evidence=" ".join(f"{c.rule_id}: {c.message}" for c in contradicted),
            claimed=claimed,
            note="The vendor claims it, but what the server shows contradicts the claim.",
        )
    if conflict:
        return MatrixRow(
            key=key,
            capability=capability,
            state="contradicted",
            marks="unknown",
            evidence=conflict,
            claimed=claimed,
            note="Two sources disagree; ask the vendor which is right.",
        )
    if shown:
        return MatrixRow(
            key=key,
            capability=capability,
            state=strength,
            marks="EHR",
            evidence="; ".join(shown),
            claimed=claimed,
            note={
                "declared": "Declared: the product's documents list it; no data was seen.",
                "observed": "Observed: a real answer came back through standard interfaces.",
                "verified": "Verified: conforming data came back through the authenticated checks.",
            }.get(strength, ""),
        )
    if claimed_yes and not claimed_no:
        return MatrixRow(
            key=key,
            capability=capability,
            state="claimed",
            marks="EHR",
            evidence=missing_note if can_observe else "",
            claimed=claimed,
            note="Claimed by the vendor, not observed: an EHR capability if the claim holds.",
        )
    if not can_observe:
        return MatrixRow(
            key=key,
            capability=capability,
            state="unknown",
            marks="unknown",
            evidence=missing_note,
            claimed=claimed,
            note="Could not be observed, and the vendor does not claim it.",
        )
    return MatrixRow(
        key=key,
        capability=capability,
        state="missing",
        marks="EMR",
        evidence=missing_note,
        claimed=claimed,
        note="Not shared: kept inside the product, as an EMR keeps its chart.",
    )


def _chart_row(
    f: Facts, key: str, capability: str, resources: tuple[str, ...], claims: dict[str, str], denies: tuple[str, ...] = ()
) -> MatrixRow:
    """A kind of chart data: declared when the CapabilityStatement lists its resources as
    readable, observed or verified when such resources actually came back. `denies` names the
    claims whose "no" speaks to the same capability, so that a declaration against it is a
    contradiction (an interface the vendor lacks says nothing about its FHIR API)."""
    listed = _declared(f, resources)
    came = {r: f.seen[r] for r in resources if r in f.seen}
    claimed = _claims_text(f, claims)
    claimed_no = any(_denied(f.claim(p)) for p in denies)
    if f.capability is None:
        why = "No FHIR CapabilityStatement was returned." if f.capability_observed else "The FHIR metadata could not be read."
    else:
        why = f"The FHIR API does not serve {' or '.join(resources)}."
    shown: list[str] = []
    strength: Strength = "declared"
    conflict = ""
    if came:
        strength = max(came.values(), key=lambda s: STRENGTH_ORDER[s])
        verb = "conforming US Core data came back" if strength == "verified" else "came back as data"
        shown.append(f"{', '.join(sorted(came))} {verb}")
    elif listed:
        template = (
            " (kind: capability, a product template, not this deployment)"
            if (f.capability or {}).get("kind") == "capability"
            else ""
        )
        shown.append(f"The CapabilityStatement lists {', '.join(listed)}{template}")
        if "Patient" in resources and any(x.startswith("Patient") for x in listed) and f.patient_search_status == 404:
            conflict = f"Declared against observed: the CapabilityStatement lists {listed[0]}, but GET Patient answered 404."
        elif claimed_no:
            conflict = (
                f"The vendor says it is not offered ({claimed}), but the CapabilityStatement lists {', '.join(listed)}{template}."
            )
    return _row(
        key,
        capability,
        shown=shown,
        strength=strength,
        missing_note=why,
        claimed=claimed,
        claimed_yes=any(_said(f.claim(p)) for p in claims.values()),
        contradicted=[],
        conflict=conflict,
        can_observe=f.capability_observed,
    )


def _certified_row(
    f: Facts, key: str, capability: str, criteria: dict[str, str], claims: dict[str, str], contradicting: tuple[str, ...] = ()
) -> MatrixRow:
    """A capability only CHPL (or the vendor) can speak to."""
    claimed = _claims_text(f, claims)
    if f.certified is None:
        observed: list[str] = []
        note = "CHPL was not looked up (use --chpl-id or --chpl-file)."
    else:
        have = [label for crit, label in criteria.items() if crit in f.certified]
        observed = [f"An Active CHPL listing is certified to {', '.join(have)}"] if have else []
        note = f"No Active CHPL listing is certified to {', '.join(criteria.values())}."
    return _row(
        key,
        capability,
        shown=observed,
        strength="declared",
        missing_note=note,
        claimed=claimed,
        claimed_yes=any(_said(f.claim(p)) for p in claims.values()),
        contradicted=f.contradicted(*contradicting),
        can_observe=f.certified is not None,
    )


def _portal(f: Facts) -> MatrixRow:
    claims = {
        "portal": "portal.offered",
        "view/download/transmit": "portal.view_download_transmit",
        "patients' own apps": "portal.third_party_app_access",
    }
    standalone = [c for c in ("launch-standalone", "context-standalone-patient", "permission-patient") if c in f.smart]
    observed = []
    if "launch-standalone" in standalone:
        observed.append(f"SMART discovery lists {', '.join(standalone)} (patients connect their own apps)")
    if f.certified is not None and "(e)(1)" in f.certified:
        observed.append("An Active CHPL listing is certified to (e)(1) view, download and transmit")
    # User launches (issue 15): a standalone launch that read the patient's record is verified access.
    launched = f.status("PRT-400") == Status.passed and f.status("PRT-402") == Status.passed
    if launched:
        observed.insert(
            0, "Verified: a standalone SMART launch read the patient's record with the patient's own token (PRT-400, PRT-402)"
        )
    return _row(
        "patient_portal",
        "Patient portal and patients' apps",
        shown=observed,
        strength="verified" if launched else "declared",
        missing_note="SMART discovery does not advertise the standalone patient launch.",
        claimed=_claims_text(f, claims),
        # A portal that gives patients neither their record nor app access is a front desk, not EHR access.
        claimed_yes=_said(f.claim("portal.view_download_transmit")) or _said(f.claim("portal.third_party_app_access")),
        contradicted=f.contradicted("PRT-100"),
        can_observe=True,
    )


def _bulk(f: Facts) -> MatrixRow:
    cap = f.capability or {}
    resources = cap.get("resources") or {}
    system = {str(o).lstrip("$").lower() for o in cap.get("system_operations") or []}
    levels = [
        level
        for level, present in (
            (
                "Group",
                "export" in {str(o).lstrip("$").lower() for o in (resources.get("Group") or {}).get("operations") or []}
                or "group-export" in system,
            ),
            (
                "Patient",
                "export" in {str(o).lstrip("$").lower() for o in (resources.get("Patient") or {}).get("operations") or []}
                or "patient-export" in system,
            ),
            ("system", "export" in system),
        )
        if present
    ]
    claims = {"Bulk Data": "standards.bulk_data", "population health": "reporting.population_health"}
    shown = [f"$export declared at {', '.join(levels)} level"] if levels else []
    strength: Strength = "declared"
    completed, files = f.findings.get("INT-312"), f.findings.get("INT-314")
    if completed is not None and completed.status == Status.passed:
        strength = "verified" if files is not None and files.status == Status.passed else "observed"
        shown = [
            "an authenticated export completed" + (" and its NDJSON files held valid resources" if strength == "verified" else "")
        ]
    return _row(
        "population_health",
        "Population health (bulk export)",
        shown=shown,
        strength=strength,
        missing_note="No $export operation is declared."
        if f.capability is not None
        else "No FHIR CapabilityStatement was returned.",
        claimed=_claims_text(f, claims),
        claimed_yes=any(_said(f.claim(p)) for p in claims.values()),
        contradicted=f.contradicted("INT-103"),
        can_observe=f.capability_observed,
    )


def _hipaa(f: Facts) -> MatrixRow:
    """A HIPAA program cannot be observed from outside: the row is what the vendor attests, with
    the technical safeguards that were actually observed beside it. It is never "observed"."""
    safeguards = []
    problems = []
    for rule_id, good, bad in (
        ("HIP-001", "HTTPS", "plain HTTP"),
        ("HIP-005", "a trusted certificate", "an untrusted certificate"),
        ("HIP-012", "patient data refused without a login", "patient data served without a login"),
        ("HIP-013", "bulk export refused without a login", "bulk export started without a login"),
    ):
        finding = f.findings.get(rule_id)
        if finding is None:
            continue
        if finding.status == Status.passed:
            safeguards.append(good)
        elif finding.status == Status.fail:
            problems.append(bad)
    claims = {
        "BAA": "hipaa.baa_offered",
        "last risk analysis": "hipaa.last_risk_analysis",
        "audit logs (years)": "hipaa.audit_log_retention_years",
        "encryption at rest": "hipaa.encryption_at_rest",
    }
    claimed = _claims_text(f, claims)
    technical = (
        f"Technical safeguards observed: {', '.join(safeguards)}." if safeguards else "No technical safeguard could be observed."
    )
    if problems:
        technical = f"Observed against it: {'; '.join(problems)}." + (
            f" Also observed: {', '.join(safeguards)}." if safeguards else ""
        )
    contradicted = f.contradicted("HIP-100", "HIP-101")
    if contradicted or (problems and _said(f.claim("hipaa.baa_offered"))):
        return MatrixRow(
            key="hipaa_program",
            capability="HIPAA security program",
            state="contradicted",
            marks="EMR",
            evidence=" ".join([technical, *(f"{c.rule_id}: {c.message}" for c in contradicted)]),
            claimed=claimed,
            note="The vendor attests to a program, but the safeguards observed contradict it.",
        )
    if problems:
        return MatrixRow(
            key="hipaa_program",
            capability="HIPAA security program",
            state="missing",
            marks="EMR",
            evidence=technical,
            claimed=claimed,
            note="Basic safeguards for sharing patient data are missing.",
        )
    if _said(f.claim("hipaa.baa_offered")):
        return MatrixRow(
            key="hipaa_program",
            capability="HIPAA security program",
            state="claimed",
            marks="EHR",
            evidence=technical,
            claimed=claimed,
            note="Attested by the vendor (a program cannot be observed from outside); the technical safeguards beside it were observed.",
        )
    denied = _denied(f.claim("hipaa.baa_offered"))
    return MatrixRow(
        key="hipaa_program",
        capability="HIPAA security program",
        state="missing" if denied else "unknown",
        marks="EMR" if denied else "unknown",
        evidence=technical,
        claimed=claimed,
        note="The vendor does not offer a BAA."
        if denied
        else "A HIPAA program cannot be observed from outside; ask for the vendor's attestation (claims file).",
    )


def _onc(f: Facts) -> MatrixRow:
    claims = {
        "CHPL numbers": "product.chpl_product_numbers",
        "CMS EHR Certification ID": "certification.cms_ehr_certification_id",
    }
    crt = f.findings.get("CRT-001")
    observed = [f"CHPL: {crt.message}"] if crt is not None and crt.status == Status.passed else []
    note = (
        crt.message if crt is not None and crt.status == Status.fail else "CHPL was not looked up (use --chpl-id or --chpl-file)."
    )
    return _row(
        "onc_certification",
        "ONC certification (CEHRT)",
        shown=observed,
        strength="observed",
        missing_note=note,
        claimed=_claims_text(f, claims),
        claimed_yes=any(_said(f.claim(p)) for p in claims.values()),
        # An Active listing is still certification, even where CHPL contradicts some of the claims.
        contradicted=[] if observed else f.contradicted("CRT-007", "CRT-207"),
        can_observe=crt is not None and crt.status in (Status.passed, Status.fail),
    )


ROWS: tuple[Callable[[Facts], MatrixRow], ...] = (
    lambda f: _chart_row(f, "demographics", "Demographics", ("Patient",), {}),
    lambda f: _chart_row(f, "problems", "Problems and diagnoses", ("Condition",), {}),
    lambda f: _chart_row(
        f,
        "medications_allergies",
        "Medications and allergies",
        ("MedicationRequest", "AllergyIntolerance"),
        {"e-prescribing": "exchange.eprescribing"},
    ),
    lambda f: _chart_row(
        f, "lab_results", "Lab results", ("Observation", "DiagnosticReport"), {"lab interfaces": "exchange.lab_interfaces"}
    ),
    lambda f: _chart_row(
        f,
        "imaging_reports",
        "Imaging reports",
        ("DiagnosticReport", "ImagingStudy"),
        {"imaging interfaces": "exchange.imaging_interfaces"},
    ),
    lambda f: _chart_row(
        f, "immunizations", "Immunizations shared", ("Immunization",), {"immunization registry": "exchange.immunization_registry"}
    ),
    lambda f: _chart_row(
        f,
        "scheduling",
        "Scheduling",
        ("Appointment", "Slot", "Schedule"),
        {"online scheduling": "portal.scheduling"},
        denies=("portal.scheduling",),
    ),
    lambda f: _chart_row(
        f,
        "billing",
        "Billing integration",
        ("Coverage", "Claim", "ExplanationOfBenefit", "Account"),
        {"billing": "revenue_cycle.billing_integration", "X12": "revenue_cycle.x12"},
    ),
    lambda f: _certified_row(
        f,
        "exchange",
        "Records shared across providers (exchange)",
        {"(b)(1)": "(b)(1) transitions of care", "(h)(1)": "(h)(1) Direct messaging", "(h)(2)": "(h)(2) Direct messaging"},
        {"Direct": "exchange.direct_messaging", "C-CDA": "exchange.ccda", "HIE": "exchange.hie", "TEFCA": "exchange.tefca_qhin"},
    ),
    _portal,
    _bulk,
    lambda f: _certified_row(
        f,
        "compliance_reporting",
        "Compliance reporting (eCQM, Promoting Interoperability)",
        {"(c)(1)": "(c)(1) CQM record and export", "(c)(2)": "(c)(2) CQM import and calculate", "(c)(3)": "(c)(3) CQM report"},
        {
            "eCQMs": "reporting.ecqm",
            "MIPS": "reporting.mips",
            "Promoting Interoperability": "reporting.promoting_interoperability",
        },
    ),
    _onc,
    _hipaa,
)


def capability_matrix(evidence: Evidence, findings: list[Finding]) -> list[MatrixRow]:
    """The matrix rows, in report order."""
    f = facts(evidence, findings)
    return [row(f) for row in ROWS]


def tally(rows: list[MatrixRow]) -> dict[str, int]:
    """The one-line summary above the matrix: EHR marks by evidence strength (verified, observed,
    declared, only claimed), EMR marks, and rows that could not be judged."""
    ehr = [r for r in rows if r.marks == "EHR"]
    return {
        "verified": sum(1 for r in ehr if r.state == "verified"),
        "observed": sum(1 for r in ehr if r.state == "observed"),
        "declared": sum(1 for r in ehr if r.state == "declared"),
        "claimed": sum(1 for r in ehr if r.state == "claimed"),
        "shown": sum(1 for r in ehr if r.state in EHR_STRENGTHS),
        "emr": sum(1 for r in rows if r.marks == "EMR"),
        "unknown": sum(1 for r in rows if r.marks == "unknown"),
    }
