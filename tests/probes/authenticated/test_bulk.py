"""Bulk Data export against sekmet (with a Group made for the test), and the NDJSON reader
against a loopback file server serving broken files."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import json
import time

import httpx
import pytest

from ehrcheck.engine.evaluate import evaluate
from ehrcheck.http.client import Fetcher, HttpOptions, Recorder
from ehrcheck.probes.authenticated.bulk import probe_bulk, retry_after
from ehrcheck.rules.schema import find_rule
from tests.support.auth import credentials, run
from tests.support.loopback import Reply, serve

BULK_RULES = ("INT-310", "INT-311", "INT-312", "INT-313", "INT-314", "INT-315", "INT-325", "INT-326", "HIP-312")


@pytest.fixture(scope="module")
def group_id(sekmet_auth_url, sekmet_keys_dir):
    """A Group of two patients on the SMART sekmet (carebundle data has none), made through the API."""
    static = json.loads((sekmet_keys_dir / "clients.json").read_text())["static_bearer_token"]
    headers = {"Authorization": f"Bearer {static}", "Accept": "application/fhir+json"}
    patients = httpx.get(f"{sekmet_auth_url}/Patient?_count=2", headers=headers).json()["entry"]
    group = {
        "resourceType": "Group",
        "type": "person",
        "actual": True,
        "member": [{"entity": {"reference": f"Patient/{e['resource']['id']}"}} for e in patients],
    }
    resp = httpx.post(f"{sekmet_auth_url}/Group", json=group, headers={**headers, "Content-Type": "application/fhir+json"})
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


@pytest.mark.servers
def test_bulk_export_end_to_end(sekmet_auth_url, sekmet_keys_dir, tmp_path, group_id):
    # The system/*.* client: sekmet refuses DELETE (cancel) to read-only tokens.
    creds = credentials(sekmet_keys_dir, "ehrcheck-secret", tmp_path)
    ev = run(sekmet_auth_url, creds, {"bulk": probe_bulk}, group_id=group_id, bulk_timeout=60)
    attempt = ev.probes["bulk"]
    assert attempt.status.value == "completed", attempt.reason
    b = attempt.data
    assert b["kickoff_without_token"] == {"http_status": 401, "refused": True}
    # The Group export is the certified path: followed end to end, files and all.
    g = b["group"]
    assert g["found_by"] == "given" and g["kickoff"]["accepted"] and g["kickoff"]["content_location"]
    assert g["status"]["state"] == "complete"
    assert g["manifest"]["fields_missing"] == [] and g["manifest"]["requires_access_token"] is True
    assert "Observation" in g["manifest"]["output_types"]
    obs = next(f for f in g["files"] if f["type"] == "Observation")
    assert obs["lines"] == obs["manifest_count"] > 0 and obs["invalid_json"] == obs["wrong_type"] == obs["structure_invalid"] == 0
    assert obs["validated"] <= 100  # 20 lines per sampled patient (default sample 5): bounded work
    assert g["file_without_token"]["refused"] is True
    assert g["cleanup_delete_status"] == 202
    # Patient/$export is optional: kicked off and polled, its files not read when a Group exists.
    p = b["patient"]
    assert p["kickoff"]["accepted"] and p["status"]["state"] == "complete" and p["status"]["retry_after_hints"] >= 1
    assert "files" not in p
    # Every Observation line judged against its US Core 6.1.0 profile, not only the validated ones.
    assert obs["us_core"]["version"] == "6.1.0" and obs["us_core"]["checked"] == obs["lines"] and obs["us_core"]["failed"] == 0
    assert "us-core-observation-lab" in obs["us_core"]["profiles"]
    params = b["kickoff_parameters"]  # tried on the Group export
    assert params["output_format"] == {
        "requested": "application/fhir+ndjson",
        "kickoff_status": 202,
        "accepted": True,
        "state": "complete",
    }
    assert params["type"]["requested"][0] == "Patient" and params["type"]["unexpected_types"] == []
    assert params["since"]["state"] == "complete" and params["since"]["updated_before_since"] == 0
    assert b["cancel"] == {
        "kickoff_status": 202,
        "delete_status": 202,
        "after_delete_status": 404,
        "after_delete_operation_outcome": True,
        "cancelled": True,
    }
    findings = {f.rule_id: f.status.value for f in evaluate(ev, [find_rule(r) for r in BULK_RULES], dt.date(2026, 6, 1))}
    assert set(findings.values()) == {"pass"}, findings
    raw = ev.model_dump_json()
    assert group_id not in raw and "Group/[id]/$export" in raw


@pytest.mark.servers
def test_read_only_token_cannot_cancel(sekmet_auth_url, sekmet_keys_dir, tmp_path):
    creds = credentials(sekmet_keys_dir, "ehrcheck-jwt", tmp_path)
    ev = run(sekmet_auth_url, creds, {"bulk": probe_bulk}, bulk_timeout=60)
    b = ev.probes["bulk"].data
    assert b["cancel"]["delete_status"] == 403 and b["cancel"]["cancelled"] is False
    f = evaluate(ev, [find_rule("INT-315")], dt.date(2026, 6, 1))[0]
    assert f.status.value == "fail" and "DELETE answered HTTP 403" in f.message


def test_retry_after_forms():
    assert retry_after("3") == 3.0
    assert retry_after(None) is None and retry_after("soon") is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= retry_after(later) <= 31


def _ndjson_routes(lines: list[bytes], ctype: str = "application/fhir+ndjson") -> dict:
    return {"/files/Patient.ndjson": Reply(200, b"\n".join(lines) + b"\n", {"Content-Type": ctype})}


def test_ndjson_lines_are_read_in_bounded_memory():
    """A line longer than the bound is skipped whole (never held), and reading goes on after it."""
    big = b'{"resourceType":"Patient","note":"' + b"x" * 300_000 + b'"}'
    lines = [
        b'{"resourceType":"Patient","id":"a"}',
        big,
        b"not json",
        b'{"resourceType":"Observation"}',
        b'{"resourceType":"Patient","id":"b"}',
    ]

    async def read(base: str) -> tuple[list, int]:
        fetcher = Fetcher.create(HttpOptions(timeout=5))
        got = []
        try:
            async with fetcher.stream(base.replace("/fhir", "") + "/files/Patient.ndjson", Recorder()) as resp:
                async for line in resp.lines(max_line_bytes=1024):
                    got.append(line)
                read_bytes = resp.bytes_read
        finally:
            await fetcher.aclose()
        return got, read_bytes

    with serve(_ndjson_routes(lines)) as lb:
        got, read_bytes = asyncio.run(read(lb.base))
    assert got == [lines[0], None, b"not json", lines[3], lines[4]]
    assert read_bytes > 300_000


@pytest.mark.servers
def test_broken_export_files_are_counted(tmp_path, sekmet_keys_dir):
    """A loopback Bulk server whose file is served as text/plain with junk lines."""
    lines = [
        b'{"resourceType":"Patient","id":"a"}',
        b"garbage",
        b'{"resourceType":"Observation","id":"o"}',
        b'{"resourceType":"Patient","birthDate":"not-a-date"}',
    ]
    routes = {
        "/token": Reply(200, {"access_token": "t" * 40, "token_type": "bearer", "expires_in": 300, "scope": "system/*.read"}),
        "/fhir/Patient/$export": Reply(202, b"", {"Content-Location": "/fhir/status/1"}),
        "/fhir/Group": Reply(200, {"resourceType": "Bundle", "type": "searchset", "entry": []}),
        **_ndjson_routes(lines, "text/plain"),
    }
    with serve(routes, prefix="/fhir") as lb:
        manifest = {
            "transactionTime": "2026-06-01T00:00:00Z",
            "request": lb.base + "/Patient/$export",
            "requiresAccessToken": True,
            "output": [{"type": "Patient", "url": lb.origin + "/files/Patient.ndjson", "count": 3}],
            "error": [],
        }
        routes["/fhir/status/1"] = [Reply(202, b"", {"Retry-After": "0"}), Reply(200, manifest)]
        creds = credentials(sekmet_keys_dir, "ehrcheck-jwt", tmp_path, token_endpoint=lb.origin + "/token")
        ev = run(lb.base, creds, {"bulk": probe_bulk}, bulk_timeout=10)
    b = ev.probes["bulk"].data
    f = b["patient"]["files"][0]
    assert (f["lines"], f["invalid_json"], f["wrong_type"], f["structure_invalid"]) == (4, 1, 1, 1)
    assert f["ndjson_content_type"] is False and f["count_matches"] is False
    assert b["kickoff_without_token"]["refused"] is False  # this toy server exports to anyone
    statuses = {
        x.rule_id: x.status.value
        for x in evaluate(ev, [find_rule(r) for r in ("INT-314", "HIP-312", "INT-311")], dt.date(2026, 6, 1))
    }
    assert statuses == {"INT-314": "fail", "HIP-312": "fail", "INT-311": "not_observed"}


@pytest.mark.servers
def test_export_that_never_finishes_stops_at_the_bound(tmp_path, sekmet_keys_dir):
    routes = {
        "/token": Reply(200, {"access_token": "t" * 40, "token_type": "bearer", "expires_in": 300, "scope": "system/*.read"}),
        "/fhir/Patient/$export": Reply(202, b"", {"Content-Location": "/fhir/status/1"}),
        "/fhir/status/1": Reply(202, b"", {"Retry-After": "1"}),
    }
    with serve(routes, prefix="/fhir") as lb:
        creds = credentials(sekmet_keys_dir, "ehrcheck-jwt", tmp_path, token_endpoint=lb.origin + "/token")
        ev = run(lb.base, creds, {"bulk": probe_bulk}, bulk_timeout=1.5)
        deletes = [r for r in lb.requests if r[0] == "DELETE"]
    status = ev.probes["bulk"].data["patient"]["status"]
    assert status["state"] == "timed_out" and status["retry_after_hints"] >= 1
    assert all(w <= 1.0 for w in status["waits_s"])  # never waited longer than the server asked
    assert deletes, "the unfinished job was not deleted"
    assert evaluate(ev, [find_rule("INT-312")], dt.date(2026, 6, 1))[0].status.value == "fail"


@pytest.mark.servers
def test_bulk_lines_judged_against_us_core_and_an_ignored_since(tmp_path, sekmet_keys_dir):
    """A loopback Bulk server whose Condition file breaks US Core (a wrong clinicalStatus code, a
    missing subject) and which ignores `_since` (every export sends the same old file)."""
    good = {
        "resourceType": "Condition",
        "id": "c1",
        "meta": {"lastUpdated": "2020-01-01T00:00:00Z"},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "problem-list-item"}]}
        ],
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
        "subject": {"reference": "Patient/p1"},
    }
    wrong_code = {
        **good,
        "id": "c2",
        "clinicalStatus": {"coding": [{"system": good["clinicalStatus"]["coding"][0]["system"], "code": "bogus"}]},
    }
    no_subject = {k: v for k, v in {**good, "id": "c3"}.items() if k != "subject"}
    lines = [json.dumps(r).encode() for r in (good, wrong_code, no_subject)]
    routes = {
        "/token": Reply(200, {"access_token": "t" * 40, "token_type": "bearer", "expires_in": 300, "scope": "system/*.read"}),
        "/fhir/Patient/$export": Reply(202, b"", {"Content-Location": "/fhir/status/1"}),
        "/fhir/Group": Reply(200, {"resourceType": "Bundle", "type": "searchset", "entry": []}),
        "/files/Condition.ndjson": Reply(200, b"\n".join(lines) + b"\n", {"Content-Type": "application/fhir+ndjson"}),
    }
    with serve(routes, prefix="/fhir") as lb:
        manifest = {
            "transactionTime": "2026-06-01T00:00:00Z",
            "request": lb.base + "/Patient/$export",
            "requiresAccessToken": True,
            "output": [{"type": "Condition", "url": lb.origin + "/files/Condition.ndjson", "count": 3}],
            "error": [],
        }
        routes["/fhir/status/1"] = Reply(200, manifest)
        creds = credentials(sekmet_keys_dir, "ehrcheck-jwt", tmp_path, token_endpoint=lb.origin + "/token")
        ev = run(lb.base, creds, {"bulk": probe_bulk}, bulk_timeout=10)
    b = ev.probes["bulk"].data
    uc = b["patient"]["files"][0]["us_core"]
    assert (uc["checked"], uc["failed"]) == (3, 2)
    prof = uc["profiles"]["us-core-condition-problems-health-concerns"]
    assert prof["mandatory_violations"] == {"Condition.subject": 1}
    assert prof["codes_failed"] == {"Condition.clinicalStatus": 1} and prof["bad_codes"] == ["bogus (condition-clinical)"]
    assert b["kickoff_parameters"]["since"]["updated_before_since"] == 3
    statuses = {x.rule_id: x for x in evaluate(ev, [find_rule(r) for r in ("INT-325", "INT-326")], dt.date(2026, 6, 1))}
    assert statuses["INT-325"].status.value == "fail" and "2 of 3 lines" in statuses["INT-325"].message
    assert "subject" in statuses["INT-325"].message and "clinicalStatus code" in statuses["INT-325"].message
    assert statuses["INT-326"].status.value == "fail" and "_since sent 3 resources" in statuses["INT-326"].message
