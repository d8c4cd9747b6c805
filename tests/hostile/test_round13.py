"""Attack round 13 (black box): each test failed on the code before its fix. The CHPL API key sent
over plain http off this machine; Bulk structure problems quoting a server's unknown element names
and resource types; credentials a token endpoint hands over besides the tokens; credentials-file
errors quoting the value they reject. Cases in /tmp/attack13a/results.md of that round."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.support.chpl_loopback import ACTIVE, chpl_world

CHPL_KEY = "AKa13chplkey77Hh"


@pytest.mark.timeout(60)
def test_the_chpl_key_is_not_sent_over_plain_http_off_this_machine(monkeypatch: pytest.MonkeyPatch):
    """PX9 (G1): `--chpl-url http://198.51.100.7/rest` got the key in clear on every request. The
    loopback server stands in as the HTTP proxy through which such a host is reached, so nothing
    leaves this machine while the test shows what would have been sent."""
    from ehrcheck.http.client import HttpOptions
    from ehrcheck.probes.certification.inputs import certification_inputs
    from ehrcheck.probes.runner import collect

    with chpl_world() as proxy:  # it answers the CHPL paths whatever host a request names
        monkeypatch.setenv("HTTP_PROXY", proxy.origin)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        for name in ("http_proxy", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        cert = certification_inputs(
            chpl_ids=[ACTIVE], chpl_url="http://chpl.example.invalid/rest", environ={"CHPL_API_KEY": CHPL_KEY}
        )
        ev = asyncio.run(collect(proxy.base, HttpOptions(timeout=5, retries=0), extra_probes=cert.probes, settings=cert.settings))
        carried = [path for _, path, headers in proxy.requests if CHPL_KEY in json.dumps(headers)]
    assert not carried, carried
    attempt = ev.probes["chpl"]
    assert attempt.status.value == "error", attempt
    assert "plain http and not on this machine" in (attempt.reason or "") and "CHPL" in (attempt.reason or "")
    assert CHPL_KEY not in ev.model_dump_json()


def test_the_chpl_key_still_goes_to_https_and_to_a_loopback_chpl():
    from ehrcheck.http.origins import api_key_refusal

    assert api_key_refusal("https://chpl.healthit.gov/rest") is None
    assert api_key_refusal("http://127.0.0.1:9/rest") is None
    assert api_key_refusal("http://localhost:9/rest") is None
    assert "not on this machine" in (api_key_refusal("http://198.51.100.7/rest") or "")


SERVER_WORDS = ["Zzyzxfam", "Qwertgiv", "MRN778899a13", "5550199a13", "Plkjhstreet"]
LINES = [
    {"resourceType": "Zzyzxfam", "id": "z"},
    {"resourceType": "Patient", "id": "a", "Qwertgiv": 1},
    {"resourceType": "Patient", "id": "b", "name": [{"MRN778899a13": 1}]},
    {"resourceType": "Patient", "id": "e", "extension": [{"url": "http://x", "5550199a13": 2}]},
    {"resourceType": "Patient", "id": "f", "contact": [{"name": {"Plkjhstreet": 1}}], "birthDate": "x"},
]


def test_structure_problems_name_only_fhirs_words():
    """PH3, PH6 (G3): Bulk NDJSON lines' structure problems quoted the server's unknown keys at any
    depth (`Patient.name.0.MRN778899a13: extra_forbidden`) and a foreign resourceType; the US Core
    tally uses the same function."""
    from ehrcheck.probes.fhir_structure import structure_problems

    found = [p for line in LINES for p in structure_problems(line)]
    assert not [p for p in found if any(w in p for w in SERVER_WORDS)], found
    assert "resourceType: [unknown type] is not an R4 resource type" in found
    assert "Patient.name.0.[unknown element]: extra_forbidden" in found
    assert "Patient.birthDate: value_error" in found  # FHIR's own element names stay


def test_the_us_core_tally_keeps_no_server_word():
    """What the Bulk probe's judge and the US Core probe record per profile, from the same lines."""
    from ehrcheck.probes.authenticated.uscore_judge import ProfileTally, plan_for
    from ehrcheck.probes.authenticated.uscore_profiles import DEFAULT_VERSION, conformance

    profile = next(p for p in conformance(DEFAULT_VERSION)["profiles"] if p["resource"] == "Patient")
    tally = ProfileTally(plan_for(DEFAULT_VERSION, profile))
    for line in LINES[1:]:
        tally.add(line)
    result = tally.result()
    assert result["structure_invalid"] == 4
    assert not [w for w in SERVER_WORDS if w in json.dumps(result)], result


