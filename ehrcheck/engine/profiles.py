"""Practice profiles: what matters to a solo office, a hospital or an FQHC, as data.

A profile sets the pack weights of the overall score, multiplies the weight of the rules that
matter more to that kind of practice (bulk export and exchange for a hospital, HIPAA basics for a
solo office), names the rules the practice cannot do without, and says in plain words what each
verdict means for it. Everything here is pure: (profile, findings, verdict) in, values out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ehrcheck.models import Finding, PracticeProfile, ProfileRequirement, Status, Verdict

# Rule groups the profiles weigh up. Ids are stable (never reused), so naming them here is safe;
# tests check that every id exists.
BULK = ("INT-014", "INT-015", "INT-016", "INT-031", "INT-103")
EXCHANGE = ("INT-006", "INT-007", "INT-010", "INT-011", "INT-012", "INT-032", "INT-104")
# Current law only: MFA (HIP-018) is in the proposed-rule pack, which is never scored.
HIPAA_BASICS = ("HIP-001", "HIP-002", "HIP-012", "HIP-013", "HIP-017", "HIP-019", "HIP-021", "HIP-022")
CERTIFICATION_GATES = ("CRT-001", "CRT-002", "CRT-003", "CRT-004")


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    description: str
    pack_weights: Mapping[str, float]
    required: tuple[str, ...] = ()
    rule_factors: Mapping[str, float] = field(default_factory=dict)
    meanings: Mapping[str, str] = field(default_factory=dict)
    address: str = ""  # "For a solo practice": leads a general meaning the profile does not word itself


def _factors(factor: float, *groups: tuple[str, ...]) -> dict[str, float]:
    return {rule_id: factor for group in groups for rule_id in group}


GENERAL_MEANINGS = {
    "siloed_emr": "It can keep one practice's chart, but it does not share it through the standard APIs that other providers, patients' apps and certification rely on.",
    "interoperable_ehr": "It shares the chart through standard APIs; confirm its certification before counting on it for CMS Promoting Interoperability.",
    "certified_ehr_ready": "It shares the chart through standard APIs and shows every certification signal ehrcheck checks.",
    "unknown": "Too little could be observed to judge it; get the answers to the questions below before deciding.",
    "unsafe": "Do not connect it or load patient data until the safety blockers above are fixed, whatever else it offers.",
    "limited_ehr": "It has a standard FHIR API, but the API does not show that the patient chart comes out of it; ask which patient data it serves before counting on it for sharing or patient access.",
    "outdated_ehr": "It shares the chart, but through an API version that (g)(10) certification no longer accepts; ask when its FHIR R4 API with US Core 6.1.0 arrives before counting on it for CMS Promoting Interoperability.",
}

PROFILES: dict[str, Profile] = {
    "default": Profile(
        name="default",
        title="General (no practice profile)",
        description="Balanced weights for any practice; no rule is singled out as required.",
        pack_weights={"interoperability": 35, "portal": 15, "certification": 25, "hipaa": 25},
        meanings=GENERAL_MEANINGS,
    ),
    "solo": Profile(
        name="solo",
        address="For a solo practice",
        title="Solo practice",
        description="One clinician and a small staff, no IT department: patient access and the HIPAA basics the vendor must carry weigh most.",
        pack_weights={"interoperability": 20, "portal": 30, "certification": 20, "hipaa": 30},
        required=("HIP-001", "HIP-012", "HIP-017", "PRT-010"),
        rule_factors=_factors(1.5, HIPAA_BASICS),
        meanings={
            "siloed_emr": "For a solo practice this is a digital chart only: your patients cannot pull their records into their own apps, you would share records by fax or PDF, and it will not carry you through MIPS Promoting Interoperability.",
            "interoperable_ehr": "For a solo practice this covers day-to-day sharing and patient access; before you count on it for MIPS, get its CHPL number and CMS EHR Certification ID in writing.",
            "certified_ehr_ready": "For a solo practice this covers patient access, sharing and certification; settle the BAA and security answers below before you sign.",
            "unknown": "ehrcheck could not see enough to advise a solo practice; send the vendor the questions below before deciding.",
        },
    ),
    "small-group": Profile(
        name="small-group",
        address="For a small group",
        title="Small group practice (2-10 clinicians)",
        description="A few clinicians sharing one chart: patient access, HIPAA basics and standard APIs weigh about equally.",
        pack_weights={"interoperability": 30, "portal": 25, "certification": 20, "hipaa": 25},
        required=("HIP-001", "HIP-012", "HIP-017", "INT-017", "PRT-010"),
        rule_factors=_factors(1.25, HIPAA_BASICS),
        meanings={
            "siloed_emr": "For a small group this keeps a shared chart inside the practice only: referrals, patients' apps and MIPS Promoting Interoperability would all need workarounds.",
            "interoperable_ehr": "For a small group this shares records through standard APIs; confirm certification before you rely on it for MIPS reporting.",
            "certified_ehr_ready": "For a small group this covers sharing, patient access and certification; close the open HIPAA questions below before you sign.",
            "unknown": "ehrcheck could not see enough to advise a small group; send the vendor the questions below.",
        },
    ),
    "multi-specialty": Profile(
        name="multi-specialty",
        address="For a multi-specialty group",
        title="Multi-specialty group",
        description="Many specialties and referral partners: exchange with other systems and population-level (bulk) export weigh double.",
        pack_weights={"interoperability": 40, "portal": 15, "certification": 25, "hipaa": 20},
        required=("HIP-012", "HIP-017", "INT-006", "INT-014", "INT-017"),
        rule_factors=_factors(2.0, BULK, EXCHANGE),
        meanings={
            "siloed_emr": "For a multi-specialty group this cannot share the chart across specialties and referral partners through standard APIs, and offers no population-level export.",
            "interoperable_ehr": "For a multi-specialty group this shares records through standard APIs; check bulk export and certification below before relying on it for population health and MIPS.",
            "certified_ehr_ready": "For a multi-specialty group this shares records, offers bulk export for population health, and shows every certification signal ehrcheck checks.",
            "unknown": "ehrcheck could not see enough to advise a multi-specialty group; send the vendor the questions below.",
        },
    ),
    "hospital": Profile(
        name="hospital",
        address="For a hospital",
        title="Hospital",
        description="Medicare Promoting Interoperability requires certified EHR technology; exchange and bulk export weigh double.",
        pack_weights={"interoperability": 40, "portal": 10, "certification": 30, "hipaa": 20},
        required=("CRT-001", "CRT-002", "HIP-012", "HIP-017", "INT-014"),
        rule_factors=_factors(2.0, BULK, EXCHANGE),
        meanings={
            "siloed_emr": "For a hospital this cannot be the system of record: it does not share the chart through the standard APIs certified EHR technology must offer, so it cannot support the Medicare Promoting Interoperability program.",
            "interoperable_ehr": "For a hospital this shares records through standard APIs, but a hospital must report with certified EHR technology and ehrcheck could not confirm every certification gate: settle that before contracting.",
            "certified_ehr_ready": "For a hospital this shows the certification, exchange and bulk export signals ehrcheck checks; confirm ADT notifications and the HIPAA answers below.",
            "unknown": "ehrcheck could not see enough to advise a hospital; send the vendor the questions below.",
        },
    ),
    "fqhc": Profile(
        name="fqhc",
        address="For an FQHC",
        title="Federally Qualified Health Center",
        description="Certification is mandatory: an FQHC reports quality and Promoting Interoperability measures that need certified EHR technology.",
        pack_weights={"interoperability": 25, "portal": 20, "certification": 35, "hipaa": 20},
        required=("CRT-001", "CRT-002", "CRT-003", "HIP-017"),
        rule_factors=_factors(1.5, CERTIFICATION_GATES),
        meanings={
            "siloed_emr": "For an FQHC this is not usable as the health center's EHR: it does not share data through the standard APIs certified EHR technology must offer.",
            "interoperable_ehr": "For an FQHC certification is mandatory, and ehrcheck could not confirm every certification gate: do not sign until the vendor's CHPL listing covers the Base EHR criteria.",
            "certified_ehr_ready": "For an FQHC this shows the certification signals a health center needs; confirm the CMS EHR Certification ID you will report with.",
            "unknown": "ehrcheck could not see enough to advise an FQHC; certification must be confirmed before anything else.",
        },
    ),
    "behavioral-health": Profile(
        name="behavioral-health",
        address="For a behavioral health practice",
        title="Behavioral health practice",
        description="Sensitive records: the HIPAA program (BAA, audit controls, breach notice) weighs most; ask about 42 CFR Part 2 consent and data segmentation.",
        pack_weights={"interoperability": 20, "portal": 20, "certification": 20, "hipaa": 40},
        required=("HIP-012", "HIP-017", "HIP-020", "HIP-022"),
        rule_factors={**_factors(1.5, HIPAA_BASICS), "HIP-020": 1.5},
        meanings={
            "siloed_emr": "For a behavioral health practice this keeps records in one place and shares little; that limits exposure but also coordination with primary care, and it will not support Promoting Interoperability.",
            "interoperable_ehr": "For a behavioral health practice this shares records through standard APIs; make sure it can segment and withhold 42 CFR Part 2 records before you turn sharing on.",
            "certified_ehr_ready": "For a behavioral health practice this shows the sharing and certification signals ehrcheck checks; confirm 42 CFR Part 2 consent handling and the HIPAA answers below.",
            "unknown": "ehrcheck could not see enough to advise a behavioral health practice; send the vendor the questions below.",
        },
    ),
}

NAMES = tuple(PROFILES)


def get_profile(name: str) -> Profile:
    """The named profile; ValueError (listing the known names) for anything else."""
    key = (name or "default").strip().lower()
    if key not in PROFILES:
        raise ValueError(f"unknown profile '{name}'; choose from {', '.join(NAMES)}")
    return PROFILES[key]


def weigh(profile: Profile, findings: list[Finding]) -> list[Finding]:
    """The findings with each weight multiplied by the profile's factor for that rule."""
    return [
        f.model_copy(update={"weight": round(f.weight * profile.rule_factors[f.rule_id], 2)})
        if f.rule_id in profile.rule_factors
        else f
        for f in findings
    ]


