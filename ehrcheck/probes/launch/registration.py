"""The app registration a user launch runs as: what a vendor sandbox hands out for a patient or
clinician app (client id; a secret or a private key for confidential clients; the redirect URI and,
for an EHR launch, the launch URL registered for it; the scopes to ask for).

It comes from the `app:` section of the credentials file (`--credentials FILE`) and/or
`EHRCHECK_APP_*` environment variables, never from a flag; the file wins. Secrets stay in `Secret`
wrappers and no message quotes them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ehrcheck.errors import UserInputError
from ehrcheck.files.limits import read_text_capped, read_user_yaml
from ehrcheck.files.yaml_values import key_lines
from ehrcheck.probes.authenticated.credentials import Credentials, Secret, _alg_for, load_private_key, unknown_keys_message

APP_KEYS = {
    "client_id",
    "client_secret",
    "private_key_file",
    "key_id",
    "alg",
    "redirect_uri",
    "launch_uri",
    "scope",
}
APP_ENV = {key: f"EHRCHECK_APP_{key.upper()}" for key in APP_KEYS}
# What a (g)(10) patient app asks for (the ONC kit's standalone scopes): identity, patient context,
# refresh, and read access to the patient's record in SMART v2 syntax.
DEFAULT_SCOPE = "openid fhirUser launch/patient offline_access patient/*.rs"
LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "::1")


@dataclass(frozen=True)
class AppRegistration:
    client_id: str
    redirect_uri: str
    scope: str = DEFAULT_SCOPE
    launch_uri: str | None = None
    client_secret: Secret | None = field(default=None, repr=False)
    private_key: Any = field(default=None, repr=False)
    alg: str | None = None
    key_id: str | None = None
    source: str = ""

    @property
    def client_type(self) -> str:
        if self.private_key is not None:
            return "confidential-asymmetric"
        return "confidential-symmetric" if self.client_secret is not None else "public"

    def signing_credentials(self) -> Credentials | None:
        """The private key as backend-style credentials, for `client_assertion` (RFC 7523)."""
        if self.private_key is None:
            return None
        return Credentials(
            client_id=self.client_id, method="private_key_jwt", private_key=self.private_key, alg=self.alg, key_id=self.key_id
        )

    def secrets(self) -> list[str]:
        out = [self.client_secret.reveal()] if self.client_secret is not None else []
        creds = self.signing_credentials()
        return out + (creds.secrets() if creds else [])

    def summary(self) -> dict[str, Any]:
        """What the evidence may keep: the client's kind, the URIs it listens on, the scopes."""
        return {
            "client_type": self.client_type,
            "redirect_uri": self.redirect_uri,
            "launch_uri": self.launch_uri,
            "scope_requested": self.scope.split(),
        }


def is_loopback(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme == "http" and (parts.hostname or "") in LOOPBACK and parts.port is not None


def _file_section(path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """(app fields, line of each). No message quotes a value: only the field and its line."""
    text, data = read_user_yaml(path, "--credentials", quote_problem=False)
    section = data.get("app") if isinstance(data, dict) else None
    if section is None:
        return {}, {}
    if not isinstance(section, dict):
        raise UserInputError(f"{path}: app must be a mapping of fields such as client_id, redirect_uri")
    lines = key_lines(text, "app")
    unknown = [k for k in section if k not in APP_KEYS]
    if unknown:
        raise UserInputError(
            f"{path}: app: unknown field(s): {unknown_keys_message(unknown, lines, APP_KEYS)}; known: {', '.join(sorted(APP_KEYS))}"
        )
    for key, value in section.items():
        if value is not None and not isinstance(value, str | int | float):
            raise UserInputError(f"{path}{f':{lines[key]}' if key in lines else ''}: app.{key} must be a single value")
    return {k: str(v) for k, v in section.items() if v is not None}, lines


def load_registration(path: Path | None, environ: Mapping[str, str] | None = None, *, ehr: bool = False) -> AppRegistration:
    """The app registration for a user launch; a UserInputError names what is missing."""
    env = os.environ if environ is None else environ
    fields, lines = _file_section(path) if path is not None else ({}, {})
    in_file = set(fields)
    origin = {k: f"{path}{f':{lines[k]}' if k in lines else ''}: app.{k}" for k in fields}
    for setting, name in APP_ENV.items():
        value = env.get(name, "").strip()
        if value and setting not in fields:
            fields[setting] = value
            origin[setting] = f"environment variable {name}"
    source = f"{path} (app:)" if path is not None else "the environment"
    if not fields.get("client_id"):
        raise UserInputError(
            f"a user launch needs an app registration: set app.client_id and app.redirect_uri in {path or 'a --credentials file'} "
            "(or EHRCHECK_APP_CLIENT_ID and EHRCHECK_APP_REDIRECT_URI); see docs/launch.md"
        )
    redirect = fields.get("redirect_uri", "")
    if not redirect.startswith(("http://", "https://")):
        raise UserInputError(f"{origin.get('redirect_uri', source)}: redirect_uri must be the http(s) URL registered for the app")
    launch_uri = fields.get("launch_uri")
    if ehr:
        if not launch_uri:
            raise UserInputError(
                f"{source}: an EHR launch needs app.launch_uri (or EHRCHECK_APP_LAUNCH_URI): the launch URL registered with the EHR"
            )
        if not is_loopback(launch_uri):
            raise UserInputError(
                f"{origin['launch_uri']}: launch_uri must be a loopback URL with a port, such as http://127.0.0.1:8765/launch: ehrcheck listens there"
            )
    if "client_secret" in fields and "private_key_file" in fields:
        raise UserInputError(f"{source}: give app.client_secret or app.private_key_file, not both")
    scope = " ".join(fields.get("scope", DEFAULT_SCOPE).split())
    if ehr and "launch" not in scope.split():
        scope = f"launch {scope}"
    key: Any = None
    alg: str | None = None
    kid: str | None = None
    if "private_key_file" in fields:
        key_path = Path(fields["private_key_file"]).expanduser()
        if path is not None and "private_key_file" in in_file and not key_path.is_absolute():
            key_path = path.parent / key_path
        label = origin["private_key_file"]  # never the path: a key pasted into the field would be printed whole
        try:
            text = read_text_capped(key_path, label)  # a key is a few KB; never read /dev/zero whole
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the path, or not UTF-8
            raise UserInputError(
                f"{label}: cannot read it ({getattr(exc, 'strerror', None) or exc.__class__.__name__})"
            ) from None
        key, kid, jwk_alg = load_private_key(text, label)
        alg = _alg_for(key, fields.get("alg") or jwk_alg, label)
    secret = Secret(fields["client_secret"]) if fields.get("client_secret") else None
    return AppRegistration(
        client_id=fields["client_id"],
        redirect_uri=redirect,
        scope=scope,
        launch_uri=launch_uri,
        client_secret=secret,
        private_key=key,
        alg=alg,
        key_id=fields.get("key_id") or kid,
        source=source,
    )
