"""Helpers for the authenticated-tier tests: credentials for sekmet's SMART test clients, and
running a chosen set of probes through the real runner."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from ehrcheck.http.client import HttpOptions
from ehrcheck.http.redact import Secrets
from ehrcheck.models import Evidence
from ehrcheck.probes.authenticated.credentials import Credentials, load_credentials
from ehrcheck.probes.authenticated.token import AuthSession
from ehrcheck.probes.runner import collect


def client(keys_dir: Path, client_id: str) -> dict[str, Any]:
    manifest = json.loads((keys_dir / "clients.json").read_text())
    return next(c for c in manifest["clients"] if c["client_id"] == client_id)


def creds_yaml(keys_dir: Path, client_id: str, **extra: str) -> str:
    """The text of a credentials file for one of sekmet's test clients."""
    c = client(keys_dir, client_id)
    lines = [f"client_id: {client_id}", f"scope: {extra.pop('scope', c['scopes'])}"]
    if c["auth"] == "private_key_jwt":
        lines += [f"private_key_file: {keys_dir / c['private_key']}", f"key_id: {c['kid']}"]
    else:
        lines += [f"client_secret: {c['client_secret']}", f"auth_method: {c['auth']}"]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def credentials(keys_dir: Path, client_id: str, tmp_path: Path, **extra: str) -> Credentials:
    path = tmp_path / f"{client_id}.yaml"
    path.write_text(creds_yaml(keys_dir, client_id, **extra))
    creds = load_credentials(path, environ={})
    assert creds is not None
    return creds


def run(base_url: str, creds: Credentials, probes: dict[str, Any], **settings: Any) -> Evidence:
    secrets = Secrets(creds.secrets())
    all_settings = {"auth": AuthSession(creds, secrets=secrets), **settings}
    return asyncio.run(collect(base_url, HttpOptions(timeout=10), extra_probes=probes, settings=all_settings, secrets=secrets))