HANDED_OVER = {"device_secret": "DSa13devsec99", "client_secret": "CNa13newsecret99", "session_state": "SSa13sessst99"}
NESTED = "NTa13nested99"


@pytest.mark.timeout(90)
def test_every_credential_a_token_answer_hands_over_is_a_secret_of_the_run(tmp_path: Path):
    """SE2 (G4): only access, refresh and id tokens were learnt; a device secret, an issued client
    secret, a session state and a `…_token` nested in an object, echoed by the server's later
    answers, were kept verbatim in evidence.json and on --debug lines."""
    from tests.support.cli import ROUTES, run
    from tests.support.loopback import Reply, serve

    issued = {"access_token": "Tok-Round13-" + "q" * 24, "token_type": "bearer", "expires_in": 300,
              "scope": "system/*.read", **HANDED_OVER, "tokens": {"nested_token": NESTED}}  # fmt: skip
    echo = {"Server": "E " + " ".join([*HANDED_OVER.values(), NESTED])}
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    # Only the authenticated probes search Observation and Group: the echo comes after the token.
    routes = {**ROUTES, "/token": Reply(200, issued), "/fhir/Observation": Reply(200, bundle, echo)}
    routes["/fhir/Group"] = Reply(200, bundle, echo)
    creds = tmp_path / "creds.yaml"
    with serve(routes, prefix="") as srv:
        creds.write_text(f"client_id: app\nclient_secret: Cs-Round13-Secret\ntoken_endpoint: {srv.origin}/token\n", "utf-8")
        res = run("--debug", "audit", srv.base + "/fhir", "--credentials", str(creds), "-o", str(tmp_path / "out"),
                  "-f", "json,md", "--timeout", "3")  # fmt: skip
        asked = [path for _, path, _ in srv.requests if path == "/token"]
    assert asked and res.exit_code in (0, 1), res.output[-2000:]
    written = [res.stderr, res.stdout] + [p.read_text(encoding="utf-8") for p in (tmp_path / "out").rglob("*") if p.is_file()]
    leaked = [v for v in [*HANDED_OVER.values(), NESTED] if any(v in text for text in written)]
    assert not leaked, leaked
    assert any("bearer" in text for text in written)  # token_type names a kind of token: not scrubbed


def test_a_token_answers_kind_of_token_is_no_secret():
    from ehrcheck.http.redact import Secrets

    secrets = Secrets()
    secrets.add_token_answer({"token_type": "bearer", "issued_token_type": "urn:x:access", "l": [{"id_token": "IDa13xyz"}]})
    assert secrets.scrub("bearer urn:x:access IDa13xyz") == "bearer urn:x:access [redacted]"


PLANTED = "CSa13+Sec/ret=Zq9xKp"
GLUED = "Zq9xKpWm3Tr8"  # a secret that parses as a YAML key: letters and digits only


def _pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


CREDENTIAL_FILES = {
    "auth_method": f'client_id: app\nauth_method: "{PLANTED}"\nclient_secret: x1234567\n',
    "alg": f'client_id: app\nprivate_key_file: key.pem\nalg: "{PLANTED}"\n',
    "private_key_file": f'client_id: app\nprivate_key_file: "{PLANTED}"\n',
    "flow_style": f"{{client_id: app, client_secret:{PLANTED}}}\n",
    "secret_as_key": f"client_id: app\n{GLUED}: 1\n",
    "secret_key_twice": f"client_id: app\n{GLUED}: 1\n{GLUED}: 2\n",
}


