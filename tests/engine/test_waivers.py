"""Waivers: a waived finding stays visible and marked, stops tripping --fail-on; an expired waiver
fails the run (exit 1); an unused one warns; a broken waiver file is exit 2 with its line."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ehrcheck.engine.waivers import load_waivers
from ehrcheck.errors import UserInputError
from tests.support.cli import run
from tests.support.loopback import Reply, serve

ROUTES = {
    "/fhir/metadata": Reply(
        200,
        {
            "resourceType": "CapabilityStatement",
            "fhirVersion": "4.0.1",
            "status": "active",
            "kind": "instance",
            "format": ["json"],
            "rest": [{"mode": "server", "resource": [{"type": "Patient", "interaction": [{"code": "read"}]}]}],
        },
    ),
    "/fhir/Patient": Reply(401, {"resourceType": "OperationOutcome", "issue": []}, {"WWW-Authenticate": "Bearer"}),
}
FUTURE = (dt.date.today() + dt.timedelta(days=90)).isoformat()
PAST = (dt.date.today() - dt.timedelta(days=1)).isoformat()


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("waivers")
    with serve(ROUTES) as srv:
        assert run("probe", srv.base, "-o", str(folder / "evidence.json"), "-q").exit_code == 0
    assert run("score", str(folder / "evidence.json"), "-o", str(folder / "report.json"), "-q").exit_code == 0
    return folder / "evidence.json", json.loads((folder / "report.json").read_text())


def _criticals(report: dict) -> list[str]:
    return sorted(f["rule_id"] for f in report["findings"] if f["status"] == "fail" and f["severity"] == "critical")


def _waivers(tmp_path: Path, entries: list[dict]) -> Path:
    lines = ["# accepted findings", "waivers:"]
    for e in entries:
        lines.append(f"  - rule: {e['rule']}")
        lines += [f"    {k}: {v}" for k, v in e.items() if k != "rule"]
    path = tmp_path / "waivers.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_waived_findings_stay_visible_and_stop_tripping_fail_on(probed, tmp_path: Path):
    evidence, report = probed
    crit = _criticals(report)
    assert crit, "the fixture server must fail a critical rule"
    target = report["target"]["base_url"]
    assert run("score", str(evidence), "-o", "-", "-f", "json", "-q", "--fail-on", "critical").exit_code == 1
    waivers = _waivers(
        tmp_path, [{"rule": r, "target": target, "reason": "vendor fix due in Q3", "expires": FUTURE} for r in crit]
    )
    out = tmp_path / "out"
    res = run(
        "score", str(evidence), "-o", str(out), "-f", "json,junit,sarif,md", "--fail-on", "critical", "--waivers", str(waivers)
    )
    assert res.exit_code == 0, res.output
    assert "waived (still in the report)" in res.stderr
    findings = {f["rule_id"]: f for f in json.loads((out / "report.json").read_text())["findings"]}
    for rid in crit:
        assert findings[rid]["status"] == "fail"  # the fact is unchanged...
        assert findings[rid]["waiver"] == {"reason": "vendor fix due in Q3", "expires": FUTURE}  # ...and marked
    # scores are facts about the server: waivers do not move them
    assert json.loads((out / "report.json").read_text())["overall"] == report["overall"]
    cases = {c.get("name").split()[0]: c for c in ET.parse(out / "report.xml").getroot().iter("testcase")}
    for rid in crit:
        assert cases[rid].find("failure") is None
        assert "waived until" in cases[rid].find("skipped").get("message")
    sarif = json.loads((out / "report.sarif").read_text())["runs"][0]["results"]
    suppressed = {r["ruleId"] for r in sarif if r.get("suppressions")}
    assert suppressed == set(crit)
    assert "waived" in (out / "report.md").read_text().lower()


def test_expired_waiver_fails_the_run(probed, tmp_path: Path):
    evidence, report = probed
    rid = _criticals(report)[0]
    waivers = _waivers(tmp_path, [{"rule": rid, "target": "http://127.0.0.1:*", "reason": "old exception", "expires": PAST}])
    res = run("score", str(evidence), "-o", "-", "-f", "json", "-q", "--waivers", str(waivers))
    assert res.exit_code == 1
    assert f"waiver for {rid}" in res.stderr and "expired on" in res.stderr and f"{waivers}:3" in res.stderr
    finding = next(f for f in json.loads(res.stdout)["findings"] if f["rule_id"] == rid)
    assert finding["waiver"] is None  # an expired waiver waives nothing
    assert run("score", str(evidence), "-o", "-", "-f", "json", "-q", "--waivers", str(waivers), "--exit-zero").exit_code == 0


def test_unused_waiver_warns_and_other_targets_are_ignored(probed, tmp_path: Path):
    evidence, report = probed
    passing = next(f["rule_id"] for f in report["findings"] if f["status"] == "pass")
    waivers = _waivers(
        tmp_path,
        [
            {"rule": passing, "target": report["target"]["base_url"], "reason": "stale", "expires": FUTURE},
            {"rule": passing, "target": "https://other.example/fhir", "reason": "another server", "expires": PAST},
        ],
    )
    res = run("score", str(evidence), "-o", "-", "-f", "json", "-q", "--waivers", str(waivers))
    assert res.exit_code == 0, res.stderr  # the expired waiver is for another endpoint
    assert "warning:" in res.stderr and f"{passing}" in res.stderr and "matched no failing finding" in res.stderr
    assert "other.example" not in res.stderr


@pytest.mark.parametrize(
    "text, message",
    [
        ("waivers:\n  - rule: INT-001\n    target: '*'\n    reason: x\n", ":2: missing expires"),
        ("waivers:\n  - rule: INT-001\n    target: '*'\n    reason: x\n    expires: soon\n", ":2: expires: 'soon' is not a date"),
        (
            "waivers:\n  - rule: INT-001\n    target: '*'\n    reason: x\n    expires: 2030-01-01\n    owner: me\n",
            "unknown field(s) owner",
        ),
        ("waivers: [\n", "not valid YAML"),
        ("- rule: INT-001\n", "a mapping with a 'waivers:' list"),
    ],
)
def test_broken_waiver_files_are_located(tmp_path: Path, text: str, message: str):
    path = tmp_path / "w.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserInputError) as err:
        load_waivers(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_waiver_for_unknown_rule_is_exit_2(probed, tmp_path: Path):
    evidence, _ = probed
    waivers = _waivers(tmp_path, [{"rule": "INT-999", "target": "'*'", "reason": "typo", "expires": FUTURE}])
    res = run("score", str(evidence), "--waivers", str(waivers), "-o", "-", "-f", "json")
    assert res.exit_code == 2 and "no rule 'INT-999'" in res.output and f"{waivers}:3" in res.output
