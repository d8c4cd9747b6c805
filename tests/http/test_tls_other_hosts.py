"""TLS on the other hosts an app is sent to: the authorize and token endpoints SMART discovery
publishes, and the Bulk Data file servers a manifest names (HIP-024, 45 CFR 170.315(g)(10) and
(d)(9)). Real TLS servers on 127.0.0.1, one modern and one that speaks only TLS 1.0/1.1; the
survey is a handshake, so no HTTP request (and no credential) ever reaches those hosts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket

import pytest
import trustme

from ehrcheck.engine.evaluate import evaluate
from ehrcheck.http.client import Fetcher, HttpOptions
from ehrcheck.probes.anonymous.transport import MAX_HOSTS, survey_hosts
from ehrcheck.probes.authenticated.bulk import probe_bulk
from ehrcheck.probes.base import ProbeContext
from ehrcheck.rules.schema import find_rule
from tests.faults.audit import SMART, healthy, run_audit
from tests.faults.certs import client_context, legacy_only_context, server_context
from tests.faults.server import fault_server, json_reply
from tests.support.auth import credentials, run
from tests.support.loopback import Reply, serve


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def options(ca: trustme.CA) -> HttpOptions:
    return HttpOptions(timeout=2.0, retries=0, verify=client_context(ca), trust_env=False)


def smart_pointing_at(authorize: str, token: str):
    return json_reply({**SMART, "authorization_endpoint": authorize, "token_endpoint": token}, content_type="application/json")


def legacy_or_fail(entry: dict) -> None:
    if (entry.get("tls") or {}).get("legacy", {}).get("TLSv1.1") == "untestable":  # pragma: no cover
        pytest.fail("this machine's OpenSSL cannot offer TLS 1.1, so a legacy-only server cannot be surveyed")


@pytest.mark.timeout(60)
def test_authorization_server_with_modern_tls_passes(ca):
    with fault_server({}, ssl_context=server_context(ca, "127.0.0.1")) as auth:
        smart = smart_pointing_at(auth.origin + "/authorize", auth.origin + "/oauth/token")
        with fault_server(healthy(smart=smart), ssl_context=server_context(ca, "127.0.0.1")) as fhir:
            audit = run_audit(fhir.base, options(ca))
        assert auth.requests == []  # a handshake only: nothing, and no token, was sent to it
    hosts = audit.attempt("transport").data["auth_hosts"]
    assert [h["origin"] for h in hosts] == [auth.origin]
    assert hosts[0]["roles"] == ["authorize", "token"]  # one host, surveyed once for both
    assert hosts[0]["tls"]["verified"] is True and hosts[0]["tls"]["negotiated_version"] in ("TLSv1.2", "TLSv1.3")
    finding = audit.finding("HIP-024")
    assert finding.status.value == "pass", finding.message
    assert auth.origin in finding.message


@pytest.mark.timeout(60)
def test_token_host_speaking_only_tls_1_0_and_1_1_fails(ca):
    with fault_server({}, ssl_context=legacy_only_context(ca)) as token:
        with fault_server(healthy(), ssl_context=server_context(ca, "127.0.0.1")) as fhir:
            # authorize on the FHIR server's own host:port, token on the legacy one
            fhir.routes["/fhir/.well-known/smart-configuration"] = smart_pointing_at(
                fhir.origin + "/auth", token.origin + "/token"
            )
            audit = run_audit(fhir.base, options(ca))
        assert token.requests == []
    hosts = {h["origin"]: h for h in audit.attempt("transport").data["auth_hosts"]}
    assert hosts[fhir.origin] == {"origin": fhir.origin, "roles": ["authorize"], "same_as_base": True}
    legacy_or_fail(hosts[token.origin])
    assert hosts[token.origin]["tls"]["negotiated_version"] == "TLSv1.1"
    assert hosts[token.origin]["tls"]["legacy"] == {"TLSv1.0": "accepted", "TLSv1.1": "accepted"}
    finding = audit.finding("HIP-024")
    assert finding.status.value == "fail"
    assert f"{token.origin} (token): negotiates TLSv1.1, older than TLSv1.2" in finding.message
    # The FHIR base itself is modern: only the new rule sees the weak token host.
    assert audit.finding("HIP-002").status.value == "pass"


@pytest.mark.timeout(60)
def test_unreachable_and_plain_http_hosts_are_named_not_judged(ca):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with fault_server(healthy(), ssl_context=server_context(ca, "127.0.0.1")) as fhir:
        fhir.routes["/fhir/.well-known/smart-configuration"] = smart_pointing_at(
            "http://127.0.0.1:9/authorize", f"https://127.0.0.1:{closed}/token"
        )
        audit = run_audit(fhir.base, options(ca))
    hosts = audit.attempt("transport").data["auth_hosts"]
    assert hosts[0] == {
        "origin": "http://127.0.0.1:9",
        "roles": ["authorize"],
        "skipped": "plain http: there is no TLS to survey",
    }
    assert hosts[1]["unreachable"] == "connection refused"
    finding = audit.finding("HIP-024")
    assert finding.status.value == "not_observed" and "connection refused" in finding.message
    assert audit.finding("HIP-023").status.value == "fail"  # the plain-http authorize endpoint


def test_survey_is_bounded_to_distinct_hosts():
    """Ten file URLs on six hosts: each host once, at most MAX_HOSTS surveyed, never a path kept."""
    ports = []
    for _ in range(6):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    urls = [("bulk files", f"https://127.0.0.1:{p}/files/{i}.ndjson?sig=secret") for i, p in enumerate(ports + ports[:4])]
    urls.append(("bulk files", "relative/file.ndjson"))

    async def go():
        fetcher = Fetcher.create(HttpOptions(timeout=1, retries=0, trust_env=False))
        try:
            return await survey_hosts(ProbeContext(base_url="https://127.0.0.1:1/fhir", fetcher=fetcher, timeout=1), urls)
        finally:
            await fetcher.aclose()

    entries = asyncio.run(go())
    assert [e["origin"] for e in entries] == [f"https://127.0.0.1:{p}" for p in ports]
    assert sum("unreachable" in e for e in entries) == MAX_HOSTS
    assert [e.get("skipped", "")[:12] for e in entries[MAX_HOSTS:]] == ["not surveyed"] * (6 - MAX_HOSTS)
    assert "sig=" not in repr(entries) and ".ndjson" not in repr(entries)


@pytest.mark.servers  # the SMART test client's key comes from scripts/test
@pytest.mark.timeout(90)
def test_bulk_file_server_speaking_only_legacy_tls_fails(ca, tmp_path, sekmet_keys_dir):
    """A Bulk export whose manifest points at a file server that speaks only TLS 1.0/1.1."""
    routes = {
        "/token": Reply(200, {"access_token": "t" * 40, "token_type": "bearer", "expires_in": 300, "scope": "system/*.read"}),
        "/fhir/Patient/$export": Reply(202, b"", {"Content-Location": "/fhir/status/1"}),
        "/fhir/Group": Reply(200, {"resourceType": "Bundle", "type": "searchset", "entry": []}),
    }
    with fault_server({}, ssl_context=legacy_only_context(ca)) as files, serve(routes, prefix="/fhir") as lb:
        manifest = {
            "transactionTime": "2026-06-01T00:00:00Z",
            "request": lb.base + "/Patient/$export",
            "requiresAccessToken": True,
            "output": [{"type": "Patient", "url": files.origin + "/files/Patient.ndjson?sig=capability-0001", "count": 1}],
            "error": [],
        }
        routes["/fhir/status/1"] = [Reply(202, b"", {"Retry-After": "0"}), Reply(200, manifest)]
        creds = credentials(sekmet_keys_dir, "ehrcheck-jwt", tmp_path, token_endpoint=lb.origin + "/token")
        ev = run(lb.base, creds, {"bulk": probe_bulk}, bulk_timeout=10)
    entries = ev.probes["bulk"].data["patient"]["file_hosts"]
    assert [e["origin"] for e in entries] == [files.origin] and entries[0]["roles"] == ["bulk files"]
    legacy_or_fail(entries[0])
    assert entries[0]["tls"]["negotiated_version"] == "TLSv1.1"
    assert "capability-0001" not in ev.model_dump_json()  # only the origin of a file URL is kept
    finding = evaluate(ev, [find_rule("HIP-024")], dt.date(2026, 6, 1))[0]
    assert finding.status.value == "fail"
    assert f"{files.origin} (bulk files): negotiates TLSv1.1" in finding.message
