"""The token endpoint checks against sekmet's real SMART Backend Services endpoint, and against a
loopback endpoint that accepts anything (so every negative check has been seen failing too)."""

from __future__ import annotations

import pytest

from ehrcheck.engine.evaluate import evaluate
from ehrcheck.probes.authenticated.scopes import narrow_scope, probe_scopes
from ehrcheck.probes.authenticated.token import probe_token
from ehrcheck.rules.schema import find_rule
from tests.support.auth import credentials, run
from tests.support.loopback import Reply, serve

JWT_NEGATIVES = ["bad_signature", "expired_exp", "replayed_jti", "wrong_aud", "wrong_client_assertion_type", "wrong_grant_type"]


def finding(evidence, rule_id):
    return evaluate(evidence, [find_rule(rule_id)], evidence_date())[0]


def evidence_date():
    import datetime as dt

    return dt.date(2026, 6, 1)


@pytest.mark.servers
@pytest.mark.parametrize(("client_id", "alg"), [("ehrcheck-jwt", "RS384"), ("ehrcheck-ec", "ES384")])
def test_private_key_jwt_valid_and_every_broken_assertion_refused(sekmet_auth_url, sekmet_keys_dir, tmp_path, client_id, alg):
    creds = credentials(sekmet_keys_dir, client_id, tmp_path)
    assert creds.alg == alg
    ev = run(sekmet_auth_url, creds, {"token": probe_token})
    tok = ev.probes["token"]
    assert tok.status.value == "completed", tok.reason
    d = tok.data
    assert d["token_endpoint"]["source"] == "smart-configuration"
    assert d["valid"]["accepted"] is True and d["valid"]["token_type"].lower() == "bearer"
    assert d["valid"]["fields_missing"] == [] and d["valid"]["no_store"] is True
    assert d["scopes"]["beyond_requested"] == []
    assert sorted(d["negative"]) == JWT_NEGATIVES
    assert d["negative_rejected"] == JWT_NEGATIVES, d["negative"]
    assert d["negative"]["replayed_jti"]["first_use_status"] == 200
    assert d["negative"]["wrong_grant_type"]["http_status"] == 400
    for rid in ("INT-300", "INT-301", "HIP-300", "HIP-301", "HIP-302", "HIP-303", "HIP-304", "HIP-305", "HIP-308", "HIP-310"):
        assert finding(ev, rid).status.value == "pass", (rid, finding(ev, rid).message)
    assert finding(ev, "HIP-306").status.value == "not_applicable"
    # sekmet's tokens live an hour: longer than SMART's recommended five minutes.
    assert finding(ev, "HIP-309").status.value == "warn"
    # Token requests are recorded without their bodies; the exchange never holds a secret.
    assert all(ex.method == "POST" for ex in tok.exchanges)
    assert "eyJ" not in ev.model_dump_json()


@pytest.mark.servers
def test_client_secret_basic(sekmet_auth_url, sekmet_keys_dir, tmp_path):
    creds = credentials(sekmet_keys_dir, "ehrcheck-secret", tmp_path)
    ev = run(sekmet_auth_url, creds, {"token": probe_token})
    d = ev.probes["token"].data
    assert d["valid"]["accepted"] is True
    assert d["negative_rejected"] == ["no_client_auth", "wrong_grant_type", "wrong_secret"]
    assert d["negative"]["wrong_secret"]["http_status"] == 401
    assert finding(ev, "HIP-306").status.value == "pass" and finding(ev, "HIP-300").status.value == "not_applicable"
    assert all(ex.request_headers.get("authorization") in (None, "[redacted]") for ex in ev.probes["token"].exchanges)


