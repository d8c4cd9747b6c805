"""How the FHIR API answers an anonymous client beyond the discovery documents (INT-049..052),
against real loopback servers: one that behaves as FHIR R4 says, one with each defect."""

from __future__ import annotations

import asyncio
from typing import Any

from ehrcheck.engine.scorecard import score_evidence
from ehrcheck.http.client import HttpOptions
from ehrcheck.models import Evidence
from ehrcheck.probes.anonymous.access import UNKNOWN_ID
from ehrcheck.probes.runner import collect
from tests.support.loopback import Loopback, Reply, serve

STATEMENT = {
    "resourceType": "CapabilityStatement",
    "status": "active",
    "kind": "instance",
    "fhirVersion": "4.0.1",
    "format": ["json", "xml"],
    "rest": [{"mode": "server", "resource": [{"type": "Patient", "interaction": [{"code": "read"}]}]}],
}
XML = '<CapabilityStatement xmlns="http://hl7.org/fhir"><status value="active"/></CapabilityStatement>'
RULES = ("INT-049", "INT-050", "INT-051", "INT-052")


def _audit(routes: dict[str, Any]) -> tuple[Evidence, dict[str, Any], Loopback]:
    with serve(routes) as srv:
        evidence = asyncio.run(collect(srv.base, HttpOptions(timeout=5, retries=0, trust_env=False)))
    findings = {f.rule_id: f for f in score_evidence(evidence).findings if f.rule_id in RULES}
    return evidence, findings, srv


def test_a_server_that_follows_fhir_r4_passes_all_four() -> None:
    evidence, findings, srv = _audit(
        {
            "/fhir/metadata": Reply(200, STATEMENT),
            "/fhir/metadata?_format=json": Reply(200, STATEMENT),
            "/fhir/Patient": Reply(401, {"resourceType": "OperationOutcome"}, {"WWW-Authenticate": "Bearer"}),
            # /fhir/Patient/<unknown id>: the loopback's default 404 with an OperationOutcome
        }
    )
    assert {r: f.status.value for r, f in findings.items()} == dict.fromkeys(RULES, "pass")
    # what was sent: the two extra requests, each once, with no credential
    sent = [(path, headers.get("accept")) for _, path, headers in srv.requests]
    assert ("/fhir/metadata?_format=json", "application/fhir+xml") in sent
    assert ("/fhir/Patient/" + UNKNOWN_ID, "application/fhir+json") in sent
    assert not any({"authorization", "cookie"} & headers.keys() for _, _, headers in srv.requests)
    assert evidence.probes["access"].data["unknown_read"]["issue_codes"] == ["not-found"]


def test_each_defect_is_named() -> None:
    _, findings, _ = _audit(
        {
            "/fhir/metadata": Reply(200, STATEMENT, {"Content-Type": "application/json"}),
            "/fhir/metadata?_format=json": Reply(200, XML, {"Content-Type": "application/fhir+xml"}),
            "/fhir/Patient": Reply(401, {"resourceType": "OperationOutcome"}),
            f"/fhir/Patient/{UNKNOWN_ID}": Reply(200, "<html>No such patient</html>", {"Content-Type": "text/html"}),
        }
    )
    status = {r: f.status.value for r, f in findings.items()}
    assert status == {"INT-049": "fail", "INT-050": "warn", "INT-051": "fail", "INT-052": "not_applicable"}
    assert "GET [base]/metadata came back as application/json" in findings["INT-049"].message
    assert "application/fhir+xml, not a JSON CapabilityStatement" in findings["INT-050"].message
    assert "HTTP 200 for GET [base]/Patient/<unknown id>, not 404" in findings["INT-051"].message


def test_a_404_without_an_operation_outcome_and_a_json_only_server() -> None:
    statement = {**STATEMENT, "format": ["application/fhir+json"]}
    evidence, findings, srv = _audit(
        {
            "/fhir/metadata": Reply(200, statement),
            "/fhir/Patient": Reply(401, {"resourceType": "OperationOutcome"}),
            f"/fhir/Patient/{UNKNOWN_ID}": Reply(404, "Not Found", {"Content-Type": "text/plain"}),
        }
    )
    assert findings["INT-051"].status.value == "pass"
    assert findings["INT-052"].status.value == "warn"
    assert "text/plain body, not an OperationOutcome" in findings["INT-052"].message
    assert findings["INT-050"].status.value == "not_applicable"  # JSON only: no _format request is made
    assert not any("_format" in path for _, path, _ in srv.requests)
    assert "format_param" not in evidence.probes["capability"].data
