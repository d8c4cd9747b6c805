"""A small SMART authorization + resource server on 127.0.0.1 that can be told to get things wrong.

The real stack (tests/authserver/smart.mjs, oidc-provider) refuses every broken request, so the
rules' failing side needs a server that wrongly accepts them: each `quirk` switches one fault on.
With no quirks it behaves (PKCE, single-use codes, exact redirect_uri, client secret, scopes,
revocation). It signs in nobody: /authorize redirects straight back with a code, as if the person
had allowed everything. Every token, code and id_token it issues starts with PLANTED, and it keeps
what it issued and the verifiers it was sent, so tests can search ehrcheck's outputs for them.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

QUIRKS = frozenset(
    {
        "accept_wrong_verifier",
        "accept_code_reuse",
        "accept_redirect_mismatch",
        "accept_wrong_secret",
        "ignore_scopes",
        "revoke_noop",
        "bad_id_token_signature",
        "no_store_missing",
        "refresh_single_use_broken",
        "no_cors",
        "revoke_elsewhere",  # revocation and introspection on another origin (localhost, same server)
    }
)
PATIENT = "p1"
LAB = ("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory")
VITALS = ("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs")
PROBLEM = ("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item")
DIAGNOSIS = ("http://terminology.hl7.org/CodeSystem/condition-category", "encounter-diagnosis")
CLIENT_SECRET = "fake-client-secret-value"


def _resource(rtype: str, rid: str, category: tuple[str, str]) -> dict[str, Any]:
    return {
        "resourceType": rtype,
        "id": rid,
        "subject": {"reference": f"Patient/{PATIENT}"},
        "category": [{"coding": [{"system": category[0], "code": category[1]}]}],
        "code": {"text": "test"},
    }


RESOURCES = {
    "Patient": [{"resourceType": "Patient", "id": PATIENT, "name": [{"family": "Test"}]}],
    "Observation": [_resource("Observation", "o1", LAB), _resource("Observation", "o2", VITALS)],
    "Condition": [_resource("Condition", "c1", PROBLEM), _resource("Condition", "c2", DIAGNOSIS)],
}


@dataclass
class FakeSmart:
    quirks: set[str]
    origin: str = ""
    issued: list[str] = field(default_factory=list)  # every token, code and id_token handed out
    verifiers: list[str] = field(default_factory=list)  # every code_verifier received
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh: dict[str, dict[str, Any]] = field(default_factory=dict)
    key: Any = None
    posted: list[str] = field(default_factory=list)  # the path of every POST received

    @property
    def fhir_base(self) -> str:
        return f"{self.origin}/fhir"

    def new(self, kind: str) -> str:
        value = f"PLANTED-{kind}-{secrets.token_urlsafe(16)}"
        self.issued.append(value)
        return value

    def jwks(self) -> dict[str, Any]:
        from jwt.algorithms import RSAAlgorithm

        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": "fake-1", "alg": "RS256", "use": "sig"}]}

    def id_token(self, client_id: str, nonce: str | None) -> str:
        import jwt
        from cryptography.hazmat.primitives.asymmetric import rsa

        now = int(time.time())
        claims = {"iss": self.origin, "sub": "patient", "aud": client_id, "iat": now, "exp": now + 300}
        claims["fhirUser"] = f"{self.fhir_base}/Patient/{PATIENT}"
        if nonce:
            claims["nonce"] = nonce
        key = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if "bad_id_token_signature" in self.quirks
            else self.key
        )
        value = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "fake-1"})
        self.issued.append(value)
        return value

    def token_response(self, client_id: str, scope: str, nonce: str | None) -> dict[str, Any]:
        access = self.new("AT")
        self.tokens[access] = {"scope": scope, "active": True}
        body: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "expires_in": 300, "scope": scope}
        if "launch/patient" in scope.split():
            body["patient"] = PATIENT
        if "offline_access" in scope.split():
            rt = self.new("RT")
            self.refresh[rt] = {"scope": scope, "client_id": client_id, "active": True}
            body["refresh_token"] = rt
        if "openid" in scope.split():
            body["id_token"] = self.id_token(client_id, nonce)
        return body


def _allowed(scope: str, rtype: str) -> tuple[bool, list[str]]:
    """(all of the type, granted categories) under patient/ scopes."""
    whole, cats = False, []
    for s in scope.split():
        head, _, query = s.partition("?")
        if head in (f"patient/{rtype}.rs", f"patient/{rtype}.read", "patient/*.rs", "patient/*.read"):
            if query.startswith("category="):
                cats.append(query[len("category=") :])
            else:
                whole = True
    return whole, cats


def _cat(resource: dict[str, Any]) -> list[str]:
    return [f"{c['system']}|{c['code']}" for cat in resource.get("category", []) for c in cat.get("coding", [])]


def _handler(fake: FakeSmart) -> type[BaseHTTPRequestHandler]:
    q = fake.quirks

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def reply(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            if "no_cors" not in q and self.headers.get("Origin"):
                self.send_header("Access-Control-Allow-Origin", self.headers["Origin"])
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def form(self) -> dict[str, str]:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            return dict(parse_qsl(raw))

        def client(self, form: dict[str, str]) -> tuple[str | None, bool]:
            """(client id, authenticated?) from Basic auth or the form."""
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                return cid, secret == CLIENT_SECRET or "accept_wrong_secret" in q
            return form.get("client_id"), False

        def do_OPTIONS(self) -> None:
            if "no_cors" in q:
                self.reply(405)
                return
            self.reply(204, None, {"Access-Control-Allow-Methods": "GET", "Access-Control-Allow-Headers": "Authorization"})

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            params = dict(parse_qsl(parts.query))
            path = parts.path
            if path == "/fhir/.well-known/smart-configuration":
                elsewhere = fake.origin.replace("127.0.0.1", "localhost") if "revoke_elsewhere" in q else fake.origin
                self.reply(
                    200,
                    {
                        "issuer": fake.origin,
                        "jwks_uri": f"{fake.origin}/jwks",
                        "authorization_endpoint": f"{fake.origin}/authorize",
                        "token_endpoint": f"{fake.origin}/token",
                        "revocation_endpoint": f"{elsewhere}/revoke",
                        "introspection_endpoint": f"{elsewhere}/introspect",
                        "grant_types_supported": ["authorization_code", "refresh_token"],
                        "code_challenge_methods_supported": ["S256"],
                        "capabilities": [
                            "launch-standalone",
                            "client-confidential-symmetric",
                            "sso-openid-connect",
                            "permission-v2",
                        ],
                    },
                )
            elif path == "/.well-known/openid-configuration":
                self.reply(
                    200,
                    {
                        "issuer": fake.origin,
                        "jwks_uri": f"{fake.origin}/jwks",
                        "authorization_endpoint": f"{fake.origin}/authorize",
                    },
                )
            elif path == "/jwks":
                self.reply(200, fake.jwks())
            elif path == "/fhir/metadata":
                self.reply(
                    200,
                    {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1", "rest": [{"mode": "server", "resource": []}]},
                )
            elif path == "/authorize":
                code = fake.new("CODE")
                fake.codes[code] = {**params, "used": False}
                to = params["redirect_uri"] + "?" + urlencode({"code": code, "state": params.get("state", "")})
                self.reply(302, None, {"Location": to})
            elif path.startswith("/fhir/"):
                self.fhir(path[len("/fhir/") :], params)
            else:
                self.reply(404, {"error": "not_found"})

        def fhir(self, path: str, params: dict[str, str]) -> None:
            token = fake.tokens.get(self.headers.get("Authorization", "")[len("Bearer ") :])
            if token is None or not token["active"]:
                self.reply(401, {"resourceType": "OperationOutcome"})
                return
            rtype, _, rid = path.partition("/")
            whole, cats = _allowed(token["scope"], rtype)
            if "ignore_scopes" in q:
                whole = True
            if not whole and not cats:
                self.reply(403, {"resourceType": "OperationOutcome"})
                return
            pool = [r for r in RESOURCES.get(rtype, []) if whole or any(c in cats for c in _cat(r))]
            if rid:
                found = [r for r in pool if r["id"] == rid]
                self.reply(200 if found else 404, found[0] if found else {"resourceType": "OperationOutcome"})
                return
            if params.get("category"):
                pool = [
                    r for r in pool if params["category"] in _cat(r) or params["category"] in [c.split("|")[-1] for c in _cat(r)]
                ]
            self.reply(200, {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in pool]})

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            fake.posted.append(path)
            form = self.form()
            cid, authenticated = self.client(form)
            if path == "/token":
                self.token(form, cid, authenticated)
            elif path == "/revoke":
                if "revoke_noop" not in q:
                    for store in (fake.tokens, fake.refresh):
                        if form.get("token") in store:
                            store[form["token"]]["active"] = False
                self.reply(200, {})
            elif path == "/introspect":
                entry = fake.tokens.get(form.get("token", ""))
                active = bool(entry and entry["active"])
                self.reply(200, {"active": active, **({"scope": entry["scope"]} if active else {})})
            else:
                self.reply(404, {"error": "not_found"})

        def token(self, form: dict[str, str], cid: str | None, authenticated: bool) -> None:
            headers = {} if "no_store_missing" in q else {"Cache-Control": "no-store", "Pragma": "no-cache"}
            if not authenticated:
                self.reply(401, {"error": "invalid_client"}, headers)
                return
            if form.get("grant_type") == "refresh_token":
                entry = fake.refresh.get(form.get("refresh_token", ""))
                if entry is None or not entry["active"]:
                    self.reply(400, {"error": "invalid_grant"}, headers)
                    return
                body = fake.token_response(entry["client_id"], entry["scope"], None)
                if "refresh_single_use_broken" in q:  # spends the refresh token and issues no new one
                    entry["active"] = False
                    fake.refresh.pop(body.pop("refresh_token", ""), None)
                self.reply(200, body, headers)
                return
            code = fake.codes.get(form.get("code", ""))
            verifier = form.get("code_verifier", "")
            fake.verifiers.append(verifier)
            if code is None:
                self.reply(400, {"error": "invalid_grant"}, headers)
                return
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            bad = (
                (code["used"] and "accept_code_reuse" not in q)
                or (challenge != code.get("code_challenge") and "accept_wrong_verifier" not in q)
                or (form.get("redirect_uri") != code.get("redirect_uri") and "accept_redirect_mismatch" not in q)
            )
            if bad:
                self.reply(400, {"error": "invalid_grant"}, headers)
                return
            code["used"] = True
            self.reply(200, fake.token_response(cid or "", code.get("scope", ""), code.get("nonce")), headers)

    return Handler


@contextlib.contextmanager
def fake_smart(*quirks: str) -> Iterator[FakeSmart]:
    from cryptography.hazmat.primitives.asymmetric import rsa

    unknown = set(quirks) - QUIRKS
    assert not unknown, f"unknown quirks {unknown}"
    fake = FakeSmart(quirks=set(quirks), key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.origin = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
