"""Checking an OpenID Connect id_token (OIDC Core 1.0 §3.1.3.7, SMART App Launch 2.0 §Scopes for
requesting identity data): the signature against the issuer's JWKS, then iss, aud, exp, nonce and
the fhirUser claim, each as its own fact. Pure: the JWKS is fetched by the caller.

The token itself is never kept: only which checks held, the algorithm, and the fhirUser's type.
"""

from __future__ import annotations

import time
from typing import Any

ALGS = ("RS256", "RS384", "ES256", "ES384")  # SMART requires RS256 support; the others are allowed


def fhir_user_parts(value: Any) -> tuple[str | None, str | None]:
    """('Patient', 'http://…/Patient/123' or 'Patient/123') for a fhirUser claim, or (None, None)."""
    if not isinstance(value, str) or "/" not in value:
        return None, None
    parts = value.rstrip("/").split("/")
    if len(parts) < 2 or not parts[-2][:1].isupper():
        return None, None
    return parts[-2], value


def check_id_token(
    raw: str, jwks: dict[str, Any] | None, issuer: str | None, client_id: str, nonce: str, now: float | None = None
) -> dict[str, Any]:
    import jwt

    now = time.time() if now is None else now
    facts: dict[str, Any] = {"present": True}
    try:
        header = jwt.get_unverified_header(raw)
        claims = jwt.decode(raw, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {**facts, "well_formed": False}
    facts["well_formed"] = True
    alg = header.get("alg")
    facts["alg"] = alg if isinstance(alg, str) and len(alg) <= 10 else None
    kid = header.get("kid")
    key = None
    if isinstance(jwks, dict):
        try:
            keys = jwt.PyJWKSet.from_dict(jwks).keys
        except jwt.PyJWTError:
            keys = []
        matching = [k for k in keys if kid is None or k.key_id == kid]
        facts["kid_found"] = bool(matching)
        key = matching[0] if matching else None
    else:
        facts["kid_found"] = None
    if key is None or facts["alg"] not in ALGS:
        facts["signature_valid"] = None if jwks is None else False
    else:
        try:
            jwt.decode(
                raw, key.key, algorithms=[facts["alg"]], options={"verify_aud": False, "verify_exp": False, "verify_iss": False}
            )
            facts["signature_valid"] = True
        except jwt.PyJWTError:
            facts["signature_valid"] = False
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    exp = claims.get("exp")
    facts.update(
        iss_ok=issuer is not None and isinstance(claims.get("iss"), str) and claims["iss"].rstrip("/") == issuer.rstrip("/"),
        aud_ok=client_id in auds,
        exp_ok=isinstance(exp, int | float) and exp > now,
        iat_present=isinstance(claims.get("iat"), int | float),
        sub_present=isinstance(claims.get("sub"), str) and bool(claims.get("sub")),
        nonce_ok=claims.get("nonce") == nonce,
    )
    kind, _ = fhir_user_parts(claims.get("fhirUser"))
    facts["fhir_user_present"] = "fhirUser" in claims
    facts["fhir_user_type"] = kind
    return facts


def fhir_user_value(raw: str) -> str | None:
    import jwt

    try:
        value = jwt.decode(raw, options={"verify_signature": False}).get("fhirUser")
    except jwt.PyJWTError:
        return None
    return value if isinstance(value, str) else None
