"""One authorization request (SMART App Launch 2.0 §Obtain authorization code): fresh PKCE S256,
`state` and `nonce`, `aud` naming the audited FHIR server, and `launch` for an EHR launch.

The verifier, state and nonce are random per request and live only in memory; the code that comes
back is wrapped as a `Secret`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ehrcheck.probes.authenticated.credentials import Secret


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class AuthRequest:
    client_id: str
    redirect_uri: str
    scope: str
    aud: str
    launch: str | None = None
    state: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    verifier: Secret = field(default_factory=lambda: Secret(secrets.token_urlsafe(48)), repr=False)

    @property
    def challenge(self) -> str:
        return _b64(hashlib.sha256(self.verifier.reveal().encode()).digest())

    def url(self, authorize_endpoint: str) -> str:
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "state": self.state,
            "aud": self.aud,
            "code_challenge": self.challenge,
            "code_challenge_method": "S256",
        }
        if "openid" in self.scope.split():  # OIDC: a nonce goes with an identity request only
            params["nonce"] = self.nonce
        if self.launch:
            params["launch"] = self.launch
        parts = urlsplit(authorize_endpoint)
        query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


@dataclass
class Callback:
    """What the redirect brought back: a code (kept secret) or an OAuth error code."""

    code: Secret | None = field(default=None, repr=False)
    error: str | None = None
    iss: str | None = None


def parse_callback(url: str) -> dict[str, str]:
    """The query of a redirect as a dict; empty (so refused, as having no state) when a parameter
    is given twice: which `code` or `iss` counts would be a guess, and a guess may be the planted one."""
    pairs = parse_qsl(urlsplit(url.strip()).query, keep_blank_values=True)
    found = dict(pairs)
    return found if len(found) == len(pairs) else {}
