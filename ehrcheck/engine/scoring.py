"""Pure scoring: findings -> per-pack and overall scores (with ranges) and the verdict.

A pass earns a rule's full weight, a warn half, a fail nothing. Rules that were not observed or
are only claimed do not move the point score; they widen the range (as if all failed .. as if all
passed), so a thin audit never looks better or worse than it is. Not-applicable rules drop out.
"""

from __future__ import annotations

import re

from ehrcheck.models import Finding, PackScore, Status, Verdict
from ehrcheck.engine.profiles import PROFILES as PRACTICE_PROFILES

CREDIT = {Status.passed: 1.0, Status.warn: 0.5, Status.fail: 0.0}
OPEN = (Status.not_observed, Status.unverified)
# A claim the server contradicts counts twice: the capability is missing and the vendor said
# otherwise, which is worse than a plain miss.
CONTRADICTION_FACTOR = 2.0

# Pack weights per practice profile (profiles.py holds the profiles proper).
PROFILES: dict[str, dict[str, float]] = {name: dict(p.pack_weights) for name, p in PRACTICE_PROFILES.items()}


def scored_weight(f: Finding) -> float:
    """A finding's weight in its pack score: doubled when it contradicts the vendor's claim."""
    contradicted = f.claim is not None and f.claim.outcome == "contradicted"
    return f.weight * CONTRADICTION_FACTOR if contradicted else f.weight


def _counts(findings: list[Finding]) -> dict[str, int]:
    counts = {s.value: 0 for s in Status}
    for f in findings:
        counts[f.status.value] += 1
    return counts


def score_findings(pack: str, title: str, findings: list[Finding]) -> PackScore:
    earned = sum(CREDIT[f.status] * scored_weight(f) for f in findings if f.status in CREDIT)
    judged = sum(scored_weight(f) for f in findings if f.status in CREDIT)
    open_w = sum(scored_weight(f) for f in findings if f.status in OPEN)
    total = judged + open_w
    if total == 0:
        return PackScore(pack=pack, title=title, score=None, low=0.0, high=100.0, counts=_counts(findings))
    score = round(100 * earned / judged, 1) if judged else None
    low = round(100 * earned / total, 1)
    high = round(100 * (earned + open_w) / total, 1)
    return PackScore(pack=pack, title=title, score=score, low=low, high=high, counts=_counts(findings))


def pack_weight(profile: str, pack: str) -> float:
    """A pack's weight in the overall score. A custom pack (`--pack FILE`) that the profile does
    not name weighs as much as the profile's average pack: it counts, but cannot swamp the rest."""
    weights = PROFILES[profile]
    if pack in weights:
        return weights[pack]
    return sum(weights.values()) / len(weights) if weights else 1.0


def overall_score(packs: list[PackScore], profile: str) -> PackScore:
    """Weighted mean of pack scores; the range combines the pack ranges with the same weights.

    When a weighted pack could not be scored at all (nothing in it was observed), there is no
    honest single number: averaging only the packs that were scored would let one good pack speak
    for the whole product. The overall score is then None and only the range is reported."""
    weight = {p.pack: pack_weight(profile, p.pack) for p in packs}
    scored = [p for p in packs if p.score is not None]
    wsum = sum(weight[p.pack] for p in scored)
    unscored = any(p.score is None and weight[p.pack] > 0 for p in packs)
    score = None if unscored or not wsum else round(sum(p.score * weight[p.pack] for p in scored) / wsum, 1)  # type: ignore[operator]
    wall = sum(weight[p.pack] for p in packs) or 1
    low = round(sum(p.low * weight[p.pack] for p in packs) / wall, 1)
    high = round(sum(p.high * weight[p.pack] for p in packs) / wall, 1)
    counts: dict[str, int] = {}
    for p in packs:
        for k, v in p.counts.items():
            counts[k] = counts.get(k, 0) + v
    return PackScore(pack="overall", title="Overall", score=score, low=low, high=high, counts=counts)


LABELS = {
    "siloed_emr": "Siloed EMR",
    "interoperable_ehr": "Interoperable EHR",
    "certified_ehr_ready": "Certified-EHR (CEHRT) ready",
    "unknown": "Not determined",
}


_FIRST_SENTENCE = re.compile(r"^(.+?[.!?])(?=\s+[A-Z(]|$)", re.S)


def _fact(f: Finding) -> str:
    """The plain-words first sentence of a finding: the verdict's facts are read by a practice
    manager on the first screen; the technical detail stays in the finding itself."""
    match = _FIRST_SENTENCE.match(f.message.strip())
    return (match.group(1) if match else f.message).strip() or f.title


def verdict(findings: list[Finding], reachable: bool) -> Verdict:
    """Gate rules decide the level; the facts quoted are the gates that decided it."""
    interop = [f for f in findings if f.gate == "interoperable"]
    certified = [f for f in findings if f.gate == "certified"]
    failed = lambda fs: [f for f in fs if f.status in (Status.fail,)]  # noqa: E731
    unknown = lambda fs: [f for f in fs if f.status in OPEN]  # noqa: E731

    if not reachable:
        return Verdict(
            level="unknown",
            label=LABELS["unknown"],
            sentence="The product's FHIR endpoint could not be reached, so nothing could be verified.",
            facts=["No request to the endpoint was answered."],
        )
    if failed(interop):
        facts = [_fact(f) for f in failed(interop)[:3]]
        return Verdict(
            level="siloed_emr",
            label=LABELS["siloed_emr"],
            sentence=(
                "This does not qualify as an interoperable EHR: it offers a standard API, but it hands "
                "patient data to anyone who asks, so the chart cannot be shared safely."
                if all(f.pack == "hipaa" for f in failed(interop))
                else "This looks like a siloed EMR: it does not offer the standard API that lets other "
                "providers and patients' apps get the chart out."
            ),
            facts=facts,
        )
    if unknown(interop):
        facts = [_fact(f) for f in unknown(interop)[:3]]
        return Verdict(
            level="unknown",
            label=LABELS["unknown"],
            sentence="Whether this product shares its data through standard APIs could not be fully determined.",
            facts=facts,
        )
    interop_facts = [f"{f.title}." for f in interop[:2]]
    if failed(certified):
        facts = [_fact(f) for f in failed(certified)[:3]]
        return Verdict(
            level="interoperable_ehr",
            label=LABELS["interoperable_ehr"],
            sentence="This is an interoperable EHR, but it falls short of what a certified (CEHRT) product must offer in 2026.",
            facts=facts,
        )
    if unknown(certified):
        open_facts = [f"Not yet verified — {f.title.lower()}: {f.message}" for f in unknown(certified)[:2]]
        return Verdict(
            level="interoperable_ehr",
            label=LABELS["interoperable_ehr"],
            sentence="This is an interoperable EHR; its certification (CEHRT) readiness could not be fully verified.",
            facts=(interop_facts + open_facts)[:3],
        )
    return Verdict(
        level="certified_ehr_ready",
        label=LABELS["certified_ehr_ready"],
        sentence="This is an interoperable EHR that meets every certification gate ehrcheck checks.",
        facts=[f"{f.title}." for f in certified[:3]],
    )
