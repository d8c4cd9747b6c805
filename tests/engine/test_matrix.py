"""The EMR-vs-EHR capability matrix: declared, observed, verified, claimed, contradicted, missing or not judged."""

from __future__ import annotations

from typing import Any

from ehrcheck.engine.matrix import ROWS, capability_matrix, tally
from ehrcheck.engine.scorecard import score_evidence
from ehrcheck.models import Evidence
from ehrcheck.render import RENDERERS
from tests.support.evidence import evidence

ISSUE_ROWS = [
    "Demographics",
    "Problems and diagnoses",
    "Medications and allergies",
    "Lab results",
    "Imaging reports",
    "Immunizations shared",
    "Scheduling",
    "Billing integration",
    "Records shared across providers (exchange)",
    "Patient portal and patients' apps",
    "Population health (bulk export)",
    "Compliance reporting (eCQM, Promoting Interoperability)",
    "ONC certification (CEHRT)",
    "HIPAA security program",
]


def rows(ev: Evidence) -> dict[str, Any]:
    return {r.key: r for r in score_evidence(ev).matrix}


READ = {"interactions": ["read", "search-type"]}
SHARING = {
    "capability": {
        "found": True,
        "fhir_version": "4.0.1",
        "resources": {
            "Patient": READ,
            "Condition": READ,
            "MedicationRequest": READ,
            "AllergyIntolerance": READ,
            "Immunization": READ,
            "Group": {"interactions": [], "operations": ["export"]},
        },
        "system_operations": [],
    },
    "smart": {
        "found": True,
        "document": {},
        "capabilities": ["launch-standalone", "context-standalone-patient", "permission-patient"],
    },
    "transport": {
        "scheme": "https",
        "tls": {"negotiated_version": "TLSv1.3", "legacy": {"TLSv1.0": "rejected", "TLSv1.1": "rejected"}},
    },
    "access": {"patient_search": {"http_status": 401, "returned_patient_data": False}},
    "availability": {"reachable": True, "server_errors": 0},
}


def test_rows_are_the_issue_rows_in_order_and_lead_the_reports():
    ev = evidence(SHARING)
    result = score_evidence(ev)
    assert [r.capability for r in result.matrix] == ISSUE_ROWS
    assert len(ROWS) == len(ISSUE_ROWS)
    md = RENDERERS["md"].fn(result)
    # Markdown opens with the endpoint, the verdict and the scores, then the matrix (issue 17).
    assert (
        md.index("Endpoint `")
        < md.index("**Verdict:")
        < md.index("| **Overall** |")
        < md.index("## EMR or EHR? Capability matrix")
    )
    # HTML: the verdict and score chart hold the first screen (issue 6), the matrix follows them,
    # ahead of the claims table and every finding.
    html = RENDERERS["html"].fn(result)
    assert (
        html.index('id="scores-h"')
        < html.index('id="matrix-h"')
        < html.index('id="claims-h"')
        < html.index('id="pack-interoperability"')
    )
    assert '<th scope="row">Demographics</th>' in html


def test_data_the_api_declares_marks_an_ehr_as_declared_never_observed():
    r = rows(evidence(SHARING))
    # A CapabilityStatement listing Patient is a declaration; a 401 returned no data at all.
    assert (r["demographics"].state, r["demographics"].marks) == ("declared", "EHR")
    assert "lists Patient (read, search-type)" in r["demographics"].evidence
    assert (r["lab_results"].state, r["lab_results"].marks) == ("missing", "EMR")
    assert "does not serve Observation or DiagnosticReport" in r["lab_results"].evidence
    assert (r["population_health"].state, r["population_health"].evidence) == ("declared", "$export declared at Group level")
    assert r["patient_portal"].state == "declared" and "launch-standalone" in r["patient_portal"].evidence
    # A HIPAA program cannot be observed from outside: without a claim it is not judged, and the
    # row names the technical safeguards that were observed.
    assert (r["hipaa_program"].state, r["hipaa_program"].marks) == ("unknown", "unknown")
    assert "patient data refused without a login" in r["hipaa_program"].evidence
    assert all(row.state != "observed" for row in r.values())


def test_data_that_came_back_is_observed_and_conforming_data_verified():
    uscore = {
        "profiles": {
            "us-core-patient": {"resource": "Patient", "resources": 3, "structure_invalid": 0, "resources_missing_mandatory": 0},
            "us-core-condition-problems-health-concerns": {
                "resource": "Condition",
                "resources": 2,
                "structure_invalid": 1,
                "resources_missing_mandatory": 0,
            },
        },
        "totals": {"resources": 5},
    }
    r = rows(evidence(dict(SHARING, uscore=uscore)))
    assert (r["demographics"].state, r["demographics"].marks) == ("verified", "EHR")
    assert r["problems"].state == "observed"  # came back, but not all of it conforms


