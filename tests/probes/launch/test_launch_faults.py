"""Every user-launch rule seen failing: a loopback SMART server of the tests' own
(tests/support/smart_fake.py) that wrongly accepts one broken request or skips one duty per run.
The same rules pass against the real stack (test_launch_stack.py) and against this server when it
behaves (the first test here)."""

from __future__ import annotations

import pytest

from tests.support.launch import HttpPerson, app, findings, run_launch
from tests.support.smart_fake import CLIENT_SECRET, fake_smart

SCOPE = "openid fhirUser launch/patient offline_access patient/*.rs"
RULES = [
    "HIP-400",
    "HIP-401",
    "HIP-402",
    "HIP-403",
    "HIP-404",
    "HIP-405",
    "HIP-406",
    "HIP-407",
    "HIP-408",
    "INT-402",
    "INT-403",
    "PRT-400",
    "PRT-401",
    "PRT-402",
    "PRT-403",
    "PRT-404",
]
FAULTS = [
    ("accept_wrong_verifier", {"HIP-401": "fail"}),
    ("accept_code_reuse", {"HIP-402": "fail"}),
    ("accept_redirect_mismatch", {"HIP-403": "fail"}),
    ("accept_wrong_secret", {"HIP-404": "fail"}),
    ("ignore_scopes", {"HIP-407": "fail", "HIP-408": "fail"}),
    ("revoke_noop", {"HIP-405": "fail", "HIP-406": "fail"}),
    ("bad_id_token_signature", {"INT-402": "fail"}),
    ("no_store_missing", {"HIP-400": "fail"}),
    ("refresh_single_use_broken", {"PRT-403": "fail"}),
    ("no_cors", {"PRT-404": "warn"}),
]


def launch(*quirks):
    with fake_smart(*quirks) as fake:
        ev = run_launch(fake.fhir_base, app("fake-app", CLIENT_SECRET, scope=SCOPE), HttpPerson())
    assert ev.probes["launch"].status.value == "completed", ev.probes["launch"].reason
    return {r: f for r, f in findings(ev, *RULES).items()}


def test_a_server_that_behaves_passes_every_rule():
    got = launch()
    assert {r: f.status.value for r, f in got.items() if f.status.value != "pass"} == {}


@pytest.mark.parametrize(("quirk", "expected"), FAULTS, ids=[q for q, _ in FAULTS])
def test_each_fault_fails_its_rule_and_only_its_rule(quirk, expected):
    got = launch(quirk)
    status = {r: f.status.value for r, f in got.items()}
    assert {r: status[r] for r in expected} == expected, {r: got[r].message for r in expected}
    others = {r: s for r, s in status.items() if r not in expected and s != "pass"}
    assert others == {}, {r: got[r].message for r in others}


def test_an_authorization_endpoint_with_control_characters_is_not_used():
    from ehrcheck.probes.launch.probe import _url

    assert _url("https://auth.example/authorize") == "https://auth.example/authorize"
    assert _url("https://auth.example/a\x1b[31m") is None
    assert _url("https://auth.example/a\r\nSet-Cookie: x=1") is None
    assert _url("javascript:alert(1)") is None
