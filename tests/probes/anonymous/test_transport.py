"""Transport probe against real TLS servers on loopback (certificates from trustme)."""

from __future__ import annotations

import asyncio
import ssl
import warnings

import trustme

from ehrcheck.http.client import HttpOptions
from ehrcheck.probes.runner import collect
from tests.support.loopback import Reply, serve

CAP = {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1", "status": "active", "kind": "instance", "format": ["json"]}


def _server_ctx(ca: trustme.CA, *names: str, minimum=ssl.TLSVersion.TLSv1_2) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = minimum
    ca.issue_cert(*names).configure_cert(ctx)
    return ctx


def _transport(base: str, client_ctx: ssl.SSLContext):
    evidence = asyncio.run(collect(base, HttpOptions(timeout=5, retries=0, verify=client_ctx)))
    return evidence.probes["transport"]


def test_trusted_modern_tls(tls_ca, tls_client_ctx):
    routes = {"/fhir/metadata": Reply(200, CAP, {"Strict-Transport-Security": "max-age=31536000; includeSubDomains"})}
    with serve(routes, ssl_context=_server_ctx(tls_ca, "127.0.0.1")) as srv:
        attempt = _transport(srv.base, tls_client_ctx)
    assert attempt.status.value == "completed"
    tls = attempt.data["tls"]
    assert tls["verified"] is True
    assert tls["negotiated_version"] in ("TLSv1.2", "TLSv1.3")
    assert tls["certificate"]["hostname_match"] is True
    assert tls["certificate"]["days_left"] > 30
    assert tls["legacy"]["TLSv1.0"] in ("rejected", "untestable")
    assert attempt.data["hsts"]["max_age"] == 31536000
    assert attempt.data["http_redirect"]["untested"] == "non-standard port"


def test_untrusted_certificate_is_recorded_not_fatal(tls_client_ctx):
    stranger = trustme.CA()  # a CA the client does not trust: like a self-signed vendor cert
    with serve({"/fhir/metadata": Reply(200, CAP)}, ssl_context=_server_ctx(stranger, "127.0.0.1")) as srv:
        attempt = _transport(srv.base, tls_client_ctx)
    tls = attempt.data["tls"]
    assert tls["verified"] is False
    assert "certificate" in tls["verify_error"].lower() or tls["verify_error"]
    assert tls["certificate"]["issuer"]  # still read, through an unverified handshake


def test_wrong_hostname(tls_ca, tls_client_ctx):
    with serve({"/fhir/metadata": Reply(200, CAP)}, ssl_context=_server_ctx(tls_ca, "ehr.other.example")) as srv:
        attempt = _transport(srv.base, tls_client_ctx)
    tls = attempt.data["tls"]
    assert tls["verified"] is False
    assert tls["certificate"]["hostname_match"] is False
    assert tls["certificate"]["san_dns"] == ["ehr.other.example"]


def test_plain_http_has_no_tls():
    with serve({"/fhir/metadata": Reply(200, CAP)}) as srv:
        attempt = _transport(srv.base, ssl.create_default_context())
    assert attempt.data["scheme"] == "http"
    assert attempt.data["tls"] is None


def test_server_still_accepting_tls10_is_caught(tls_ca, tls_client_ctx):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    tls_ca.issue_cert("127.0.0.1").configure_cert(ctx)
    with serve({"/fhir/metadata": Reply(200, CAP)}, ssl_context=ctx) as srv:
        attempt = _transport(srv.base, tls_client_ctx)
    legacy = attempt.data["tls"]["legacy"]
    # Our own OpenSSL may refuse to speak TLS 1.0 at all; then the answer must say so, not "rejected".
    assert legacy["TLSv1.0"] in ("accepted", "untestable")
    assert legacy["TLSv1.0"] != "rejected"


def test_handshake_and_certificate_facts_the_tls_rules_read(tls_ca, tls_client_ctx):
    with serve({"/fhir/metadata": Reply(200, CAP)}, ssl_context=_server_ctx(tls_ca, "127.0.0.1")) as srv:
        attempt = _transport(srv.base, tls_client_ctx)
    tls = attempt.data["tls"]
    assert tls["client_offered_tls13"] is True and tls["negotiated_version"] == "TLSv1.3"
    assert tls["certificate"]["key_type"] == "EC" and tls["certificate"]["key_bits"] == 256  # trustme's default
    assert tls["certificate"]["signature_hash"] == "sha256"
    assert tls["static_kx"] == "rejected"  # an EC certificate cannot do a static RSA key exchange


def test_a_server_that_accepts_static_rsa_is_caught(tls_client_ctx):
    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    ca.issue_cert("127.0.0.1", key_type=trustme.KeyType.RSA).configure_cert(ctx)
    with serve({"/fhir/metadata": Reply(200, CAP)}, ssl_context=ctx) as srv:
        evidence = asyncio.run(collect(srv.base, HttpOptions(timeout=5, retries=0, verify=tls_client_ctx)))
    tls = evidence.probes["transport"].data["tls"]
    assert tls["negotiated_version"] == "TLSv1.2" and tls["certificate"]["key_bits"] == 2048
    from ehrcheck.engine.scorecard import score_evidence

    findings = {f.rule_id: f for f in score_evidence(evidence).findings}
    assert findings["HIP-025"].status.value == "warn"  # offered TLS 1.3, got 1.2
    assert tls["static_kx"] == "accepted"
    assert findings["HIP-026"].status.value == "warn", findings["HIP-026"].message
    assert findings["HIP-027"].status.value == "pass" and findings["HIP-028"].status.value == "pass"


def test_a_scans_audits_of_one_host_share_one_tls_survey_and_see_what_each_alone_sees(tls_ca, tls_client_ctx, monkeypatch):
    """scan.run.sharing_between_audits: two endpoints on one TLS host:port, audited with one
    TlsSurveys, get the same transport facts as each audited alone, from one survey."""
    from ehrcheck.probes.anonymous import transport
    from ehrcheck.probes.tls_surveys import TlsSurveys

    surveys: list[tuple[str, int]] = []
    real = transport._tls_survey

    def counted(host, port, *args):
        surveys.append((host, port))
        return real(host, port, *args)

    monkeypatch.setattr(transport, "_tls_survey", counted)
    routes = {"/a/metadata": Reply(200, CAP), "/b/metadata": Reply(200, CAP)}
    options = HttpOptions(timeout=5, retries=0, verify=tls_client_ctx)

    def facts(base: str, shared: TlsSurveys | None) -> dict:
        evidence = asyncio.run(collect(base, options, tls_surveys=shared))
        return evidence.probes["transport"].data

    with serve(routes, prefix="", ssl_context=_server_ctx(tls_ca, "127.0.0.1")) as srv:
        alone = [facts(f"{srv.origin}/{p}", None) for p in ("a", "b")]
        assert len(surveys) == 2
        shared = TlsSurveys()
        together = [facts(f"{srv.origin}/{p}", shared) for p in ("a", "b")]
    assert len(surveys) == 3  # the second endpoint reused the first one's survey
    assert together == alone
    assert together[0]["tls"]["verified"] is True
