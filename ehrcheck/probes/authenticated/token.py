"""SMART Backend Services: getting access tokens, and checking the token endpoint refuses bad ones.

`AuthSession` is shared by every authenticated probe of one audit (it sits in `ctx.settings`):
it finds the token endpoint, signs client assertions (RFC 7523, SMART Backend Services
§Authenticating with a JWT) and caches one token per scope. `probe_token` checks the endpoint:
a valid request gets a well-formed token response, and each broken request is refused. The ONC
(g)(10) kit only sends a wrong `grant_type` and a wrong `client_assertion_type`; a server that
accepts a forged signature, someone else's audience, an expired assertion or a replayed `jti`
passes it, so we send those too.

Form bodies (assertions, secrets) are never recorded, and neither are token responses: the
evidence keeps status codes, field names, the token type, its lifetime and scopes.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ehrcheck.files.limits import json_loads
from ehrcheck.http.client import FetchError, Recorder, Response
from ehrcheck.http.origins import credential_refusal, transport_refusal
from ehrcheck.http.redact import redact_url_text, shown_url
from ehrcheck.probes.authenticated.credentials import Credentials, Secret
from ehrcheck.probes.base import ProbeContext, ProbeError, ProbeSkipped

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 240  # seconds; SMART: no more than five minutes in the future
REFRESH_MARGIN = 30  # seconds before expiry when a cached token is replaced
OAUTH_ERROR = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
TOKEN_FIELDS = ("access_token", "token_type", "expires_in", "scope")
REJECTED = (400, 401)


def oauth_error(resp: Response) -> str | None:
    """The RFC 6749 §5.2 `error` code, if it looks like one (descriptions are not kept: some
    servers echo the request in them)."""
    try:
        doc = json_loads(resp.content)
    except (ValueError, UnicodeDecodeError):
        return None
    code = doc.get("error") if isinstance(doc, dict) else None
    return code if isinstance(code, str) and OAUTH_ERROR.match(code) else None


def scope_set(scope: Any) -> list[str]:
    return sorted(set(scope.split())) if isinstance(scope, str) else []


def client_assertion(
    creds: Credentials,
    audience: str,
    *,
    key: Any = None,
    lifetime: int = ASSERTION_LIFETIME,
    jti: str | None = None,
    now: float | None = None,
) -> str:
    """A signed JWT authenticating the client (SMART Backend Services §Authenticating with a JWT)."""
    import jwt

    issued = int(now if now is not None else time.time())
    claims = {
        "iss": creds.client_id,
        "sub": creds.client_id,
        "aud": audience,
        "exp": issued + lifetime,
        "iat": issued,
        "jti": jti or uuid.uuid4().hex,
    }
    headers = {"typ": "JWT"}
    if creds.key_id:
        headers["kid"] = creds.key_id
    return jwt.encode(claims, key or creds.private_key, algorithm=creds.alg, headers=headers)


def other_key(creds: Credentials) -> Any:
    """A fresh key of the same kind as the client's: a signature the server cannot verify."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(creds.private_key, ec.EllipticCurvePrivateKey):
        return ec.generate_private_key(ec.SECP384R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class TokenEndpointRefused(ProbeError):
    """The token endpoint may not receive credentials (plain http); the message says why."""


@dataclass
class Token:
    value: Secret
    expires_at: float
    scope: str | None


@dataclass
class AuthSession:
    """Tokens for one audit. Everything secret stays in memory, behind `Secret`."""

    creds: Credentials
    secrets: Any = None  # the run's redact.Secrets: every assertion and token is added to it
    _endpoint: tuple[str, str] | None = None
    _tokens: dict[str, Token] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def endpoint(self, ctx: ProbeContext) -> tuple[str, str]:
        """(token endpoint URL, where it came from)."""
        if self._endpoint is None:
            if self.creds.token_endpoint:
                self._endpoint = (self.creds.token_endpoint, "credentials")
            else:
                smart = await ctx.result("smart")
                url = (smart.data.get("document") or {}).get("token_endpoint")
                source = "smart-configuration"
                if not isinstance(url, str) or not url:
                    cap = await ctx.result("capability")
                    url = ((cap.data.get("security") or {}).get("oauth_uris") or {}).get("token")
                    source = "capability-statement"
                if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                    raise ProbeError(
                        "no token endpoint: the SMART configuration and CapabilityStatement publish none "
                        "(set token_endpoint in the credentials file)"
                    )
                self._endpoint = (url, source)
        refused = credential_refusal(self._endpoint[0], ctx.base_url)
        if refused:  # nothing secret is sent, and probe_token turns this into a finding
            raise TokenEndpointRefused(refused)
        return self._endpoint

    def form(self, audience: str, scope: str | None, **overrides: Any) -> tuple[dict[str, str], dict[str, str]]:
        """(form, headers) of a client_credentials request; `overrides` break one part of it."""
        creds = self.creds
        form = {"grant_type": overrides.pop("grant_type", "client_credentials")}
        if scope:
            form["scope"] = scope
        headers = {"Accept": "application/json"}
        if creds.method == "private_key_jwt":
            form["client_assertion_type"] = overrides.pop("client_assertion_type", ASSERTION_TYPE)
            form["client_assertion"] = overrides.pop("client_assertion", None) or client_assertion(creds, audience)
        elif creds.method in ("client_secret_basic", "client_secret_post"):
            secret = overrides.pop("client_secret", None) or creds.client_secret.reveal()  # type: ignore[union-attr]
            if overrides.pop("no_client_auth", False):
                form["client_id"] = str(creds.client_id)
            elif creds.method == "client_secret_basic":
                pair = f"{creds.client_id}:{secret}".encode()
                headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
            else:
                form.update(client_id=str(creds.client_id), client_secret=secret)
        return form, headers

    async def request_token(self, ctx: ProbeContext, recorder: Recorder, scope: str | None, **overrides: Any) -> Response:
        url, _ = await self.endpoint(ctx)
        form, headers = self.form(url, scope, **overrides)
        self.remember(form.get("client_assertion"), form.get("client_secret"), headers.get("Authorization"))
        # Sent once: a retried assertion would be refused as a replay and muddle the result.
        return await ctx.fetcher.request("POST", url, recorder, headers=headers, form=form, retry=False)

    async def token(self, ctx: ProbeContext, recorder: Recorder, scope: str | None = None) -> str:
        """A bearer token for `scope` (default: the credentials' scope), fetched once and reused."""
        if self.creds.method == "bearer":
            return self.creds.bearer_token.reveal()  # type: ignore[union-attr]
        scope = scope or self.creds.scope
        async with self._lock:
            cached = self._tokens.get(scope)
            if cached and cached.expires_at - REFRESH_MARGIN > time.monotonic():
                return cached.value.reveal()
            try:
                resp = await self.request_token(ctx, recorder, scope)
            except FetchError as exc:
                raise ProbeError(f"the token endpoint could not be reached: {exc}") from None
            body = _json_object(resp)
            value = body.get("access_token")
            if resp.status != 200 or not isinstance(value, str) or not value:
                code = oauth_error(resp)
                raise ProbeError(f"no access token for scope '{scope}': HTTP {resp.status}" + (f" ({code})" if code else ""))
            lifetime = body.get("expires_in")
            lifetime = float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 else 300.0
            self.remember(value)
            self._tokens[scope] = Token(Secret(value), time.monotonic() + lifetime, body.get("scope"))
            return value

    def remember(self, *values: str | None) -> None:
        """Hand secret values to the run's scrubber, so no echo of them survives in evidence."""
        if self.secrets is not None:
            for value in values:
                if value:
                    self.secrets.add(value)

    async def auth_header(self, ctx: ProbeContext, recorder: Recorder, scope: str | None = None) -> dict[str, str]:
        refused = transport_refusal(ctx.base_url, ctx.base_url)
        if refused:  # a plain-http FHIR base off this machine would carry the token in clear text
            raise ProbeError(f"no token sent to the FHIR base: {refused}")
        return {"Authorization": f"Bearer {await self.token(ctx, recorder, scope)}"}


def _json_object(resp: Response) -> dict[str, Any]:
    try:
        doc = json_loads(resp.content)
    except (ValueError, UnicodeDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def session_of(ctx: ProbeContext) -> AuthSession:
    session = ctx.settings.get("auth")
    if not isinstance(session, AuthSession):
        raise ProbeSkipped("no credentials were given (use --credentials FILE)")
    return session


def token_response_facts(resp: Response) -> dict[str, Any]:
    """What a token response says, minus the token itself."""
    body = _json_object(resp)
    cache_control = resp.headers.get("cache-control", "")
    facts: dict[str, Any] = {
        "http_status": resp.status,
        "content_type": resp.content_type,
        "accepted": resp.status == 200 and isinstance(body.get("access_token"), str) and bool(body.get("access_token")),
        "fields_present": [f for f in TOKEN_FIELDS if f in body],
        "fields_missing": [f for f in TOKEN_FIELDS if f not in body],
        "token_type": body.get("token_type") if isinstance(body.get("token_type"), str) else None,
        "expires_in": body.get("expires_in") if isinstance(body.get("expires_in"), int | float) else None,
        "scope_granted": body.get("scope") if isinstance(body.get("scope"), str) else None,
        "cache_control": cache_control or None,
        "no_store": "no-store" in cache_control.lower(),
        "pragma_no_cache": "no-cache" in resp.headers.get("pragma", "").lower(),
        "refresh_token_issued": "refresh_token" in body,
    }
    if not facts["accepted"]:
        facts["error"] = oauth_error(resp)
    return facts


def _refusal(resp: Response) -> dict[str, Any]:
    body = _json_object(resp)
    return {
        "http_status": resp.status,
        "rejected": resp.status in REJECTED,
        "token_issued": resp.status == 200 and bool(body.get("access_token")),
        "error": oauth_error(resp),
    }


async def _negative(session: AuthSession, ctx: ProbeContext, recorder: Recorder, **overrides: Any) -> dict[str, Any]:
    try:
        resp = await session.request_token(ctx, recorder, session.creds.scope, **overrides)
    except FetchError as exc:
        return {"http_status": None, "rejected": None, "token_issued": None, "error": None, "fetch_error": str(exc)}
    return _refusal(resp)


async def probe_token(ctx: ProbeContext, recorder: Recorder) -> dict[str, Any]:
    session = session_of(ctx)
    creds = session.creds
    if creds.method == "bearer":
        raise ProbeSkipped("a bearer token was given: there is no token endpoint to test")
    try:
        url, source = await session.endpoint(ctx)
    except TokenEndpointRefused as exc:
        # A refusal is a finding (HIP-111), not a silent skip: the evidence says what was refused.
        url, source = session._endpoint or ("", "")
        return {
            "credentials": creds.summary(),
            "token_endpoint": {"url": shown_url(url), "source": source, "https": False, "refused": redact_url_text(str(exc))},
        }
    out: dict[str, Any] = {
        "credentials": creds.summary(),
        "token_endpoint": {
            "url": shown_url(url),
            "source": source,
            "https": url.startswith("https://"),
            "plain_http_loopback": url.startswith("http://"),
        },
    }
    base_refused = transport_refusal(ctx.base_url, ctx.base_url)
    if base_refused:
        out["fhir_base"] = {"refused": f"no token sent to the FHIR base: {base_refused}"}
    try:
        resp = await session.request_token(ctx, recorder, creds.scope)
    except FetchError as exc:
        raise ProbeError(f"the token endpoint {url} could not be reached: {exc}") from None
    valid = token_response_facts(resp)
    out["valid"] = valid
    requested = scope_set(creds.scope)
    granted = scope_set(valid["scope_granted"])
    out["scopes"] = {
        "requested": requested,
        "granted": granted if valid["scope_granted"] is not None else None,
        "not_granted": [s for s in requested if s not in granted] if valid["scope_granted"] is not None else None,
        "beyond_requested": [s for s in granted if s not in requested] if valid["scope_granted"] is not None else None,
    }

    negative: dict[str, Any] = {}
    if creds.method == "private_key_jwt":
        negative["bad_signature"] = await _negative(
            session, ctx, recorder, client_assertion=client_assertion(creds, url, key=other_key(creds))
        )
        negative["wrong_aud"] = await _negative(
            session, ctx, recorder, client_assertion=client_assertion(creds, url.rstrip("/") + "/not-the-token-endpoint")
        )
        negative["expired_exp"] = await _negative(
            session, ctx, recorder, client_assertion=client_assertion(creds, url, now=time.time() - 600)
        )
        # The replay: one fresh assertion sent twice. The first use may succeed; the second must not.
        reused = client_assertion(creds, url)
        first = await _negative(session, ctx, recorder, client_assertion=reused)
        replay = await _negative(session, ctx, recorder, client_assertion=reused)
        replay["first_use_status"] = first["http_status"]
        negative["replayed_jti"] = replay
        negative["wrong_client_assertion_type"] = await _negative(
            session, ctx, recorder, client_assertion_type="not_an_assertion_type"
        )
    else:
        negative["wrong_secret"] = await _negative(
            session,
            ctx,
            recorder,
            client_secret=creds.client_secret.reveal() + "-not-it",  # type: ignore[union-attr]
        )
        negative["no_client_auth"] = await _negative(session, ctx, recorder, no_client_auth=True)
    negative["wrong_grant_type"] = await _negative(session, ctx, recorder, grant_type="not_a_grant_type")
    out["negative"] = negative
    out["negative_rejected"] = sorted(k for k, v in negative.items() if v.get("rejected"))
    out["negative_not_rejected"] = sorted(k for k, v in negative.items() if not v.get("rejected"))
    return out