@pytest.mark.parametrize("case", sorted(CREDENTIAL_FILES))
def test_no_credentials_error_quotes_the_value_it_rejects(tmp_path: Path, case: str):
    """CF2, CF4 (G6): `auth_method`, `alg` (upper-cased), `private_key_file` and unknown keys (a
    secret glued to its key in flow style, or written as a key) were quoted in the error."""
    from tests.hostile.test_messages import assert_message
    from tests.support.cli import run

    (tmp_path / "key.pem").write_text(_pem(), encoding="utf-8")
    creds = tmp_path / "creds.yaml"
    creds.write_text(CREDENTIAL_FILES[case], encoding="utf-8")
    res = run("audit", "http://127.0.0.1:9/r4", "--credentials", str(creds), "-o", str(tmp_path / "o"))
    assert_message(res, str(creds))
    for planted in (PLANTED, PLANTED.upper(), GLUED):
        assert planted not in res.output and planted not in res.stderr, res.stderr


def test_a_private_key_pasted_into_the_path_field_is_not_printed(tmp_path: Path):
    """CF3 (G6): `private_key_file: |` followed by the PEM key printed the whole key to stderr."""
    from tests.hostile.test_messages import assert_message
    from tests.support.cli import run

    pem = _pem()
    creds = tmp_path / "creds.yaml"
    creds.write_text("client_id: app\nprivate_key_file: |\n" + "".join(f"  {ln}\n" for ln in pem.splitlines()), "utf-8")
    res = run("audit", "http://127.0.0.1:9/r4", "--credentials", str(creds), "-o", str(tmp_path / "o"))
    assert_message(res, f"{creds}:2", "private_key_file")
    body = pem.splitlines()[1]
    assert body not in res.stderr and "BEGIN" not in res.stderr, res.stderr


@pytest.mark.parametrize("name", ["EHRCHECK_AUTH_METHOD", "EHRCHECK_SIGNING_ALG", "EHRCHECK_PRIVATE_KEY_FILE"])
def test_a_secret_in_the_wrong_environment_variable_is_not_quoted(tmp_path: Path, name: str):
    """CF2 (G6): `EHRCHECK_AUTH_METHOD=<secret>` printed the secret."""
    from tests.hostile.test_messages import assert_message
    from tests.support.cli import run

    (tmp_path / "key.pem").write_text(_pem(), encoding="utf-8")
    env = {"EHRCHECK_CLIENT_ID": "app", "EHRCHECK_PRIVATE_KEY_FILE": str(tmp_path / "key.pem"), name: PLANTED}
    res = run("audit", "http://127.0.0.1:9/r4", "-o", str(tmp_path / "o"), env=env)
    assert_message(res, name)
    assert PLANTED not in res.stderr and PLANTED.upper() not in res.stderr, res.stderr


def test_an_app_sections_errors_quote_no_value(tmp_path: Path):
    """The same for a user launch's `app:` section (its unknown keys, key file path and alg)."""
    from ehrcheck.errors import UserInputError
    from ehrcheck.probes.launch.registration import load_registration

    (tmp_path / "key.pem").write_text(_pem(), encoding="utf-8")
    creds = tmp_path / "creds.yaml"
    cases = (f'  private_key_file: "{PLANTED}"\n', f'  private_key_file: key.pem\n  alg: "{PLANTED}"\n', f"  {GLUED}: 1\n")
    for section in cases:
        creds.write_text("app:\n  client_id: a\n  redirect_uri: http://127.0.0.1:9/cb\n" + section, encoding="utf-8")
        with pytest.raises(UserInputError) as caught:
            load_registration(creds, environ={})
        shown = str(caught.value)
        assert PLANTED not in shown and PLANTED.upper() not in shown and GLUED not in shown, shown
        assert f"{creds}:" in shown and "app" in shown


def test_an_unknown_key_is_named_only_when_it_reads_as_a_field_name():
    from ehrcheck.files.yaml_values import UNSHOWN_KEY, key_shown

    known = ["client_secret", "client_id"]
    assert key_shown("username", known) == "'username'" and key_shown("clientId", known) == "'clientId'"
    assert key_shown("client_secrett", known) == "'client_secrett'"  # a near miss of a field
    for secret in (GLUED, PLANTED, f"client_secret:{PLANTED}", "x" * 41):
        assert key_shown(secret, known) == UNSHOWN_KEY
