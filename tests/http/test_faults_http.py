"""A misbehaving server, one fault per test, against a whole anonymous audit.

Each fault must end as a clear finding, or as not_observed with its reason, within a bounded
time (the pytest-timeout marker: no wall-clock assertions), and the probes the fault does not
touch must carry on. The fault sits on GET [base]/metadata unless the test says otherwise.
"""

from __future__ import annotations

import socket

import pytest

from ehrcheck.http.client import HttpOptions
from tests.faults.audit import CAP, healthy, run_audit
from tests.faults.server import (
    closed_port,
    drip,
    fault_server,
    garbage,
    gzip_bomb,
    hang_up,
    huge,
    json_reply,
    redirect,
    reply,
    sequence,
    stall,
)

HTML_LOGIN = "<!DOCTYPE html><html><head><title>Sign in</title></head><body><form>…</form></body></html>"


def assert_others_carried_on(audit) -> None:
    assert audit.attempt("smart").status.value == "completed"
    assert audit.attempt("smart").data["found"] is True
    assert audit.attempt("access").status.value == "completed"
    assert audit.evidence.probes["availability"].data["reachable"] is True


# (name, fault on /metadata, words the capability attempt's reason must contain)
NOT_OBSERVED = [
    ("read timeout", stall(), "timed out"),
    ("slow-drip body", drip(b" " * 10_000, interval=0.02), "timed out"),
    ("slow-drip headers", drip(b"{}", interval=0.02, headers_too=True), "timed out"),
    ("hang-up without an answer", hang_up(), "broke the HTTP protocol"),
    ("not HTTP at all", garbage(), "broke the HTTP protocol"),
    ("500", json_reply({"resourceType": "OperationOutcome"}, 500), "failed with HTTP 500"),
    ("502", reply(502, "<html>Bad gateway</html>", content_type="text/html"), "failed with HTTP 502"),
    ("503 with a long Retry-After", reply(503, "busy", {"Retry-After": "3600"}), "HTTP 503 (Retry-After: 3600)"),
    ("503 that never recovers", reply(503, "busy", {"Retry-After": "0"}), "failed with HTTP 503"),
    ("429", reply(429, "slow down", {"Retry-After": "3600"}), "rate-limited us with HTTP 429"),
    ("redirect loop", redirect("/fhir/metadata"), "too many redirects"),
    ("gzip bomb", gzip_bomb(200 * 1024 * 1024), "size cap"),
    ("double-gzip bomb", gzip_bomb(50 * 1024 * 1024, layers=2), "Content-Encoding 'gzip, gzip'"),
    ("corrupt gzip", reply(200, b"\x1f\x8b\x08\x00garbage-not-deflate", {"Content-Encoding": "gzip"}), "corrupt"),
    ("unasked-for encoding", reply(200, b"\x00\x01", {"Content-Encoding": "br"}), "did not ask for"),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name, fault, words", NOT_OBSERVED, ids=[n for n, _f, _w in NOT_OBSERVED])
def test_fault_on_metadata_is_not_observed_with_its_reason(name, fault, words):
    with fault_server(healthy(metadata=fault)) as srv:
        audit = run_audit(srv.base)
    capability = audit.attempt("capability")
    assert capability.status.value == "error", capability
    assert words in capability.reason
    finding = audit.finding("INT-001")
    assert finding.status.value == "not_observed"
    assert words in finding.message  # the report says why, in the rule's own line
    assert_others_carried_on(audit)


# (name, fault on /metadata, words in the recorded problem): the server answered, and what it
# answered shows there is no usable CapabilityStatement: a finding, not a gap in the evidence.
FAILS = [
    (
        "invalid JSON",
        reply(200, '{"resourceType": "CapabilityStatement", ', content_type="application/fhir+json"),
        "not valid JSON",
    ),
    ("HTML login page", reply(200, HTML_LOGIN, content_type="text/html"), "HTML page"),
    (
        "JSON of the wrong kind",
        json_reply({"resourceType": "Bundle", "type": "searchset"}),
        "a Bundle, not a CapabilityStatement",
    ),
    ("a JSON array", json_reply([1, 2, 3]), "a list, not a CapabilityStatement"),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name, fault, words", FAILS, ids=[n for n, _f, _w in FAILS])
def test_wrong_answer_on_metadata_is_a_finding(name, fault, words):
    with fault_server(healthy(metadata=fault)) as srv:
        audit = run_audit(srv.base)
    capability = audit.attempt("capability")
    assert capability.status.value == "completed"
    assert capability.data["found"] is False
    assert words in capability.data["problem"]
    assert audit.finding("INT-001").status.value == "fail"
    assert_others_carried_on(audit)


@pytest.mark.timeout(30)
def test_503_then_recovery_is_retried_and_passes():
    flaky = sequence(reply(503, "warming up", {"Retry-After": "0"}), json_reply(CAP))
    with fault_server(healthy(metadata=flaky)) as srv:
        audit = run_audit(srv.base)
        metadata_hits = [p for p in srv.paths() if p.endswith("/metadata")]
    assert audit.finding("INT-001").status.value == "pass"
    # The read was retried once; the request sent with an Origin afterwards is the CORS check (INT-037).
    reads = [ex for ex in audit.attempt("capability").exchanges if "origin" not in {k.lower() for k in ex.request_headers}]
    assert [ex.status for ex in reads] == [503, 200]
    assert len(metadata_hits) == 3


@pytest.mark.timeout(60)
def test_oversized_body_stops_at_the_default_cap():
    # 25 MB of well-formed JSON padding: over the default 20 MB cap, so it is never parsed.
    with fault_server(healthy(metadata=huge(25 * 1024 * 1024))) as srv:
        audit = run_audit(srv.base)
    capability = audit.attempt("capability")
    assert capability.status.value == "error" and "size cap" in capability.reason
    [exchange] = capability.exchanges  # not re-downloaded with each Accept header
    assert exchange.body_bytes == 20 * 1024 * 1024
    assert "size cap" in exchange.error


@pytest.mark.timeout(30)
def test_the_size_cap_is_configurable():
    options = HttpOptions(timeout=2, retries=0, max_body_bytes=64 * 1024, trust_env=False)
    with fault_server(healthy(metadata=huge(100 * 1024))) as srv:
        small = run_audit(srv.base, options)
        default = run_audit(srv.base)
    assert "size cap" in small.attempt("capability").reason
    assert default.attempt("capability").status.value == "completed"  # 100 KB is fine by default


@pytest.mark.timeout(30)
def test_wrong_content_type_on_smart_configuration_is_a_finding():
    smart_as_html = json_reply({"capabilities": ["launch-standalone"]}, content_type="text/html")
    with fault_server(healthy(smart=smart_as_html)) as srv:
        audit = run_audit(srv.base)
    smart = audit.attempt("smart")
    assert smart.status.value == "completed" and smart.data["json_content_type"] is False
    finding = audit.finding("INT-018")
    assert finding.status.value == "fail"
    assert "text/html" in finding.message
    assert audit.finding("INT-001").status.value == "pass"


@pytest.mark.timeout(30)
def test_smart_configuration_failing_leaves_openid_not_observed_not_skipped():
    with fault_server(healthy(smart=stall())) as srv:
        audit = run_audit(srv.base)
    assert audit.attempt("smart").status.value == "error"
    openid = audit.attempt("openid")
    assert openid.status.value == "error" and "SMART configuration" in openid.reason
    assert audit.finding("INT-018").status.value == "not_observed"
    assert audit.attempt("capability").status.value == "completed"


@pytest.mark.timeout(30)
def test_connection_refused_everywhere_is_unreachable_with_reason():
    base = f"http://127.0.0.1:{closed_port()}/fhir"
    audit = run_audit(base)
    for probe in ("capability", "smart", "access"):
        assert audit.attempt(probe).status.value == "error"
        assert "connection refused" in audit.attempt(probe).reason
    assert audit.evidence.probes["availability"].data["reachable"] is False
    assert audit.result.verdict.level == "unknown"
    assert audit.finding("INT-001").status.value == "not_observed"


@pytest.mark.timeout(30)
def test_dns_failure_is_unreachable_with_reason(monkeypatch):
    # The system resolver would ask a DNS server off this machine; a test may not, so the
    # resolver itself is the one thing replaced here, failing as glibc does for an unknown name.
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if host == "ehr.vendor.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    audit = run_audit("https://ehr.vendor.invalid/fhir")
    for probe in ("capability", "smart", "access", "transport"):
        attempt = audit.attempt(probe)
        assert attempt.status.value == "error", (probe, attempt)
        assert "could not be resolved" in attempt.reason
    assert audit.evidence.probes["availability"].data["reachable"] is False
    # No transport finding claims anything about a host that was never reached.
    assert audit.finding("HIP-011").status.value == "not_observed"


@pytest.mark.timeout(30)
def test_stalled_patient_search_does_not_hold_up_the_rest():
    with fault_server(healthy(patient=stall())) as srv:
        audit = run_audit(srv.base)
    search = audit.attempt("access").data["patient_search"]
    assert "timed out" in search["error"]
    assert audit.finding("HIP-012").status.value == "not_observed"
    assert audit.finding("HIP-013").status.value == "pass"  # the export kick-off was still tried
    assert audit.finding("INT-001").status.value == "pass"
