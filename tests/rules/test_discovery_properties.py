"""Property tests over the discovery documents: whatever type or shape a server gives a field, no
check crashes, and a malformed value never passes silently.

Each example starts from a right document (the SMART specification's own sample, the demo's
OpenID configuration), puts one generated value into one field, records it exactly as the probes
would, and scores every rule. The value is judged by the typed reading (ehrcheck/rules/shapes.py);
when it is defective, the document's shape rule must fail naming the field, and the rules that
need the field must not pass on it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ehrcheck.engine.evaluate import evaluate
from ehrcheck.models import AttemptStatus, Evidence, ProbeAttempt, Status, Target
from ehrcheck.probes.anonymous.capability import summarise
from ehrcheck.probes.anonymous.discovery import OPENID_FIELDS, SMART_FIELDS, _document_facts, string_capabilities
from ehrcheck.probes.anonymous.jwks import summarise_jwks
from ehrcheck.probes.certification.service_base_urls import assess_bundle
from ehrcheck.rules.schema import all_rules
from ehrcheck.rules.shapes import OPENID_SPECS, SMART_SPECS, Shape, judge, read_bulk, read_security
from tests.faults.fuzzing import FUZZ, json_values, scalars
from tests.faults.samples import json_response

SAMPLE: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "fixtures" / "smart" / "spec-sample.smart-configuration.json").read_text()
)
OPENID: dict[str, Any] = {
    "issuer": "https://ehr.example.com",
    "authorization_endpoint": "https://ehr.example.com/auth/authorize",
    "token_endpoint": "https://ehr.example.com/auth/token",
    "jwks_uri": "https://ehr.example.com/.well-known/jwks.json",
    "response_types_supported": ["code"],
    "subject_types_supported": ["public"],
    "id_token_signing_alg_values_supported": ["RS256"],
}
AS_OF = dt.date(2026, 6, 1)
RULES = [r for r in all_rules() if set(r.needs) <= {"capability", "smart", "openid", "token"}]
BY_ID = {r.id: r for r in RULES}

# The rules that need a field: a wrong-typed value there must not let them pass.
NEEDED_BY: dict[str, list[str]] = {
    "authorization_endpoint": ["INT-025"],
    "token_endpoint": ["INT-025"],
    "capabilities": ["INT-020", "INT-021", "INT-022", "PRT-001"],
    "code_challenge_methods_supported": ["INT-023"],
    "grant_types_supported": ["INT-024"],
    "scopes_supported": ["PRT-006"],
    "token_endpoint_auth_methods_supported": ["INT-031"],
    "introspection_endpoint": ["INT-026"],
    "revocation_endpoint": ["INT-027"],
    "management_endpoint": ["PRT-008"],
}
OPENID_NEEDED_BY: dict[str, list[str]] = {
    **{f: ["INT-029"] for f in ("authorization_endpoint", "token_endpoint", "jwks_uri", "response_types_supported")},
    "id_token_signing_alg_values_supported": ["INT-029", "INT-030"],
}

# Values a server might put anywhere: any JSON, and near-misses of the right kinds.
near_misses = st.sampled_from(
    ["", " ", "/auth/token", "auth/token", "ftp://a.example/x", "https://", "https:///x", "https://a b.example/x", "S256", "1"]
)
values = json_values | scalars | near_misses | st.lists(near_misses | scalars, max_size=3)


def _attempt(data: dict[str, Any]) -> ProbeAttempt:
    return ProbeAttempt(status=AttemptStatus.completed, data=data)


def _evidence(capability: dict[str, Any], smart_doc: Any, openid_doc: Any | None = None, **more: dict[str, Any]) -> Evidence:
    smart = _document_facts(json_response(smart_doc), SMART_FIELDS, "smart")
    smart["capabilities"] = string_capabilities(smart.get("document", {}))
    smart.update(more.pop("smart_extra", {}))
    probes = {"capability": _attempt({**summarise(capability), "found": True}), "smart": _attempt(smart)}
    if openid_doc is not None:
        openid = _document_facts(json_response(openid_doc), OPENID_FIELDS, "openid")
        openid.update({"issuer_requested": SAMPLE["issuer"], "issuer_matches": True}, **more.pop("openid_extra", {}))
        probes["openid"] = _attempt(openid)
    # Through JSON and back, as a saved evidence file is read: the models must accept what the probes wrote.
    doc = {
        "tool_version": "test",
        "target": Target(base_url="https://ehr.example.com/fhir"),
        "started_at": "2026-06-01T00:00:00Z",
        "finished_at": "2026-06-01T00:00:01Z",
        "probes": probes,
    }
    return Evidence.model_validate(json.loads(json.dumps(Evidence.model_validate(doc).to_json_dict())))


def _findings(evidence: Evidence) -> dict[str, Any]:
    return {f.rule_id: f for f in evaluate(evidence, RULES, AS_OF)}


CAPABILITY = {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1", "rest": [{"mode": "server"}]}


def test_the_right_documents_pass_their_shape_rules() -> None:
    found = _findings(_evidence(CAPABILITY, SAMPLE, OPENID))
    assert found["INT-033"].status == Status.passed, found["INT-033"].message
    assert found["INT-034"].status == Status.passed, found["INT-034"].message
    assert found["INT-025"].status == Status.passed


@FUZZ
@given(st.sampled_from(SMART_SPECS), values)
def test_a_smart_field_of_any_value_never_crashes_or_passes_silently(spec: Any, value: Any) -> None:
    found = _findings(_evidence(CAPABILITY, {**SAMPLE, spec.name: value}))
    shape, _ = judge(value, spec.kind)
    if shape == Shape.ok:
        return
    shape_rule = found["INT-033"]
    assert shape_rule.status == Status.fail and f"{spec.name} is " in shape_rule.message, shape_rule.message
    wrong_type = shape == Shape.wrong_type or spec.kind == "url" or value in (None, "")
    for rule_id in NEEDED_BY.get(spec.name, []) if wrong_type else []:
        assert found[rule_id].status != Status.passed, f"{rule_id} passed with {spec.name} = {value!r}"


@FUZZ
@given(st.sampled_from(OPENID_SPECS), values)
def test_an_openid_field_of_any_value_never_crashes_or_passes_silently(spec: Any, value: Any) -> None:
    found = _findings(_evidence(CAPABILITY, SAMPLE, {**OPENID, spec.name: value}))
    shape, _ = judge(value, spec.kind)
    if shape == Shape.ok:
        return
    shape_rule = found["INT-034"]
    assert shape_rule.status == Status.fail and f"{spec.name} is " in shape_rule.message, shape_rule.message
    wrong_type = shape == Shape.wrong_type or spec.kind in ("url", "issuer")
    for rule_id in OPENID_NEEDED_BY.get(spec.name, []) if wrong_type else []:
        assert found[rule_id].status != Status.passed, f"{rule_id} passed with {spec.name} = {value!r}"


oauth_uris = st.lists(
    st.fixed_dictionaries(
        {"url": st.sampled_from(["authorize", "token", "introspect", "revoke", "manage", "register"]) | scalars},
        optional={"valueUri": values, "valueUrl": values},
    )
    | values,
    max_size=4,
)
security_elements = (
    st.fixed_dictionaries(
        {},
        optional={
            "cors": values,
            "service": values,
            "extension": st.lists(
                st.fixed_dictionaries(
                    {"url": st.just("http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris") | scalars},
                    optional={"extension": oauth_uris | values},
                ),
                max_size=2,
            )
            | values,
        },
    )
    | values
)


@FUZZ
@given(security_elements)
def test_any_security_section_never_crashes_and_a_defect_is_named(element: Any) -> None:
    cap = {**CAPABILITY, "rest": [{"mode": "server", "security": element}]}
    found = _findings(_evidence(cap, SAMPLE))
    defects = [r for r in read_security(element).values() if r.defective]
    if defects:
        assert found["INT-035"].status == Status.warn
        assert all(r.name in found["INT-035"].message for r in defects)
    else:
        assert found["INT-035"].status in (Status.passed, Status.not_applicable)


operations = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "name": st.sampled_from(["export", "$export", "everything"]) | values,
            "definition": st.sampled_from(
                [
                    "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export",
                    "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export|1.0.1",
                    "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
                ]
            )
            | values,
        },
    )
    | values,
    max_size=3,
)


@FUZZ
@given(operations, operations, operations)
def test_any_bulk_declaration_never_crashes_and_a_defect_is_named(group: Any, patient: Any, system: Any) -> None:
    rest = {
        "mode": "server",
        "resource": [{"type": "Group", "operation": group}, {"type": "Patient", "operation": patient}],
        "operation": system,
    }
    cap = {**CAPABILITY, "rest": [rest]}
    found = _findings(_evidence(cap, SAMPLE))
    for rule_id in ("INT-014", "INT-015"):
        assert found[rule_id].status in (Status.passed, Status.fail, Status.warn)
    recorded = summarise(cap)["bulk_operations"]
    defects = [r for r in read_bulk(recorded).values() if r.defective]
    if defects:
        assert found["INT-036"].status == Status.warn
        assert all(r.name in found["INT-036"].message for r in defects)


keys = st.lists(
    st.fixed_dictionaries(
        {"kty": st.sampled_from(["RSA", "EC", "oct"]) | values},
        optional={k: values for k in ("kid", "use", "alg", "n", "e", "crv", "x", "d", "k")},
    )
    | values,
    max_size=3,
)


@FUZZ
@given(st.fixed_dictionaries({}, optional={"keys": keys | values}) | values)
def test_any_key_set_never_crashes_and_a_private_key_never_passes(jwks: Any) -> None:
    facts = {"found": True, **summarise_jwks(jwks)} if isinstance(jwks, dict) else summarise_jwks(jwks)
    smart_extra = {"capabilities": ["sso-openid-connect"]}
    evidence = _evidence(CAPABILITY, SAMPLE, OPENID, smart_extra=smart_extra, openid_extra={"jwks": facts})
    rule = _findings(evidence)["INT-038"]
    assert rule.status in (Status.passed, Status.fail)
    private = isinstance(jwks, dict) and isinstance(jwks.get("keys"), list)
    private = private and any(isinstance(k, dict) and {"d", "k"} & k.keys() for k in jwks["keys"])
    if private or not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        assert rule.status == Status.fail, rule.message


@FUZZ
@given(json_values | st.fixed_dictionaries({"resourceType": st.just("Bundle")}, optional={"type": values, "entry": values}))
def test_any_brand_bundle_never_crashes_and_a_non_bundle_never_passes(body: Any) -> None:
    assessment = assess_bundle(body, "https://ehr.example.com/fhir")
    assessment.pop("addresses", None)
    brand = {"url": "https://ehr.example.com/brands.json", "found": "problem" not in assessment, **assessment}
    linked = {**SAMPLE, "user_access_brand_bundle": brand["url"]}
    evidence = _evidence(CAPABILITY, linked, smart_extra={"brand_bundle": brand})
    rule = _findings(evidence)["PRT-014"]
    assert rule.status in (Status.passed, Status.warn)
    if not (isinstance(body, dict) and body.get("resourceType") == "Bundle" and body.get("type") == "collection"):
        assert rule.status == Status.warn, rule.message


def test_the_property_rules_exist() -> None:
    for rule_id in {r for rs in (*NEEDED_BY.values(), *OPENID_NEEDED_BY.values()) for r in rs} | {"INT-033", "INT-034"}:
        assert rule_id in BY_ID


def test_url_space_and_control_test_is_the_per_character_one_for_every_code_point():
    """url_problem's one-regex test must refuse exactly the characters the per-character
    `isspace() or C0 control or DEL` test refused, for every code point."""
    import sys

    from ehrcheck.rules.shapes import _SPACE_OR_CONTROL, url_problem

    text = "".join(map(chr, range(sys.maxunicode + 1)))
    found = {m.start() for m in _SPACE_OR_CONTROL.finditer(text)}
    assert found == {cp for cp, ch in enumerate(text) if ch.isspace() or cp < 32 or cp == 127}
    assert url_problem("https://h.example/a\u2028b") == "a string with spaces or control characters"
    assert url_problem("https://h.example/a\u00e9b") is None
