"""CI formats: JUnit and SARIF validate against their published schemas, are byte-for-byte
deterministic, and the gates (--fail-under, --fail-on, --exit-zero) pick the documented exit code.

The audited server is a real loopback HTTP server answering a thin CapabilityStatement, so the
run has real failures of every severity to map.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import xmlschema

from tests.paths import SCHEMAS
from tests.support.cli import ROUTES, run
from tests.support.loopback import serve


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ci") / "evidence.json"
    with serve(ROUTES) as srv:
        res = run("probe", srv.base, "-o", str(path), "-q", "--label", "Thin <FHIR> & Co")
    assert res.exit_code == 0, res.output
    return path


@pytest.fixture(scope="module")
def report(evidence: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("ci-json") / "report.json"
    assert run("score", str(evidence), "-o", str(out), "-q").exit_code == 0
    return json.loads(out.read_text())


@pytest.fixture(scope="session")
def sarif_schema() -> dict:
    return json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def junit_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMAS / "junit-10.xsd"))


def _statuses(report: dict, status: str) -> set[str]:
    return {f["rule_id"] for f in report["findings"] if f["status"] == status}


def test_sarif_validates_and_carries_every_failure(evidence: Path, report: dict, sarif_schema: dict, tmp_path: Path):
    out = tmp_path / "results.sarif"
    res = run("score", str(evidence), "-o", str(out), "-q")  # format from the .sarif extension
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(sarif_schema, format_checker=jsonschema.FormatChecker()).validate(doc)
    run_ = doc["runs"][0]
    results = run_["results"]
    assert {r["ruleId"] for r in results} == _statuses(report, "fail") | _statuses(report, "warn")
    assert _statuses(report, "fail"), "the thin server must fail some rules for this test to mean anything"
    rule_ids = [r["id"] for r in run_["tool"]["driver"]["rules"]]
    assert rule_ids == sorted(rule_ids) and len(rule_ids) == len(report["findings"])
    for r in results:
        assert run_["tool"]["driver"]["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
        uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert "://" not in uri and uri.startswith("127.0.0.1_")  # code scanning wants repo-relative paths
        assert r["level"] in ("error", "warning", "note")
    criticals = {f["rule_id"] for f in report["findings"] if f["status"] == "fail" and f["severity"] == "critical"}
    assert all(r["level"] == "error" for r in results if r["ruleId"] in criticals)
    assert run_["properties"]["verdict"]["label"] == report["verdict"]["label"]


def test_junit_validates_and_maps_statuses(evidence: Path, report: dict, junit_schema: xmlschema.XMLSchema, tmp_path: Path):
    out = tmp_path / "results.xml"
    assert run("score", str(evidence), "-o", str(out), "-q").exit_code == 0
    junit_schema.validate(str(out))
    root = ET.parse(out).getroot()
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "Thin <FHIR> & Co"  # escaped, then parsed back
    cases = suite.findall("testcase")
    assert len(cases) == len(report["findings"]) == int(suite.get("tests"))
    failed = {c.get("name").split()[0] for c in cases if c.find("failure") is not None}
    assert failed == _statuses(report, "fail") and int(suite.get("failures")) == len(failed)
    skipped = {c.get("name").split()[0] for c in cases if c.find("skipped") is not None}
    assert skipped == _statuses(report, "not_observed") | _statuses(report, "unverified") | _statuses(report, "not_applicable")
    warned = {c.get("name").split()[0] for c in cases if (c.findtext("system-out") or "").startswith("Warning:")}
    assert warned == _statuses(report, "warn")
    one = next(c for c in cases if c.find("failure") is not None)
    assert "Fix:" in one.find("failure").text and "Basis:" in one.find("failure").text


@pytest.mark.parametrize("fmt", ["junit", "sarif", "json"])
def test_machine_formats_are_deterministic(evidence: Path, fmt: str, tmp_path: Path):
    outs = []
    for _ in range(2):
        res = run("score", str(evidence), "-o", "-", "--format", fmt, "-q")
        assert res.exit_code == 0
        outs.append(res.stdout)
    assert outs[0] == outs[1]
    # the only wall-clock value is the evidence's finish time, which re-scoring keeps
    stamp = json.loads(evidence.read_text())["finished_at"]
    assert stamp in outs[0]


def test_folder_output_names_files_by_extension(evidence: Path, tmp_path: Path):
    res = run("score", str(evidence), "-o", str(tmp_path / "out"), "--format", "junit,sarif,json", "-q")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.json", "report.sarif", "report.xml"]


def test_audit_writes_sarif_directly(sarif_schema: dict, tmp_path: Path):
    with serve(ROUTES) as srv:
        res = run("audit", srv.base, "--format", "sarif", "-o", str(tmp_path / "audit.sarif"), "-q")
    assert res.exit_code == 0, res.output
    jsonschema.Draft4Validator(sarif_schema).validate(json.loads((tmp_path / "audit.sarif").read_text()))
    assert (tmp_path / "audit.evidence.json").is_file()


def test_fail_on_severity_exit_codes(evidence: Path, report: dict):
    worst = min(
        (f for f in report["findings"] if f["status"] == "fail"),
        key=lambda f: ["critical", "high", "medium", "low", "info"].index(f["severity"]),
    )
    res = run("score", str(evidence), "-o", "-", "-f", "json", "-q", "--fail-on", worst["severity"])
    assert res.exit_code == 1
    assert worst["rule_id"] in res.stderr and "--fail-on" in res.stderr
    # --exit-zero reports the gate but keeps the build going
    res = run("score", str(evidence), "-o", "-", "-f", "json", "-q", "--fail-on", "info", "--exit-zero")
    assert res.exit_code == 0 and "--exit-zero" in res.stderr
    json.loads(res.stdout)  # the report itself is still written, unmixed with messages


def test_fail_under_and_exit_zero(evidence: Path):
    assert run("score", str(evidence), "-o", "-", "-f", "sarif", "-q", "--fail-under", "100").exit_code == 1
    assert run("score", str(evidence), "-o", "-", "-f", "sarif", "-q", "--fail-under", "100", "--exit-zero").exit_code == 0
    assert run("score", str(evidence), "-o", "-", "-f", "sarif", "-q", "--fail-under", "0").exit_code == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--fail-on", "severe"], "unknown severity 'severe'"),
        (["--format", "docx"], "unknown format 'docx'"),
        (["-o", "-", "--format", "junit,sarif"], "exactly one --format"),
    ],
)
def test_bad_ci_options_exit_2(evidence: Path, args: list[str], message: str):
    res = run("score", str(evidence), *args)
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output
