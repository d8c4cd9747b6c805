"""SMART user launches: a standalone patient launch or an EHR launch, run as the registered app,
and the token checked through its whole life (SMART App Launch 2.0, 45 CFR 170.315(g)(10)).

In order, because later steps end the tokens earlier ones need:

1. authorize (PKCE S256, state, nonce, aud; `launch` for an EHR launch) and exchange the code;
2. the token response, the id_token (signature against the JWKS, iss, aud, exp, nonce, fhirUser),
   the patient (and encounter) in context read with the token, a CORS preflight, introspection;
3. the US Core probe runs for the launched patient with this token (it waits for `LaunchTokens`),
   and this probe waits for it before going on;
4. refresh twice (a refreshed token still reads the patient; the newest refresh token works again);
5. revocation: the revoked token is refused, introspection calls it inactive, the refresh token too;
6. standalone only, each with its own authorization: a limited launch (patient/Patient.rs is
   refused on Observation) whose code is then reused; SMART v2 category scopes; and the requests
   that must be refused: a wrong PKCE verifier, a mismatched redirect_uri, a wrong client secret.
   After a refusal the correct request is sent once, to show the code itself was good.

Evidence keeps statuses, field names and yes/no facts: never a token, code, verifier, id_token,
patient id or resource.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from ehrcheck.files.limits import json_loads
from ehrcheck.http.client import FetchError, Recorder, Response
from ehrcheck.http.origins import credential_refusal, origin_text, same_origin, transport_refusal
from ehrcheck.probes.authenticated.credentials import Secret
from ehrcheck.probes.authenticated.token import ASSERTION_TYPE, client_assertion, oauth_error, token_response_facts
from ehrcheck.probes.base import ProbeContext, ProbeError, ProbeSkipped, parse_json
from ehrcheck.probes.launch.authorize import AuthRequest, Callback
from ehrcheck.probes.launch.id_token import check_id_token, fhir_user_parts, fhir_user_value
from ehrcheck.probes.launch.listener import Listener
from ehrcheck.probes.launch.registration import AppRegistration
from ehrcheck.probes.phi import ScrubbingRecorder

BROWSER_TIMEOUT = "no browser came back"
DEFAULT_TIMEOUT = 300.0
ACCEPT = {"Accept": "application/fhir+json"}
WEB_ORIGIN = "https://patient-app.ehrcheck.invalid"  # a web app's origin for the preflight; nothing is sent there
REFUSED_READ = (401, 403, 404)  # what the ONC kit accepts for a revoked token
REJECTED = (400, 401)
SECRET_FIELDS = ("code", "code_verifier", "refresh_token", "token", "client_assertion")
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
COND_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
# Granted, then searched: (type, granted category, a category outside the grant or None).
GRANULAR = (
    ("Condition", f"{COND_CATEGORY}|problem-list-item", f"{COND_CATEGORY}|encounter-diagnosis"),
    ("Observation", f"{OBS_CATEGORY}|laboratory", f"{OBS_CATEGORY}|vital-signs"),
)


class LaunchTimeout(ProbeError):
    pass


@dataclass
class LaunchTokens:
    """The launched patient's token, for the US Core probe (which waits until it exists)."""

    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _done: asyncio.Event = field(default_factory=asyncio.Event)
    access: Secret | None = field(default=None, repr=False)
    patient: str | None = field(default=None, repr=False)
    problem: str | None = None

    def set(self, access: str | None, patient: str | None, problem: str | None = None) -> None:
        self.access = Secret(access) if access else None
        self.patient, self.problem = patient, problem
        self._ready.set()

    async def for_uscore(self, ctx: ProbeContext) -> tuple[LaunchTokens, list[str]]:
        await self._ready.wait()
        if self.access is None or not self.patient:
            raise ProbeError(
                f"the user launch gave no patient token to read US Core data with ({self.problem or 'no patient in context'})"
            )
        return self, [self.patient]

    async def auth_header(self, ctx: ProbeContext, recorder: Recorder, scope: str | None = None) -> dict[str, str]:
        if self.access is None:
            raise ProbeError("the launch's access token is gone")
        return {"Authorization": f"Bearer {self.access.reveal()}"}

    def give_up(self, problem: str) -> None:
        """The launch ended without a token: the US Core probe stops waiting and says why."""
        if not self._ready.is_set():
            self.set(None, None, problem)

    def finished(self) -> None:
        self._done.set()

    async def wait_finished(self) -> None:
        await self._done.wait()


