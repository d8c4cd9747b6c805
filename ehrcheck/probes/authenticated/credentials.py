"""Credentials for the authenticated tier: where they come from, and how they stay secret.

A practice (or its consultant) gets one of these from the vendor:

- a client id and a private key registered for SMART Backend Services (`private_key_jwt`,
  RS384 or ES384; the key as PEM or as a private JWK),
- a client id and a client secret (`client_secret_basic` or `client_secret_post`),
- or a ready-made bearer token.

They come from a YAML credentials file (`--credentials FILE`) and/or `EHRCHECK_*` environment
variables, never from a command-line flag (flags end up in shell history and `ps`). The file wins;
the environment fills in what the file leaves out. Secret values live in `Secret` wrappers whose
repr is `[redacted]`, and no error message ever quotes one.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ehrcheck.errors import UserInputError
from ehrcheck.files.limits import read_text_capped, read_user_yaml
from ehrcheck.files.yaml_values import key_lines, key_shown

METHODS = ("private_key_jwt", "client_secret_basic", "client_secret_post", "bearer")
ALGS = ("RS384", "ES384")
FILE_KEYS = {
    "client_id",
    "auth_method",
    "private_key_file",
    "private_key",
    "key_id",
    "alg",
    "client_secret",
    "bearer_token",
    "scope",
    "token_endpoint",
}
ENV = {
    "client_id": "EHRCHECK_CLIENT_ID",
    "auth_method": "EHRCHECK_AUTH_METHOD",
    "private_key_file": "EHRCHECK_PRIVATE_KEY_FILE",
    "key_id": "EHRCHECK_KEY_ID",
    "alg": "EHRCHECK_SIGNING_ALG",
    "client_secret": "EHRCHECK_CLIENT_SECRET",
    "bearer_token": "EHRCHECK_BEARER_TOKEN",
    "scope": "EHRCHECK_SCOPE",
    "token_endpoint": "EHRCHECK_TOKEN_ENDPOINT",
}
DEFAULT_SCOPE = "system/*.read"


class Secret:
    """A secret string that does not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('[redacted]')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


@dataclass(frozen=True)
class Credentials:
    client_id: str | None
    method: str  # one of METHODS
    scope: str = DEFAULT_SCOPE
    private_key: Any = field(default=None, repr=False)  # a cryptography private key object
    alg: str | None = None
    key_id: str | None = None
    client_secret: Secret | None = field(default=None, repr=False)
    bearer_token: Secret | None = field(default=None, repr=False)
    token_endpoint: str | None = None
    source: str = ""  # where they came from, for messages: "creds.yaml", "environment"

    def secrets(self) -> list[str]:
        """Every secret string these credentials hold, so callers can prove none leaked."""
        out = [s.reveal() for s in (self.client_secret, self.bearer_token) if s is not None]
        if self.client_secret is not None and self.client_id:
            # The Basic value client_secret_basic sends, known before the first token request: a
            # server echoing it in its first answers is scrubbed from the first --debug line on.
            pair = f"{self.client_id}:{self.client_secret.reveal()}".encode()
            out.append("Basic " + base64.b64encode(pair).decode())
        if self.private_key is not None:
            out.extend(_key_secret_strings(self.private_key))
        return out

    def summary(self) -> dict[str, Any]:
        """What the evidence may say about the credentials: method, algorithm, scope; no secret."""
        return {
            "method": self.method,
            "client_id_given": self.client_id is not None,
            "alg": self.alg,
            "key_id_given": self.key_id is not None,
            "scope_requested": self.scope,
        }


def _key_secret_strings(key: Any) -> list[str]:
    """The private parts of a key in the encodings that could leak: PEM body lines, JWK `d`."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    lines = [ln for ln in pem.splitlines() if ln and not ln.startswith("-----")]
    if isinstance(key, rsa.RSAPrivateKey):
        d = key.private_numbers().d
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        d = key.private_numbers().private_value
    else:  # pragma: no cover - load_private_key only returns the two above
        d = 0
    raw = d.to_bytes((d.bit_length() + 7) // 8, "big")
    return [*lines[1:3], base64.urlsafe_b64encode(raw).rstrip(b"=").decode()]


def load_private_key(text: str, where: str) -> tuple[Any, str | None, str | None]:
    """(key, kid, alg) from PEM or from a private JWK (JSON). Errors name `where`, never the text."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    stripped = text.strip()
    kid = alg = None
    key: Any  # checked below: only RSA and EC private keys get through
    if stripped.startswith("{"):
        try:
            jwk = json.loads(stripped)
        except (ValueError, RecursionError):
            raise UserInputError(f"{where}: looks like JSON but is not valid JSON") from None
        if isinstance(jwk, dict) and isinstance(jwk.get("keys"), list) and len(jwk["keys"]) == 1:
            jwk = jwk["keys"][0]  # a one-key JWKS is accepted too
        if not isinstance(jwk, dict) or "d" not in jwk:
            raise UserInputError(f"{where}: a JWK must be a private key (with 'd'); this one is public or not a JWK")
        from jwt.algorithms import ECAlgorithm, RSAAlgorithm

        try:
            key = RSAAlgorithm.from_jwk(jwk) if jwk.get("kty") == "RSA" else ECAlgorithm.from_jwk(jwk)
        except Exception:  # noqa: BLE001 - PyJWT raises several types; none may echo the key
            raise UserInputError(f"{where}: not a usable RSA or EC private JWK") from None
        kid, alg = jwk.get("kid"), jwk.get("alg")
    elif "-----BEGIN" in stripped:
        if "ENCRYPTED" in stripped:
            raise UserInputError(f"{where}: the private key is encrypted; give an unencrypted PEM (keep the file private)")
        try:
            key = load_pem_private_key(stripped.encode(), password=None)
        except (ValueError, TypeError):
            raise UserInputError(f"{where}: not a readable PEM private key") from None
    else:
        raise UserInputError(f"{where}: not a PEM private key or a private JWK")
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise UserInputError(f"{where}: SMART Backend Services needs an RSA or EC (P-384) private key")
    return key, kid, alg