@pytest.mark.servers
def test_scope_outside_the_allowance_is_not_granted(sekmet_auth_url, sekmet_keys_dir, tmp_path):
    creds = credentials(sekmet_keys_dir, "ehrcheck-jwt", tmp_path, scope="system/*.write")
    ev = run(sekmet_auth_url, creds, {"token": probe_token})
    valid = ev.probes["token"].data["valid"]
    assert valid["accepted"] is False and valid["http_status"] == 400 and valid["error"] == "invalid_scope"
    assert finding(ev, "INT-300").status.value == "fail"
    assert finding(ev, "HIP-308").status.value == "not_observed"


@pytest.mark.servers
def test_patient_only_token_cannot_read_observation(sekmet_auth_url, sekmet_keys_dir, tmp_path):
    creds = credentials(sekmet_keys_dir, "ehrcheck-ec", tmp_path)
    ev = run(sekmet_auth_url, creds, {"scopes": probe_scopes})
    s = ev.probes["scopes"].data
    assert s["scope_requested"] == "system/Patient.rs"
    assert s["patient_status"] == 200 and s["observation_status"] == 403 and s["observation_refused"] is True
    assert finding(ev, "HIP-311").status.value == "pass"


def test_narrow_scope_keeps_the_clients_syntax():
    assert narrow_scope("system/*.read") == "system/Patient.read"
    assert narrow_scope("system/*.rs system/Group.s") == "system/Patient.rs"
    assert narrow_scope("user/*.*") == "user/Patient.read"


@pytest.mark.servers
def test_an_endpoint_that_accepts_anything_fails_every_negative_check(tmp_path, sekmet_keys_dir):
    token = {"access_token": "x" * 40, "token_type": "bearer", "expires_in": 300, "scope": "system/*.read system/*.write"}
    routes = {"/token": Reply(200, token, {"Cache-Control": "no-store"})}
    with serve(routes, prefix="/fhir") as lb:
        creds = credentials(sekmet_keys_dir, "ehrcheck-jwt", tmp_path, token_endpoint=lb.origin + "/token")
        ev = run(lb.base, creds, {"token": probe_token})
        posts = [r for r in lb.requests if r[0] == "POST"]
    d = ev.probes["token"].data
    assert d["token_endpoint"]["source"] == "credentials"
    assert d["negative_not_rejected"] == JWT_NEGATIVES
    for rid in ("HIP-300", "HIP-301", "HIP-302", "HIP-303", "HIP-304", "HIP-305"):
        f = finding(ev, rid)
        assert f.status.value == "fail" and "ACCEPTED" in f.message, (rid, f.message)
    assert finding(ev, "HIP-310").status.value == "fail"  # granted system/*.write, never asked for
    assert len(posts) == 1 + 7  # the valid request, 6 broken ones (the replay sends twice); no retries


@pytest.mark.servers
@pytest.mark.parametrize("client_id", ["ehrcheck-jwt", "ehrcheck-ec", "ehrcheck-secret"])
def test_independent_authorization_server(authserver_url, sekmet_auth_url, sekmet_keys_dir, tmp_path, client_id):
    """The same checks against oidc-provider, an OpenID-certified authorization server that is not
    sekmet: the negative results must not depend on one server's reading of the specs."""
    creds = credentials(sekmet_keys_dir, client_id, tmp_path, token_endpoint=authserver_url + "/token")
    ev = run(sekmet_auth_url, creds, {"token": probe_token})
    d = ev.probes["token"].data
    assert d["token_endpoint"] == {
        "url": authserver_url + "/token",
        "source": "credentials",
        "https": False,
        "plain_http_loopback": True,  # allowed between loopback hosts, and flagged (HIP-313 warns)
    }
    assert d["valid"]["accepted"] is True and d["valid"]["no_store"] is True
    assert d["valid"]["expires_in"] == 300
    assert d["negative_not_rejected"] == [], d["negative"]
    for result in d["negative"].values():
        assert result["http_status"] in (400, 401) and result["token_issued"] is False
    assert finding(ev, "HIP-309").status.value == "pass"  # five-minute tokens
    assert "eyJ" not in ev.model_dump_json()
