"""Rule evaluation over generated CapabilityStatements and SMART / OpenID documents.

A vendor's server can publish any JSON. Whatever it publishes goes through the same pure code a
live audit runs (the capability summary, R4 validation, the discovery facts), into evidence,
through every rule and every renderer: the only acceptable outcome is a report.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ehrcheck.engine.scorecard import score_evidence
from ehrcheck.models import Evidence, Status
from ehrcheck.probes.anonymous.capability import validate_r4
from ehrcheck.probes.anonymous.discovery import OPENID_FIELDS, _document_facts
from ehrcheck.render import RENDERERS
from tests.faults.audit import CAP, SMART
from tests.faults.fuzzing import FUZZ, anything_like, json_values, scalars
from tests.faults.samples import attempt, evidence_from, json_response

text_or_junk = st.one_of(st.text(max_size=30), scalars, json_values)
codes = st.lists(st.fixed_dictionaries({}, optional={"code": text_or_junk, "name": text_or_junk}) | scalars, max_size=4)
resources = st.lists(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["Patient", "Observation", "Condition", "Bundle"]) | text_or_junk},
        optional={
            "interaction": codes | json_values,
            "searchParam": codes | json_values,
            "operation": codes | json_values,
            "supportedProfile": st.lists(text_or_junk, max_size=3) | json_values,
            "profile": text_or_junk,
            "searchInclude": json_values,
        },
    )
    | json_values,
    max_size=5,
)
security = st.fixed_dictionaries(
    {},
    optional={
        "service": st.lists(st.fixed_dictionaries({}, optional={"coding": codes | json_values, "text": text_or_junk}), max_size=2)
        | json_values,
        "extension": json_values,
        "cors": text_or_junk,
    },
)
capability_statements = st.fixed_dictionaries(
    {"resourceType": st.sampled_from(["CapabilityStatement", "Conformance"]) | text_or_junk},
    optional={
        "fhirVersion": st.sampled_from(["4.0.1", "1.0.2", "3.0.2", "4.3.0", "5.0.0"]) | text_or_junk,
        "status": text_or_junk,
        "kind": text_or_junk,
        "date": text_or_junk,
        "format": st.lists(text_or_junk, max_size=3) | json_values,
        "instantiates": st.lists(text_or_junk, max_size=2) | json_values,
        "implementationGuide": json_values,
        "software": json_values,
        "implementation": json_values,
        "rest": st.lists(
            st.fixed_dictionaries(
                {"mode": st.sampled_from(["server", "client"]) | text_or_junk},
                optional={"resource": resources, "security": security | json_values, "interaction": codes, "operation": codes},
            )
            | json_values,
            max_size=3,
        )
        | json_values,
    },
)
smart_documents = st.fixed_dictionaries(
    {},
    optional={
        "issuer": text_or_junk,
        "authorization_endpoint": anything_like(SMART["authorization_endpoint"]),
        "token_endpoint": anything_like(SMART["token_endpoint"]),
        "capabilities": anything_like(SMART["capabilities"]) | st.lists(text_or_junk, max_size=6),
        "code_challenge_methods_supported": anything_like(["S256"]),
        "grant_types_supported": anything_like(["authorization_code", "client_credentials"]),
        "scopes_supported": anything_like(["patient/*.rs", "openid"]),
        "token_endpoint_auth_methods_supported": anything_like(["private_key_jwt"]),
        "token_endpoint_auth_signing_alg_values_supported": anything_like(["RS384", "ES384"]),
        "jwks_uri": text_or_junk,
        "associated_endpoints": json_values,
    },
)


def score_everything(evidence: Evidence) -> None:
    # Exactly what `audit` does: the evidence round-trips through its JSON text, then is scored.
    doc = json.loads(json.dumps(evidence.to_json_dict()))
    result = score_evidence(Evidence.model_validate(doc))
    assert {f.status for f in result.findings} <= set(Status)
    for fmt, renderer in RENDERERS.items():
        assert renderer.fn(result), fmt


@pytest.mark.fuzz
@pytest.mark.timeout(300)
@FUZZ
@given(capability_statements, smart_documents)
def test_any_capability_and_smart_document_gives_a_report(capability: dict[str, Any], smart: dict[str, Any]):
    evidence = evidence_from(capability, smart)
    if evidence.probes["capability"].data.get("fhir_release") == "R4":
        assert isinstance(validate_r4(capability)["valid"], bool)
    score_everything(evidence)


@pytest.mark.fuzz
@pytest.mark.timeout(300)
@FUZZ
@given(smart_documents, json_values)
def test_any_openid_document_gives_a_report(smart: dict[str, Any], openid: Any):
    facts = _document_facts(json_response(openid), OPENID_FIELDS, "openid")
    score_everything(evidence_from(CAP, smart, openid=attempt(facts)))


@pytest.mark.fuzz
@pytest.mark.timeout(300)
@FUZZ
@given(json_values, st.sampled_from(["application/json", "text/html", "application/fhir+json;charset=x", ""]))
def test_any_json_body_on_the_smart_configuration_gives_a_report(body: Any, content_type: str):
    facts = _document_facts(json_response(body, content_type), ("capabilities", "issuer", "token_endpoint"), "smart")
    evidence = evidence_from(CAP, SMART)
    evidence.probes["smart"] = attempt(facts)
    score_everything(evidence)
