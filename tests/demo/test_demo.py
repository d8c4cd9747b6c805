"""`ehrcheck demo`: three fictional vendors served from recorded responses on 127.0.0.1 and audited
for real. Only INT-001/INT-002 and the CHPL gates are named here: the other rules are free to
change, but the three vendors must keep telling the verdict levels apart."""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import os
import re
import ssl
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography import x509
from rich.console import Console

from ehrcheck.demo.run import VendorApp, load_vendors, run_demo, serve_vendors
from ehrcheck.engine.verdict import LABELS as VERDICT_LABELS
from ehrcheck.http.tls_ca import EphemeralCA
from ehrcheck.models import Evidence
from ehrcheck.resources import data_dir

SLUGS = ("meadowlark-chart", "riverbend-ehr", "summit-health-cloud")
RANK = {"siloed_emr": 0, "interoperable_ehr": 1, "certified_ehr_ready": 2}
FILES = ("report.html", "report.md", "report.json", "evidence.json")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("demo") / "out"
    stream = io.StringIO()
    results = run_demo(out, console=Console(file=stream, width=200, color_system=None))
    return out, {r.slug: r for r in results}, stream.getvalue()


def _evidence(out: Path, slug: str) -> dict:
    return json.loads((out / slug / "evidence.json").read_text(encoding="utf-8"))


def _report(out: Path, slug: str) -> dict:
    return json.loads((out / slug / "report.json").read_text(encoding="utf-8"))


def _finding(report: dict, rule_id: str) -> str:
    return next(f["status"] for f in report["findings"] if f["rule_id"] == rule_id)


def test_every_vendor_gets_its_reports_evidence_and_an_index(demo) -> None:
    out, results, console_text = demo
    assert tuple(results) == SLUGS
    for slug, result in results.items():
        for name in FILES:
            path = out / slug / name
            assert path.is_file() and path.stat().st_size > 0, path
        assert set(result.files) == {"html", "md", "json", "evidence"}
        assert result.paths[0] == out / slug / "report.html" and result.verdict_label == VERDICT_LABELS[result.verdict_level]
        assert all(p.is_file() for p in result.paths)
        Evidence.model_validate(_evidence(out, slug))  # evidence.json is a readable Evidence document
        assert result.name in console_text
    assert not list(out.rglob("*.tmp")), "atomic writes left temporary files behind"
    index = (out / "index.md").read_text(encoding="utf-8")
    for slug, result in results.items():
        assert result.name in index and result.verdict_label in index
        assert f"({slug}/report.html)" in index and f"({slug}/evidence.json)" in index


def _gates(report: dict, gate: str, status: str) -> list[str]:
    return [f["rule_id"] for f in report["findings"] if f["gate"] == gate and f["status"] == status]


def test_verdicts_and_scores_are_ordered(demo) -> None:
    out, results, _ = demo
    meadow, river, summit = (results[s] for s in SLUGS)
    assert meadow.verdict_level == "siloed_emr"
    assert river.verdict_level == "interoperable_ehr"
    assert RANK[meadow.verdict_level] < RANK[river.verdict_level] <= RANK[summit.verdict_level]
    assert river.score is not None and summit.score is not None
    assert summit.score > river.score > (meadow.score or 0.0)


def test_certification_gates_separate_summit_from_riverbend(demo) -> None:
    """Summit's recorded CHPL listing (Active, Cures Update, Base EHR, (b)(10), (g)(10)) is looked
    up on its own loopback server, so every certification gate is observed and passes; riverbend's
    listing is Active but short of the 2026 criteria."""
    out, results, _ = demo
    river, summit = _report(out, "riverbend-ehr"), _report(out, "summit-health-cloud")
    assert results["summit-health-cloud"].verdict_level == "certified_ehr_ready"
    assert _gates(river, "certified", "fail")
    assert not _gates(summit, "certified", "fail") and not _gates(summit, "interoperable", "fail")
    assert not _gates(summit, "certified", "not_observed") and not _gates(summit, "certified", "unverified")
    for rule in ("CRT-001", "CRT-002", "CRT-003", "CRT-004"):
        assert _finding(summit, rule) == "pass", rule
    assert summit["certification"]["listings"][0]["status"] == "Active"
    assert summit["certification"]["endpoints"]["target_listed"] is True
    # riverbend: on CHPL and Active, but never updated to the Cures Update and not certified to
    # (b)(10); two open non-conformities; its API documentation sits behind a login
    assert _finding(river, "CRT-001") == "pass"
    assert [_finding(river, r) for r in ("CRT-004", "CRT-008", "CRT-011", "CRT-014")] == ["fail", "fail", "warn", "fail"]
    # meadowlark has no listing to look up: the certification rules say how to give one
    meadow = _report(out, "meadowlark-chart")
    assert _finding(meadow, "CRT-001") == "not_observed"
    assert meadow["certification"]["chpl"].startswith("No CHPL listing was looked up")


