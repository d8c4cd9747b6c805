"""US Core as deep as the ONC test kit: 7.0.0 beside 6.1.0, version choice, must-support over every
search and read, the deeper search forms, offline terminology, `--tx-server`, and a server made
to be wrong in three ways, each failing the right rule."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from ehrcheck.engine.auth_summary import auth_summary
from ehrcheck.engine.evaluate import evaluate
from ehrcheck.errors import UserInputError
from ehrcheck.http.client import HttpOptions
from ehrcheck.http.redact import Secrets
from ehrcheck.models import Evidence
from ehrcheck.probes.authenticated.credentials import load_credentials
from ehrcheck.probes.authenticated.inputs import authenticated_inputs, check_tx_server
from ehrcheck.probes.authenticated.token import AuthSession
from ehrcheck.probes.authenticated.uscore_data import comparator_value, matches, probe_uscore, value_for
from ehrcheck.probes.authenticated.uscore_judge import Judge
from ehrcheck.probes.authenticated.uscore_profiles import conformance, profiles_by_id
from ehrcheck.probes.authenticated.uscore_terminology import judge_value
from ehrcheck.probes.authenticated.uscore_version import choose_version
from ehrcheck.probes.runner import collect
from ehrcheck.rules.schema import find_rule
from tests.support.auth import credentials, run
from tests.support.loopback import Reply, serve

SD = "http://hl7.org/fhir/us/core/StructureDefinition/"
OBS_CAT = "http://terminology.hl7.org/CodeSystem/observation-category"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
AS_OF = dt.date(2026, 6, 1)


def _findings(ev: Evidence, *rule_ids: str) -> dict[str, Any]:
    return {f.rule_id: f for f in evaluate(ev, [find_rule(r) for r in rule_ids], AS_OF)}


# --- the two versions, from the IG files -------------------------------------------------------


def test_7_0_0_has_the_new_profiles_and_both_have_their_searches():
    six, seven = profiles_by_id("6.1.0"), profiles_by_id("7.0.0")
    new = set(seven) - set(six)
    assert new == {
        "us-core-average-blood-pressure",
        "us-core-care-experience-preference",
        "us-core-treatment-intervention-preference",
    }
    assert not set(six) - set(seven)
    avg = seven["us-core-average-blood-pressure"]
    assert avg["selectors"]["code"][0]["code"] == "96607-7" and avg["uscdi_required"]
    assert (
        seven["us-core-treatment-intervention-preference"]["selectors"]["category"][0]["code"]
        == "treatment-intervention-preference"
    )
    # Changed elements: 7.0.0 makes Observation.interpretation and referenceRange must-support on lab results.
    lab6 = {e["id"] for e in six["us-core-observation-lab"]["elements"]}
    lab7 = {e["id"] for e in seven["us-core-observation-lab"]["elements"]}
    assert {"Observation.interpretation", "Observation.referenceRange"} <= lab7 - lab6
    # 7.0.0's smoking status is sliced by value type where 6.1.0 had effectiveDateTime.
    smoke7 = {e["id"] for e in seven["us-core-smokingstatus"]["elements"]}
    assert "Observation.value[x]:valueCodeableConcept" in smoke7 and "Observation.effectiveDateTime" not in smoke7
    # Same SHALL searches in a different order in the IG: the generator orders them one way.
    for version in ("6.1.0", "7.0.0"):
        searches = conformance(version)["searches"]
        assert searches["Observation"]["shall"] == [["patient", "category", "date"], ["patient", "category"], ["patient", "code"]]
        assert searches["Observation"]["params"]["date"]["shall_comparators"] == ["gt", "ge", "lt", "le"]
        assert "Provenance:target" in searches["Encounter"]["revinclude"]
    # 7.0.0 declares its profiles with |7.0.0: the bare URLs are what the data keeps.
    assert all("|" not in u for u in conformance("7.0.0")["searches"]["Observation"]["supported_profiles"])


def test_value_sets_the_generator_could_enumerate():
    vs = conformance("6.1.0")["value_sets"]
    assert vs["http://hl7.org/fhir/ValueSet/observation-status"]["codes"]["http://hl7.org/fhir/observation-status"][:3] == [
        "registered",
        "preliminary",
        "final",
    ]
    lab = vs["http://hl7.org/fhir/us/core/ValueSet/us-core-laboratory-test-codes"]
    assert lab["open_systems"] == ["http://loinc.org"] and not lab["codes"]
    # The IG's own code system, taken whole: enumerated.
    cat = vs["http://hl7.org/fhir/us/core/ValueSet/us-core-problem-or-health-concern"]["codes"]
    assert cat["http://terminology.hl7.org/CodeSystem/condition-category"] == ["problem-list-item"]


def test_version_from_what_the_server_declares():
    assert choose_version(None, {"instantiates": ["http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server|7.0.0"]})[
        :2
    ] == (
        "7.0.0",
        "instantiates",
    )
    assert choose_version(
        None, {"supported_profiles": [SD + "us-core-patient|7.0.0", SD + "us-core-condition-problems-health-concerns|7.0.0"]}
    )[:2] == (
        "7.0.0",
        "supportedProfile",
    )
    # No version on the URLs, but a profile only 7.0.0 has.
    assert (
        choose_version(None, {"supported_profiles": [SD + "us-core-patient", SD + "us-core-average-blood-pressure"]})[0]
        == "7.0.0"
    )
    both = {"supported_profiles": [SD + "us-core-patient|6.1.0", SD + "us-core-patient|7.0.0"]}
    assert choose_version(None, both) == ("7.0.0", "supportedProfile", ["6.1.0", "7.0.0"])
    meta = [{"resourceType": "Patient", "meta": {"profile": [SD + "us-core-patient|7.0.0"]}}]
    assert choose_version(None, {}, meta)[:2] == ("7.0.0", "meta.profile")
    assert choose_version("6.1.0", both)[:2] == ("6.1.0", "--us-core-version")
    assert choose_version(None, {"supported_profiles": [SD + "us-core-patient"]})[:2] == ("6.1.0", "default")


def test_version_and_tx_flags_are_checked_before_any_request(tmp_path: Path):
    with pytest.raises(UserInputError, match="--us-core-version: '5.0.1' is not one of 6.1.0, 7.0.0"):
        authenticated_inputs(None, None, None, None, None, us_core_version="5.0.1", environ={})
    with pytest.raises(UserInputError, match="need credentials"):
        authenticated_inputs(None, None, None, None, None, us_core_version="7.0.0", environ={})
    for bad in ("ftp://tx.example", "tx.example.org", "https://u:p@tx.example/r4", "https://tx.example/r4?x=1"):
        with pytest.raises(UserInputError, match="--tx-server"):
            check_tx_server(bad)
    assert check_tx_server("https://tx.example.org/r4/") == "https://tx.example.org/r4"


# --- pure pieces --------------------------------------------------------------------------------


def test_search_values_never_come_from_unknown_or_absent_codes():
    unk = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "code": "UNK"}]}
    dar = {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}]}
    real = {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]}
    obs = {"resourceType": "Observation", "code": unk}
    assert value_for(obs, "code", "Observation", "p1") is None
    assert value_for({**obs, "code": dar}, "code", "Observation", "p1") is None
    assert value_for({**obs, "code": {"coding": [unk["coding"][0], real["coding"][0]]}}, "code", "Observation", "p1") == (
        "http://loinc.org|4548-4"
    )
    assert (
        value_for(
            {"resourceType": "Condition", "clinicalStatus": {"coding": [{"code": "unknown"}]}},
            "clinical-status",
            "Condition",
            "p",
        )
        is None
    )


def test_comparators_find_the_resource_their_value_came_from():
    obs = {"resourceType": "Observation", "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2024-05-02T10:00:00Z"}
    for comparator in ("gt", "ge", "lt", "le"):
        value = comparator_value(comparator, "2024-05-02")
        assert matches(obs, {"patient": "p1", "date": value}, "Observation"), value
    assert comparator_value("gt", "2024-03-01") == "gt2024-02-29"
    assert not matches(obs, {"patient": "p1", "date": "gt2024-06-01"}, "Observation")
    assert not matches(obs, {"patient": "p1", "date": "lt2024-01-01"}, "Observation")


def test_terminology_offline():
    status = {"strength": "required", "value_set": "http://hl7.org/fhir/ValueSet/observation-status"}
    vs = conformance("6.1.0")["value_sets"]
    assert judge_value("final", status, vs[status["value_set"]]) == "pass"
    assert judge_value("bogus", status, vs[status["value_set"]]) == "fail"
    lab = {"strength": "extensible", "value_set": "http://hl7.org/fhir/us/core/ValueSet/us-core-laboratory-test-codes"}
    assert judge_value({"coding": [{"system": "http://loinc.org", "code": "4548-4"}]}, lab, vs[lab["value_set"]]) == "system_ok"
    assert judge_value({"coding": [{"system": "urn:local", "code": "A1C"}]}, lab, vs[lab["value_set"]]) == "system_mismatch"
    assert judge_value({"text": "HbA1c"}, lab, vs[lab["value_set"]]) == "not_checked"  # extensible allows text only
    clinical = {"strength": "required", "value_set": "http://hl7.org/fhir/ValueSet/condition-clinical"}
    assert judge_value({"text": "active"}, clinical, vs[clinical["value_set"]]) == "fail"  # required needs a coding
    vsac = "http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.113762.1.4.1186.8"
    assert (
        judge_value({"coding": [{"system": "http://snomed.info/sct", "code": "1"}]}, {"strength": "extensible"}, vs.get(vsac))
        == "not_checked"
    )


def test_must_support_counts_every_resource_and_never_a_data_absent_reason():
    patient = profiles_by_id()["us-core-patient"]
    judge = Judge("6.1.0", [patient])
    base = {
        "resourceType": "Patient",
        "identifier": [{"system": "s", "value": "1"}],
        "name": [{"family": "F"}],
        "gender": "female",
    }
    dar = {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}]}
    assert judge.add({**base, "id": "a", "address": [dar]}) is True
    assert "Patient.address" in judge.tallies["us-core-patient"].result()["must_support"]["missing"]
    judge.add({**base, "id": "b", "birthDate": "1980-01-01"})
    judge.add({**base, "id": "b", "address": [{"city": "Town"}]})  # same id: judged once
    missing = judge.tallies["us-core-patient"].result()["must_support"]["missing"]
    assert "Patient.birthDate" not in missing and "Patient.address" in missing
    assert judge.tallies["us-core-patient"].resources == 2


# --- against sekmet with carebundle's US Core patients -------------------------------------------


DEEP_RULES = ("INT-302", "INT-303", "INT-305", "INT-306", "INT-320", "INT-321", "INT-322", "INT-323", "INT-324")


def test_hostile_shapes_are_judged_not_crashed_on():
    """meta, coding and category of the wrong JSON type (a server's choice) fail or are skipped;
    the judge never raises, so one bad line cannot stop a Bulk file's checks."""
    judge = Judge("6.1.0", conformance("6.1.0")["profiles"], dedupe=False)
    lab = {
        "resourceType": "Observation",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
    }
    assert judge.add(lab, structure=False) is True
    assert judge.add({**lab, "meta": "us-core"}, structure=False) is True  # meta not an object: no profile claimed
    assert judge.add({**lab, "status": {"coding": 5}}, structure=False) is False  # a required code with no coding
    judge.add({**lab, "category": [{"coding": 7}]}, structure=False)  # not a lab result any more: another profile's
    tally = judge.tallies["us-core-observation-lab"]
    assert tally.resources == 3
    assert tally.terminology["Observation.status"]["failed"] == 1


@pytest.mark.servers
def test_deep_searches_against_sekmet(sekmet_auth_url, sekmet_keys_dir, tmp_path):
    creds = credentials(sekmet_keys_dir, "ehrcheck-jwt", tmp_path)
    ev = run(sekmet_auth_url, creds, {"uscore": probe_uscore}, sample=2)
    d = ev.probes["uscore"].data
    assert (d["us_core_version"], d["version_basis"]) == ("6.1.0", "default")  # sekmet declares no US Core version
    obs = d["searches"]["Observation"]
    for comparator in ("gt", "ge", "lt", "le"):
        tally = obs[f"patient+category+date [{comparator}]"]
        assert tally["variant"] == f"date {comparator}" and tally["seed_found"] is True and tally["mismatched"] == 0
    assert obs["patient+code [code without system]"]["seed_found"] is True
    assert obs["patient+code [POST]"]["count_matches_get"] is True
    assert d["revinclude"]["Condition"]["ok"] == d["revinclude"]["Condition"]["requests"] > 0
    assert d["reads"]["Observation"]["id_matches"] == d["reads"]["Observation"]["requests"] > 0
    # Every search counted: the lab profile saw more resources than the first search's cap.
    assert d["profiles"]["us-core-observation-lab"]["resources"] >= 40
    assert d["totals"]["codes_checked"] > 0 and d["totals"]["codes_failed"] == 0
    status = d["profiles"]["us-core-observation-lab"]["terminology"]["Observation.status"]
    assert status["passed"] > 0 and status["failed"] == 0
    findings = _findings(ev, *DEEP_RULES)
    assert {r: f.status.value for r, f in findings.items()} == dict.fromkeys(DEEP_RULES, "pass")


@pytest.mark.servers
def test_7_0_0_when_asked(sekmet_auth_url, sekmet_keys_dir, tmp_path):
    creds = credentials(sekmet_keys_dir, "ehrcheck-secret", tmp_path)
    ev = run(sekmet_auth_url, creds, {"uscore": probe_uscore}, sample=1, us_core_version="7.0.0", us_core="all")
    d = ev.probes["uscore"].data
    assert (d["us_core_version"], d["version_basis"]) == ("7.0.0", "--us-core-version")
    assert "us-core-average-blood-pressure" in d["profiles"] and "us-core-treatment-intervention-preference" in d["profiles"]
    # carebundle writes 6.1.0 data: the 7.0.0 lab profile's new must-support elements are named as never seen.
    lab = d["profiles"]["us-core-observation-lab"]
    assert lab["resources"] > 0 and "Observation.interpretation" in lab["must_support"]["missing"]


# --- a server made to be wrong -------------------------------------------------------------------


def _bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }


PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "meta": {"profile": [SD + "us-core-patient"]},
    "identifier": [{"system": "urn:mrn", "value": "1"}],
    "name": [{"family": "Doe", "given": ["Jan"]}],
    "gender": "female",  # no birthDate: a must-support element never seen
}
CONDITION = {
    "resourceType": "Condition",
    "id": "c1",
    "meta": {"profile": [SD + "us-core-condition-problems-health-concerns"]},
    "clinicalStatus": {"coding": [{"system": CLINICAL, "code": "bogus"}]},  # not in condition-clinical
    "category": [
        {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "problem-list-item"}]}
    ],
    "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
    "subject": {"reference": "Patient/p1"},
}
OTHERS_LAB = {
    "resourceType": "Observation",
    "id": "o1",
    "meta": {"profile": [SD + "us-core-observation-lab"]},
    "status": "final",
    "category": [{"coding": [{"system": OBS_CAT, "code": "laboratory"}]}],
    "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
    "subject": {"reference": "Patient/someone-else"},  # does not match patient=p1
    "effectiveDateTime": "2024-05-02",
    "valueQuantity": {"value": 6.1, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"},
}
DOCREF = {
    "resourceType": "DocumentReference",
    "id": "d1",
    "status": "current",
    "type": {"coding": [{"system": "http://loinc.org", "code": "34133-9"}]},  # LOINC filter: only a tx server can say
    "category": [
        {
            "coding": [
                {"system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category", "code": "clinical-note"}
            ]
        }
    ],
    "subject": {"reference": "Patient/p1"},
    "content": [{"attachment": {"contentType": "text/plain", "url": "Binary/b1"}}],
}
CAPABILITY = {
    "resourceType": "CapabilityStatement",
    "status": "active",
    "kind": "instance",
    "fhirVersion": "4.0.1",
    "format": ["json"],
    "rest": [
        {
            "mode": "server",
            "resource": [
                {"type": t, "supportedProfile": [SD + p], "interaction": [{"code": "read"}, {"code": "search-type"}]}
                for t, p in (
                    ("Patient", "us-core-patient"),
                    ("Condition", "us-core-condition-problems-health-concerns"),
                    ("Observation", "us-core-observation-lab"),
                    ("DocumentReference", "us-core-documentreference"),
                )
            ],
        }
    ],
}


def _wrong_server_routes() -> dict[str, Any]:
    return {
        "/fhir/metadata": Reply(200, CAPABILITY),
        "/fhir/Patient": Reply(200, _bundle(PATIENT)),
        "/fhir/Patient/_search": Reply(200, _bundle(PATIENT)),
        "/fhir/Patient/p1": Reply(200, PATIENT),
        "/fhir/Condition": Reply(200, _bundle(CONDITION)),
        "/fhir/Condition/_search": Reply(200, _bundle(CONDITION)),
        "/fhir/Condition/c1": Reply(200, CONDITION),
        "/fhir/Observation": Reply(200, _bundle(OTHERS_LAB)),
        "/fhir/Observation/_search": Reply(200, _bundle(OTHERS_LAB)),
        "/fhir/Observation/o1": Reply(200, OTHERS_LAB),
        "/fhir/DocumentReference": Reply(200, _bundle(DOCREF)),
        "/fhir/DocumentReference/_search": Reply(200, _bundle(DOCREF)),
        "/fhir/DocumentReference/d1": Reply(200, DOCREF),
    }


def _audit(base: str, tmp_path: Path, **settings: Any) -> Evidence:
    path = tmp_path / "bearer.yaml"
    path.write_text("bearer_token: not-a-real-token-0123456789\n")
    creds = load_credentials(path, environ={})
    assert creds is not None
    secrets = Secrets(creds.secrets())
    all_settings = {"auth": AuthSession(creds, secrets=secrets), "sample": 1, **settings}
    return asyncio.run(
        collect(base, HttpOptions(timeout=5), extra_probes={"uscore": probe_uscore}, settings=all_settings, secrets=secrets)
    )


def test_a_wrong_server_fails_the_right_rules(tmp_path: Path):
    with serve(_wrong_server_routes()) as srv:
        ev = _audit(srv.base, tmp_path)
    d = ev.probes["uscore"].data
    assert ev.probes["uscore"].status.value == "completed", ev.probes["uscore"].reason
    findings = _findings(ev, "INT-320", "INT-304", "INT-306", "INT-303")
    # A wrong code: Condition.clinicalStatus 'bogus' is not in FHIR R4's condition-clinical.
    assert findings["INT-320"].status.value == "fail"
    assert "us-core-condition-problems-health-concerns clinicalStatus" in findings["INT-320"].message
    assert "bogus (condition-clinical)" in findings["INT-320"].message
    # A missing must-support element: no Patient ever had a birthDate.
    assert findings["INT-304"].status.value == "warn"
    assert "Patient.birthDate" in d["profiles"]["us-core-patient"]["must_support"]["missing"]
    assert "us-core-patient" in findings["INT-304"].message
    # The report lists, per profile, every must-support element never seen.
    never_seen = {m["profile"]: m["elements"] for m in auth_summary(ev)["uscore"]["never_seen"]}
    assert "birthDate" in never_seen["us-core-patient"]
    # A search result that does not match: Observation?patient=p1 returned someone else's.
    assert findings["INT-306"].status.value == "fail" and "Observation" in findings["INT-306"].message
    # ...and nothing else is blamed: the mandatory elements are all there.
    assert findings["INT-303"].status.value == "pass"


def test_terminology_server_judges_what_offline_cannot(tmp_path: Path):
    """A stand-in terminology server on loopback (no real one runs offline) that says no."""
    says_no = Reply(200, {"resourceType": "Parameters", "parameter": [{"name": "result", "valueBoolean": False}]})
    with serve({"/tx/ValueSet/$validate-code": says_no}, prefix="/tx") as tx, serve(_wrong_server_routes()) as srv:
        ev = _audit(srv.base, tmp_path, tx_server=tx.base)
        asked = [path for _m, path, _h in tx.requests]
        headers = [h for _m, _p, h in tx.requests]
    d = ev.probes["uscore"].data
    facts = d["terminology"]["tx_server"]
    assert facts["server"] == tx.base and facts["answered"] > 0 and not facts["unavailable"]
    assert any("34133-9" in a for a in asked)
    assert all("authorization" not in h for h in headers)  # the FHIR token never goes to the tx server
    row = d["profiles"]["us-core-documentreference"]["terminology"]["DocumentReference.type"]
    assert row["tx_invalid"] >= 1
    finding = _findings(ev, "INT-320")["INT-320"]
    # `code` is an OAuth secret parameter to the redactor, so the code asked about is scrubbed
    # from the evidence: the report names the element and system, not the value.
    assert finding.status.value == "fail" and "us-core-documentreference type" in finding.message


def test_terminology_server_outage_is_not_observed_never_a_fail(tmp_path: Path):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{sock.getsockname()[1]}/tx"
    sock.close()  # nothing listens there now
    fixed = {
        **_wrong_server_routes(),
        "/fhir/Condition": Reply(
            200, _bundle({**CONDITION, "clinicalStatus": {"coding": [{"system": CLINICAL, "code": "active"}]}})
        ),
    }
    with serve(fixed) as srv:
        ev = _audit(srv.base, tmp_path, tx_server=dead)
    d = ev.probes["uscore"].data
    assert d["terminology"]["tx_server"]["unavailable"] is True
    finding = _findings(ev, "INT-320")["INT-320"]
    assert finding.status.value == "pass"  # the statuses offline passed; the LOINC code stays not checked
    assert "could not be checked offline" in finding.message
