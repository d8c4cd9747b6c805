"""Origin discipline: a token or secret goes only to the audited FHIR origin and the token
endpoint the server advertises, and only over https (plain http only between loopback hosts).

Each test runs a hostile vendor on loopback that tries to pull a credential somewhere else, and a
second loopback server ("elsewhere") that stands for a host the token must never reach.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ehrcheck.engine.scorecard import score_evidence
from ehrcheck.http.client import HttpOptions
from ehrcheck.http.redact import Secrets
from ehrcheck.probes.authenticated import bulk, token
from ehrcheck.probes.authenticated.credentials import load_credentials
from ehrcheck.probes.authenticated.token import AuthSession
from ehrcheck.probes.runner import collect
from tests.faults.audit import SMART, healthy
from tests.faults.server import Conn, dynamic, fault_server, json_reply, reply

TOKEN = "PLANTED-origin-token-8d2e51"
SECRET = "PLANTED-client-secret-6c0f93"
FAST = HttpOptions(timeout=1.0, retries=0, trust_env=False)


def _collect(base: str, tmp_path: Path, creds_text: str, probes: dict, options: HttpOptions = FAST, **settings):
    path = tmp_path / "creds.yaml"
    path.write_text(creds_text, encoding="utf-8")
    creds = load_credentials(path, environ={})
    secrets = Secrets(creds.secrets())
    settings = {"auth": AuthSession(creds, secrets=secrets), "bulk_timeout": 3, **settings}
    evidence = asyncio.run(collect(base, options, extra_probes=probes, settings=settings, secrets=secrets))
    return evidence, score_evidence(evidence)


def finding(result, rule_id: str):
    return next(f for f in result.findings if f.rule_id == rule_id)


def offsite_bulk_vendor(elsewhere: str) -> dict:
    """Kick-offs (with or without a token) answer 202 with a status URL on another origin."""

    def export(c: Conn):
        return reply(202, b"", {"Content-Location": elsewhere + "/status/1"})

    return {**healthy(export=dynamic(export)), "/fhir/Group": json_reply({"resourceType": "Bundle", "entry": []})}


@pytest.mark.timeout(60)
def test_bulk_status_url_on_another_origin_gets_no_token_and_no_delete(tmp_path):
    with fault_server({"/status/1": reply(200, b"{}")}) as elsewhere:
        with fault_server(offsite_bulk_vendor(elsewhere.origin)) as srv:
            evidence, result = _collect(
                srv.base, tmp_path, f"auth_method: bearer\nbearer_token: {TOKEN}\n", {"bulk": bulk.probe_bulk}
            )
            kickoffs = [r for r in srv.requests if r.path.endswith("$export")]
        contacted = list(elsewhere.requests)
    assert kickoffs and any(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in kickoffs)
    # Neither polled with the token, nor DELETEd (the anonymous kick-off's cleanup included).
    assert all("authorization" not in r.headers for r in contacted), contacted
    assert not [r for r in contacted if r.method == "DELETE"], contacted
    data = evidence.probes["bulk"].data
    assert data["patient"]["status_url_refused"].startswith("not polled: the status URL is on another origin")
    assert data["kickoff_without_token"]["cancel_refused"]
    rule = finding(result, "INT-316")
    assert rule.status.value == "fail" and "another origin" in rule.message


def manifest_vendor(requires_token, file_origin: str | None = None) -> dict:
    def status(c: Conn):
        origin = file_origin or c.server.origin
        manifest = {
            "transactionTime": "2026-06-01T00:00:00Z",
            "request": f"{c.server.origin}/fhir/Patient/$export",
            "output": [{"type": "Patient", "url": origin + "/files/Patient.ndjson"}],
        }
        if requires_token is not None:
            manifest["requiresAccessToken"] = requires_token
        return json_reply(manifest, content_type="application/json")

    ndjson = reply(200, b'{"resourceType":"Patient","id":"p1"}\n', content_type="application/fhir+ndjson")
    return {
        **healthy(export=dynamic(lambda c: reply(202, b"", {"Content-Location": "/fhir/status/1"}))),
        "/fhir/status/1": dynamic(status),
        "/files/Patient.ndjson": ndjson,
    }


@pytest.mark.timeout(60)
def test_bulk_file_gets_the_token_only_when_the_manifest_says_so(tmp_path):
    # A manifest without requiresAccessToken does not earn the file server the token.
    with fault_server(manifest_vendor(None)) as srv:
        evidence, _ = _collect(srv.base, tmp_path, f"auth_method: bearer\nbearer_token: {TOKEN}\n", {"bulk": bulk.probe_bulk})
        files = [r for r in srv.requests if r.path == "/files/Patient.ndjson"]
    assert files and all("authorization" not in r.headers for r in files)
    assert evidence.probes["bulk"].data["patient"]["token_sent_to_file_origins"] == []


@pytest.mark.timeout(60)
def test_report_names_the_origins_that_received_the_token_for_files(tmp_path):
    with fault_server({"/files/Patient.ndjson": reply(200, b"{}\n", content_type="application/fhir+ndjson")}) as storage:
        with fault_server(manifest_vendor(True, storage.origin)) as srv:
            evidence, result = _collect(
                srv.base, tmp_path, f"auth_method: bearer\nbearer_token: {TOKEN}\n", {"bulk": bulk.probe_bulk}
            )
        got = [r.headers.get("authorization") for r in storage.requests]
    assert f"Bearer {TOKEN}" in got  # the manifest said so, and the storage is loopback http
    assert evidence.probes["bulk"].data["patient"]["token_sent_to_file_origins"] == [storage.origin]
    assert storage.origin in finding(result, "INT-316").message


def https_vendor_with_http_token_endpoint(token_url: str) -> dict:
    smart = {**SMART, "token_endpoint": token_url}
    return healthy(smart=json_reply(smart, content_type="application/json"))


@pytest.mark.timeout(60)
def test_http_token_endpoint_under_an_https_base_gets_no_secret_and_is_critical(tmp_path):
    import trustme

    from tests.faults.certs import client_context, server_context

    ca = trustme.CA()
    creds = f"client_id: app\nauth_method: client_secret_post\nclient_secret: {SECRET}\n"
    with fault_server({"/token": reply(200, b'{"access_token": "x"}')}) as plain:
        routes = https_vendor_with_http_token_endpoint(plain.origin + "/token")
        with fault_server(routes, ssl_context=server_context(ca)) as srv:
            options = HttpOptions(timeout=2.0, retries=0, verify=client_context(ca), trust_env=False)
            evidence, result = _collect(srv.base, tmp_path, creds, {"token": token.probe_token}, options)
        posted = list(plain.requests)
    assert posted == []  # not one clear-text POST of the secret
    data = evidence.probes["token"].data
    assert data["token_endpoint"]["refused"].startswith("refused: the token endpoint http://127.0.0.1:")
    assert "plain http under an https FHIR base" in data["token_endpoint"]["refused"]
    rule = finding(result, "HIP-313")
    assert rule.status.value == "fail" and rule.severity.value == "critical"


def test_token_endpoint_policy():
    from ehrcheck.http.origins import credential_refusal

    https, loop_http = "https://fhir.vendor.example/r4", "http://127.0.0.1:8080/fhir"
    assert credential_refusal("https://auth.vendor.example/token", https) is None
    assert "plain http under an https" in credential_refusal("http://auth.vendor.example/token", https)
    assert credential_refusal("http://127.0.0.1:9/token", https).startswith("refused")  # https base: never downgrade
    assert credential_refusal("http://127.0.0.1:9/token", loop_http) is None  # loopback to loopback: allowed, flagged
    assert credential_refusal("http://localhost:9/token", loop_http) is None
    assert credential_refusal("http://10.0.0.5/token", loop_http).startswith("refused")  # off the machine in clear text
    assert credential_refusal("ftp://x/token", https).startswith("refused")
