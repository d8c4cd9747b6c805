"""`ehrcheck diff OLD NEW`: status changes, score deltas and capability fingerprint drift, from
real demo evidence and a copy of it whose server has lost capabilities."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from ehrcheck.demo.run import run_demo
from ehrcheck.engine.diff import diff_runs, fingerprint
from ehrcheck.engine.scorecard import score_evidence
from ehrcheck.models import Evidence
from tests.support.cli import run


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("diff") / "demo"
    run_demo(out, formats=("json",))
    return out


@pytest.fixture()
def drifted(demo: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The Summit vendor's evidence, and the same server a release later: Immunization and the
    bulk $export are gone, and SMART no longer offers permission-v2."""
    old = demo / "summit-health-cloud" / "evidence.json"
    data = json.loads(old.read_text())
    new = copy.deepcopy(data)
    cap = new["probes"]["capability"]["data"]
    assert "Immunization" in cap["resources"], "the demo vendor must declare Immunization"
    del cap["resources"]["Immunization"]
    for r in cap["resources"].values():
        r["operations"] = [o for o in r.get("operations", []) if o != "export"]
    cap["system_operations"] = [o for o in cap.get("system_operations", []) if o != "export"]
    smart = new["probes"]["smart"]["data"]
    assert "permission-v2" in smart["capabilities"]
    smart["capabilities"] = [c for c in smart["capabilities"] if c != "permission-v2"]
    smart["document"]["capabilities"] = smart["capabilities"]
    new["finished_at"] = data["finished_at"]  # same day: only the server changed
    path = tmp_path / "later.evidence.json"
    path.write_text(json.dumps(new))
    return old, path


def test_same_run_is_unchanged(demo: Path):
    ev = demo / "riverbend-ehr" / "evidence.json"
    res = run("diff", str(ev), str(demo / "riverbend-ehr"))
    assert res.exit_code == 0, res.output
    assert "No change" in res.stdout and "Unchanged." in res.stdout


def test_drift_names_lost_capabilities_and_regressions(drifted):
    old, new = drifted
    res = run("diff", str(old), str(new), "-f", "json", "-q")
    assert res.exit_code == 0
    d = json.loads(res.stdout)
    facets = {c["facet"]: c for c in d["fingerprint"]}
    assert "Immunization" in facets["resources"]["removed"] and not facets["resources"]["added"]
    assert "permission-v2" in facets["SMART capabilities"]["removed"]
    assert any("$export" in op for op in facets["operations"]["removed"])
    regressed = {s["rule_id"] for s in d["statuses"] if s["direction"] == "regressed"}
    assert regressed and d["regressions"] == len(regressed)
    overall = d["scores"][0]
    assert overall["name"] == "Overall" and overall["delta"] < 0
    assert d["verdict"] is None or d["verdict"][0] != d["verdict"][1]
    md = run("diff", str(old), str(new), "-q").stdout
    assert "regressed" in md and "**resources**: removed `Immunization`" in md
    # as a gate
    gate = run("diff", str(old), str(new), "--fail-on-regression", "-q")
    assert gate.exit_code == 1 and "regressed" in gate.stderr
    assert run("diff", str(old), str(new), "--fail-on-regression", "--exit-zero", "-q").exit_code == 0


def test_report_without_evidence_compares_findings_only(demo: Path, tmp_path: Path):
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "old.json").write_text((demo / "meadowlark-chart" / "report.json").read_text())
    res = run("diff", str(lone / "old.json"), str(demo / "summit-health-cloud"), "-o", str(tmp_path / "d.md"))
    assert res.exit_code == 0, res.output
    text = (tmp_path / "d.md").read_text()
    assert "Capability fingerprint not compared" in text and "different endpoints" in text
    assert "**Verdict changed:** Siloed EMR →" in text


def test_fingerprint_of_errored_probes_is_empty(demo: Path):
    ev = Evidence.model_validate_json((demo / "summit-health-cloud" / "evidence.json").read_text())
    broken = ev.model_copy(deep=True)
    broken.probes["capability"].status = broken.probes["capability"].status.__class__("error")
    broken.probes["smart"].status = broken.probes["smart"].status.__class__("error")
    assert fingerprint(broken) == {}
    d = diff_runs(score_evidence(ev), score_evidence(broken), ev, broken)
    assert any(c.facet == "resources" and c.removed for c in d.fingerprint)
    assert all(s.direction in ("changed", "no_longer_observed") for s in d.statuses)


@pytest.fixture()
def first_observed(demo: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Meadowlark's evidence without its SMART discovery (the probe could not run), then with it:
    the SMART rules go from not observed to failing because they were observed for the first time."""
    new = demo / "meadowlark-chart" / "evidence.json"
    data = json.loads(new.read_text())
    old = copy.deepcopy(data)
    old["probes"]["smart"] = {"status": "error", "reason": "timed out", "data": {}, "exchanges": [], "duration_ms": 1}
    path = tmp_path / "before.evidence.json"
    path.write_text(json.dumps(old))
    return path, new


def test_a_first_observation_is_a_new_finding_not_a_regression(first_observed):
    old, new = first_observed
    d = json.loads(run("diff", str(old), str(new), "-f", "json", "-q").stdout)
    news = [s for s in d["statuses"] if s["direction"] == "new_finding"]
    assert news and all(s["old"] in ("not_observed", "unverified", "not_applicable") for s in news)
    assert all(s["new"] in ("fail", "warn") for s in news)
    assert d["new_findings"] == len(news) and d["regressions"] == 0
    # Its own exit policy: --fail-on-regression does not trip, --fail-on-new does.
    assert run("diff", str(old), str(new), "--fail-on-regression", "-q").exit_code == 0
    gate = run("diff", str(old), str(new), "--fail-on-new", "-q")
    assert gate.exit_code == 1 and "new finding" in gate.stderr
    assert run("diff", str(old), str(new), "--fail-on-new", "--exit-zero", "-q").exit_code == 0


def test_diff_markdown_prints_scores_and_statuses_as_the_reports_do(first_observed, demo: Path):
    old, new = first_observed
    md = run("diff", str(old), str(new), "-q").stdout
    report = json.loads((demo / "meadowlark-chart" / "report.json").read_text())
    overall = report["overall"]["score"]
    assert "| Overall | " in md and f" {overall:.0f} |" in md  # whole numbers, as the report prints it
    assert not re.search(r"\| \d+\.\d+ \|", md)  # no 37.7 where the report says 38
    assert "| New finding |" in md and "| Not observed | Fail |" in md
    assert "not_observed" not in md and "new_finding" not in md
