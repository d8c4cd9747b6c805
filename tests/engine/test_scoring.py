"""The two promises the README makes about scores, pinned to numbers worked out by hand:

- rules that could not be observed (or are only claimed) never move the point score; they widen
  the range, from "as if they all failed" to "as if they all passed";
- when a pack that weighs in the overall score could not be scored at all, there is no overall
  score, only the range: one good pack must not speak for the whole product.
"""

from __future__ import annotations

import pytest

from ehrcheck.engine.scorecard import score_evidence
from ehrcheck.engine.scoring import overall_score, score_findings
from ehrcheck.models import PackScore, Status
from tests.support.evidence import evidence, finding

# The default profile's pack weights: interoperability 35, portal 15, certification 25, hipaa 25.
PACKS = ("interoperability", "portal", "certification", "hipaa")


def pack(name: str, score: float | None, low: float, high: float) -> PackScore:
    return PackScore(pack=name, title=name, score=score, low=low, high=high, counts={})


def test_open_rules_widen_the_range_and_leave_the_score_alone():
    judged = [finding("A", Status.passed, 3), finding("B", Status.fail, 1)]
    alone = score_findings("p", "P", judged)
    widened = score_findings("p", "P", [*judged, finding("C", Status.not_observed, 2), finding("D", Status.unverified, 2)])
    # earned 3 of 4 judged: 75; with 4 more open: 3/8 if they all fail, 7/8 if they all pass.
    assert (alone.score, alone.low, alone.high) == (75.0, 75.0, 75.0)
    assert (widened.score, widened.low, widened.high) == (75.0, 37.5, 87.5)


def test_a_warn_earns_half_and_not_applicable_drops_out():
    got = score_findings(
        "p", "P", [finding("A", Status.warn, 2), finding("B", Status.fail, 2), finding("C", Status.not_applicable, 50)]
    )
    assert (got.score, got.low, got.high) == (25.0, 25.0, 25.0)


def test_a_pack_with_nothing_judged_has_no_score_and_the_full_range():
    only_open = score_findings("p", "P", [finding("A", Status.not_observed, 2), finding("B", Status.unverified, 1)])
    nothing = score_findings("p", "P", [finding("A", Status.not_applicable, 2)])
    assert (only_open.score, only_open.low, only_open.high) == (None, 0.0, 100.0)
    assert (nothing.score, nothing.low, nothing.high) == (None, 0.0, 100.0)


def test_overall_is_the_weighted_mean_of_the_scores_and_of_the_ranges():
    packs = [
        pack("interoperability", 80, 60, 90),
        pack("portal", 40, 40, 40),
        pack("certification", 100, 50, 100),
        pack("hipaa", 60, 60, 80),
    ]
    got = overall_score(packs, "default")
    # (80*35 + 40*15 + 100*25 + 60*25) / 100 = 74; low (60*35 + 40*15 + 50*25 + 60*25) / 100 = 54.5;
    # high (90*35 + 40*15 + 100*25 + 80*25) / 100 = 82.5.
    assert (got.score, got.low, got.high) == (74.0, 54.5, 82.5)


def test_an_unscored_weighted_pack_leaves_no_overall_score_only_the_range():
    packs = [pack("interoperability", 100, 100, 100), pack("portal", 100, 100, 100), pack("certification", 100, 100, 100)]
    packs.append(pack("hipaa", None, 0, 100))
    got = overall_score(packs, "default")
    # Averaging the three scored packs would say 100; a quarter of the weight is unknown.
    assert got.score is None
    assert (got.low, got.high) == (75.0, 100.0)


def test_the_profile_weights_decide_the_overall_range():
    packs = [pack(name, None, 0, 100) if name == "portal" else pack(name, 50, 50, 50) for name in PACKS]
    solo, hospital = overall_score(packs, "solo"), overall_score(packs, "hospital")
    # portal weighs 30 for a solo practice, 10 for a hospital: its unknown widens the range that much.
    assert (solo.score, solo.low, solo.high) == (None, 35.0, 65.0)
    assert (hospital.score, hospital.low, hospital.high) == (None, 45.0, 55.0)


def test_a_thin_audit_reports_a_range_end_to_end():
    """Through the whole scorecard: a server whose /metadata answered but nothing else was
    observed. The packs that could not be judged at all (certification without CHPL, HIPAA without
    claims or credentials) are left out of the point score and named, never drawn as a 0 (issue 13);
    the range still spans what the missing evidence could mean."""
    thin = evidence(
        {
            "capability": {
                "found": True,
                "fhir_version": "4.0.1",
                "fhir_release": "R4",
                "resources": {"Patient": {"interactions": ["read"]}},
            }
        },
        errored=("smart", "access", "transport", "availability"),
    )
    result = score_evidence(thin)
    by_pack = {p.pack: p for p in result.packs}
    unjudged = [p for p in result.packs if p.not_judged and not p.not_judged.startswith("proposed")]
    assert {"certification", "hipaa"} <= {p.pack for p in unjudged}
    assert all(p.score is None for p in unjudged)
    for p in unjudged:
        assert p.title in result.overall.not_judged
    judged = [p for p in result.packs if p.score is not None]
    assert by_pack["interoperability"] in judged
    assert result.overall.score is not None
    assert min(p.score for p in judged) <= result.overall.score <= max(p.score for p in judged)
    assert result.overall.low < result.overall.score < result.overall.high
    for p in result.packs:
        assert p.low <= (p.score if p.score is not None else p.low) <= p.high


@pytest.mark.parametrize("profile", ["default", "solo", "hospital"])
def test_the_overall_range_always_contains_the_overall_score(profile: str):
    packs = [
        pack("interoperability", 70, 50, 90),
        pack("portal", 20, 10, 60),
        pack("certification", 90, 90, 95),
        pack("hipaa", 55, 40, 70),
    ]
    got = overall_score(packs, profile)
    assert got.score is not None and got.low <= got.score <= got.high