MET = {
    Status.passed: "met",
    Status.fail: "unmet",
    Status.warn: "unmet",
    Status.not_observed: "open",
    Status.unverified: "open",
    Status.not_applicable: "not_applicable",
}


def requirements(profile: Profile, findings: list[Finding]) -> list[ProfileRequirement]:
    by_id = {f.rule_id: f for f in findings}
    return [
        ProfileRequirement(rule_id=rid, title=by_id[rid].title, status=by_id[rid].status, met=MET[by_id[rid].status])
        for rid in profile.required
        if rid in by_id
    ]


def summary(profile: Profile, findings: list[Finding]) -> PracticeProfile:
    return PracticeProfile(
        name=profile.name,
        title=profile.title,
        description=profile.description,
        pack_weights=dict(profile.pack_weights),
        requirements=requirements(profile, findings),
    )


def meaning(profile: Profile, verdict: Verdict, findings: list[Finding]) -> str:
    """What the verdict means for this practice, in plain words: the profile's sentence for the
    level, then the required rules it misses or leaves open, then any contradicted claims."""
    own = profile.meanings.get(verdict.level)
    general = GENERAL_MEANINGS.get(verdict.level, "")
    if not own and general and profile.address:
        own = f"{profile.address}: {general[0].lower()}{general[1:]}"
    parts = [own or general]
    reqs = requirements(profile, findings)
    unmet = [r.title for r in reqs if r.met == "unmet"]
    open_ = [r.title for r in reqs if r.met == "open"]
    who = re.sub(r"\s*\(.*\)", "", profile.title).lower() if profile.name != "default" else "practice"
    if unmet:
        it = "it" if len(unmet) == 1 else "them"
        parts.append(f"Failed, and a {who} cannot do without {it}: {'; '.join(unmet)}.")
    if open_:
        parts.append(f"Not confirmed, so get it in writing before signing: {'; '.join(open_)}.")
    contradicted = [f for f in findings if f.claim is not None and f.claim.outcome == "contradicted"]
    if contradicted:
        n = len(contradicted)
        parts.append(
            f"The vendor's own claims were contradicted by its server {n} time{'s' if n > 1 else ''}; "
            "verify its other claims before relying on them."
        )
    return " ".join(p for p in parts if p)
