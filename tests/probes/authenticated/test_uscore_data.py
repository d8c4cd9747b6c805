"""US Core 6.1.0 data checks: the pure profile walker, the generated data, and the probe against
sekmet loaded with carebundle's US Core patients."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import httpx
import pytest

from ehrcheck.engine.evaluate import evaluate
from ehrcheck.probes.authenticated.uscore_data import (
    matches,
    probe_uscore,
    seed_searches,
    select_profiles,
)
from ehrcheck.probes.authenticated.uscore_profiles import (
    assign_profile,
    mandatory_missing,
    nodes,
    profiles_by_id,
)
from ehrcheck.probes.phi import scrub_url
from ehrcheck.rules.schema import find_rule
from tests.paths import FIXTURES, ROOT
from tests.support.auth import credentials, run

LAB = "http://terminology.hl7.org/CodeSystem/observation-category"


def _el(profile: str, element_id: str) -> dict:
    return next(e for e in profiles_by_id()[profile]["elements"] if e["id"] == element_id)


def test_generated_data_is_what_the_generator_makes():
    # The whole IGs (6.1.0 and 7.0.0) are copied into tests/fixtures, byte for byte (see
    # tests/fixtures/us-core-6.1.0/SOURCE.md): a clone without ../shared runs this in full.
    source = FIXTURES
    res = subprocess.run(
        [sys.executable, "scripts/gen_us_core_data.py", str(source), "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr


R4_CORE = ROOT / ".venv-gen" / "fhir-r4-core" / "node_modules" / "@medplum" / "definitions" / "dist" / "fhir" / "r4"


def test_r4_terminology_is_what_the_generator_makes_from_the_r4_definitions():
    # HL7's R4 definitions are 60 MB: scripts/setup installs them into .venv-gen, not the repo.
    if not (R4_CORE / "valuesets.json").is_file():
        pytest.skip(f"the FHIR R4 core definitions are not installed ({R4_CORE}): run scripts/setup")
    res = subprocess.run(
        [sys.executable, "scripts/gen_fhir_r4_terminology.py", str(R4_CORE), "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr


def test_r4_terminology_table_holds_the_core_bindings_and_codes():
    table = json.loads((ROOT / "scripts" / "fhir-r4-core" / "fhir_r4_terminology.json").read_text())
    assert table["fhir_version"] == "4.0.1"
    gender = "http://hl7.org/fhir/ValueSet/administrative-gender"
    assert table["bindings"]["Patient"]["Patient.gender"] == gender
    assert table["bindings"]["Patient"]["Patient.telecom.system"] == "http://hl7.org/fhir/ValueSet/contact-point-system"
    assert table["value_sets"][gender] == {"http://hl7.org/fhir/administrative-gender": ["male", "female", "other", "unknown"]}
    # A value set that picks some codes of another system: CarePlan.intent takes 4 of request-intent's 9.
    intent = table["value_sets"]["http://hl7.org/fhir/ValueSet/care-plan-intent"]
    assert intent == {"http://hl7.org/fhir/request-intent": ["proposal", "plan", "order", "option"]}
    # SNOMED CT sets are filters over a system the definitions do not carry: never enumerated.
    assert "http://hl7.org/fhir/ValueSet/clinical-findings" not in table["value_sets"]
    # The US Core data takes its FHIR R4 value sets from this table, code for code.
    from ehrcheck.probes.authenticated.uscore_profiles import conformance

    for version in ("6.1.0", "7.0.0"):
        for url, vs in conformance(version)["value_sets"].items():
            if vs.get("source") == "FHIR R4 4.0.1":
                assert vs["codes"] == table["value_sets"][url], url


def test_generated_data_has_the_shall_searches_and_profiles():
    from ehrcheck.probes.authenticated.uscore_profiles import conformance

    data = conformance()
    assert data["searches"]["Observation"]["shall"] == [
        ["patient", "category", "date"],
        ["patient", "category"],
        ["patient", "code"],
    ]
    assert ["_id"] in data["searches"]["Patient"]["shall"] and ["gender", "name"] in data["searches"]["Patient"]["shall"]
    assert data["searches"]["Condition"]["params"]["patient"]["paths"] == ["subject"]
    bp = profiles_by_id()["us-core-blood-pressure"]
    assert bp["parent"] == "us-core-vital-signs"
    assert _el("us-core-blood-pressure", "Observation.component")["min"] == 2
    assert _el("us-core-observation-lab", "Observation.category:us-core")["pattern"]["coding"][0]["code"] == "laboratory"
    assert _el("us-core-patient", "Patient.extension:race")["extension_url"].endswith("us-core-race")
    assert len(data["profiles"]) == 49
    assert data["searches"]["Observation"]["params"]["date"]["shall_comparators"] == ["gt", "ge", "lt", "le"]
    assert data["searches"]["Condition"]["revinclude"] == ["Provenance:target"]


def test_mandatory_child_only_when_its_parent_is_there():
    telecom_system = _el("us-core-patient", "Patient.telecom.system")
    assert not mandatory_missing({"resourceType": "Patient"}, telecom_system)
    assert mandatory_missing({"resourceType": "Patient", "telecom": [{"value": "555"}]}, telecom_system)
    assert not mandatory_missing({"resourceType": "Patient", "telecom": [{"system": "phone", "value": "555"}]}, telecom_system)


def test_slices_are_matched_by_pattern_and_extension_url():
    lab_slice = _el("us-core-observation-lab", "Observation.category:us-core")
    lab = {"resourceType": "Observation", "category": [{"coding": [{"system": LAB, "code": "laboratory"}]}]}
    vitals = {"resourceType": "Observation", "category": [{"coding": [{"system": LAB, "code": "vital-signs"}]}]}
    assert nodes(lab, lab_slice) and not nodes(vitals, lab_slice)
    assert mandatory_missing(vitals, lab_slice)
    race = _el("us-core-patient", "Patient.extension:race")
    assert not nodes({"extension": [{"url": "http://example.org/other"}]}, race)
    assert nodes({"extension": [{"url": race["extension_url"]}]}, race)
    value = _el("us-core-observation-lab", "Observation.value[x]")
    assert nodes({"valueQuantity": {"value": 1}}, value) and not nodes({"valueset": 1}, value)


def test_profile_from_meta_or_from_codes():
    obs = [p for p in profiles_by_id().values() if p["resource"] == "Observation"]
    hr = {
        "resourceType": "Observation",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "category": [{"coding": [{"system": LAB, "code": "vital-signs"}]}],
    }
    assert assign_profile(hr, obs)[0]["id"] == "us-core-heart-rate"
    claimed = {**hr, "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-vital-signs|6.1.0"]}}
    assert assign_profile(claimed, obs) == (profiles_by_id()["us-core-vital-signs"], "meta.profile")


def test_results_must_match_the_search():
    obs = {
        "resourceType": "Observation",
        "id": "o1",
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-05-02T10:00:00Z",
        "category": [{"coding": [{"system": LAB, "code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
    }
    assert matches(obs, {"patient": "p1", "category": f"{LAB}|laboratory", "date": "ge2024-05-01"}, "Observation")
    assert not matches(obs, {"patient": "p2"}, "Observation")
    assert not matches(obs, {"patient": "p1", "code": "http://loinc.org|8867-4"}, "Observation")
    assert not matches(obs, {"patient": "p1", "category": "vital-signs", "date": "ge2024-05-01"}, "Observation")
    assert not matches(obs, {"patient": "p1", "category": "laboratory", "date": "ge2024-06-01"}, "Observation")
    assert matches({"resourceType": "Patient", "id": "p1", "name": [{"family": "Smith"}]}, {"name": "smi"}, "Patient")


def test_first_searches():
    assert seed_searches("AllergyIntolerance", [["patient"]], []) == [("patient", [{}])]
    key, variants = seed_searches(
        "Observation",
        [["patient", "category", "date"], ["patient", "category"], ["patient", "code"]],
        ["laboratory", "vital-signs"],
    )[0]
    assert key == "patient+category" and [v["category"] for v in variants] == ["laboratory", "vital-signs"]
    assert seed_searches("MedicationRequest", [["patient", "intent"]], [])[0][1][0]["intent"].startswith("proposal,plan,order")


def test_profiles_in_scope():
    declared = {
        "supported_profiles": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient|6.1.0"],
        "resources": {"Patient": {}, "Observation": {}},
    }
    assert [p["id"] for p in select_profiles("declared", declared)[0]] == ["us-core-patient"]
    chosen, basis = select_profiles("declared", {"resources": {"Patient": {}, "Condition": {}}})
    assert basis == "declared_resource_types" and {p["resource"] for p in chosen} == {"Patient", "Condition"}
    assert select_profiles("all", {})[1] == "all_uscdi" and len(select_profiles("all", {})[0]) > 30


def test_urls_lose_ids_and_patient_values():
    base = "https://h.example/api/FHIR/R4"
    assert scrub_url(base + "/Patient/123?name=Smith&_count=5", base) == base + "/Patient/[id]?name=[redacted]&_count=5"
    assert "Group/[id]/$export" in scrub_url(base + "/Group/diabetes/$export", base)
    assert "category=laboratory" in scrub_url(base + "/Observation?patient=9&category=laboratory&date=ge2020-01-01", base)


@pytest.mark.servers
def test_uscore_probe_against_sekmet(sekmet_auth_url, sekmet_keys_dir, tmp_path):
    creds = credentials(sekmet_keys_dir, "ehrcheck-jwt", tmp_path)
    ev = run(sekmet_auth_url, creds, {"uscore": probe_uscore}, sample=2)
    attempt = ev.probes["uscore"]
    assert attempt.status.value == "completed", attempt.reason
    d = attempt.data
    # sekmet lists no supportedProfile, so the USCDI profiles of its declared types are tested.
    assert d["selection"] == "declared_resource_types"
    assert d["patients"] == {"source": "search", "tested": 2}
    lab = d["profiles"]["us-core-observation-lab"]
    assert lab["resources"] > 0 and lab["structure_invalid"] == 0 and lab["resources_missing_mandatory"] == 0
    assert 0 < lab["must_support"]["covered"] <= lab["must_support"]["total"]
    assert d["patient_reads"] == {"requests": 2, "ok": 2, "id_matches": 2}
    assert d["searches"]["Patient"]["name"]["seed_found"] is True
    assert d["searches"]["Observation"]["patient+code"]["results"] > 0
    assert d["totals"]["mismatched"] == 0 and d["totals"]["search_errors"] == 0
    assert d["references"]["checked"] > 0 and d["references"]["unresolved"] == 0
    assert d["invalid_search"] == {"http_status": 400, "refused": True, "operation_outcome": True}
    findings = {
        f.rule_id: f.status.value
        for f in evaluate(
            ev,
            [find_rule(r) for r in ("INT-302", "INT-303", "INT-305", "INT-306", "INT-307", "INT-308", "PRT-300", "PRT-301")],
            dt.date(2026, 6, 1),
        )
    }
    assert set(findings.values()) == {"pass"}, findings

    # Evidence holds no patient data: no ids, names or birth dates of the patients it read.
    raw = ev.model_dump_json()
    token = httpx.post(
        sekmet_auth_url.rsplit("/fhir", 1)[0] + "/auth/token",
        data={"grant_type": "client_credentials", "scope": "system/*.*"},
        auth=("ehrcheck-secret", "s3cret"),
    ).json()["access_token"]
    bundle = httpx.get(
        f"{sekmet_auth_url}/Patient?_count=10", headers={"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
    ).json()
    for entry in bundle["entry"]:
        patient = entry["resource"]
        assert patient["id"] not in raw
        assert patient.get("birthDate", "no-birth-date") not in raw
        for name in patient.get("name", []):
            assert name["family"] not in raw
    obs = httpx.get(f"{sekmet_auth_url}/Observation?_count=5", headers={"Authorization": f"Bearer {token}"}).json()
    for entry in obs["entry"]:
        assert entry["resource"]["id"] not in raw


@pytest.mark.servers
def test_given_patient_and_sample_bound(sekmet_auth_url, sekmet_keys_dir, tmp_path):
    creds = credentials(sekmet_keys_dir, "ehrcheck-secret", tmp_path)
    token = httpx.post(
        sekmet_auth_url.rsplit("/fhir", 1)[0] + "/auth/token",
        data={"grant_type": "client_credentials"},
        auth=("ehrcheck-secret", "s3cret"),
    ).json()["access_token"]
    pid = httpx.get(f"{sekmet_auth_url}/Patient?_count=1", headers={"Authorization": f"Bearer {token}"}).json()["entry"][0][
        "resource"
    ]["id"]
    ev = run(sekmet_auth_url, creds, {"uscore": probe_uscore}, sample=1, patients=[pid, "another"], us_core="all")
    d = ev.probes["uscore"].data
    assert d["patients"] == {"source": "given", "tested": 1}
    assert d["selection"] == "all_uscdi"
    assert all(p["resources"] <= 20 for p in d["profiles"].values())


@pytest.mark.servers
def test_two_runs_record_the_same_requests_in_the_same_order(sekmet_auth_url, sekmet_keys_dir, tmp_path):
    """The per-type searches run concurrently; their exchanges were recorded as answers came, so
    two audits of the same server wrote evidence files that differed in order alone. Now type by
    type, in the order the probe starts them (the token request, if any, where it happened)."""
    creds = credentials(sekmet_keys_dir, "ehrcheck-jwt", tmp_path)

    def sequence() -> list[tuple[str, str, int | None]]:
        ev = run(sekmet_auth_url, creds, {"uscore": probe_uscore}, sample=2)
        assert ev.probes["uscore"].status.value == "completed", ev.probes["uscore"].reason
        return [(x.method, x.url, x.status) for x in ev.probes["uscore"].exchanges if "/token" not in x.url]

    first = sequence()
    assert len(first) > 20
    for _ in range(2):
        assert sequence() == first