def test_declared_against_observed_is_a_contradiction():
    not_found = dict(SHARING, access={"patient_search": {"http_status": 404, "returned_patient_data": False}})
    row = rows(evidence(not_found))["demographics"]
    assert (row.state, row.marks) == ("contradicted", "unknown")
    assert "answered 404" in row.evidence


def test_a_vendor_no_against_a_generic_listing_is_a_contradiction_not_observed():
    generic = {
        **SHARING["capability"],
        "kind": "capability",
        "resources": {**SHARING["capability"]["resources"], "Appointment": READ},
    }
    r = rows(evidence(dict(SHARING, capability=generic), {"claims_version": 1, "portal": {"scheduling": False}}))
    assert r["scheduling"].state == "contradicted"
    assert "product template" in r["scheduling"].evidence and "not offered" in r["scheduling"].evidence
    # CHPL was not looked up: certification and exchange cannot be judged from outside
    assert (r["onc_certification"].state, r["onc_certification"].marks) == ("unknown", "unknown")
    assert r["exchange"].state == "unknown"


def test_claims_fill_in_what_cannot_be_observed_and_contradictions_show():
    claims = {
        "claims_version": 1,
        "exchange": {"direct_messaging": True, "hie": ["CRISP"], "lab_interfaces": True},
        "reporting": {"ecqm": True},
        "portal": {"third_party_app_access": True},
        "standards": {"bulk_data": "1.0.1"},
        "hipaa": {"tls_minimum": "1.2", "baa_offered": True},
    }
    no_bulk = {**SHARING["capability"], "resources": {"Patient": READ}}
    plain = dict(
        SHARING,
        capability=no_bulk,
        smart={"found": True, "document": {}, "capabilities": ["launch-ehr"]},
        transport={
            "scheme": "https",
            "tls": {"negotiated_version": "TLSv1.2", "legacy": {"TLSv1.0": "accepted", "TLSv1.1": "rejected"}},
        },
    )
    r = rows(evidence(plain, claims))
    assert (r["exchange"].state, r["exchange"].marks) == ("claimed", "EHR")
    assert r["exchange"].claimed == "Direct: yes; HIE: CRISP"
    assert r["compliance_reporting"].state == "claimed"
    assert (r["lab_results"].state, r["lab_results"].claimed) == ("claimed", "lab interfaces: yes")
    for key, rule in (("population_health", "INT-103"), ("patient_portal", "PRT-100"), ("hipaa_program", "HIP-100")):
        assert (r[key].state, r[key].marks) == ("contradicted", "EMR"), key
        assert rule in r[key].evidence, key


def test_a_silent_metadata_probe_is_not_judged_and_no_api_is_missing():
    r = rows(evidence({"availability": {"reachable": True}}, errored=("capability",)))
    assert (r["demographics"].state, r["demographics"].marks) == ("unknown", "unknown")
    r = rows(evidence({"capability": {"found": False, "problem": "HTTP 404"}, "availability": {"reachable": True}}))
    assert (r["demographics"].state, r["demographics"].marks) == ("missing", "EMR")
    assert r["demographics"].evidence == "No FHIR CapabilityStatement was returned."


def test_anonymous_patient_data_means_no_hipaa_program_was_observed():
    leaky = dict(SHARING, access={"patient_search": {"http_status": 200, "returned_patient_data": True, "patient_entries": 1}})
    row = rows(evidence(leaky))["hipaa_program"]
    assert (row.state, row.marks) == ("missing", "EMR") and "served without a login" in row.evidence


def test_chpl_listing_is_observed_certification():
    chpl = {
        "listings": [
            {
                "chpl_product_number": "15.04.04.3099.Summ.26.00.1.250315",
                "status": "Active",
                "criteria_met": ["170.315 (b)(1)", "170.315 (c)(1)", "170.315 (g)(10)"],
            }
        ]
    }
    r = rows(evidence(dict(SHARING, chpl=chpl)))
    # CHPL lists the criteria (declared); the listing's Active status itself was observed.
    assert (r["exchange"].state, r["exchange"].evidence) == (
        "declared",
        "An Active CHPL listing is certified to (b)(1) transitions of care",
    )
    assert r["compliance_reporting"].state == "declared"
    assert (r["onc_certification"].state, r["onc_certification"].marks) == ("observed", "EHR")


def test_tally_counts_each_evidence_strength_apart():
    matrix = capability_matrix(evidence(SHARING, {"claims_version": 1, "exchange": {"ccda": True}}), [])
    counts = tally(matrix)
    shown = counts.pop("shown")
    assert shown == counts["verified"] + counts["observed"] + counts["declared"]
    assert sum(counts.values()) == len(ISSUE_ROWS)
    assert counts["claimed"] >= 1 and counts["declared"] >= 5 and counts["observed"] == 0
