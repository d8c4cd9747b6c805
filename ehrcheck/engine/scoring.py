"""Pure scoring: findings -> per-pack and overall scores (with ranges). The verdict is in verdict.py.

A pass earns a rule's full weight, a warn half, a fail nothing. Rules that were not observed or
are only claimed do not move the point score; they widen the range (as if all failed .. as if all
passed), so a thin audit never looks better or worse than it is. Not-applicable rules drop out.

A pack whose critical rules could none of them be observed is *not judged*: it says what it needs
("needs --chpl-id or --chpl-file") instead of drawing a score from the few rules that could run.
A pack of proposed rules (the HIPAA Security Rule NPRM) is reported and never scored.
"""

from __future__ import annotations

from ehrcheck.engine.profiles import PROFILES as PRACTICE_PROFILES
from ehrcheck.engine.verdict import needs_text
from ehrcheck.models import Finding, PackScore, Status

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


def not_judged(findings: list[Finding]) -> str:
    """Why a pack cannot be judged: its critical rules were all out of reach (or it has none
    in reach at all). Empty when it can be judged."""
    live = [f for f in findings if f.status != Status.not_applicable]
    critical = [f for f in live if f.severity.value == "critical"] or live
    if not critical or any(f.status not in OPEN for f in critical):
        return ""
    needs = sorted({needs_text(f) for f in critical if needs_text(f)})
    return "not judged: " + ("; ".join(needs) if needs else "its critical rules could not be observed")


def score_findings(pack: str, title: str, findings: list[Finding], proposed: bool = False) -> PackScore:
    if proposed:
        return PackScore(
            pack=pack,
            title=title,
            score=None,
            low=0.0,
            high=100.0,
            counts=_counts(findings),
            not_judged="proposed rule, not in force: reported, never scored",
        )
    why = not_judged(findings)
    earned = sum(CREDIT[f.status] * scored_weight(f) for f in findings if f.status in CREDIT)
    judged = sum(scored_weight(f) for f in findings if f.status in CREDIT)
    open_w = sum(scored_weight(f) for f in findings if f.status in OPEN)
    total = judged + open_w
    if total == 0:
        return PackScore(pack=pack, title=title, score=None, low=0.0, high=100.0, counts=_counts(findings), not_judged=why)
    score = round(100 * earned / judged, 1) if judged and not why else None
    low = round(100 * earned / total, 1)
    high = round(100 * (earned + open_w) / total, 1)
    return PackScore(pack=pack, title=title, score=score, low=low, high=high, counts=_counts(findings), not_judged=why)


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
    for the whole product. The overall score is then None and only the range is reported. A pack
    that says why it is not judged (it needs CHPL, say) is left out of the point score instead,
    and named in the overall's `not_judged`; its range still counts. Proposed-rule packs never count."""
    packs = [p for p in packs if not p.not_judged.startswith("proposed")]
    weight = {p.pack: pack_weight(profile, p.pack) for p in packs}
    scored = [p for p in packs if p.score is not None]
    wsum = sum(weight[p.pack] for p in scored)
    unscored = any(p.score is None and not p.not_judged and weight[p.pack] > 0 for p in packs)
    score = (
        None if unscored or not wsum else round(sum(p.score * weight[p.pack] for p in scored if p.score is not None) / wsum, 1)
    )
    wall = sum(weight[p.pack] for p in packs) or 1
    low = round(sum(p.low * weight[p.pack] for p in packs) / wall, 1)
    high = round(sum(p.high * weight[p.pack] for p in packs) / wall, 1)
    counts: dict[str, int] = {}
    for p in packs:
        for k, v in p.counts.items():
            counts[k] = counts.get(k, 0) + v
    skipped = [f"{p.title} ({p.not_judged})" for p in packs if p.not_judged and weight[p.pack] > 0]
    return PackScore(
        pack="overall", title="Overall", score=score, low=low, high=high, counts=counts, not_judged="; ".join(skipped)
    )