@dataclass
class Endpoints:
    authorize: str
    token: str
    revocation: str | None
    introspection: str | None
    issuer: str | None
    jwks_uri: str | None


def _body(resp: Response) -> dict[str, Any]:
    try:
        doc = json_loads(resp.content)
    except (ValueError, UnicodeDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _url(value: Any) -> str | None:
    """An endpoint from a discovery document, if it is a plain http(s) URL: it is printed for the
    person and put in a Location header, so no whitespace or control characters."""
    if not isinstance(value, str) or not value.startswith(("http://", "https://")) or len(value) > 2000:
        return None
    return value if all(0x20 < ord(ch) < 0x7F for ch in value) else None


async def find_endpoints(ctx: ProbeContext) -> Endpoints:
    smart = await ctx.result("smart")
    doc = (smart.data.get("document") or {}) if smart.status.value == "completed" else {}
    openid = await ctx.result("openid")
    oidc = (openid.data.get("document") or {}) if openid.status.value == "completed" else {}
    authorize, token = _url(doc.get("authorization_endpoint")), _url(doc.get("token_endpoint"))
    if not authorize or not token:
        raise ProbeError("the SMART configuration publishes no authorization_endpoint and token_endpoint to launch with")
    if why := credential_refusal(token, ctx.base_url):
        # the codes, the PKCE verifier and a confidential app's secret go to the token endpoint:
        # never in clear text (plain http under an https base, or off this machine), as for
        # backend clients; the launch is not started, so nobody signs in for nothing
        raise ProbeError(why)
    return Endpoints(
        authorize=authorize,
        token=token,
        revocation=_url(doc.get("revocation_endpoint")),
        introspection=_url(doc.get("introspection_endpoint")),
        issuer=_url(doc.get("issuer")) or _url(oidc.get("issuer")),
        jwks_uri=_url(oidc.get("jwks_uri")) or _url(doc.get("jwks_uri")),
    )


def _refusal(resp: Response) -> dict[str, Any]:
    body = _body(resp)
    return {
        "http_status": resp.status,
        "rejected": resp.status in REJECTED,
        "token_issued": resp.status == 200 and bool(body.get("access_token")),
        "error": oauth_error(resp),
    }


def token_refusal(url: str, base_url: str, token_url: str) -> str | None:
    """Why no token goes to the revocation or introspection endpoint `url` (None when it may):
    a token and the client's secret go only to the audited FHIR origin and the token endpoint's
    (security.md), over https or loopback to loopback. An authorization server that revokes
    elsewhere is not observed rather than handed the patient's tokens."""
    if not (same_origin(url, base_url) or same_origin(url, token_url)):
        return f"not sent: {origin_text(url)} is neither the FHIR server's nor the token endpoint's origin"
    return transport_refusal(url, base_url)


class Launch:
    """One run's state: the app, its listener, the endpoints; every secret handed to the scrubber."""

    def __init__(self, ctx: ProbeContext, recorder: Recorder, app: AppRegistration, agent: Any, timeout: float):
        self.ctx, self.app, self.agent, self.timeout = ctx, app, agent, timeout
        self.rec = recorder  # token-endpoint exchanges: URLs carry nothing secret, forms are never recorded
        self.fhir_rec = ScrubbingRecorder(recorder, ctx.base_url)  # FHIR URLs carry patient ids
        self.listener = Listener(app.redirect_uri, app.launch_uri)
        self.ep: Endpoints | None = None
        self.authorizations = 0

    def remember(self, *values: Any) -> None:
        for v in values:
            if isinstance(v, Secret):
                v = v.reveal()
            if isinstance(v, str) and v:
                self.ctx.fetcher.secrets.add(v)

    # --- authorization ------------------------------------------------------------------------

    async def _wait(self, fut: asyncio.Future[Any], what: str) -> Any:
        try:
            return await asyncio.wait_for(fut, self.timeout)
        except TimeoutError:
            raise LaunchTimeout(f"{BROWSER_TIMEOUT} within {self.timeout:g} s ({what})") from None

    def _deliver_threadsafe(self) -> Any:
        loop = asyncio.get_running_loop()

        async def deliver(url: str) -> bool:
            return self.listener.deliver(url, pasted=True)

        def from_thread(url: str) -> bool:
            return asyncio.run_coroutine_threadsafe(deliver(url), loop).result(10)

        return from_thread

    async def authorize(self, scope: str, purpose: str) -> tuple[AuthRequest, Callback]:
        assert self.ep is not None
        req = AuthRequest(self.app.client_id, self.app.redirect_uri, scope, aud=self.ctx.base_url)
        self.remember(req.verifier)
        fut = self.listener.expect(req.state)
        self.authorizations += 1
        self.agent.authorize(req.url(self.ep.authorize), purpose, self._deliver_threadsafe())
        cb = await self._wait(fut, purpose)
        self.remember(cb.code)
        return req, cb

    async def ehr_authorize(self, ehr: dict[str, Any]) -> tuple[AuthRequest, Callback]:
        """Wait for the EHR to open the launch URL with iss and launch; then authorize with them."""
        assert self.ep is not None and self.app.launch_uri
        started: asyncio.Future[tuple[AuthRequest, asyncio.Future[Callback]]] = asyncio.get_running_loop().create_future()
        ehr.update(launches_received=0, launches_refused_iss=0, launch_present=None, iss_matches=None)

        async def on_launch(iss: str, launch: str) -> tuple[str | None, str]:
            ehr["launches_received"] += 1
            matches = iss.rstrip("/") == self.ctx.base_url.rstrip("/")
            if not matches:
                ehr["launches_refused_iss"] += 1
                return None, "The iss of this launch is not the FHIR server ehrcheck is auditing; the launch was refused."
            if started.done():
                return None, "ehrcheck is not waiting for a launch now."
            ehr.update(iss_matches=True, launch_present=bool(launch))
            req = AuthRequest(
                self.app.client_id, self.app.redirect_uri, self.app.scope, aud=self.ctx.base_url, launch=launch or None
            )
            self.remember(req.verifier, launch)
            started.set_result((req, self.listener.expect(req.state)))
            return req.url(self.ep.authorize), ""  # type: ignore[union-attr]

        self.listener.on_launch = on_launch
        self.authorizations += 1
        self.agent.await_ehr_launch(self.app.launch_uri)
        req, fut = await self._wait(started, "waiting for the EHR to open the launch URL")
        cb = await self._wait(fut, "the EHR launch")
        self.remember(cb.code)
        return req, cb

    # --- token endpoint -----------------------------------------------------------------------

    def _client_auth(self, form: dict[str, str], secret: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        app = self.app
        if app.private_key is not None:
            form["client_assertion_type"] = ASSERTION_TYPE
            form["client_assertion"] = client_assertion(app.signing_credentials(), self.ep.token)  # type: ignore[arg-type,union-attr]
            self.remember(form["client_assertion"])
        elif app.client_secret is not None or secret is not None:
            import base64

            pair = f"{app.client_id}:{secret if secret is not None else app.client_secret.reveal()}".encode()  # type: ignore[union-attr]
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        else:
            form["client_id"] = app.client_id
        return headers

    async def post(self, url: str, form: dict[str, str], secret: str | None = None) -> Response:
        headers = self._client_auth(form, secret)
        self.remember(*(form.get(k) for k in SECRET_FIELDS), headers.get("Authorization"))
        return await self.ctx.fetcher.request("POST", url, self.rec, headers=headers, form=form, retry=False)

    async def exchange(
        self,
        req: AuthRequest,
        code: Secret,
        *,
        verifier: str | None = None,
        redirect_uri: str | None = None,
        secret: str | None = None,
    ) -> Response:
        form = {
            "grant_type": "authorization_code",
            "code": code.reveal(),
            "redirect_uri": redirect_uri or req.redirect_uri,
            "code_verifier": verifier if verifier is not None else req.verifier.reveal(),
        }
        resp = await self.post(self.ep.token, form, secret)  # type: ignore[union-attr]
        self.keep_tokens(resp)
        return resp

    def keep_tokens(self, resp: Response) -> dict[str, Any]:
        body = _body(resp)
        self.remember(*(body.get(k) for k in ("access_token", "refresh_token", "id_token")))
        return body

    # --- the FHIR server, with a token --------------------------------------------------------

    async def fhir(
        self, path_or_url: str, token: str | None, method: str = "GET", headers: dict[str, str] | None = None
    ) -> tuple[int, Any, Response]:
        url = path_or_url if path_or_url.startswith(("http://", "https://")) else self.ctx.url(path_or_url)
        if token and not same_origin(url, self.ctx.base_url):
            raise ProbeError("refusing to send the token to another origin")  # never happens for our own paths
        h = {**ACCEPT, **(headers or {})}
        if token:
            h["Authorization"] = f"Bearer {token}"
        resp = await self.ctx.fetcher.request(method, url, self.fhir_rec, headers=h, follow_redirects=False)
        doc, _ = parse_json(resp) if resp.content else (None, None)
        return resp.status, doc, resp


def _entries(doc: Any, rtype: str) -> list[dict[str, Any]]:
    if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle":
        return []
    return [
        e["resource"]
        for e in doc.get("entry") or []
        if isinstance(e, dict) and isinstance(e.get("resource"), dict) and e["resource"].get("resourceType") == rtype
    ]


def _in_category(resource: dict[str, Any], wanted: str) -> bool:
    system, _, code = wanted.partition("|")
    for cat in resource.get("category") or []:
        for c in (cat.get("coding") or []) if isinstance(cat, dict) else []:
            if isinstance(c, dict) and c.get("system") == system and c.get("code") == code:
                return True
    return False


def token_facts(resp: Response, requested: str, mode: str) -> dict[str, Any]:
    facts = token_response_facts(resp)
    body = _body(resp)
    asked = requested.split()
    scope = body.get("scope")
    granted = scope.split() if isinstance(scope, str) else None
    facts.update(
        patient_present=isinstance(body.get("patient"), str) and bool(body.get("patient")),
        encounter_present=isinstance(body.get("encounter"), str) and bool(body.get("encounter")),
        need_patient_banner=body.get("need_patient_banner") if isinstance(body.get("need_patient_banner"), bool) else None,
        need_patient_banner_present="need_patient_banner" in body,
        smart_style_url_present=isinstance(body.get("smart_style_url"), str) and bool(body.get("smart_style_url")),
        id_token_present=isinstance(body.get("id_token"), str) and bool(body.get("id_token")),
        scope_requested=asked,
        scopes_not_granted=[s for s in asked if s not in granted] if granted is not None else None,
        patient_context_requested="launch/patient" in asked or (mode == "ehr" and "launch" in asked),
    )
    return facts


async def probe_launch(ctx: ProbeContext, recorder: Recorder) -> dict[str, Any]:
    app = ctx.settings.get("launch_app")
    agent = ctx.settings.get("launch_agent")
    mode = ctx.settings.get("launch_mode")
    tokens: LaunchTokens | None = ctx.settings.get("launch_tokens")
    if not isinstance(app, AppRegistration) or agent is None or mode not in ("standalone", "ehr"):
        raise ProbeSkipped("no user launch was asked for (use --launch standalone|ehr with an app registration)")
    timeout = float(ctx.settings.get("launch_timeout") or DEFAULT_TIMEOUT)
    run = Launch(ctx, recorder, app, agent, timeout)
    out: dict[str, Any] = {"mode": mode, "client": app.summary()}
    try:
        try:
            run.ep = await find_endpoints(ctx)
            out["endpoints"] = {
                "revocation_advertised": run.ep.revocation is not None,
                "introspection_advertised": run.ep.introspection is not None,
                "jwks_uri_found": run.ep.jwks_uri is not None,
            }
            try:
                await run.listener.start()
            except OSError as exc:
                raise ProbeError(f"cannot listen on the redirect/launch URI's port on 127.0.0.1: {exc.strerror or exc}") from None
            await main_launch(ctx, run, out, mode, tokens)
        finally:
            if tokens is not None:
                tokens.give_up("the launch did not complete")
        if mode == "standalone" and out.get("token", {}).get("accepted"):
            await standalone_extras(ctx, run, out)
    except FetchError as exc:
        raise ProbeError(f"the authorization or FHIR server could not be reached: {exc}") from None
    finally:
        await run.listener.close()
    out["callback"] = {"mismatched_state_refused": run.listener.mismatched_state}
    out["authorizations"] = run.authorizations
    return out


async def main_launch(ctx: ProbeContext, run: Launch, out: dict[str, Any], mode: str, tokens: LaunchTokens | None) -> None:
    app = run.app
    if mode == "ehr":
        ehr: dict[str, Any] = {}
        out["ehr"] = ehr
        req, cb = await run.ehr_authorize(ehr)
    else:
        req, cb = await run.authorize(app.scope, "sign in as the test patient and allow access")
    out["authorization"] = {
        "code_received": cb.code is not None,
        "error": cb.error,
        "iss_param_matches": None if cb.iss is None else cb.iss == (run.ep.issuer or ""),  # type: ignore[union-attr]
    }
    if cb.code is None:
        return
    resp = await run.exchange(req, cb.code)
    body = run.keep_tokens(resp)
    out["token"] = token_facts(resp, req.scope, mode)
    if not out["token"]["accepted"]:
        return
    access, patient = body["access_token"], body.get("patient") if isinstance(body.get("patient"), str) else None
    if tokens is not None:
        tokens.set(access, patient)

    # id_token and fhirUser
    raw = body.get("id_token")
    if isinstance(raw, str) and raw:
        jwks = None
        if run.ep.jwks_uri:  # type: ignore[union-attr]
            r = await ctx.fetcher.get(run.ep.jwks_uri, run.rec, headers={"Accept": "application/json"})  # type: ignore[union-attr]
            doc, _ = parse_json(r)
            jwks = doc if r.status == 200 and isinstance(doc, dict) else None
        facts = check_id_token(raw, jwks, run.ep.issuer, app.client_id, req.nonce)  # type: ignore[union-attr]
        facts["jwks_fetched"] = jwks is not None
        kind, ref = fhir_user_parts(fhir_user_value(raw))
        if ref is not None:
            same = not ref.startswith(("http://", "https://")) or ref.startswith(ctx.base_url + "/")
            facts["fhir_user_on_audited_server"] = same
            if same:
                status, doc, _ = await run.fhir(ref, access)
                facts["fhir_user_status"] = status
                facts["fhir_user_readable"] = status == 200 and isinstance(doc, dict) and doc.get("resourceType") == kind
        out["id_token"] = facts
    else:
        out["id_token"] = {"present": False, "openid_requested": "openid" in req.scope.split()}

    # the launch context, read with the token
    if patient:
        status, doc, _ = await run.fhir(f"Patient/{patient}", access)
        out["patient_read"] = {
            "http_status": status,
            "is_patient": isinstance(doc, dict) and doc.get("resourceType") == "Patient",
            "id_matches": isinstance(doc, dict) and doc.get("id") == patient,
        }
        out["cors"] = await cors(run, f"Patient/{patient}", access)
    encounter = body.get("encounter")
    if mode == "ehr" and isinstance(encounter, str) and encounter:
        status, doc, _ = await run.fhir(f"Encounter/{encounter}", access)
        out["encounter_read"] = {
            "http_status": status,
            "is_encounter": isinstance(doc, dict) and doc.get("resourceType") == "Encounter",
        }

    intro: dict[str, Any] = {"advertised": run.ep.introspection is not None}  # type: ignore[union-attr]
    if run.ep.introspection and (why := token_refusal(run.ep.introspection, run.ctx.base_url, run.ep.token)):  # type: ignore[union-attr]
        intro["not_sent"] = why
    elif run.ep.introspection:  # type: ignore[union-attr]
        intro["client_authenticated"] = run.app.client_type != "public"
        intro["live"] = await introspect(run, access)
    out["introspection"] = intro

    if tokens is not None:  # the US Core probe reads the chart with this token; wait for it
        await tokens.wait_finished()

    refresh_token = body.get("refresh_token") if isinstance(body.get("refresh_token"), str) else None
    out["refresh"], access, refresh_token = await refresh(run, refresh_token, patient, access, req.scope)
    out["revocation"] = await revoke(run, access, refresh_token, patient, intro)


async def cors(run: Launch, path: str, access: str) -> dict[str, Any]:
    """A browser-based patient app's preflight, then the real read with its Origin."""
    status, _, resp = await run.fhir(
        path,
        None,
        method="OPTIONS",
        headers={"Origin": WEB_ORIGIN, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"},
    )
    allow_origin = resp.headers.get("access-control-allow-origin")
    allow_headers = resp.headers.get("access-control-allow-headers", "")
    _, _, real = await run.fhir(path, access, headers={"Origin": WEB_ORIGIN})
    return {
        "preflight_status": status,
        "allows_origin": allow_origin in (WEB_ORIGIN, "*"),
        "allows_authorization": "authorization" in allow_headers.lower() or allow_headers.strip() == "*",
        "read_allows_origin": real.headers.get("access-control-allow-origin") in (WEB_ORIGIN, "*"),
    }


async def introspect(run: Launch, token: str) -> dict[str, Any]:
    resp = await run.post(run.ep.introspection, {"token": token})  # type: ignore[arg-type,union-attr]
    body = _body(resp)
    return {"http_status": resp.status, "active": body.get("active") if isinstance(body.get("active"), bool) else None}


async def refresh(
    run: Launch, rt: str | None, patient: str | None, access: str, scope: str
) -> tuple[dict[str, Any], str, str | None]:
    out: dict[str, Any] = {"offline_access_requested": "offline_access" in scope.split(), "refresh_token_issued": rt is not None}
    if rt is None:
        return out, access, rt
    for step in ("first", "second"):
        resp = await run.post(run.ep.token, {"grant_type": "refresh_token", "refresh_token": rt})  # type: ignore[union-attr]
        body = run.keep_tokens(resp)
        new_access = body.get("access_token") if resp.status == 200 and isinstance(body.get("access_token"), str) else None
        facts: dict[str, Any] = {"http_status": resp.status, "accepted": new_access is not None, "error": oauth_error(resp)}
        if new_access:
            facts["new_refresh_token"] = isinstance(body.get("refresh_token"), str)
            access = new_access
            rt = body["refresh_token"] if isinstance(body.get("refresh_token"), str) else rt
            if patient:
                status, _, _ = await run.fhir(f"Patient/{patient}", access)
                facts["patient_status"] = status
        out[step] = facts
        if not new_access:
            break
    return out, access, rt


async def revoke(run: Launch, access: str, rt: str | None, patient: str | None, intro: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"advertised": run.ep.revocation is not None}  # type: ignore[union-attr]
    if not run.ep.revocation:  # type: ignore[union-attr]
        return out
    if why := token_refusal(run.ep.revocation, run.ctx.base_url, run.ep.token):  # type: ignore[union-attr]
        out["not_sent"] = why
        return out
    resp = await run.post(run.ep.revocation, {"token": access, "token_type_hint": "access_token"})  # type: ignore[union-attr]
    out["revoke_status"] = resp.status
    if patient:
        status, _, _ = await run.fhir(f"Patient/{patient}", access)
        out["read_after_status"] = status
        out["read_refused_after"] = status in REFUSED_READ
    if run.ep.introspection and "not_sent" not in intro:  # type: ignore[union-attr]
        intro["after_revocation"] = await introspect(run, access)
    if rt:
        resp = await run.post(run.ep.revocation, {"token": rt, "token_type_hint": "refresh_token"})  # type: ignore[union-attr]
        out["revoke_refresh_status"] = resp.status
        again = await run.post(run.ep.token, {"grant_type": "refresh_token", "refresh_token": rt})  # type: ignore[union-attr]
        run.keep_tokens(again)
        out["refresh_after_status"] = again.status
        out["refresh_refused_after"] = again.status in REJECTED
    return out


def _scope_v1(scope: str) -> bool:
    return any(s.endswith(".read") for s in scope.split())


async def standalone_extras(ctx: ProbeContext, run: Launch, out: dict[str, Any]) -> None:
    v1 = _scope_v1(run.app.scope)
    out["limited"], out.setdefault("negative", {})["code_reuse"] = await limited_launch(run, v1)
    out["granular"] = await granular_scopes(run)
    negative = out["negative"]
    base = "launch/patient " + ("patient/Patient.read" if v1 else "patient/Patient.rs")
    negative["pkce_wrong_verifier"] = await refused(run, base, "a wrong PKCE verifier", verifier="x" * 43 + "-not-the-verifier")
    negative["redirect_mismatch"] = await refused(
        run, base, "a mismatched redirect_uri", redirect_uri=run.app.redirect_uri.rstrip("/") + "-other"
    )
    if run.app.client_secret is not None:
        negative["wrong_client_secret"] = await refused(
            run, base, "a wrong client secret", secret=run.app.client_secret.reveal() + "-not-it"
        )


async def limited_launch(run: Launch, v1: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    scope = "launch/patient " + ("patient/Patient.read" if v1 else "patient/Patient.rs")
    req, cb = await run.authorize(scope, "limited access: allow Patient only")
    limited: dict[str, Any] = {"scope_requested": scope.split()}
    reuse: dict[str, Any] = {}
    if cb.code is None:
        limited["authorization_error"] = reuse["authorization_error"] = cb.error
        return limited, reuse
    first = await run.exchange(req, cb.code)
    body = run.keep_tokens(first)
    access = body.get("access_token") if first.status == 200 else None
    patient = body.get("patient") if isinstance(body.get("patient"), str) else None
    limited["token_status"] = first.status
    granted = body.get("scope")
    limited["scope_granted"] = granted.split() if isinstance(granted, str) else None
    if isinstance(access, str) and patient:
        p_status, _, _ = await run.fhir(f"Patient/{patient}", access)
        o_status, doc, _ = await run.fhir(f"Observation?patient={patient}&_count=5", access)
        limited.update(
            patient_status=p_status,
            observation_status=o_status,
            observation_refused=o_status in (401, 403),
            observation_entries=len(_entries(doc, "Observation")),
        )
    # Reuse the same code (RFC 6749 §4.1.2: must be refused; the server should revoke what it issued).
    second = await run.exchange(req, cb.code)
    reuse = {**_refusal(second), "first_use_status": first.status}
    return limited, reuse


async def granular_scopes(run: Launch) -> dict[str, Any]:
    scope = "launch/patient patient/Patient.rs " + " ".join(f"patient/{t}.rs?category={c}" for t, c, _ in GRANULAR)
    req, cb = await run.authorize(scope, "category-limited access (SMART v2 granular scopes)")
    out: dict[str, Any] = {"scope_requested": scope.split()}
    if cb.code is None:
        out["authorization_error"] = cb.error
        return out
    resp = await run.exchange(req, cb.code)
    body = run.keep_tokens(resp)
    access = body.get("access_token") if resp.status == 200 else None
    patient = body.get("patient") if isinstance(body.get("patient"), str) else None
    granted_scope = body.get("scope")
    granted = granted_scope.split() if isinstance(granted_scope, str) else None
    out["token_status"] = resp.status
    out["granted_as_requested"] = granted is not None and all(s in granted for s in scope.split())
    out["granted_wider"] = sorted(
        s for s in granted or [] if s not in scope.split() and s.split("?")[0].startswith(("patient/", "user/"))
    )
    if not isinstance(access, str) or not patient:
        return out
    searches: dict[str, Any] = {}
    for rtype, allowed, other in GRANULAR:
        for label, cat in (("granted", allowed), ("other", other), ("unfiltered", None)):
            q = f"{rtype}?patient={patient}" + (f"&category={cat}" if cat else "")
            status, doc, _ = await run.fhir(q, access)
            found = _entries(doc, rtype) if status == 200 else []
            searches[f"{rtype} {label}"] = {
                "http_status": status,
                "refused": status in (401, 403),
                "returned": len(found),
                "outside_granted": sum(1 for r in found if not _in_category(r, allowed)),
            }
    out["searches"] = searches
    return out


async def refused(run: Launch, scope: str, what: str, **broken: Any) -> dict[str, Any]:
    """A fresh authorization, a token request broken one way, then the correct one as a control."""
    req, cb = await run.authorize(scope, f"checking that {what} is refused")
    if cb.code is None:
        return {"authorization_error": cb.error, "http_status": None}
    resp = await run.exchange(req, cb.code, **broken)
    out = _refusal(resp)
    if not out["token_issued"]:
        control = await run.exchange(req, cb.code)
        out["control_status"] = control.status
    return out