def test_gate_rules_int_001_and_002(demo) -> None:
    out, _, _ = demo
    meadow = _report(out, "meadowlark-chart")
    assert _finding(meadow, "INT-001") == "fail"
    for slug in ("riverbend-ehr", "summit-health-cloud"):
        report = _report(out, slug)
        assert _finding(report, "INT-001") == "pass", slug
        assert _finding(report, "INT-002") == "pass", slug


def test_summit_transport_is_modern_and_verified(demo) -> None:
    out, _, _ = demo
    transport = _evidence(out, "summit-health-cloud")["probes"]["transport"]
    assert transport["status"] == "completed"
    tls = transport["data"]["tls"]
    assert tls["negotiated_version"] in ("TLSv1.2", "TLSv1.3")
    assert tls["verified"] is True and tls["verify_error"] is None
    assert tls["certificate"]["hostname_match"] is True
    assert "127.0.0.1" in tls["certificate"]["san_ip"]
    assert tls["legacy"]["TLSv1.0"] in ("rejected", "untestable")
    assert transport["data"]["hsts"]["max_age"] == 31536000


def test_meadowlark_is_a_web_login_not_an_api(demo) -> None:
    out, _, _ = demo
    probes = _evidence(out, "meadowlark-chart")["probes"]
    assert probes["capability"]["data"]["found"] is False
    assert probes["smart"]["data"]["found"] is False
    assert probes["transport"]["data"]["hsts"]["header"] is None
    # "untestable" only where this OpenSSL cannot offer TLS 1.0 at all
    assert probes["transport"]["data"]["tls"]["legacy"]["TLSv1.0"] in ("accepted", "untestable")


def test_html_report_states_the_verdict(demo) -> None:
    out, results, _ = demo
    for slug, result in results.items():
        page = (out / slug / "report.html").read_text(encoding="utf-8")
        assert html.escape(result.verdict_label) in page, slug


def test_no_request_left_loopback(demo) -> None:
    out, _, _ = demo
    for slug in SLUGS:
        evidence = _evidence(out, slug)
        assert urlsplit(evidence["target"]["base_url"]).hostname == "127.0.0.1"
        exchanges = [ex for probe in evidence["probes"].values() for ex in probe["exchanges"]]
        assert exchanges, slug
        for ex in exchanges:
            assert urlsplit(ex["url"]).hostname == "127.0.0.1", (slug, ex["url"])
            for name in ("location", "content-location"):
                if name in ex["response_headers"]:
                    assert urlsplit(ex["response_headers"][name]).hostname in (None, "127.0.0.1")
        for summary in _report(out, slug)["probe_summary"].values():
            for ex in summary["exchanges"]:
                assert urlsplit(ex["url"]).hostname == "127.0.0.1", (slug, ex["url"])


def _route_url(vendor, path: str) -> str:
    return vendor.origin + path if path.startswith("/") else f"{vendor.base_url}/{path}"


