"""User launches against the real SMART stack (oidc-provider in front of sekmet's data through a
resource server that enforces its tokens and scopes; tests/authserver/smart.mjs), with the sign-in
driven over HTTP. Every launch rule passes here: the server refuses what it must."""

from __future__ import annotations

import threading

import pytest

from tests.support.launch import HttpPerson, app, findings, run_launch
from tests.support.smart_login import follow

pytestmark = pytest.mark.servers

STANDALONE_RULES = [
    "PRT-400",
    "PRT-401",
    "PRT-402",
    "PRT-403",
    "PRT-404",
    "INT-402",
    "INT-403",
    "HIP-400",
    "HIP-401",
    "HIP-402",
    "HIP-403",
    "HIP-404",
    "HIP-405",
    "HIP-406",
    "HIP-407",
    "HIP-408",
]


def test_standalone_launch_completes_and_every_rule_passes(smart_url):
    person = HttpPerson()
    ev = run_launch(f"{smart_url}/fhir", app(), person, uscore=True)
    launch = ev.probes["launch"]
    assert launch.status.value == "completed", launch.reason
    got = findings(ev, *STANDALONE_RULES, "INT-400", "INT-401", "PRT-300", "INT-302")
    assert {r: f.status.value for r, f in got.items() if f.status.value != "pass"} == {
        "INT-400": "not_applicable",
        "INT-401": "not_applicable",
    }
    # One authorization each: the main launch, limited (+ code reuse), granular, and three broken requests.
    assert launch.data["authorizations"] == 6 and len(person.purposes) == 6
    # The US Core probe read the launched patient's chart with the patient's token.
    uscore = ev.probes["uscore"]
    assert uscore.data["authorized_by"] == "launch" and uscore.data["patients"] == {"source": "launch context", "tested": 1}
    assert uscore.data["totals"]["resources"] > 10 and uscore.data["totals"]["search_errors"] == 0
    # Category scopes: the stack filters, so the other category's search came back empty, not refused.
    searches = launch.data["granular"]["searches"]
    assert searches["Observation other"] == {"http_status": 200, "refused": False, "returned": 0, "outside_granted": 0}
    assert searches["Observation granted"]["returned"] > 0


def test_ehr_launch_completes_with_encounter_banner_and_style(smart_url):
    person = HttpPerson("clinician", "clinician-pass", ehr_origin=smart_url)
    ev = run_launch(f"{smart_url}/fhir", app(ehr=True), person, mode="ehr")
    launch = ev.probes["launch"]
    assert launch.status.value == "completed", launch.reason
    assert launch.data["ehr"] == {"launches_received": 1, "launches_refused_iss": 0, "launch_present": True, "iss_matches": True}
    got = findings(
        ev,
        "INT-400",
        "INT-401",
        "INT-402",
        "INT-403",
        "PRT-401",
        "PRT-402",
        "PRT-403",
        "HIP-405",
        "HIP-406",
        "PRT-400",
        "HIP-401",
        "HIP-407",
    )
    status = {r: f.status.value for r, f in got.items()}
    assert status == {
        **{
            r: "pass" for r in ("INT-400", "INT-401", "INT-402", "INT-403", "PRT-401", "PRT-402", "PRT-403", "HIP-405", "HIP-406")
        },
        "PRT-400": "not_applicable",
        "HIP-401": "not_applicable",
        "HIP-407": "not_applicable",
    }, {r: f.message for r, f in got.items()}
    assert launch.data["id_token"]["fhir_user_type"] == "Practitioner"


def test_public_client_has_no_secret_to_get_wrong(smart_url):
    ev = run_launch(f"{smart_url}/fhir", app("smart-public", None), HttpPerson())
    launch = ev.probes["launch"]
    assert launch.status.value == "completed", launch.reason
    assert launch.data["client"]["client_type"] == "public"
    got = findings(ev, "PRT-400", "HIP-401", "HIP-404", "PRT-403")
    assert {r: f.status.value for r, f in got.items()} == {
        "PRT-400": "pass",
        "HIP-401": "pass",
        "HIP-404": "not_applicable",
        "PRT-403": "pass",
    }


def test_a_callback_with_the_wrong_state_is_refused_and_the_real_one_accepted(smart_url):
    forged: list[bool] = []

    class Forger(HttpPerson):
        def authorize(self, url, purpose, deliver):
            def go():  # an attacker's (or a stale) redirect reaches ehrcheck first, then the person signs in
                forged.append(deliver("http://127.0.0.1/callback?code=attacker-code&state=not-the-state"))
                follow(url, self.user, self.password)

            threading.Thread(target=go, daemon=True).start()

    ev = run_launch(f"{smart_url}/fhir", app(scope="openid fhirUser launch/patient patient/*.rs"), Forger())
    launch = ev.probes["launch"]
    assert forged[0] is False
    assert launch.data["callback"]["mismatched_state_refused"] >= 1
    assert launch.data["token"]["accepted"] is True


def test_an_ehr_launch_naming_another_server_is_refused(smart_url):
    person = HttpPerson("clinician", "clinician-pass", ehr_origin=smart_url)
    person.await_ehr_launch = lambda uri: person._go(f"{smart_url}/ehr/launch?iss=http://127.0.0.1:9/fhir&app={uri}")
    ev = run_launch(f"{smart_url}/fhir", app(ehr=True), person, mode="ehr", timeout=3)
    launch = ev.probes["launch"]
    assert launch.status.value == "error" and launch.reason.startswith("no browser came back"), launch.reason
