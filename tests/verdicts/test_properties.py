"""The verdict invariants over generated evidence (hypothesis): whatever the probes saw, the verdict
never calls a FHIR API siloed, never calls an unsafe product interoperable, ties every fact to a
finding of the run with its status, and never names a standard the server does not declare."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ehrcheck.engine.scorecard import score_evidence
from ehrcheck.models import AttemptStatus, Evidence, ProbeAttempt, Status
from tests.verdicts.invariants import broken

RESOURCES = ("Patient", "Condition", "Observation", "MedicationRequest", "AllergyIntolerance", "Appointment", "Group")
VERSIONS = ("1.0.2", "3.0.2", "4.0.1", "4.0.1", "5.0.0", "")
US_CORE = ("3.1.1", "4.0.0", "6.1.0", "7.0.0")
SMART_CAPS = ("launch-standalone", "launch-ehr", "permission-v2", "permission-v1", "client-public", "sso-openid-connect")


@st.composite
def capability(draw: Any) -> dict[str, Any]:
    if not draw(st.booleans()):
        return {"found": False, "problem": "HTTP 404"}
    version = draw(st.sampled_from(VERSIONS))
    release = {"1.0.2": "DSTU2", "3.0.2": "STU3", "4.0.1": "R4", "5.0.0": "R5"}.get(version, "unknown")
    names = draw(st.lists(st.sampled_from(RESOURCES), unique=True, max_size=len(RESOURCES)))
    resources = {
        n: {
            "interactions": draw(st.lists(st.sampled_from(("read", "search-type", "create")), unique=True)),
            "operations": ["export"] if n == "Group" and draw(st.booleans()) else [],
            "search_params": ["patient"],
        }
        for n in names
    }
    profiles = [
        f"http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient|{v}"
        for v in draw(st.lists(st.sampled_from(US_CORE), unique=True, max_size=2))
    ]
    return {
        "found": True,
        "resource_type": "Conformance" if release == "DSTU2" else "CapabilityStatement",
        "fhir_version": version or None,
        "fhir_release": release,
        "kind": draw(st.sampled_from(("instance", "capability"))),
        "formats": ["json"],
        "resources": resources,
        "supported_profiles": profiles,
        "instantiates": [],
        "system_operations": [],
        "security": {"oauth_uris": {"token": "https://auth.example.test/token"}} if draw(st.booleans()) else {},
    }


@st.composite
def access(draw: Any) -> dict[str, Any]:
    status = draw(st.sampled_from((200, 200, 302, 401, 403, 404, 500)))
    leaked = status == 200 and draw(st.booleans())
    body = "Bundle" if leaked or (status == 200 and draw(st.booleans())) else None
    search = {
        "http_status": status,
        "returned_patient_data": leaked,
        "patient_entries": 1 if leaked else 0,
        "body_resource_type": body,
        "entry_types": ["Patient"] if leaked else [],
        "www_authenticate": status == 401,
    }
    export_status = draw(st.sampled_from((202, 401, 404)))
    return {"patient_search": search, "bulk_export": {"http_status": export_status, "started_without_auth": export_status == 202}}


@st.composite
def evidence(draw: Any) -> Evidence:
    scheme = draw(st.sampled_from(("https", "https", "http")))
    transport: dict[str, Any] = {"scheme": scheme}
    if scheme == "https":
        transport["tls"] = {
            "negotiated_version": "TLSv1.3",
            "verified": draw(st.booleans()),
            "legacy": {"TLSv1.0": "rejected", "TLSv1.1": "rejected"},
            "certificate": {
                "not_after": draw(st.sampled_from(("2027-01-01T00:00:00Z", "2025-01-01T00:00:00Z"))),
                "hostname_match": True,
            },
        }
    probes = {
        "capability": ProbeAttempt(status=AttemptStatus.completed, data=draw(capability())),
        "access": ProbeAttempt(status=AttemptStatus.completed, data=draw(access())),
        "transport": ProbeAttempt(status=AttemptStatus.completed, data=transport),
        "availability": ProbeAttempt(status=AttemptStatus.completed, data={"reachable": draw(st.booleans()), "server_errors": 0}),
    }
    if draw(st.booleans()):
        caps = draw(st.lists(st.sampled_from(SMART_CAPS), unique=True))
        probes["smart"] = ProbeAttempt(
            status=AttemptStatus.completed,
            data={
                "found": True,
                "capabilities": caps,
                "document": {"capabilities": caps, "token_endpoint": f"{scheme}://auth.example.test/token"},
            },
        )
    return Evidence.model_validate(
        {
            "tool_version": "test",
            "target": {"base_url": f"{scheme}://ehr.example.test/fhir"},
            "started_at": "2026-06-01T00:00:00Z",
            "finished_at": "2026-06-01T00:00:01Z",
            "probes": probes,
        }
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(evidence())
def test_invariants_hold_over_generated_evidence(ev: Evidence) -> None:
    result = score_evidence(ev, as_of=dt.date(2026, 6, 1))
    assert not broken(ev, result), (broken(ev, result), result.verdict.model_dump())


@settings(max_examples=60, deadline=None)
@given(evidence())
def test_a_failed_blocker_always_leads(ev: Evidence) -> None:
    result = score_evidence(ev, as_of=dt.date(2026, 6, 1))
    reachable = bool(ev.probes["availability"].data.get("reachable"))
    failed = [f for f in result.findings if f.gate == "safe" and f.status == Status.fail]
    if failed and reachable:
        assert result.verdict.level == "unsafe"
        assert result.verdict.reasons[0].rule_id in {f.rule_id for f in failed}