def _alg_for(key: Any, wanted: str | None, where: str) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec

    is_ec = isinstance(key, ec.EllipticCurvePrivateKey)
    default = "ES384" if is_ec else "RS384"
    alg = (wanted or default).upper()
    if alg not in ALGS:  # the value is not shown: a secret written in the wrong field would be
        raise UserInputError(f"{where}: alg is not one SMART Backend Services requires; use RS384 or ES384 (value not shown)")
    if alg.startswith("ES") != is_ec:
        raise UserInputError(f"{where}: alg {alg} does not fit a{'n EC' if is_ec else 'n RSA'} key")
    if is_ec and key.curve.name != "secp384r1":
        raise UserInputError(f"{where}: ES384 needs a P-384 key, this one is {key.curve.name}")
    return alg


def unknown_keys_message(keys: list[Any], lines: dict[str, int], known: set[str]) -> str:
    """Each unknown key with its line, named only when it reads as a field name (`key_shown`):
    `{client_id: x, client_secret:<secret>}` makes the secret part of a key."""
    return ", ".join(
        key_shown(k, known) + (f" on line {lines[str(k)]}" if str(k) in lines else "") for k in sorted(keys, key=str)
    )


def _read_file(path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """(fields, line of each field). No message quotes a value: only the field and its line."""
    # quote_problem=False: PyYAML's problem text can quote the offending line, which may hold a secret.
    text, data = read_user_yaml(path, "--credentials", quote_problem=False)
    if data is None or data == {}:
        # An empty file (or /dev/null, or a FIFO nobody writes) is a mistake, not "no credentials":
        # taken as none, the audit ran anonymously and the authenticated checks silently vanished.
        raise UserInputError(
            f"--credentials {path}: the file is empty; give a backend client (client_id with private_key_file, "
            "client_secret or bearer_token) or an app: section (docs/authenticated.md, docs/launch.md)"
        )
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: must be a YAML mapping of fields such as client_id, private_key_file")
    # `app:` is a user-launch app registration, read by probes/launch/registration.py.
    data = {k: v for k, v in data.items() if k != "app"}
    lines = key_lines(text)
    unknown = [k for k in data if k not in FILE_KEYS]
    if unknown:
        raise UserInputError(
            f"{path}: unknown field(s): {unknown_keys_message(unknown, lines, FILE_KEYS)}; "
            f"known: {', '.join(sorted(FILE_KEYS))}, and app (docs/launch.md)"
        )
    for key, value in data.items():
        if value is not None and not isinstance(value, str | int | float) and key != "private_key":
            raise UserInputError(f"{path}{f':{lines[key]}' if key in lines else ''}: field {key} must be a single value")
    return {k: (str(v) if isinstance(v, int | float) else v) for k, v in data.items() if v is not None}, lines


def key_files(path: Path | None, environ: Mapping[str, str] | None = None) -> list[Path]:
    """The private key files a run with these credentials reads (the backend client's and the
    launch app's, from the file or the environment), resolved as the loaders resolve them: what
    no output of the run may be written over."""
    env = os.environ if environ is None else environ
    found: list[Path] = []
    data: Any = read_user_yaml(path, "--credentials", quote_problem=False)[1] if path is not None else None
    sections = [data, data.get("app")] if isinstance(data, dict) else []
    for section in sections:
        value = section.get("private_key_file") if isinstance(section, dict) else None
        if isinstance(value, str) and value and path is not None:
            key_path = Path(value).expanduser()
            found.append(key_path if key_path.is_absolute() else path.parent / key_path)
    for name in ("EHRCHECK_PRIVATE_KEY_FILE", "EHRCHECK_APP_PRIVATE_KEY_FILE"):
        if value := env.get(name, "").strip():
            found.append(Path(value).expanduser())
    return found


def load_credentials(path: Path | None, environ: Mapping[str, str] | None = None) -> Credentials | None:
    """Credentials from the file (if given) and the environment; None when neither gives any."""
    env = os.environ if environ is None else environ
    fields, lines = _read_file(path) if path is not None else ({}, {})
    in_file = set(fields)
    origin = {k: f"{path}:{lines[k]}" if k in lines else str(path) for k in fields}
    for key, name in ENV.items():
        value = env.get(name, "").strip()
        if value and key not in fields:
            fields[key] = value
            origin[key] = f"environment variable {name}"
    if not fields:
        return None
    source = str(path) if path is not None else "environment"

    def where(key: str) -> str:
        return origin.get(key, source)

    has_key = "private_key_file" in fields or "private_key" in fields
    method = fields.get("auth_method")
    if method is None:
        if has_key:
            method = "private_key_jwt"
        elif "client_secret" in fields:
            method = "client_secret_basic"
        elif "bearer_token" in fields:
            method = "bearer"
        else:
            raise UserInputError(
                f"{source}: no credential given: set private_key_file, client_secret or bearer_token "
                "(or EHRCHECK_PRIVATE_KEY_FILE, EHRCHECK_CLIENT_SECRET, EHRCHECK_BEARER_TOKEN)"
            )
    if method not in METHODS:
        raise UserInputError(f"{where('auth_method')}: auth_method is not one of {', '.join(METHODS)} (value not shown)")

    for name in ("client_id", "client_secret", "bearer_token"):
        given = fields.get(name)
        # They go into HTTP headers: RFC 6749's VSCHAR, printable ASCII. A NUL or a non-ASCII
        # letter failed only when sent, with the value quoted in the error (round 11).
        if isinstance(given, str) and not all(0x20 <= ord(ch) <= 0x7E for ch in given):
            raise UserInputError(
                f"{where(name)}: {name} holds a control or non-ASCII character, which an HTTP header cannot "
                "carry; check the value (not shown)"
            )
    client_id = fields.get("client_id")
    if method != "bearer" and not client_id:
        raise UserInputError(f"{source}: client_id is required for {method}")
    scope = " ".join(str(fields.get("scope") or DEFAULT_SCOPE).split())
    token_endpoint = fields.get("token_endpoint")
    if token_endpoint is not None and not str(token_endpoint).startswith(("http://", "https://")):
        raise UserInputError(f"{where('token_endpoint')}: token_endpoint must be an http(s) URL")
    common: dict[str, Any] = {
        "client_id": client_id,
        "method": method,
        "scope": scope,
        "token_endpoint": token_endpoint,
        "source": source,
    }

    if method == "private_key_jwt":
        if "private_key" in fields and "private_key_file" in fields:
            raise UserInputError(f"{source}: give private_key_file or private_key, not both")
        if "private_key_file" in fields:
            key_path = Path(str(fields["private_key_file"])).expanduser()
            if path is not None and "private_key_file" in in_file and not key_path.is_absolute():
                key_path = path.parent / key_path  # relative to the credentials file, not the cwd
            # The path is not shown: a key or a secret pasted into this field would be printed whole.
            label = f"{where('private_key_file')}: private_key_file"
            try:
                text = read_text_capped(key_path, label)  # a key is a few KB; never read /dev/zero whole
            except FileNotFoundError:
                raise UserInputError(f"{label}: no such file (path not shown)") from None
            except (OSError, ValueError) as exc:  # ValueError: a NUL in the path, or not UTF-8
                raise UserInputError(
                    f"{label}: cannot read it ({getattr(exc, 'strerror', None) or exc.__class__.__name__})"
                ) from None
        elif "private_key" in fields:
            label = f"{where('private_key')}: private_key"
            raw = fields["private_key"]
            text = json.dumps(raw) if isinstance(raw, dict) else str(raw)
        else:
            raise UserInputError(f"{source}: private_key_jwt needs private_key_file (or EHRCHECK_PRIVATE_KEY_FILE)")
        key, jwk_kid, jwk_alg = load_private_key(text, label)
        alg = _alg_for(key, fields.get("alg") or jwk_alg, where("alg") if "alg" in fields else label)
        return Credentials(**common, private_key=key, alg=alg, key_id=fields.get("key_id") or jwk_kid)
    if method in ("client_secret_basic", "client_secret_post"):
        secret = fields.get("client_secret")
        if not secret:
            raise UserInputError(f"{source}: {method} needs client_secret (or EHRCHECK_CLIENT_SECRET)")
        return Credentials(**common, client_secret=Secret(str(secret)))
    token = fields.get("bearer_token")
    if not token:
        raise UserInputError(f"{source}: auth_method bearer needs bearer_token (or EHRCHECK_BEARER_TOKEN)")
    return Credentials(**common, bearer_token=Secret(str(token)))
