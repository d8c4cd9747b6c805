"""The probe ids: one enum, so a probe's name is spelled in one place.

Kept free of pydantic so that `ehrcheck --help` and the CLI's option parsing can name probes
without importing the evidence models (see ehrcheck/errors.py).
"""

from __future__ import annotations

from enum import StrEnum


class ProbeId(StrEnum):
    """Each probe's key in `evidence.probes` (a str, so JSON and old evidence files read alike)."""

    capability = "capability"
    smart = "smart"
    openid = "openid"
    access = "access"
    transport = "transport"
    availability = "availability"
    chpl = "chpl"
    endpoints = "endpoints"
    token = "token"  # noqa: S105 - a probe id, not a secret
    scopes = "scopes"
    uscore = "uscore"
    bulk = "bulk"
    launch = "launch"  # a SMART user launch (probes/launch)


ANONYMOUS = (ProbeId.capability, ProbeId.smart, ProbeId.openid, ProbeId.access, ProbeId.transport)
CERTIFICATION = (ProbeId.chpl, ProbeId.endpoints)
AUTHENTICATED = (ProbeId.token, ProbeId.scopes, ProbeId.uscore, ProbeId.bulk)

CLAIMS = "claims"  # the vendor's claims: an evidence source rules read, though no probe gathers it
# What a rule's `needs` may name: every probe, and the claims.
EVIDENCE_SOURCES: tuple[str, ...] = (*(p.value for p in ProbeId), CLAIMS)
