"""Broken TLS and hostile redirects: each a clear finding or not_observed with its reason, in
bounded time, and never a credential sent where it does not belong.

Certificates come from trustme (and one genuinely self-signed leaf); the client trusts the test
CA, so each test breaks exactly one thing.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import trustme

from ehrcheck.http.client import Fetcher, FetchError, HttpOptions, Recorder
from tests.faults.audit import CAP, healthy, run_audit
from tests.faults.certs import (
    client_context,
    expired_context,
    legacy_only_context,
    self_signed_context,
    server_context,
)
from tests.faults.server import fault_server, json_reply, redirect
from tests.support.cli import run


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def options(ca: trustme.CA, **kw) -> HttpOptions:
    return HttpOptions(timeout=2.0, retries=0, verify=client_context(ca), trust_env=False, **kw)


def assert_reachable_but_unobserved(audit) -> None:
    """The server answered the TLS handshake, so the audit goes on to a report that says why the
    FHIR rules could not be observed, instead of stopping at 'could not be reached'."""
    availability = audit.evidence.probes["availability"].data
    assert availability["reachable"] is True and availability["tls_only"] is True
    capability = audit.attempt("capability")
    assert capability.status.value == "error" and "TLS handshake failed" in capability.reason
    assert audit.finding("INT-001").status.value == "not_observed"


@pytest.mark.timeout(60)
def test_self_signed_certificate(ca):
    with fault_server(healthy(), ssl_context=self_signed_context()) as srv:
        audit = run_audit(srv.base, options(ca))
    tls = audit.attempt("transport").data["tls"]
    assert tls["verified"] is False and "self" in tls["verify_error"] and "signed" in tls["verify_error"]
    assert tls["certificate"]["self_signed"] is True
    assert audit.finding("HIP-005").status.value == "fail"
    assert "--ca-bundle" in audit.attempt("capability").reason  # the way out, for a private CA
    assert_reachable_but_unobserved(audit)


@pytest.mark.timeout(60)
def test_expired_certificate(ca):
    with fault_server(healthy(), ssl_context=expired_context(ca)) as srv:
        audit = run_audit(srv.base, options(ca))
    tls = audit.attempt("transport").data["tls"]
    assert tls["verified"] is False and "expired" in tls["verify_error"]
    finding = audit.finding("HIP-006")
    assert finding.status.value == "fail" and "expired on" in finding.message
    assert "expired" in audit.attempt("capability").reason
    assert_reachable_but_unobserved(audit)


@pytest.mark.timeout(60)
def test_wrong_hostname(ca):
    with fault_server(healthy(), ssl_context=server_context(ca, "ehr.someone-else.example")) as srv:
        audit = run_audit(srv.base, options(ca))
    assert audit.finding("HIP-008").status.value == "fail"
    assert "ehr.someone-else.example" in audit.finding("HIP-008").message
    assert "not valid for '127.0.0.1'" in audit.attempt("capability").reason
    assert_reachable_but_unobserved(audit)


@pytest.mark.timeout(60)
def test_server_speaking_only_tls_1_0_and_1_1(ca):
    with fault_server(healthy(), ssl_context=legacy_only_context(ca)) as srv:
        audit = run_audit(srv.base, options(ca))
    tls = audit.attempt("transport").data["tls"]
    assert tls["modern_error"]
    if tls["legacy"]["TLSv1.1"] == "untestable":  # pragma: no cover - depends on the OpenSSL build
        pytest.fail("this machine's OpenSSL cannot offer TLS 1.1, so a legacy-only server cannot be surveyed")
    assert tls["legacy"] == {"TLSv1.0": "accepted", "TLSv1.1": "accepted"}
    assert tls["negotiated_version"] == "TLSv1.1"
    assert audit.finding("HIP-002").status.value == "fail"
    assert "older than TLSv1.2" in audit.finding("HIP-002").message
    assert audit.finding("HIP-003").status.value == "fail"
    assert audit.finding("HIP-004").status.value == "fail"
    assert "old TLS versions" in audit.attempt("capability").reason
    assert_reachable_but_unobserved(audit)


@pytest.mark.timeout(60)
def test_tls_handshake_that_never_completes(ca):
    # A plain TCP server that reads the ClientHello and never answers it.
    with fault_server({}) as plain:
        audit = run_audit(plain.base.replace("http://", "https://"), options(ca))
    transport = audit.attempt("transport")
    assert "took longer than" in transport.data["tls"]["error"]
    assert audit.finding("HIP-002").status.value == "not_observed"
    assert "timed out" in audit.attempt("capability").reason


@pytest.mark.timeout(60)
def test_https_to_http_downgrade_is_refused_and_reported(ca):
    with fault_server({}) as plain:
        target = plain.origin + "/fhir/metadata"
        plain.routes["/fhir/metadata"] = json_reply(CAP)
        with fault_server(healthy(metadata=redirect(target)), ssl_context=server_context(ca, "127.0.0.1")) as srv:
            audit = run_audit(srv.base, options(ca))
        assert plain.requests == []  # the http:// address was never contacted
    capability = audit.attempt("capability")
    assert capability.data["found"] is False
    assert "refused to follow a redirect from https:// to http://" in capability.data["problem"]
    assert audit.finding("INT-001").status.value == "fail"


def _fetch(url: str, headers: dict[str, str], opts: HttpOptions | None = None):
    async def go():
        fetcher = Fetcher.create(opts or HttpOptions(retries=0, timeout=2, trust_env=False))
        try:
            return await fetcher.get(url, Recorder(), headers=headers)
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


SECRET_HEADERS = {
    "authorization": "Bearer planted-token-0001",
    "Cookie": "session=planted-cookie-0002",
    "API-Key": "planted-chpl-key-0003",
}


@pytest.mark.timeout(30)
def test_credentials_never_follow_a_redirect_to_another_origin():
    # Same host, another port: another origin, as browsers and RFC 6454 count it. The header
    # names are spelt as callers might (lower-case Authorization, a CHPL API-Key).
    with fault_server({"/fhir/landing": json_reply(CAP)}) as other:
        with fault_server({"/fhir/metadata": redirect(other.base + "/landing")}) as srv:
            resp = _fetch(srv.base + "/metadata", {**SECRET_HEADERS, "Accept": "application/fhir+json"})
            sent = srv.requests[0].headers
        landed = other.requests[0].headers
    assert resp.status == 200
    assert sent["authorization"] == "Bearer planted-token-0001" and sent["api-key"] == "planted-chpl-key-0003"
    for name in ("authorization", "cookie", "api-key"):
        assert name not in landed
    assert landed["accept"] == "application/fhir+json"  # ordinary headers still follow


@pytest.mark.timeout(30)
def test_credentials_do_follow_a_redirect_within_the_origin():
    with fault_server({"/fhir/metadata": redirect("/fhir/r4/metadata"), "/fhir/r4/metadata": json_reply(CAP)}) as srv:
        resp = _fetch(srv.base + "/metadata", SECRET_HEADERS)
        second = srv.requests[1].headers
    assert resp.status == 200 and second["authorization"] == "Bearer planted-token-0001"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("location", ["http://[::1", "http://:99999/x", "ftp://127.0.0.1/metadata"])
def test_redirect_to_an_unusable_location_is_a_clean_error(location):
    with fault_server({"/fhir/metadata": redirect(location)}) as srv:
        with pytest.raises(FetchError) as info:
            _fetch(srv.base + "/metadata", {})
    assert info.value.kind in ("protocol", "redirects", "http")
    assert str(info.value) and "Traceback" not in str(info.value)


@pytest.mark.timeout(60)
def test_cli_audit_of_a_self_signed_server_writes_a_report(tmp_path: Path):
    with fault_server(healthy(), ssl_context=self_signed_context()) as srv:
        res = run("audit", srv.base, "-o", str(tmp_path / "r"), "--timeout", "2", "-q")
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    hip005 = next(f for f in report["findings"] if f["rule_id"] == "HIP-005")
    assert hip005["status"] == "fail" and "self" in hip005["message"]
    assert "Traceback" not in res.output
