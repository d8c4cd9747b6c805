"""Practice profiles: weights, required rules and what the verdict means for each kind of practice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ehrcheck.engine.profiles import BULK, EXCHANGE, GENERAL_MEANINGS, PROFILES, get_profile
from ehrcheck.engine.scorecard import score_evidence
from ehrcheck.engine.scoring import overall_score
from ehrcheck.engine.verdict import LABELS as VERDICT_LABELS
from ehrcheck.models import Evidence, PackScore, Status
from ehrcheck.rules.schema import all_rules, builtin_packs
from tests.support.cli import ROUTES, run
from tests.support.evidence import evidence
from tests.support.loopback import serve

ISSUE_PROFILES = ("solo", "small-group", "multi-specialty", "hospital", "fqhc", "behavioral-health")


def _evidence(claims=None) -> Evidence:
    """An R4 server with Patient only, over plain HTTP, that refuses anonymous searches."""
    probes = {
        "capability": {
            "found": True,
            "fhir_version": "4.0.1",
            "fhir_release": "R4",
            "resources": {"Patient": {"interactions": ["read"]}},
        },
        "smart": {"found": False, "problem": "HTTP 404"},
        "access": {"patient_search": {"http_status": 401, "returned_patient_data": False}},
        "transport": {"scheme": "http", "tls": None},
        "availability": {"reachable": True, "server_errors": 0, "median_ms": 10},
    }
    return evidence(probes, claims, base_url="http://ehr.example.test/fhir")


def test_the_issue_profiles_exist_with_weights_for_every_pack():
    packs = {p.pack for p in builtin_packs() if not p.proposed}  # proposed rules are never weighed
    assert set(ISSUE_PROFILES) <= set(PROFILES)
    for profile in PROFILES.values():
        assert set(profile.pack_weights) == packs, profile.name
        assert sum(profile.pack_weights.values()) == 100, profile.name
        # Levels a profile does not word itself fall back to the general meanings.
        assert set(profile.meanings) <= set(GENERAL_MEANINGS), profile.name
    assert set(GENERAL_MEANINGS) == set(VERDICT_LABELS)

    # Scoring uses each profile's weights: a product that aces one pack and fails the rest scores,
    # overall, exactly that pack's share of the weight.
    for name, profile in PROFILES.items():
        for aced, weight in profile.pack_weights.items():
            scores = [
                PackScore(pack=p, title=p, score=100.0 if p == aced else 0.0, low=0.0, high=100.0, counts={}) for p in packs
            ]
            assert overall_score(scores, name).score == weight, (name, aced)


def test_profiles_name_only_rules_that_exist():
    ids = {r.id for r in all_rules()}
    for profile in PROFILES.values():
        assert set(profile.required) <= ids, profile.name
        assert set(profile.rule_factors) <= ids, profile.name


def test_profiles_weigh_what_the_issue_says():
    assert {"CRT-001", "CRT-002"} <= set(get_profile("fqhc").required)  # certification is mandatory for an FQHC
    for name in ("multi-specialty", "hospital"):
        factors = get_profile(name).rule_factors
        assert all(factors[r] > 1 for r in BULK + EXCHANGE), name
        assert get_profile(name).pack_weights["interoperability"] > get_profile("default").pack_weights["interoperability"]
    solo = get_profile("solo")
    assert solo.pack_weights["portal"] > get_profile("default").pack_weights["portal"]
    assert solo.pack_weights["hipaa"] >= get_profile("default").pack_weights["hipaa"]
    assert solo.rule_factors["HIP-017"] > 1 and "HIP-017" in solo.required


def test_unknown_profile_names_the_choices():
    with pytest.raises(ValueError, match="choose from default, solo, small-group"):
        get_profile("dentist")


def test_profile_changes_weights_scores_and_the_plain_words():
    ev = _evidence()
    results = {name: score_evidence(ev, profile=name) for name in ("default",) + ISSUE_PROFILES}
    default = results["default"]
    assert {f.rule_id: f.status for f in default.findings} == {f.rule_id: f.status for f in results["hospital"].findings}
    bulk = {name: next(f for f in r.findings if f.rule_id == "INT-014") for name, r in results.items()}
    assert bulk["hospital"].weight == 2 * bulk["default"].weight  # the finding shows the weight it counted with
    assert len({r.overall.score for r in results.values()}) > 3
    meanings = {name: r.verdict.meaning for name, r in results.items()}
    assert len(set(meanings.values())) == len(meanings)  # each practice gets its own words
    assert meanings["solo"].startswith("For a solo practice")
    assert "fqhc" == results["fqhc"].practice.name
    fqhc_reqs = {q.rule_id: q.met for q in results["fqhc"].practice.requirements}
    assert fqhc_reqs["CRT-001"] == "open"  # no CHPL lookup: must be confirmed, not assumed
    assert "get it in writing before signing" in meanings["fqhc"]
    solo_reqs = {q.rule_id: q for q in results["solo"].practice.requirements}
    assert solo_reqs["HIP-001"].met == "unmet" and solo_reqs["HIP-001"].status == Status.fail  # plain HTTP
    assert "Failed, and a solo practice cannot do without it: The API is served over HTTPS." in meanings["solo"]


def test_contradicted_claims_are_named_in_the_plain_words():
    result = score_evidence(_evidence({"claims_version": 1, "hipaa": {"tls_minimum": "1.2"}}), profile="solo")
    assert "contradicted by its server 1 time;" in result.verdict.meaning


def test_cli_profile_flag_and_environment(tmp_path: Path):
    with serve(ROUTES) as srv:
        res = run("audit", srv.base, "-o", str(tmp_path / "a.json"), "--profile", "hospital", "-q")
        assert res.exit_code == 0, res.output
        res = run("audit", srv.base, "-o", str(tmp_path / "b.json"), "-q", env={"EHRCHECK_PROFILE": "fqhc"})
        assert res.exit_code == 0, res.output
        res = run("audit", srv.base, "-o", str(tmp_path / "c.json"), "--profile", "dentist", "-q")
    assert res.exit_code == 2 and "--profile: unknown profile 'dentist'" in res.output and "Traceback" not in res.output
    a = json.loads((tmp_path / "a.json").read_text())
    b = json.loads((tmp_path / "b.json").read_text())
    assert (a["profile"], a["practice"]["title"]) == ("hospital", "Hospital")
    assert b["profile"] == "fqhc" and b["verdict"]["meaning"].startswith("For an FQHC")
    assert not (tmp_path / "c.json").exists()


def test_score_rescores_saved_evidence_under_another_profile(tmp_path: Path):
    with serve(ROUTES) as srv:
        assert run("probe", srv.base, "-o", str(tmp_path / "ev.json"), "-q").exit_code == 0
    outs = {}
    for name in ("solo", "hospital"):
        res = run("score", str(tmp_path / "ev.json"), "--profile", name, "-o", str(tmp_path / f"{name}.json"), "-q")
        assert res.exit_code == 0, res.output
        outs[name] = json.loads((tmp_path / f"{name}.json").read_text())
    assert outs["solo"]["overall"] != outs["hospital"]["overall"]
    assert [f["status"] for f in outs["solo"]["findings"]] == [f["status"] for f in outs["hospital"]["findings"]]
    res = run("score", str(tmp_path / "ev.json"), "--profile", "nope")
    assert res.exit_code == 2 and "choose from" in res.output
