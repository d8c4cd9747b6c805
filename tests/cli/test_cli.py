"""The command line as a user drives it: exit codes, files written, clear errors, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import ROUTES, run
from tests.support.loopback import serve


def test_version():
    res = run("--version")
    assert res.exit_code == 0 and res.stdout.startswith("ehrcheck ")


def test_audit_writes_three_formats_and_evidence(tmp_path: Path):
    out = tmp_path / "rep"
    with serve(ROUTES) as srv:
        res = run("audit", srv.base, "-o", str(out))
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["evidence.json", "report.html", "report.json", "report.md"]
    report = json.loads((out / "report.json").read_text())
    assert report["verdict"]["label"]
    assert "Verdict:" in (out / "report.md").read_text()
    assert "<html" in (out / "report.html").read_text()


def test_probe_then_score_equals_audit(tmp_path: Path):
    with serve(ROUTES) as srv:
        assert run("audit", srv.base, "-o", str(tmp_path / "a"), "--format", "json", "-q").exit_code == 0
        assert run("probe", srv.base, "-o", str(tmp_path / "ev.json"), "-q").exit_code == 0
    # Scoring the audit's own evidence gives exactly the audit's findings, observed values included.
    assert run("score", str(tmp_path / "a" / "evidence.json"), "-o", str(tmp_path / "a2.json"), "-q").exit_code == 0
    a = json.loads((tmp_path / "a" / "report.json").read_text())
    a2 = json.loads((tmp_path / "a2.json").read_text())
    assert a["findings"] == a2["findings"] and a["verdict"] == a2["verdict"] and a["packs"] == a2["packs"]
    # A separate probe of the same server gives the same statuses (only timings may differ).
    assert run("score", str(tmp_path / "ev.json"), "-o", str(tmp_path / "b.json"), "-q").exit_code == 0
    b = json.loads((tmp_path / "b.json").read_text())
    assert [(f["rule_id"], f["status"]) for f in a["findings"]] == [(f["rule_id"], f["status"]) for f in b["findings"]]
    assert a["verdict"] == b["verdict"]


def test_rescoring_the_same_evidence_is_byte_identical(tmp_path: Path):
    with serve(ROUTES) as srv:
        run("probe", srv.base, "-o", str(tmp_path / "ev.json"), "-q")
    for name in ("one.json", "two.json"):
        assert run("score", str(tmp_path / "ev.json"), "-o", str(tmp_path / name), "-q").exit_code == 0
    assert (tmp_path / "one.json").read_bytes() == (tmp_path / "two.json").read_bytes()


def test_unreachable_target_exits_2_and_keeps_evidence(tmp_path: Path):
    with serve({}) as srv:
        dead = srv.base
    res = run("audit", dead, "-o", str(tmp_path / "r"), "--timeout", "2")
    assert res.exit_code == 2
    assert "could not be reached" in res.output
    assert "Traceback" not in res.output
    evidence = json.loads((tmp_path / "r" / "evidence.json").read_text())
    assert evidence["probes"]["availability"]["data"]["reachable"] is False
    assert not (tmp_path / "r" / "report.html").exists()


def test_fail_under_exits_1(tmp_path: Path):
    with serve(ROUTES) as srv:
        res = run("audit", srv.base, "-o", str(tmp_path / "r"), "--fail-under", "100", "-q")
    assert res.exit_code == 1


def test_stdout_output_needs_one_format(tmp_path: Path):
    with serve(ROUTES) as srv:
        res = run("audit", srv.base, "-o", "-", "--format", "json", "-q")
        assert res.exit_code == 0
        assert json.loads(res.stdout)["target"]["base_url"] == srv.base
        res = run("audit", srv.base, "-o", "-", "-q")
    assert res.exit_code == 2 and "exactly one --format" in res.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["audit", "ftp://x", "-o", "-", "-f", "json"], "must start with http"),
        (["audit", "http://127.0.0.1:9/fhir", "--format", "docx"], "unknown format 'docx'"),
        (["audit", "http://127.0.0.1:9/fhir", "--as-of", "31/01/2026"], "not a date"),
        (["rules", "explain", "INT-999"], "no rule 'INT-999'"),
        (["rules", "list", "--pack", "nope"], "unknown pack"),
    ],
)
def test_bad_input_is_one_clear_line(args, message):
    res = run(*args)
    assert res.exit_code == 2
    assert message in res.output
    assert "Traceback" not in res.output


def test_bad_evidence_files(tmp_path: Path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema": "ehrcheck.evidence",\n  oops}')
    res = run("score", str(broken))
    assert res.exit_code == 2 and f"{broken}:2:" in res.output

    other = tmp_path / "other.json"
    other.write_text(json.dumps({"schema": "ehrcheck.evidence", "schema_version": 99}))
    res = run("score", str(other))
    assert res.exit_code == 2 and "schema_version 99" in res.output

    tampered = tmp_path / "tampered.json"
    tampered.write_text(
        json.dumps(
            {
                "schema": "ehrcheck.evidence",
                "schema_version": 1,
                "tool_version": "0",
                "target": {"base_url": "x"},
                "started_at": "2026-06-01T00:00:00Z",
                "finished_at": "2026-06-01T00:00:01Z",
                "probes": {"capability": {"status": "maybe"}},
            }
        )
    )
    res = run("score", str(tampered))
    assert res.exit_code == 2 and "probes.capability.status" in res.output

    res = run("score", str(tmp_path / "missing.json"))
    assert res.exit_code == 2 and "cannot read" in res.output


def test_bad_claims_yaml_names_the_line(tmp_path: Path):
    claims = tmp_path / "vendor.yaml"
    claims.write_text("product:\n  vendor: Acme\n  version: [1, 2\n")
    res = run("audit", "http://127.0.0.1:9/fhir", "--claims", str(claims))
    assert res.exit_code == 2
    assert str(claims) in res.output and "not valid YAML" in res.output


def test_rules_list_and_explain():
    res = run("rules", "list")
    assert res.exit_code == 0 and "INT-001" in res.stdout
    res = run("rules", "explain", "int-002")
    assert res.exit_code == 0
    assert "45 CFR 170.215(a)(1)" in res.stdout and "Ask the vendor" in res.stdout
