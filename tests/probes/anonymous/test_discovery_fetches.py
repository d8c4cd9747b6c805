"""What the discovery probes fetch beyond the two documents — the CORS request, the OpenID key set,
the brand bundle — against a real loopback server: what they send, and what they record.

No credentials go out with any of them, the Origin header only with the CORS requests, and only
what judges a key (never its material) reaches the evidence.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from ehrcheck.engine.scorecard import score_evidence
from ehrcheck.http.client import HttpOptions
from ehrcheck.models import Evidence
from ehrcheck.probes.anonymous.cors import ORIGIN
from ehrcheck.probes.runner import collect
from tests.support.loopback import Loopback, Reply, serve

N_2048 = base64.urlsafe_b64encode(b"\xc1" + b"\x01" * 255).rstrip(b"=").decode()  # a 2048-bit modulus
METADATA = {
    "resourceType": "CapabilityStatement",
    "status": "active",
    "kind": "instance",
    "fhirVersion": "4.0.1",
    "format": ["json"],
    "rest": [
        {
            "mode": "server",
            "security": {"service": [{"coding": [{"code": "SMART-on-FHIR"}]}], "cors": True},
            "resource": [{"type": "Group", "operation": [{"name": "export", "definition": "OperationDefinition/group-export"}]}],
        }
    ],
}


def _smart(origin: str) -> dict[str, Any]:
    return {
        "issuer": f"{origin}/auth",
        "jwks_uri": f"{origin}/auth/jwks-from-smart.json",
        "authorization_endpoint": f"{origin}/auth/authorize",
        "token_endpoint": f"{origin}/auth/token",
        "capabilities": ["launch-standalone", 1, None, "sso-openid-connect"],
        "code_challenge_methods_supported": ["S256"],
        "user_access_brand_bundle": f"{origin}/brands.json",
        "user_access_brand_identifier": {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:1"},
    }


def _openid(origin: str) -> dict[str, Any]:
    return {"issuer": f"{origin}/auth", "jwks_uri": f"{origin}/auth/jwks.json", "response_types_supported": ["code"]}


def _brands(base: str) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": "urn:uuid:org",
                "resource": {
                    "resourceType": "Organization",
                    "id": "org",
                    "identifier": [{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:1"}],
                    "name": "Loopback Practice",
                    "address": [{"city": "Springfield"}],
                    "endpoint": [{"reference": "Endpoint/ep"}],
                },
            },
            {
                "fullUrl": "urn:uuid:ep",
                "resource": {
                    "resourceType": "Endpoint",
                    "id": "ep",
                    "status": "active",
                    "connectionType": {"code": "hl7-fhir-rest"},
                    "address": base,
                },
            },
        ],
    }


JWKS = {
    "keys": [
        {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "a", "n": N_2048, "e": "AQAB"},
        {"kty": "RSA", "kid": "b", "n": N_2048, "e": "AQAB", "d": "c2VjcmV0LXByaXZhdGUtZXhwb25lbnQ"},
    ]
}


def _run(cors: bool) -> tuple[Evidence, Loopback]:
    routes: dict[str, Any] = {}
    with serve(routes) as srv:
        allow = {"Access-Control-Allow-Origin": "*"} if cors else {}
        json_type = {"Content-Type": "application/json"}
        routes["/fhir/metadata"] = Reply(200, METADATA, allow)
        routes["/fhir/.well-known/smart-configuration"] = Reply(200, _smart(srv.origin), {**json_type, **allow})
        routes["/auth/.well-known/openid-configuration"] = Reply(200, _openid(srv.origin), json_type)
        routes["/auth/jwks.json"] = Reply(200, JWKS, json_type)
        routes["/brands.json"] = Reply(200, _brands(srv.base))
        evidence = asyncio.run(collect(srv.base, HttpOptions(timeout=5, retries=0, trust_env=False)))
    return evidence, srv


def test_the_extra_fetches_and_what_they_record() -> None:
    evidence, srv = _run(cors=True)
    smart, openid, cap = (evidence.probes[p].data for p in ("smart", "openid", "capability"))
    # capabilities keep their strings only: no "1", no "None"
    assert smart["capabilities"] == ["launch-standalone", "sso-openid-connect"]
    assert cap["cors"] == {"origin": ORIGIN, "http_status": 200, "allow_origin": "*"}
    assert smart["cors"]["allow_origin"] == "*"
    assert cap["security"]["element"]["cors"] is True
    assert cap["bulk_operations"]["Group"] == [{"name": "export", "definition": "OperationDefinition/group-export"}]
    brand = smart["brand_bundle"]
    assert brand["found"] and brand["target"]["listed"] and brand["identifier_matched"] is True
    assert "addresses" not in brand
    jwks = openid["jwks"]
    assert jwks["source"] == "openid" and jwks["found"]
    assert [k["rsa_bits"] for k in jwks["keys"]] == [2048, 2048]
    assert [k["private_parts"] for k in jwks["keys"]] == [False, True]
    # the key material itself is never kept
    text = json.dumps(evidence.to_json_dict())
    assert N_2048 not in text and "c2VjcmV0" not in text
    # what was sent: an Origin only on the two CORS requests, and never a credential
    with_origin = sorted(path for _, path, headers in srv.requests if headers.get("origin") == ORIGIN)
    assert with_origin == ["/fhir/.well-known/smart-configuration", "/fhir/metadata"]
    fetched = {path for _, path, _ in srv.requests}
    assert {"/auth/jwks.json", "/brands.json"} <= fetched
    assert "/auth/jwks-from-smart.json" not in fetched  # the OpenID document's jwks_uri wins
    assert not any({"authorization", "cookie"} & headers.keys() for _, _, headers in srv.requests)

    findings = {f.rule_id: f for f in score_evidence(evidence).findings}
    assert findings["INT-037"].status.value == "pass"
    assert findings["PRT-014"].status.value == "pass", findings["PRT-014"].message
    assert findings["INT-038"].status.value == "fail"
    assert "Key 2 publishes private key members" in findings["INT-038"].message
    assert findings["INT-033"].status.value == "fail"
    assert "capabilities is an array whose item 2 is a number" in findings["INT-033"].message
    assert findings["INT-036"].status.value == "warn"  # a relative definition


def test_no_cors_headers_is_a_warning() -> None:
    evidence, _ = _run(cors=False)
    assert evidence.probes["capability"].data["cors"]["allow_origin"] is None
    finding = next(f for f in score_evidence(evidence).findings if f.rule_id == "INT-037")
    assert finding.status.value == "warn"
    assert "GET [base]/metadata sent no Access-Control-Allow-Origin" in finding.message


def test_a_missing_key_set_and_brand_bundle_are_recorded_as_such() -> None:
    routes: dict[str, Any] = {}
    with serve(routes) as srv:
        routes["/fhir/metadata"] = Reply(200, METADATA)
        routes["/fhir/.well-known/smart-configuration"] = Reply(200, _smart(srv.origin), {"Content-Type": "application/json"})
        routes["/auth/.well-known/openid-configuration"] = Reply(200, _openid(srv.origin), {"Content-Type": "text/html"})
        evidence = asyncio.run(collect(srv.base, HttpOptions(timeout=5, retries=0, trust_env=False)))
    assert evidence.probes["openid"].data["jwks"]["problem"] == "HTTP 404"
    assert evidence.probes["smart"].data["brand_bundle"]["found"] is False
    findings = {f.rule_id: f for f in score_evidence(evidence).findings}
    assert "could not be read: HTTP 404" in findings["INT-038"].message
    assert findings["PRT-014"].status.value == "warn"
    assert "served as 'text/html'" in findings["INT-029"].message
