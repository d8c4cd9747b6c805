"""Attack round 5 (an independent black-box round, then fixes): each test failed on the code
before its fix. A Bulk status URL that redirects to another origin, patient data in the URL a
redirect leads to, saved scan rows with huge numbers, deep nesting, lone surrogates or
credentials, a resume file that is a device or a FIFO, raw bidi characters in history Markdown,
empty credentials files, duplicate YAML keys, and output paths that would overwrite a user's file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.audit import healthy
from tests.faults.server import dynamic, fault_server, json_reply, reply
from tests.hostile.test_origins import TOKEN, _collect
from tests.support.cli import run

PHI_ID = "pt-ZQ4471"
PHI_DOB = "1931-07-19"


@pytest.mark.timeout(60)
def test_a_status_url_that_redirects_to_another_origin_is_not_followed(tmp_path: Path):
    """The status URL was on the audited origin, but answered 307 to another one: the poll
    followed it (without the token), took the manifest that host served, and then sent the
    bearer token to the file servers *it* named (`token_sent_to_file_origins` listed them)."""
    from ehrcheck.probes.authenticated import bulk

    with fault_server({}) as elsewhere:
        manifest = {
            "transactionTime": "2026-06-01T00:00:00Z",
            "request": "x",
            "requiresAccessToken": True,
            "output": [{"type": "Patient", "url": elsewhere.origin + "/files/Patient.ndjson"}],
        }
        elsewhere_routes = {
            "/status/1": json_reply(manifest, content_type="application/json"),
            "/files/Patient.ndjson": reply(
                200, b'{"resourceType":"Patient","id":"p1"}\n', content_type="application/fhir+ndjson"
            ),
        }
        with fault_server(elsewhere_routes) as storage:
            vendor = {
                **healthy(export=dynamic(lambda c: reply(202, b"", {"Content-Location": "/fhir/status/r"}))),
                "/fhir/status/r": reply(307, b"", {"Location": storage.origin + "/status/1"}),
            }
            with fault_server(vendor) as srv:
                evidence, result = _collect(
                    srv.base, tmp_path, f"auth_method: bearer\nbearer_token: {TOKEN}\n", {"bulk": bulk.probe_bulk}
                )
            contacted = list(storage.requests)
    assert contacted == [], contacted  # neither polled there nor any file fetched from its manifest
    patient = evidence.probes["bulk"].data["patient"]
    assert patient["status_url_refused"].startswith("not polled: the status URL is on another origin")
    assert not patient.get("token_sent_to_file_origins")
    assert next(f for f in result.findings if f.rule_id == "INT-316").status.value == "fail"


@pytest.mark.timeout(60)
def test_patient_data_in_the_url_a_redirect_leads_to_is_scrubbed(tmp_path: Path):
    """`/metadata` answered 302 to `/Patient/<id>?name=…&birthdate=…`: the Location header was
    scrubbed, but the request that followed it was recorded with its URL as sent, so the id, name
    and birth date reached evidence.json, report.html/report.json and --debug (docs/security.md
    §5 names exactly this redirect)."""
    from tests.support.cli import ROUTES
    from tests.support.loopback import Reply, serve

    target = f"/fhir/Patient/{PHI_ID}?name=Quixotebottom&birthdate={PHI_DOB}"
    routes = {**ROUTES, "/fhir/metadata": Reply(302, b"", {"Location": target})}
    out = tmp_path / "out"
    with serve(routes) as srv:
        res = run("--debug", "audit", srv.base, "-o", str(out), "-f", "html,json", "--timeout", "3")
    assert res.exit_code in (0, 1), res.output[-2000:]
    for f in out.iterdir():
        text = f.read_text(encoding="utf-8")
        for planted in (PHI_ID, PHI_DOB, "Quixotebottom"):
            assert planted not in text, (f.name, planted)
    for planted in (PHI_ID, PHI_DOB, "Quixotebottom"):
        assert planted not in res.output
    assert "/fhir/Patient/[id]?name=[redacted]&birthdate=[redacted]" in (out / "evidence.json").read_text(encoding="utf-8")
