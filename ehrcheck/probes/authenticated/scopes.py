"""Scope enforcement: a token granted only Patient access must not read Observations.

A server that checks that a token is valid but not what it is valid *for* hands every app the
whole chart, whatever the practice approved (45 CFR 164.312(a)(1), 164.502(b)). We ask for a
Patient-only token (`system/Patient.rs`, or `system/Patient.read` when the client's scope uses
SMART v1 syntax), show it works on Patient, then try Observation with it.
"""

from __future__ import annotations

from typing import Any

from ehrcheck.http.client import FetchError, Recorder
from ehrcheck.probes.authenticated.token import session_of
from ehrcheck.probes.base import ProbeContext, ProbeError, ProbeSkipped, parse_json
from ehrcheck.probes.phi import ScrubbingRecorder

ACCEPT = {"Accept": "application/fhir+json"}


def narrow_scope(scope: str) -> str:
    """The Patient-only scope in the syntax (SMART v1 `.read` or v2 `.rs`) the client already uses."""
    context = "system"
    for part in scope.split():
        if "/" in part:
            context = part.split("/", 1)[0]
            break
    v1 = any(part.endswith((".read", ".write", ".*")) for part in scope.split())
    return f"{context}/Patient.{'read' if v1 else 'rs'}"


async def probe_scopes(ctx: ProbeContext, recorder: Recorder) -> dict[str, Any]:
    session = session_of(ctx)
    if session.creds.method == "bearer":
        raise ProbeSkipped("a bearer token was given: ehrcheck cannot ask for a narrower one")
    rec = ScrubbingRecorder(recorder, ctx.base_url)
    scope = narrow_scope(session.creds.scope)
    out: dict[str, Any] = {"scope_requested": scope}
    headers = {**ACCEPT, **await session.auth_header(ctx, rec, scope)}
    try:
        patient = await ctx.fetcher.get(ctx.url("Patient?_count=1"), rec, headers=headers)
        observation = await ctx.fetcher.get(ctx.url("Observation?_count=1"), rec, headers=headers)
    except FetchError as exc:
        raise ProbeError(f"the FHIR server could not be reached: {exc}") from None
    out["patient_status"] = patient.status
    out["observation_status"] = observation.status
    out["observation_refused"] = observation.status in (401, 403)
    # A 200 with an empty Bundle is not a refusal either; count what came back (never keep it).
    doc, _ = parse_json(observation)
    entries = (doc.get("entry") if isinstance(doc, dict) else None) or []
    out["observation_entries"] = sum(
        1 for e in entries if isinstance(e, dict) and (e.get("resource") or {}).get("resourceType") == "Observation"
    )
    return out
