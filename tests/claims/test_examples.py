"""The demo audits each fictional vendor with its example claims: the honest one is verified, the
overstated one contradicted, and the claims travel in the evidence so re-scoring agrees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ehrcheck.demo.run import run_demo
from ehrcheck.engine.scorecard import score_evidence
from ehrcheck.files.store import load_evidence
from ehrcheck.render import RENDERERS
from tests.paths import ROOT


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("claims-demo")
    run_demo(out, formats=("json", "md"))
    return out


def _report(out: Path, slug: str) -> dict:
    return json.loads((out / slug / "report.json").read_text())


def test_honest_vendor_has_no_contradictions(demo_out: Path):
    report = _report(demo_out, "summit-health-cloud")
    statuses = {c["rule_id"]: c["status"] for c in report["claims"]}
    assert "contradicted" not in statuses.values()
    assert {statuses[r] for r in ("INT-100", "INT-101", "INT-102", "INT-103", "INT-104", "PRT-100", "HIP-100", "HIP-101")} == {
        "verified"
    }


def test_overstated_vendor_is_contradicted_by_its_own_server(demo_out: Path):
    report = _report(demo_out, "riverbend-ehr")
    contradicted = {c["rule_id"] for c in report["claims"] if c["status"] == "contradicted"}
    assert {"INT-101", "INT-102", "INT-103", "INT-104"} <= contradicted
    assert {m["key"]: m["state"] for m in report["matrix"]}["population_health"] == "contradicted"
    md = (demo_out / "riverbend-ehr" / "report.md").read_text()
    assert "| SMART App Launch | 2.0.0 | Contradicted |" in md


def test_siloed_vendor_claims_tls_it_does_not_enforce(demo_out: Path):
    report = _report(demo_out, "meadowlark-chart")
    tls = next(c for c in report["claims"] if c["rule_id"] == "HIP-100")
    evidence = json.loads((demo_out / "meadowlark-chart" / "evidence.json").read_text())
    legacy = evidence["probes"]["transport"]["data"]["tls"]["legacy"]["TLSv1.0"]
    # "untestable" only where this machine's OpenSSL cannot offer TLS 1.0 at all
    assert tls["status"] == ("contradicted" if legacy == "accepted" else "unverified")
    assert {m["key"]: m["marks"] for m in report["matrix"]}["demographics"] == "EMR"


def test_demo_evidence_carries_the_claims_and_rescoring_agrees(demo_out: Path):
    for slug in ("summit-health-cloud", "riverbend-ehr", "meadowlark-chart"):
        evidence = load_evidence(demo_out / slug / "evidence.json")
        assert evidence.claims and evidence.claims["claims_version"] == 1
        assert json.loads(RENDERERS["json"].fn(score_evidence(evidence)))["claims"] == _report(demo_out, slug)["claims"]


def test_example_claims_ship_in_the_wheel():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"examples/claims" = "ehrcheck/_data/claims"' in pyproject
