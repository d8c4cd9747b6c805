"""From the CLI's authenticated-tier flags to the probes that use credentials, and their settings.

The probes (token, scopes, uscore, bulk) are registered only when credentials are given, through
`--credentials FILE` or `EHRCHECK_*` variables. Flags are checked here, before any request, so a
typo is one clear line (exit 2). Secrets never come from a flag; they are collected into the run's
`Secrets`, so whatever a server echoes back is scrubbed from the evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ehrcheck.errors import UserInputError
from ehrcheck.evidence.ids import ProbeId
from ehrcheck.probes.authenticated.credentials import Credentials, load_credentials
from ehrcheck.probes.base import ProbeFn

US_CORE_MODES = ("declared", "all")
MAX_SAMPLE = 100


@dataclass
class AuthInputs:
    credentials: Credentials | None = None
    secrets: Any = None  # redact.Secrets holding the credentials' secrets, for the runner
    settings: dict[str, Any] = field(default_factory=dict)
    probes: dict[str, ProbeFn] = field(default_factory=dict)


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
) -> AuthInputs:
    from ehrcheck.probes.authenticated.bulk import probe_bulk
    from ehrcheck.probes.authenticated.scopes import probe_scopes
    from ehrcheck.probes.authenticated.token import AuthSession, probe_token
    from ehrcheck.probes.authenticated.uscore_data import probe_uscore

    mode = (us_core or "declared").strip().lower()
    if mode not in US_CORE_MODES:
        raise UserInputError(f"--us-core: '{us_core}' is not one of {', '.join(US_CORE_MODES)}")
    if sample is not None and not 1 <= sample <= MAX_SAMPLE:
        raise UserInputError(f"--sample must be between 1 and {MAX_SAMPLE}")
    if bulk_timeout is not None and bulk_timeout <= 0:
        raise UserInputError("--bulk-timeout must be more than 0 seconds")
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
                ("--sample", sample),
                ("--bulk-timeout", bulk_timeout),
            )
            if value
        ]
        if used:
            raise UserInputError(f"{', '.join(used)} need credentials: give --credentials FILE (see docs/authenticated.md)")
        return AuthInputs()
    from ehrcheck.http.redact import Secrets

    secrets = Secrets(creds.secrets())
    settings: dict[str, Any] = {
        "auth": AuthSession(creds, secrets=secrets),
        "patients": ids or claimed_patients(claims, claims_path),
        "us_core": mode,
    }
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
