"""Real vendor responses (shared/fixtures/real) served from loopback and audited as if live.

The files are facts about real systems; the test only rewrites their absolute URLs to the loopback
server so that nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from ehrcheck.engine.scorecard import score_evidence
from ehrcheck.http.client import HttpOptions
from ehrcheck.probes.runner import collect
from tests.paths import REAL
from tests.support.loopback import Reply, serve

# Copied verbatim from shared/fixtures/real (see fixtures/real/SOURCE.md) so the suite does not
# depend on a folder outside the repository.
UNAUTHORIZED = Reply(
    401, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "login"}]}, {"WWW-Authenticate": "Bearer"}
)


# Canonical URLs name things (profiles, extensions, code systems); they are never fetched.
CANONICAL_HOSTS = ("hl7.org", "fhir-registry.smarthealthit.org", "terminology.hl7.org", "docs.smarthealthit.org", "DSTU2")


def _load(name: str, origin: str) -> dict:
    text = (REAL / name).read_text(encoding="utf-8")

    def swap(match: re.Match) -> str:
        host = match.group(1)
        return match.group(0) if host.endswith(CANONICAL_HOSTS) else origin

    return json.loads(re.sub(r"https?://([A-Za-z0-9.\-]+)(?::\d+)?", swap, text))


def _audit(metadata: str, smart: str | None = None):
    # The origin is only known once the server runs, so serve first and fill the routes after.
    routes: dict = {}
    with serve(routes) as srv:
        routes["/fhir/metadata"] = Reply(200, _load(metadata, srv.origin))
        if smart:
            routes["/fhir/.well-known/smart-configuration"] = Reply(
                200, _load(smart, srv.origin), {"Content-Type": "application/json"}
            )
        routes["/fhir/Patient"] = UNAUTHORIZED
        routes["/fhir/Patient/$export"] = UNAUTHORIZED
        evidence = asyncio.run(collect(srv.base, HttpOptions(timeout=5)))
        hosts = {re.match(r"https?://([^/]+)", ex.url).group(1) for a in evidence.probes.values() for ex in a.exchanges}
    assert hosts <= {srv.origin.split("//")[1]}, f"traffic left loopback: {hosts}"
    return evidence, score_evidence(evidence)


@pytest.fixture(scope="module", autouse=True)
def _fixtures_present():
    assert REAL.is_dir(), f"vendor fixtures missing at {REAL} (copied from the steering repo, see its SOURCE.md)"


@pytest.mark.parametrize(
    "name", ["cerner-millennium-dstu2.metadata.json", "meditech-dstu2.metadata.json", "allscripts-dstu2.metadata.json"]
)
def test_dstu2_conformance_is_recorded_and_not_certifiable(name):
    evidence, result = _audit(name)
    cap = evidence.probes["capability"].data
    assert cap["resource_type"] == "Conformance"
    assert cap["fhir_release"] == "DSTU2"
    assert cap["security"]["oauth_uris"].get("token")  # SMART v1-era OAuth is still recognised
    findings = {f.rule_id: f for f in result.findings}
    assert findings["INT-002"].status.value == "fail"
    # A DSTU2 API shares the chart: an EHR with an outdated API, never "siloed". Served here over
    # plain HTTP while asking for tokens, it is also unsafe (HIP-023), which leads the verdict.
    assert result.verdict.shares is not None and result.verdict.shares.answer == "outdated"
    assert result.verdict.level == "unsafe" and findings["HIP-023"].status.value == "fail"


def test_azure_r4_declares_many_profiles():
    evidence, result = _audit("azure-api-for-fhir-r4.metadata.json")
    cap = evidence.probes["capability"].data
    assert cap["fhir_version"] == "4.0.1"
    assert cap["validation"]["valid"] is True
    assert len(cap["supported_profiles"]) >= 30
    assert cap["resource_count"] >= 30
    assert "OAuth" in cap["security"]["services"]
    findings = {f.rule_id: f for f in result.findings}
    assert findings["INT-001"].status.value == "pass"
    assert findings["INT-002"].status.value == "pass"
    assert result.verdict.level != "siloed_emr"
    assert result.verdict.shares is not None and result.verdict.shares.answer == "limited"  # no Patient declared


def test_cerner_smart_configuration_is_read_field_by_field():
    evidence, result = _audit("azure-api-for-fhir-r4.metadata.json", smart="cerner-r4.smart-configuration.json")
    smart = evidence.probes["smart"].data
    assert smart["found"] is True
    assert "launch-ehr" in smart["capabilities"] and "permission-v2" in smart["capabilities"]
    assert {"issuer", "token_endpoint", "authorization_endpoint", "capabilities"} <= set(smart["fields_present"])
    openid = evidence.probes["openid"].data
    assert openid["issuer_is_discovery_url"] is True  # Cerner publishes the discovery URL as issuer
    assert result.verdict.level != "certified_ehr_ready"  # no permission-v1, no PKCE declared