def test_served_routes_have_no_placeholders_and_only_loopback_https_urls() -> None:
    with serve_vendors() as vendors:
        assert [v.slug for v in vendors] == list(SLUGS)
        for vendor in vendors:
            assert vendor.base_url.startswith("https://127.0.0.1:")
            with httpx.Client(verify=vendor.client_context, timeout=5, trust_env=False) as client:
                for route in vendor.spec.routes:
                    resp = client.request(route.method, _route_url(vendor, route.path))
                    assert resp.status_code == route.status, (vendor.slug, route.path)
                    text = resp.text
                    assert "{{" not in text, (vendor.slug, route.path)
                    for value in resp.headers.values():
                        assert "{{" not in value
                    for url in re.findall(r"https://[^\s\"'<>]+", text + " ".join(resp.headers.values())):
                        assert url.startswith(vendor.origin), (vendor.slug, route.path, url)
                    if vendor.spec.tls.hsts:
                        assert resp.headers["strict-transport-security"] == vendor.spec.tls.hsts
                    else:
                        assert "strict-transport-security" not in resp.headers
                missing = client.get(f"{vendor.base_url}/NoSuchResource/1")
                assert missing.status_code == 404
                if vendor.spec.not_found is None:
                    assert missing.json()["resourceType"] == "OperationOutcome"


def test_vendor_app_matches_path_and_query_then_path() -> None:
    spec = next(v for v in load_vendors() if v.slug == "summit-health-cloud")
    app = VendorApp(spec, "https://127.0.0.1:9")
    status, headers, body = app.respond("GET", "/fhir/r4/Patient?_count=1")
    assert status == 401 and dict(headers)["WWW-Authenticate"] == 'Bearer realm="https://127.0.0.1:9/fhir/r4"'
    assert app.respond("GET", "/fhir/r4/Patient?name=x")[0] == 401  # falls back to the path alone
    assert app.respond("GET", "/fhir/r4/Patient/%24export")[0] == 401  # percent-encoded $
    assert app.respond("GET", "/fhir/r4/metadata/")[0] == 200
    assert app.respond("HEAD", "/fhir/r4/metadata")[0] == 200
    status, _, body = app.respond("DELETE", "/fhir/r4/metadata")
    assert status == 404 and json.loads(body)["resourceType"] == "OperationOutcome"
    assert b"{{" not in app.respond("GET", "/fhir/r4/metadata")[2]


def test_vendors_come_from_the_packaged_data_dir() -> None:
    root = data_dir("vendors")
    assert [v.slug for v in load_vendors()] == [v.slug for v in load_vendors(root)] == list(SLUGS)


def test_bad_vendor_data_is_refused_with_the_file_named(tmp_path: Path) -> None:
    vendor = tmp_path / "broken"
    vendor.mkdir()
    (vendor / "body.json").write_text('{"url": "{{NOPE}}/x"}')
    (vendor / "vendor.yaml").write_text(
        "name: Broken\nproduct: B\ndescription: d\nroutes:\n  - {method: GET, path: metadata, status: 200, body: body.json}\n"
    )
    with pytest.raises(ValueError, match=r"body\.json.*NOPE"):
        load_vendors(tmp_path)


def test_out_dir_that_is_a_file_is_a_clean_error(tmp_path: Path) -> None:
    target = tmp_path / "report"
    target.write_text("not a folder")
    with pytest.raises(ValueError, match="not a folder"):
        run_demo(target)


def test_a_proxy_in_the_environment_never_sees_loopback_traffic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a closed loopback port: if the audit went through the "proxy", every request would fail
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    results = run_demo(tmp_path / "out", formats=("json",))
    assert [r.verdict_level for r in results][0] == "siloed_emr"
    assert all(r.verdict_level != "unknown" for r in results)
    assert "NO_PROXY" not in os.environ  # restored afterwards


def test_unknown_format_is_a_clean_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown report format"):
        run_demo(tmp_path / "out", formats=("pdf",))
    assert not (tmp_path / "out").exists()


def test_ephemeral_ca_issues_a_loopback_certificate() -> None:
    ca = EphemeralCA()
    cert_pem, _key = ca.issue_server_cert("Example Vendor")
    cert = x509.load_pem_x509_certificate(cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=89) < lifetime <= dt.timedelta(days=91)
    assert isinstance(ca.client_context(), ssl.SSLContext)
    server = ca.server_context("TLSv1_2")
    assert server.min_version == "TLSv1_2" and server.note is None
    assert server.context.minimum_version == ssl.TLSVersion.TLSv1_2
    with pytest.raises(ValueError, match="unknown minimum TLS version"):
        ca.server_context("SSLv3")
