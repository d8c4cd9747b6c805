"""The service-base-URL Bundle (45 CFR 170.404(b)(2)): Epic's real 2021 directory, an HTI-1-shaped
Bundle, and the ways a Bundle goes wrong, assessed directly and through the `endpoints` probe
against loopback copies."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
from urllib.parse import urlsplit

import pytest

from ehrcheck.engine.evaluate import evaluate
from ehrcheck.errors import UserInputError
from ehrcheck.http.client import HttpOptions
from ehrcheck.models import Evidence
from ehrcheck.probes.certification.inputs import certification_inputs
from ehrcheck.probes.certification.service_base_urls import (
    assess_bundle,
    normalise_address,
)
from ehrcheck.probes.runner import collect
from ehrcheck.rules.schema import all_rules
from tests.support.chpl_loopback import CAPABILITY, FIXTURES, fixture
from tests.support.loopback import Reply, serve

EPIC = FIXTURES / "real/epic-r4-endpoints.lantern-list.json"
KP_GEORGIA = "https://fhir.kp.org/service/ptnt_care/EpicEdiFhirRoutingSvc/v2014/esb-envlbl/200/api/FHIR/R4"
RULES = ("CRT-200", "CRT-201", "CRT-202", "CRT-203", "CRT-204", "CRT-205", "CRT-206")


def epic() -> dict:
    return json.loads(EPIC.read_text(encoding="utf-8"))


def hti1(origin: str = "https://ehr.example.test") -> dict:
    return fixture("chpl/service-base-urls-hti1.json", origin)


def statuses(evidence: Evidence) -> dict[str, str]:
    wanted = [r for r in all_rules() if r.id in RULES]
    return {f.rule_id: f.status.value for f in evaluate(evidence, wanted, dt.date(2026, 6, 1))}


# --- the assessment itself ---------------------------------------------------------------------


def test_epic_directory_is_read_with_its_contained_organizations() -> None:
    facts = assess_bundle(epic(), KP_GEORGIA + "/")
    assert facts["bundle"] == {
        "type": "collection",
        "total_present": True,
        "entries": 265,
        "entries_without_resource": 0,
        "other_resource_types": [],
    }
    assert facts["endpoints"]["count"] == 265 and facts["endpoints"]["missing_connection_type"] == 0
    assert facts["endpoints"]["unique_addresses"] == 254  # some hospitals share an address
    assert facts["endpoints"]["not_referenced"] == 265
    assert facts["organizations"]["count"] == 0
    c = facts["contained_organizations"]
    assert c["organizations"] == 265 and c["with_address"] == 0 and c["with_identifier"] == 0
    assert c["references_without_hash"] == 265  # Epic wrote managingOrganization without the '#'
    assert facts["target"] == {"listed": True, "address": KP_GEORGIA + "/"}
    assert len(facts["issues"]) <= 20 and facts["issue_count"] == 267
    assert any("contained inside Endpoints" in i for i in facts["issues"])


def test_hti1_bundle_is_clean_and_partof_inherits_endpoints() -> None:
    facts = assess_bundle(hti1(), "https://EHR.example.test/fhir/metadata")
    assert facts["issue_count"] == 0, facts["issues"]
    assert facts["organizations"]["count"] == 3 and facts["organizations"]["without_endpoints"] == 0
    assert facts["endpoints"]["not_referenced"] == 0
    assert facts["target"]["listed"] is True  # host case and /metadata do not matter


def _without(doc: dict, resource_type: str, rid: str, field: str) -> dict:
    doc = copy.deepcopy(doc)
    for e in doc["entry"]:
        if e["resource"]["resourceType"] == resource_type and e["resource"]["id"] == rid:
            del e["resource"][field]
    return doc


@pytest.mark.parametrize(
    ("mutate", "section", "key", "count"),
    [
        (lambda d: _without(d, "Organization", "org-3", "identifier"), "organizations", "missing_identifier", 1),
        (lambda d: _without(d, "Organization", "org-1", "address"), "organizations", "missing_address", 1),
        (lambda d: _without(d, "Endpoint", "ep-2", "connectionType"), "endpoints", "missing_connection_type", 1),
        (lambda d: _without(d, "Organization", "org-3", "endpoint"), "endpoints", "not_referenced", 1),
        # the parent loses its endpoints: the child inherits nothing
        (lambda d: _without(d, "Organization", "org-1", "endpoint"), "organizations", "without_endpoints", 2),
    ],
)
def test_each_missing_piece_is_counted(mutate, section: str, key: str, count: int) -> None:
    facts = assess_bundle(mutate(hti1()))
    assert facts[section][key] == count, facts["issues"]
    assert facts["issue_count"] >= 1


def test_dangling_references_and_wrong_bundle_types() -> None:
    doc = hti1()
    doc["entry"][2]["resource"]["endpoint"] = [{"reference": "Endpoint/gone"}]
    doc["entry"][1]["resource"]["partOf"] = {"reference": "Organization/gone"}
    doc["type"] = "searchset"
    facts = assess_bundle(doc)
    assert facts["organizations"]["unresolved_endpoint_refs"] == 1
    assert facts["organizations"]["unresolved_part_of"] == 1
    assert facts["valid_bundle"] is False
    assert assess_bundle({"resourceType": "Endpoint"})["problem"].startswith("not a FHIR Bundle")
    assert assess_bundle(["not", "a", "bundle"])["valid_bundle"] is False


def test_absolute_and_urn_references_resolve() -> None:
    doc = hti1("https://ehr.example.test")
    doc["entry"][0]["resource"]["endpoint"] = [{"reference": "https://ehr.example.test/directory/Endpoint/ep-1"}]
    for e in doc["entry"]:
        if e["resource"]["id"] == "ep-2":
            e["fullUrl"] = "urn:uuid:6f1c9a0e-2b1d-4c55-9d0e-1a2b3c4d5e6f"
    doc["entry"][2]["resource"]["endpoint"] = [{"reference": "urn:uuid:6f1c9a0e-2b1d-4c55-9d0e-1a2b3c4d5e6f"}]
    facts = assess_bundle(doc)
    assert facts["issue_count"] == 0, facts["issues"]


def test_address_normalisation() -> None:
    assert normalise_address("HTTPS://Fhir.Example.test/R4/metadata") == "https://fhir.example.test/R4"
    assert normalise_address("https://fhir.example.test/R4/") == "https://fhir.example.test/R4"


# --- through the probe, served from loopback -----------------------------------------------------


def _probe(base: str, bundle: str, sample: int) -> Evidence:
    cert = certification_inputs(endpoints_bundle=bundle, endpoints_sample=sample, environ={})
    assert set(cert.probes) == {"endpoints"}
    return asyncio.run(collect(base, HttpOptions(timeout=5, retries=0), extra_probes=cert.probes, settings=cert.settings))


def test_epic_bundle_from_loopback_with_a_bounded_sample() -> None:
    routes: dict = {}
    with serve(routes, prefix="/fhir") as lb:
        doc = epic()
        # Epic's hospitals, re-homed on this server: the first three answer, the rest do not exist.
        for i, e in enumerate(doc["entry"]):
            e["resource"]["address"] = f"{lb.origin}/hospital-{i}/api/FHIR/R4/"
        for i in range(3):
            routes[f"/hospital-{i}/api/FHIR/R4/metadata"] = Reply(200, CAPABILITY)
        routes["/directory/epic.json"] = Reply(200, doc)
        routes["/fhir/metadata"] = Reply(200, CAPABILITY)
        ev = _probe(lb.base, f"{lb.origin}/directory/epic.json", sample=4)
        metadata_requests = [p for _, p, _ in lb.requests if p.endswith("/metadata") and p.startswith("/hospital-")]
    data = ev.probes["endpoints"].data
    assert data["public"] is True and data["http_status"] == 200
    assert data["contained_organizations"]["organizations"] == 265
    assert data["target"]["listed"] is False
    assert len(metadata_requests) == 4  # bounded: 4 of 265, never the whole directory
    sample = data["sample"]
    assert (sample["checked"], sample["ok"], sample["available"]) == (4, 3, 265)
    assert [r["ok"] for r in sample["results"]] == [True, True, True, False]
    assert all(urlsplit(r["address"]).hostname == "127.0.0.1" for r in sample["results"])
    got = statuses(ev)
    assert got == {
        "CRT-200": "fail",
        "CRT-201": "pass",
        "CRT-202": "pass",
        "CRT-203": "pass",
        "CRT-204": "fail",
        "CRT-205": "fail",
        "CRT-206": "warn",
    }


def test_hti1_bundle_from_a_file_passes_but_publicity_is_not_observed(tmp_path) -> None:
    routes: dict = {}
    with serve(routes, prefix="/fhir") as lb:
        routes["/fhir/metadata"] = Reply(200, CAPABILITY)
        routes["/pediatrics/fhir/metadata"] = Reply(200, CAPABILITY)
        path = tmp_path / "endpoints.json"
        path.write_text(json.dumps(hti1(lb.origin)), encoding="utf-8")
        ev = _probe(lb.base, str(path), sample=5)
    data = ev.probes["endpoints"].data
    assert data["source"] == "file" and data["file"] == "endpoints.json" and "public" not in data
    assert data["sample"]["checked"] == 2 and data["sample"]["ok"] == 2
    got = statuses(ev)
    assert got.pop("CRT-201") == "not_observed"
    assert set(got.values()) == {"pass"}, got


def test_a_bundle_behind_a_login_is_not_public() -> None:
    routes: dict = {}
    with serve(routes, prefix="/fhir") as lb:
        routes["/fhir/metadata"] = Reply(200, CAPABILITY)
        routes["/endpoints.json"] = Reply(401, {"error": "login required"}, {"WWW-Authenticate": "Basic"})
        ev = _probe(lb.base, f"{lb.origin}/endpoints.json", sample=5)
    data = ev.probes["endpoints"].data
    assert data["public"] is False and "not public" in data["problem"]
    got = statuses(ev)
    assert got["CRT-201"] == "fail"
    assert {got[r] for r in ("CRT-202", "CRT-203", "CRT-204", "CRT-205", "CRT-206")} == {"not_observed"}


def test_sample_zero_asks_no_endpoint() -> None:
    routes: dict = {}
    with serve(routes, prefix="/fhir") as lb:
        routes["/fhir/metadata"] = Reply(200, CAPABILITY)
        routes["/endpoints.json"] = Reply(200, hti1(lb.origin))
        ev = _probe(lb.base, f"{lb.origin}/endpoints.json", sample=0)
        asked = [p for _, p, _ in lb.requests if p.startswith("/pediatrics/")]
    assert not asked
    assert statuses(ev)["CRT-206"] == "not_observed"


def test_bad_bundle_inputs_are_clear_errors(tmp_path) -> None:
    with pytest.raises(UserInputError, match="no such file"):
        certification_inputs(endpoints_bundle=str(tmp_path / "missing.json"))
    broken = tmp_path / "broken.json"
    broken.write_text('{"resourceType": "Bundle",\n "entry": [}', encoding="utf-8")
    with pytest.raises(UserInputError, match=r"broken\.json:2:\d+: not valid JSON"):
        certification_inputs(endpoints_bundle=str(broken))
    with pytest.raises(UserInputError, match="--endpoints-sample"):
        certification_inputs(endpoints_bundle="https://vendor.example.test/e.json", endpoints_sample=-1)
