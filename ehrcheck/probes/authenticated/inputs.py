"""From the CLI's authenticated-tier flags to the probes that use credentials, and their settings.

The probes (token, scopes, uscore, bulk) are registered only when credentials are given, through
`--credentials FILE` or `EHRCHECK_*` variables. Flags are checked here, before any request, so a
typo is one clear line (exit 2). Secrets never come from a flag; they are collected into the run's
`Secrets`, so whatever a server echoes back is scrubbed from the evidence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ehrcheck.errors import UserInputError
from ehrcheck.evidence.ids import ProbeId
from ehrcheck.probes.authenticated.credentials import Credentials, load_credentials
from ehrcheck.probes.base import ProbeFn

US_CORE_MODES = ("declared", "all")
US_CORE_VERSIONS = ("6.1.0", "7.0.0")
MAX_SAMPLE = 100
MAX_BULK_TIMEOUT = 86400.0  # a day: finite, so the audit budget (which adds it) stays finite


@dataclass
class AuthInputs:
    credentials: Credentials | None = None
    secrets: Any = None  # redact.Secrets holding the credentials' secrets, for the runner
    settings: dict[str, Any] = field(default_factory=dict)
    probes: dict[str, ProbeFn] = field(default_factory=dict)


def check_tx_server(url: str | None) -> str | None:
    """`--tx-server URL`: an absolute http(s) URL with no credentials in it."""
    if url is None or not url.strip():
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserInputError(f"--tx-server '{url[:80]}': give an http(s) URL such as https://tx.example.org/r4")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise UserInputError("--tx-server: give the server's base URL only (no user, password, query or fragment)")
    return url.strip().rstrip("/")


def claimed_patients(claims: dict[str, Any] | None, claims_path: Path | None) -> list[str]:
    """`api.test_patient_ids` from the claims: the vendor's own sandbox patients, if listed."""
    api = (claims or {}).get("api")
    raw = api.get("test_patient_ids") if isinstance(api, dict) else None
    if raw is None:
        return []
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not all(isinstance(v, str | int) for v in values):
        raise UserInputError(f"{claims_path or 'claims'}: api.test_patient_ids must be a list of patient ids")
    return [str(v) for v in values]


def authenticated_inputs(
    credentials_path: Path | None,
    patients: list[str] | None,
    us_core: str | None,
    sample: int | None,
    bulk_timeout: float | None,
    claims: dict[str, Any] | None = None,
    claims_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    us_core_version: str | None = None,
    tx_server: str | None = None,
) -> AuthInputs:
    mode = (us_core or "declared").strip().lower()
    if mode not in US_CORE_MODES:
        raise UserInputError(f"--us-core: '{us_core}' is not one of {', '.join(US_CORE_MODES)}")
    version = (us_core_version or "").strip() or None
    if version is not None and version not in US_CORE_VERSIONS:
        raise UserInputError(f"--us-core-version: '{us_core_version}' is not one of {', '.join(US_CORE_VERSIONS)}")
    tx = check_tx_server(tx_server)
    if sample is not None and not 1 <= sample <= MAX_SAMPLE:
        raise UserInputError(f"--sample must be between 1 and {MAX_SAMPLE}")
    if bulk_timeout is not None and not (math.isfinite(bulk_timeout) and bulk_timeout > 0):
        raise UserInputError(f"--bulk-timeout must be more than 0 seconds (a number, not {bulk_timeout})")
    if bulk_timeout is not None and bulk_timeout > MAX_BULK_TIMEOUT:
        raise UserInputError(f"--bulk-timeout {bulk_timeout:g}: at most {MAX_BULK_TIMEOUT:g} seconds")
    ids = [p.strip() for p in patients or [] if p.strip()]
    for pid in ids:
        if "/" in pid or "?" in pid or len(pid) > 64:
            raise UserInputError(f"--patient '{pid[:70]}': give a bare resource id such as 123 (not Patient/123 or a URL)")
    creds = load_credentials(credentials_path, environ)
    if creds is None:
        used = [
            flag
            for flag, value in (
                ("--patient", ids),
                ("--us-core", us_core),
                ("--us-core-version", version),
                ("--tx-server", tx),
                ("--sample", sample),
                ("--bulk-timeout", bulk_timeout),
            )
            if value
        ]
        if used:
            raise UserInputError(f"{', '.join(used)} need credentials: give --credentials FILE (see docs/authenticated.md)")
        return AuthInputs()
    # The probes' modules only when they will run: an anonymous audit (or a scan) never loads them.
    from ehrcheck.http.redact import Secrets
    from ehrcheck.probes.authenticated.bulk import probe_bulk
    from ehrcheck.probes.authenticated.scopes import probe_scopes
    from ehrcheck.probes.authenticated.token import AuthSession, probe_token
    from ehrcheck.probes.authenticated.uscore_data import probe_uscore

    secrets = Secrets(creds.secrets())
    settings: dict[str, Any] = {
        "auth": AuthSession(creds, secrets=secrets),
        "patients": ids or claimed_patients(claims, claims_path),
        "us_core": mode,
    }
    if version is not None:
        settings["us_core_version"] = version
    if tx is not None:
        settings["tx_server"] = tx
    if sample is not None:
        settings["sample"] = sample
    if bulk_timeout is not None:
        settings["bulk_timeout"] = bulk_timeout
    probes: dict[str, ProbeFn] = {
        ProbeId.token: probe_token,
        ProbeId.scopes: probe_scopes,
        ProbeId.uscore: probe_uscore,
        ProbeId.bulk: probe_bulk,
    }
    return AuthInputs(credentials=creds, secrets=secrets, settings=settings, probes=probes)
