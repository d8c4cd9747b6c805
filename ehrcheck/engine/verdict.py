"""The verdict: four separate questions answered from the findings, and one line generated from them.

1. shares         Does it share the chart through a standard API? Any FHIR version, declared or
                  observed, makes it an EHR; an outdated version makes it an EHR with an outdated
                  API, not a silo. Only a product with no standard API at all is a siloed EMR.
2. safe           Is it safe to connect? Blockers (rules with `gate: safe`): FHIR data returned
                  without a token, an API that takes tokens over plain http, an invalid certificate.
3. certification  Is it ready for (g)(10) certification on the as-of date? (`gate: certified`)
4. evidence       How strong is the evidence? declared < observed < verified (ehrcheck.models.Strength).

The label, sentence and facts are generated from these answers, so they cannot disagree with each
other; a safety blocker leads whatever else holds. Every fact is tied to a finding of the same run
and carries that finding's status: problems name failed findings, support names passed ones.
Pure: findings and evidence in, a Verdict out. Sources: research/regulations.md, "Verdict".
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ehrcheck.models import AttemptStatus, Evidence, Finding, Status, Strength, Verdict, VerdictAnswer, VerdictFact

OPEN = (Status.not_observed, Status.unverified)
# Which failed blocker leads: patient data handed out first, then tokens in the clear, then certificates.
BLOCKER_ORDER = ("HIP-012", "HIP-013", "HIP-312", "HIP-023", "HIP-005", "HIP-006", "HIP-008")
OUTDATED_RELEASES = ("DSTU1", "DSTU2", "STU3")

# The level is what compare ranks and reports colour; the label is what a practice manager reads.
LABELS = {
    "unsafe": "Unsafe to connect",
    "siloed_emr": "Siloed EMR",
    "limited_ehr": "EHR with a limited API",
    "outdated_ehr": "EHR with an outdated API",
    "interoperable_ehr": "Interoperable EHR",
    "certified_ehr_ready": "Certified-EHR (CEHRT) ready",
    "unknown": "Not determined",
}
RANK = {
    "certified_ehr_ready": 6,
    "interoperable_ehr": 5,
    "outdated_ehr": 4,
    "limited_ehr": 3,
    "siloed_emr": 2,
    "unsafe": 1,
    "unknown": 0,
}
STRENGTH_WORDS = {
    "verified": "verified: the authenticated checks got conforming data",
    "observed": "observed: real answers came back",
    "declared": "declared only: the product's own documents list it, no patient data was seen",
    "claimed": "claimed only: the vendor's word",
    "unknown": "none: nothing could be observed",
}
# What to supply when a gate could not be observed (see engine/evaluate.NOT_OBSERVED_HINTS).
NEEDS_FLAG = {
    "chpl": "--chpl-id or --chpl-file",
    "endpoints": "--chpl-id, --chpl-file or --endpoints-bundle",
    "claims": "--claims FILE",
    "token": "--credentials FILE",
    "scopes": "--credentials FILE",
    "uscore": "--credentials FILE",
    "bulk": "--credentials FILE",
}

_FIRST_SENTENCE = re.compile(r"^(.+?[.!?])(?=\s+[A-Z(]|$)", re.DOTALL)


def _first_sentence(text: str) -> str:
    match = _FIRST_SENTENCE.match(text.strip())
    return (match.group(1) if match else text).strip()


def fact(f: Finding, strength: Strength) -> VerdictFact:
    """A finding in plain words: the first sentence of its message (the technical detail stays in
    the finding); an open finding says what was not observed and what it needs."""
    if f.status in OPEN:
        text = f"Not observed: {f.title[0].lower()}{f.title[1:]} ({needs_text(f) or _first_sentence(f.message)})."
    elif f.gate == "safe" and f.status == Status.fail:
        text = f.message.strip() or f.title  # a blocker's detail is the point: what came back, and how
    else:
        text = _first_sentence(f.message) or f.title
    return VerdictFact(text=text, rule_id=f.rule_id, status=f.status, strength=strength)


def needs_text(f: Finding) -> str:
    flags = sorted({NEEDS_FLAG[n] for n in f.probes if n in NEEDS_FLAG})
    return f"needs {' and '.join(flags)}" if flags else ""


def _capability(evidence: Evidence) -> dict[str, Any]:
    attempt = evidence.probes.get("capability")
    if attempt is None or attempt.status != AttemptStatus.completed:
        return {}
    return attempt.data if attempt.data.get("found") else {}


def _data_seen(by_id: dict[str, Finding], evidence: Evidence) -> tuple[Strength | None, Finding | None]:
    """How strongly chart data was seen coming out of the API, and the finding that shows it:
    verified when the authenticated US Core checks got conforming data, observed when FHIR
    resources came back at all (with a token, or without one from an unsafe server)."""
    structure, mandatory = by_id.get("INT-302"), by_id.get("INT-303")
    uscore = evidence.probes.get("uscore")
    resources = 0
    if uscore is not None and uscore.status == AttemptStatus.completed:
        resources = int(((uscore.data.get("totals") or {}).get("resources")) or 0)
    if resources and structure is not None:
        conforming = structure.status == Status.passed and (mandatory is None or mandatory.status == Status.passed)
        return ("verified" if conforming else "observed"), structure
    anonymous = by_id.get("HIP-012")
    access = evidence.probes.get("access")
    leaked = access is not None and bool((access.data.get("patient_search") or {}).get("returned_patient_data"))
    if leaked and anonymous is not None and anonymous.status == Status.fail:
        return "observed", anonymous
    return None, None


def _shares(by_id: dict[str, Finding], evidence: Evidence) -> VerdictAnswer:
    question = "Does it share the chart through a standard API?"
    cap = _capability(evidence)
    release = str(cap.get("fhir_release") or "unknown")
    api = f"FHIR {release}" if release != "unknown" else f"FHIR ({cap.get('fhir_version') or 'version not stated'})"
    metadata, patient, r4 = by_id.get("INT-001"), by_id.get("INT-006"), by_id.get("INT-002")
    seen, seen_by = _data_seen(by_id, evidence)
    reasons: list[VerdictFact] = []
    if seen_by is not None:
        reasons.append(fact(seen_by, seen or "observed"))
    if metadata is not None and metadata.status == Status.passed:
        strength: Strength = seen or "declared"
        reasons.insert(0, fact(metadata, "declared"))
        if release in OUTDATED_RELEASES:
            if r4 is not None and r4.status == Status.fail:
                reasons.append(fact(r4, "declared"))
            return VerdictAnswer(
                question=question,
                answer="outdated",
                label=f"Yes, through an outdated {api} API",
                strength=strength,
                reasons=reasons,
            )
        if (patient is not None and patient.status == Status.passed) or seen:
            if patient is not None and patient.status == Status.passed:
                reasons.append(fact(patient, "declared"))
            return VerdictAnswer(
                question=question, answer="yes", label=f"Yes, through a {api} API", strength=strength, reasons=reasons
            )
        if patient is not None:
            reasons.append(fact(patient, "declared"))
        return VerdictAnswer(
            question=question,
            answer="limited",
            label=f"Partly: a {api} API that does not declare patient records",
            strength=strength,
            reasons=reasons,
        )
    if seen:
        # No CapabilityStatement, yet FHIR resources came back: the API exists, observed.
        return VerdictAnswer(
            question=question, answer="yes", label="Yes, through a FHIR API (observed)", strength=seen, reasons=reasons
        )
    if metadata is not None and metadata.status == Status.fail:
        return VerdictAnswer(
            question=question,
            answer="no",
            label="No standard API: the chart stays inside the product",
            strength="missing",
            reasons=[fact(metadata, "missing")],
        )
    return VerdictAnswer(
        question=question,
        answer="unknown",
        label="Could not be determined",
        strength="unknown",
        reasons=[fact(metadata, "unknown")] if metadata is not None else [],
    )


def _safe(findings: list[Finding]) -> VerdictAnswer:
    question = "Is it safe to connect?"
    blockers = [f for f in findings if f.gate == "safe" and not f.proposed]
    failed = sorted(
        (f for f in blockers if f.status == Status.fail),
        key=lambda f: (BLOCKER_ORDER.index(f.rule_id) if f.rule_id in BLOCKER_ORDER else len(BLOCKER_ORDER), f.rule_id),
    )
    if failed:
        return VerdictAnswer(
            question=question,
            answer="no",
            label="No: a safety blocker failed",
            strength="observed",
            reasons=[fact(f, "observed") for f in failed],
        )
    login = next((f for f in blockers if f.rule_id == "HIP-012"), None)
    passed = [f for f in blockers if f.status in (Status.passed, Status.warn)]
    unseen = [f for f in blockers if f.status in OPEN]
    if login is not None and login.status in (Status.passed, Status.warn):
        return VerdictAnswer(
            question=question,
            answer="yes",
            label="No safety blocker seen",
            strength="observed",
            reasons=[fact(f, "observed") for f in passed][:3] + [fact(f, "unknown") for f in unseen][:2],
        )
    return VerdictAnswer(
        question=question,
        answer="not_shown",
        label="Not shown: whether patient data is refused without a login was not observed",
        strength="unknown",
        reasons=[fact(f, "unknown") for f in unseen][:3],
    )


def _certification(findings: list[Finding], as_of: dt.date) -> VerdictAnswer:
    question = f"Is it ready for (g)(10) certification on {as_of.isoformat()}?"
    gates = [f for f in findings if f.gate == "certified" and not f.proposed and f.status != Status.not_applicable]
    failed = [f for f in gates if f.status in (Status.fail, Status.warn)]
    unseen = [f for f in gates if f.status in OPEN]
    if failed:
        return VerdictAnswer(
            question=question,
            answer="not_ready",
            label=f"No: {len(failed)} certification gate{'s' if len(failed) > 1 else ''} failed",
            strength="declared",
            reasons=[fact(f, "declared") for f in failed],
        )
    if unseen:
        needs = sorted({flag for f in unseen for n in f.probes if (flag := NEEDS_FLAG.get(n))})
        return VerdictAnswer(
            question=question,
            answer="not_judged",
            label="Not judged: meets every certification gate ehrcheck could check"
            + (f"; the rest needs {' and '.join(needs)}" if needs else ""),
            strength="unknown",
            reasons=[fact(f, "unknown") for f in unseen],
        )
    return VerdictAnswer(
        question=question,
        answer="ready",
        label="Yes: every certification gate ehrcheck checks passed",
        strength="observed",
        reasons=[fact(f, "observed") for f in gates],
    )


def _evidence(shares: VerdictAnswer) -> VerdictAnswer:
    strength = shares.strength or "unknown"
    if strength == "missing":
        strength = "declared" if shares.answer != "no" else "observed"
    key = strength if strength in STRENGTH_WORDS else "unknown"
    return VerdictAnswer(
        question="How strong is the evidence?",
        answer=key,
        label=STRENGTH_WORDS[key][0].upper() + STRENGTH_WORDS[key][1:],
        strength=strength,
        reasons=list(shares.reasons),
    )


def _lower(text: str) -> str:
    return text[0].lower() + text[1:] if text and not text[:2].isupper() else text


def _with_sentences(shares: VerdictAnswer, safe: VerdictAnswer, cert: VerdictAnswer, as_of: dt.date) -> None:
    """Each answer as the verdict sentence puts it; the sentence is these, in order."""
    day = as_of.isoformat()
    how = STRENGTH_WORDS.get(shares.strength or "unknown", "").split(":")[0]
    api = shares.label.split("through ", 1)[-1] if "through" in shares.label else ""
    shares.sentence = {
        "yes": f"It shares the chart through {api.removesuffix(' (observed)')} ({how}).",
        "outdated": f"It shares the chart through {api}, a version (g)(10) certification no longer accepts: "
        "an EHR with an outdated API, not a silo.",
        "limited": f"It offers {shares.label.split(': ', 1)[-1]}, so what it shares of the chart is not shown ({how}).",
        "no": "It offers no standard API (no FHIR CapabilityStatement) through which other providers and patients' apps "
        "could get the chart out.",
        "unknown": "Whether it shares the chart through a standard API could not be determined.",
    }[shares.answer]
    if safe.answer == "no":
        safe.sentence = "Do not connect it yet: " + _lower(safe.reasons[0].text) if safe.reasons else "Do not connect it yet."
    elif safe.answer == "not_shown":
        safe.sentence = "Whether it refuses patient data without a login was not observed."
    else:
        safe.sentence = "No safety blocker was seen."
    if cert.answer == "ready":
        cert.sentence = f"It meets every (g)(10) certification gate ehrcheck checks on {day}."
    elif cert.answer == "not_ready":
        cert.sentence = f"It is not ready for (g)(10) certification on {day}."
    else:
        rest = cert.label.split("; ", 1)[1] if "; " in cert.label else "the rest was not observed"
        cert.sentence = f"It meets every certification gate ehrcheck could check on {day}; {rest}."


def _unique(facts: list[VerdictFact]) -> list[VerdictFact]:
    """Each finding once, in order (the sharing and certification answers may cite the same one)."""
    seen: set[str] = set()
    return [f for f in facts if not (f.rule_id in seen or seen.add(f.rule_id))]  # type: ignore[func-returns-value]


def decide(findings: list[Finding], evidence: Evidence, as_of: dt.date, reachable: bool) -> Verdict:
    by_id = {f.rule_id: f for f in findings}
    shares = _shares(by_id, evidence)
    safe = _safe(findings)
    cert = _certification(findings, as_of)
    strength = _evidence(shares)
    _with_sentences(shares, safe, cert, as_of)
    if not reachable:
        level = "unknown"
        sentence = "The product's FHIR endpoint could not be reached, so nothing could be verified."
        reasons = shares.reasons[:1]
    elif safe.answer == "no":
        level = "unsafe"
        sentence = f"{safe.sentence} {shares.sentence}"
        reasons = _unique(safe.reasons[:2] + [r for r in shares.reasons if r.status != Status.passed])[:3]
    elif shares.answer in ("no", "unknown"):
        level = "siloed_emr" if shares.answer == "no" else "unknown"
        sentence = shares.sentence
        reasons = shares.reasons[:3]
    else:
        level = {"limited": "limited_ehr", "outdated": "outdated_ehr"}.get(shares.answer, "interoperable_ehr")
        if level == "interoperable_ehr" and cert.answer == "ready" and safe.answer == "yes":
            level = "certified_ehr_ready"
        caution = safe.sentence if safe.answer != "yes" else ""
        sentence = " ".join(p for p in (shares.sentence, caution, cert.sentence) if p)
        lead = [r for r in shares.reasons if r.status != Status.passed] or shares.reasons[:1]
        reasons = _unique(lead + cert.reasons + [r for r in safe.reasons if r.status in OPEN])[:3]
    return Verdict(
        level=level,
        label=LABELS[level],
        sentence=sentence,
        facts=[r.text for r in reasons],
        reasons=reasons,
        shares=shares,
        safe=safe,
        certification=cert,
        evidence=strength,
    )
