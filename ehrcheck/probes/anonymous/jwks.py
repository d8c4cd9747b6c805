"""A JSON Web Key Set (RFC 7517) reduced to the facts that judge it, never the key material.

An OpenID provider publishes at `jwks_uri` the public keys that verify its ID tokens. What a
relying app needs: an object with a `keys` array; each key with a `kty`; a `kid` to pick the key
by when there are several (OpenID Connect Core 1.0 §10.1); an RSA key for RS256 (the algorithm
SMART apps must support) of at least 2048 bits (RFC 7518 §3.3); and no private members (`d`,
`p`, `q`...) — a published private key lets anyone forge sign-ins.
"""

from __future__ import annotations

import base64
import re
from typing import Any

# Members only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_TOKEN = re.compile(r"[A-Za-z0-9_.+-]{1,32}")


def json_type(value: Any) -> str:
    """The JSON name of a value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


def _token(value: Any) -> str | None:
    """A short header-like value as sent; anything longer or stranger is not carried into evidence."""
    if value is None:
        return None
    return value if isinstance(value, str) and _TOKEN.fullmatch(value) else "(other)"


def _rsa_bits(n: Any) -> int | None:
    if not isinstance(n, str) or not n:
        return None
    try:
        raw = base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))
    except (ValueError, TypeError):
        return None
    raw = raw.lstrip(b"\0")
    return (len(raw) - 1) * 8 + raw[0].bit_length() if raw else None


def _key_facts(key: dict[str, Any]) -> dict[str, Any]:
    kty = key.get("kty")
    if kty == "RSA":
        public = isinstance(key.get("n"), str) and isinstance(key.get("e"), str)
    elif kty in ("EC", "OKP"):
        public = isinstance(key.get("crv"), str) and isinstance(key.get("x"), str)
    else:
        public = False
    facts: dict[str, Any] = {
        "kty": _token(kty),
        "use": _token(key.get("use")),
        "alg": _token(key.get("alg")),
        "kid_present": isinstance(key.get("kid"), str) and bool(key.get("kid")),
        "public_parts": public,
        "private_parts": any(m in key for m in PRIVATE_MEMBERS),
    }
    if kty == "RSA":
        facts["rsa_bits"] = _rsa_bits(key.get("n"))
    return facts


def summarise_jwks(doc: Any) -> dict[str, Any]:
    """Facts about a decoded JWK Set document (see the module docstring)."""
    if not isinstance(doc, dict):
        return {"found": False, "problem": "the body is JSON but not an object"}
    keys = doc.get("keys")
    if not isinstance(keys, list):
        return {"found": True, "keys_type": json_type(keys) if "keys" in doc else "absent", "keys": []}
    objects = [k for k in keys if isinstance(k, dict)]
    kids = [k["kid"] for k in objects if isinstance(k.get("kid"), str)]
    return {
        "found": True,
        "keys": [_key_facts(k) for k in objects[:50]],
        "non_object_keys": len(keys) - len(objects),
        "duplicate_kids": len(kids) - len(set(kids)),
    }
