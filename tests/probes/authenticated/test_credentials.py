"""Credentials files and environment variables: what is accepted, and that bad input is one clear
line naming the file and field (never the secret, never a traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from ehrcheck.errors import UserInputError
from ehrcheck.probes.authenticated.credentials import Secret, load_credentials
from tests.support.cli import run

SECRET = "sup3r-s3cret-value-42"


def _pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP384R1())


def write(tmp_path: Path, text: str, name: str = "creds.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_private_key_file_relative_to_the_credentials_file(tmp_path, rsa_key):
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "k.pem").write_text(_pem(rsa_key))
    creds = load_credentials(write(tmp_path, "client_id: app\nprivate_key_file: keys/k.pem\nkey_id: k1\n"), environ={})
    assert creds.method == "private_key_jwt" and creds.alg == "RS384" and creds.key_id == "k1"
    assert creds.scope == "system/*.read"
    assert creds.private_key.private_numbers() == rsa_key.private_numbers()


def test_ec_jwk_gives_es384_and_its_kid(tmp_path, ec_key):
    jwk = json.loads(ECAlgorithm.to_jwk(ec_key))
    jwk.update(kid="k2")
    (tmp_path / "k.jwk.json").write_text(json.dumps(jwk))
    creds = load_credentials(write(tmp_path, "client_id: app\nprivate_key_file: k.jwk.json\n"), environ={})
    assert (creds.alg, creds.key_id) == ("ES384", "k2")


def test_environment_only(tmp_path, rsa_key):
    key = tmp_path / "k.pem"
    key.write_text(_pem(rsa_key))
    env = {"EHRCHECK_CLIENT_ID": "app", "EHRCHECK_PRIVATE_KEY_FILE": str(key), "EHRCHECK_SCOPE": "system/Patient.rs"}
    creds = load_credentials(None, environ=env)
    assert creds.source == "environment" and creds.scope == "system/Patient.rs"


def test_environment_fills_what_the_file_leaves_out(tmp_path):
    creds = load_credentials(
        write(tmp_path, "client_id: app\nauth_method: client_secret_post\n"),
        environ={"EHRCHECK_CLIENT_SECRET": SECRET, "EHRCHECK_CLIENT_ID": "other"},
    )
    assert creds.client_id == "app"  # the file wins
    assert creds.client_secret.reveal() == SECRET and creds.method == "client_secret_post"


def test_nothing_given_means_no_authenticated_tier():
    assert load_credentials(None, environ={}) is None


def test_bearer_token():
    creds = load_credentials(None, environ={"EHRCHECK_BEARER_TOKEN": SECRET})
    assert creds.method == "bearer" and creds.secrets() == [SECRET]


def test_secrets_never_print(tmp_path, rsa_key):
    creds = load_credentials(write(tmp_path, f"client_id: app\nclient_secret: {SECRET}\n"), environ={})
    assert SECRET not in repr(creds) and SECRET not in str(creds.client_secret)
    assert repr(Secret(SECRET)) == "Secret('[redacted]')"
    key = tmp_path / "k.pem"
    key.write_text(_pem(rsa_key))
    kc = load_credentials(None, environ={"EHRCHECK_CLIENT_ID": "a", "EHRCHECK_PRIVATE_KEY_FILE": str(key)})
    body = [ln for ln in _pem(rsa_key).splitlines() if not ln.startswith("-----")]
    assert body[1] in kc.secrets() and not any(b in repr(kc) for b in body)


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("client_id: app\n  bad: [\n", "creds.yaml:2: not valid YAML"),
        ("- a\n", "must be a YAML mapping"),
        ("client_id: app\nclient_sceret: x\n", "unknown field(s): 'client_sceret' on line 2"),
        ("client_secret: " + SECRET + "\n", "client_id is required"),
        ("client_id: app\n", "no credential given"),
        ("client_id: app\nauth_method: magic\nclient_secret: x\n", "creds.yaml:2: auth_method is not one of"),
        ("client_id: app\nprivate_key_file: missing.pem\n", "private_key_file"),
        ("client_id: app\nprivate_key_file: k.pem\nalg: RS256\n", "creds.yaml:3: alg is not one"),
        ("client_id: app\nprivate_key_file: k.pem\nalg: ES384\n", "does not fit an RSA key"),
        ("client_id: app\nprivate_key: not a key " + SECRET + "\n", "not a PEM private key or a private JWK"),
        ("client_id: app\nclient_secret: x\ntoken_endpoint: ftp://x\n", "token_endpoint must be an http(s) URL"),
    ],
)
def test_bad_credentials_are_one_clear_line(tmp_path, rsa_key, text, expect):
    (tmp_path / "k.pem").write_text(_pem(rsa_key))
    with pytest.raises(UserInputError) as err:
        load_credentials(write(tmp_path, text), environ={})
    assert expect in str(err.value)
    assert SECRET not in str(err.value)


def test_public_jwk_is_refused(tmp_path, rsa_key):
    jwk = json.loads(RSAAlgorithm.to_jwk(rsa_key.public_key()))
    (tmp_path / "pub.json").write_text(json.dumps(jwk))
    with pytest.raises(UserInputError, match="must be a private key"):
        load_credentials(write(tmp_path, "client_id: app\nprivate_key_file: pub.json\n"), environ={})


def test_ec_key_on_the_wrong_curve(tmp_path):
    (tmp_path / "k.pem").write_text(_pem(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(UserInputError, match="ES384 needs a P-384 key"):
        load_credentials(write(tmp_path, "client_id: app\nprivate_key_file: k.pem\n"), environ={})


def test_cli_bad_credentials_exit_2_without_traceback(tmp_path):
    creds = write(tmp_path, f"client_id: app\nclient_secret: {SECRET}\nsurprise: 1\n")
    res = run("probe", "http://127.0.0.1:9/fhir", "--credentials", str(creds), "-o", str(tmp_path / "e.json"))
    assert res.exit_code == 2
    assert "unknown field(s): 'surprise' on line 3" in res.output and "Traceback" not in res.output and SECRET not in res.output
    assert not (tmp_path / "e.json").exists()


def test_cli_auth_flags_without_credentials(tmp_path):
    res = run(
        "probe",
        "http://127.0.0.1:9/fhir",
        "--sample",
        "2",
        "-o",
        str(tmp_path / "e.json"),
        env={
            "EHRCHECK_CLIENT_ID": "",
            "EHRCHECK_CLIENT_SECRET": "",
            "EHRCHECK_PRIVATE_KEY_FILE": "",
            "EHRCHECK_BEARER_TOKEN": "",
            "EHRCHECK_CREDENTIALS": "",
        },
    )
    assert res.exit_code == 2 and "--sample need credentials" in res.output


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--us-core", "some"], "--us-core: 'some'"),
        (["--sample", "0"], "--sample must be"),
        (["--patient", "Patient/1"], "give a bare resource id"),
    ],
)
def test_cli_bad_auth_flags(tmp_path, args, expect):
    creds = write(tmp_path, f"client_id: app\nclient_secret: {SECRET}\n")
    res = run("probe", "http://127.0.0.1:9/fhir", "--credentials", str(creds), *args, "-o", str(tmp_path / "e.json"))
    assert res.exit_code == 2 and expect in res.output, res.output
