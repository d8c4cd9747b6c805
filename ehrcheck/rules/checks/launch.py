"""Check functions over a SMART user launch (the `launch` probe: standalone patient or EHR launch).

Same contract as the other areas (see `ehrcheck.rules.checks`). What the launch could not reach (no
token was issued, the server does not advertise revocation, the step belongs to the other kind of
launch) is `not_observed` or `not_applicable`, never pass or fail.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Literal

from ehrcheck.evidence.view import View, need
from ehrcheck.rules.checks.common import CheckArgs, NoArgs, Outcome, _listing, check

if TYPE_CHECKING:
    from ehrcheck.evidence.launch import (
        LaunchData,
        LaunchTokenResponse,
    )

NEGATIVE = {
    "pkce_wrong_verifier": "a wrong PKCE code_verifier",
    "code_reuse": "an authorization code used a second time",
    "redirect_mismatch": "a redirect_uri other than the one authorized",
    "wrong_client_secret": "a wrong client secret",
}
STANDALONE_ONLY = (
    "Run only in a standalone launch (ehrcheck launch URL --launch standalone), which can ask for extra authorizations."
)


def _sentence(parts: list[str]) -> str:
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."


def _status(code: Any) -> str:
    return f"HTTP {code}" if code is not None else "no answer"


def _launch(view: View) -> LaunchData:
    return need(view.launch, "launch")


def _token(view: View) -> tuple[LaunchData, LaunchTokenResponse | None, Outcome | None]:
    data = _launch(view)
    if data.token is None or not data.token.accepted:
        return data, None, Outcome("not_observed", None, "The launch produced no access token, so there is nothing to judge.")
    return data, data.token, None


class ModeArgs(CheckArgs):
    mode: Literal["standalone", "ehr"]


@check(args=ModeArgs)
def launch_completed(view: View, args: ModeArgs, as_of: dt.date) -> Outcome:
    """A launch of kind `args.mode` went from authorization to an access token."""
    from ehrcheck.evidence.launch import Authorization, EhrLaunch, LaunchTokenResponse

    data = _launch(view)
    if data.mode != args.mode:
        return Outcome(
            "not_applicable",
            {"mode": data.mode},
            f"This run did a {data.mode} launch, not the {args.mode} launch this rule judges.",
        )
    auth = data.authorization or Authorization()
    token = data.token or LaunchTokenResponse()
    observed: dict[str, Any] = {"code_received": auth.code_received, "token_status": token.http_status}
    if args.mode == "ehr":
        ehr = data.ehr or EhrLaunch()
        observed["iss_matches"] = ehr.iss_matches
        if not ehr.iss_matches and ehr.launches_refused_iss:
            return Outcome("fail", observed, "The EHR launched the app with an iss that is not the audited FHIR base URL.")
    if not auth.code_received:
        return Outcome("fail", observed, f"The authorization server returned no code ({auth.error or 'no reason given'}).")
    if not token.accepted:
        err = f" ({token.error})" if token.error else ""
        return Outcome("fail", observed, f"The code was not exchanged for a token: {_status(token.http_status)}{err}.")
    return Outcome("pass", observed)


@check()
def launch_token_response(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """access_token, token_type bearer, numeric expires_in, scope, and the patient in context."""
    _data, token, early = _token(view)
    if token is None:
        return early or Outcome("not_observed")
    problems = [f"missing {f}" for f in token.fields_missing or []]
    if token.token_type is not None and str(token.token_type).lower() != "bearer":
        problems.append(f"token_type is '{token.token_type}', not bearer")
    if "expires_in" not in (token.fields_missing or []) and token.expires_in is None:
        problems.append("expires_in is not a number")
    if token.patient_context_requested and not token.patient_present:
        problems.append("no patient in context although launch/patient (or launch) was granted")
    observed = {
        "fields_present": token.fields_present,
        "token_type": token.token_type,
        "expires_in": token.expires_in,
        "patient_present": token.patient_present,
        "scopes_not_granted": token.scopes_not_granted,
    }
    if problems:
        return Outcome("fail", observed, "; ".join(problems) + ".")
    missing = token.scopes_not_granted or []
    return Outcome("pass", observed, f"Not granted (allowed, the ONC kit warns): {_listing(missing)}." if missing else None)


@check()
def launch_ehr_context(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """An EHR launch's token response carries patient, encounter, need_patient_banner and smart_style_url."""
    data = _launch(view)
    if data.mode != "ehr":
        return Outcome("not_applicable", None, "Only an EHR launch carries encounter, banner and style context.")
    _, token, early = _token(view)
    if token is None:
        return early or Outcome("not_observed")
    missing = [
        name
        for name, present in (
            ("patient", token.patient_present),
            ("encounter", token.encounter_present),
            ("need_patient_banner", token.need_patient_banner is not None),
            ("smart_style_url", token.smart_style_url_present),
        )
        if not present
    ]
    read = data.encounter_read
    observed = {"missing": missing, "encounter_status": read.http_status if read else None}
    if missing:
        return Outcome("fail", observed, f"The token response lacks {_listing(missing)}.")
    if read is not None and not read.is_encounter:
        return Outcome(
            "fail", observed, f"The Encounter in context could not be read with the token ({_status(read.http_status)})."
        )
    return Outcome("pass", observed)


@check()
def launch_no_store(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The token response to an app is sent with Cache-Control: no-store (RFC 6749 §5.1)."""
    _, token, early = _token(view)
    if token is None:
        return early or Outcome("not_observed")
    observed = {"cache_control": token.cache_control, "pragma_no_cache": token.pragma_no_cache}
    if token.no_store:
        return Outcome("pass", observed)
    return Outcome("fail", observed, f"Cache-Control was '{token.cache_control or 'absent'}'.")


@check()
def launch_id_token(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The id_token verifies against the JWKS, and its iss, aud, exp and nonce are right."""
    from ehrcheck.evidence.launch import IdToken

    data, token, early = _token(view)
    if token is None:
        return early or Outcome("not_observed")
    idt = data.id_token or IdToken()
    if not idt.present:
        if not idt.openid_requested:
            return Outcome("not_applicable", None, "The app did not ask for openid, so no id_token was due.")
        return Outcome("fail", {"present": False}, "openid was requested but the token response has no id_token.")
    if not idt.well_formed:
        return Outcome("fail", {"well_formed": False}, "The id_token is not a well-formed JWT.")
    if idt.signature_valid is None:
        return Outcome(
            "not_observed",
            {"jwks_fetched": idt.jwks_fetched},
            "The issuer's JWKS could not be fetched, so the signature could not be checked.",
        )
    checks = {
        "signature": idt.signature_valid,
        "iss": idt.iss_ok,
        "aud": idt.aud_ok,
        "exp": idt.exp_ok,
        "nonce": idt.nonce_ok,
        "sub": idt.sub_present,
    }
    failed = [k for k, ok in checks.items() if not ok]
    observed = {"alg": idt.alg, "kid_found": idt.kid_found, "failed": failed}
    if failed:
        return Outcome("fail", observed, f"The id_token failed: {_listing(failed)}.")
    return Outcome("pass", observed)


@check()
def launch_fhir_user(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The id_token names the user (fhirUser) and that resource can be read with the token."""
    from ehrcheck.evidence.launch import IdToken

    data, token, early = _token(view)
    if token is None:
        return early or Outcome("not_observed")
    idt = data.id_token or IdToken()
    if not idt.present:
        return Outcome("not_observed", None, "No id_token was issued, so there is no fhirUser claim.")
    observed = {"type": idt.fhir_user_type, "status": idt.fhir_user_status}
    if not idt.fhir_user_present:
        return Outcome("fail", observed, "The id_token has no fhirUser claim.")
    if idt.fhir_user_type is None:
        return Outcome("fail", observed, "fhirUser is not a resource URL such as Patient/123.")
    if idt.fhir_user_on_audited_server is False:
        return Outcome("not_observed", observed, "fhirUser points at another server; ehrcheck does not send the token there.")
    if idt.fhir_user_readable:
        return Outcome("pass", observed)
    return Outcome("fail", observed, f"The fhirUser resource could not be read with the token ({_status(idt.fhir_user_status)}).")


@check()
def launch_patient_read(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The patient in context can be read with the launch's token."""
    data, token, early = _token(view)
    if token is None:
        return early or Outcome("not_observed")
    read = data.patient_read
    if read is None:
        return Outcome("not_observed", None, "The token response named no patient, so there was no patient to read.")
    observed = {"http_status": read.http_status}
    if read.http_status == 200 and read.is_patient and read.id_matches:
        return Outcome("pass", observed)
    return Outcome("fail", observed, f"Reading the patient in context answered {_status(read.http_status)}.")


@check()
def launch_refresh(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """offline_access yields a refresh token; refreshing works, the new token reads the patient,
    and the newest refresh token works again."""
    from ehrcheck.evidence.launch import Refresh, RefreshStep

    data, token, early = _token(view)
    if token is None:
        return early or Outcome("not_observed")
    r = data.refresh or Refresh()
    if not r.offline_access_requested:
        return Outcome("not_applicable", None, "The app did not ask for offline_access.")
    if not r.refresh_token_issued:
        return Outcome("fail", {"refresh_token_issued": False}, "offline_access was requested but no refresh token was issued.")
    first, second = r.first or RefreshStep(), r.second or RefreshStep()
    observed = {"first": first.http_status, "second": second.http_status, "patient_status": first.patient_status}
    if not first.accepted:
        return Outcome("fail", observed, f"The refresh token was refused: {_status(first.http_status)}.")
    if first.patient_status not in (None, 200):
        return Outcome("fail", observed, f"A refreshed token could not read the patient ({_status(first.patient_status)}).")
    if not second.accepted:
        return Outcome(
            "fail", observed, f"A second refresh with the newest refresh token was refused ({_status(second.http_status)})."
        )
    return Outcome("pass", observed)


@check()
def launch_revocation(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """After revocation the access token no longer reads data, and the refresh token no longer works."""
    from ehrcheck.evidence.launch import Revocation

    data, token, early = _token(view)
    if token is None:
        return early or Outcome("not_observed")
    rev = data.revocation or Revocation()
    if not rev.advertised:
        return Outcome("not_applicable", None, "The SMART configuration advertises no revocation_endpoint.")
    if rev.not_sent:
        return Outcome("not_observed", None, f"The tokens were not sent to the revocation endpoint ({rev.not_sent}).")
    observed = {
        "revoke_status": rev.revoke_status,
        "read_after_status": rev.read_after_status,
        "refresh_after_status": rev.refresh_after_status,
    }
    problems = []
    if rev.read_refused_after is False:
        problems.append(f"the revoked access token still read the patient ({_status(rev.read_after_status)})")
    if rev.refresh_refused_after is False:
        problems.append(f"the revoked refresh token still worked ({_status(rev.refresh_after_status)})")
    if problems:
        return Outcome("fail", observed, _sentence(problems))
    if rev.read_refused_after is None:
        return Outcome("not_observed", observed, "There was no patient in context to read after revoking.")
    return Outcome("pass", observed)


@check()
def launch_introspection(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """Introspection calls a live token active and a revoked one inactive."""
    from ehrcheck.evidence.launch import Introspected, Introspection

    data, token, early = _token(view)
    if token is None:
        return early or Outcome("not_observed")
    intro = data.introspection or Introspection()
    if not intro.advertised:
        return Outcome("not_applicable", None, "The SMART configuration advertises no introspection_endpoint.")
    if intro.not_sent:
        return Outcome("not_observed", None, f"The token was not sent to the introspection endpoint ({intro.not_sent}).")
    live, after = intro.live or Introspected(), intro.after_revocation
    observed = {
        "live": live.active,
        "after_revocation": after.active if after else None,
        "client_authenticated": intro.client_authenticated,
    }
    if live.active is not True:
        if not intro.client_authenticated and live.http_status in (400, 401, 403):
            return Outcome(
                "not_observed", observed, "A public client may not be allowed to introspect; use a confidential app registration."
            )
        return Outcome("fail", observed, f"Introspecting a live token did not say active ({_status(live.http_status)}).")
    if after is not None and after.active is not False:
        return Outcome("fail", observed, "Introspecting the revoked token did not say inactive.")
    return Outcome(
        "pass", observed, None if after is not None else "Only the live token could be introspected (no revocation endpoint)."
    )


@check()
def launch_limited(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """A token granted only patient/Patient.rs reads the Patient and is refused on Observation."""
    lim = _launch(view).limited
    if lim is None:
        return Outcome("not_applicable", None, STANDALONE_ONLY)
    observed = {
        "token_status": lim.token_status,
        "patient_status": lim.patient_status,
        "observation_status": lim.observation_status,
        "observation_entries": lim.observation_entries,
    }
    if lim.observation_status is None:
        why = lim.authorization_error or _status(lim.token_status)
        return Outcome("not_observed", observed, f"The limited launch gave no usable patient token ({why}).")
    if lim.observation_refused:
        return Outcome("pass", observed, f"Observation answered HTTP {lim.observation_status}.")
    if lim.patient_status != 200:
        return Outcome(
            "not_observed",
            observed,
            "The limited token could not read the Patient either, so enforcement cannot be told from a broken token.",
        )
    return Outcome(
        "fail",
        observed,
        f"A Patient-only token read Observation: HTTP {lim.observation_status}, {lim.observation_entries or 0} returned.",
    )


@check()
def launch_granular(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """SMART v2 category scopes, as the ONC kit reads them since its relaxation: the granted category
    must be readable, and nothing outside it may come back; refusing or filtering are both fine."""
    g = _launch(view).granular
    if g is None:
        return Outcome("not_applicable", None, STANDALONE_ONLY)
    searches = g.searches
    observed: dict[str, Any] = {"granted_as_requested": g.granted_as_requested, "granted_wider": g.granted_wider}
    if g.granted_wider:
        return Outcome(
            "fail", observed, f"Asked for category scopes, the server granted wider ones: {_listing(g.granted_wider)}."
        )
    if not searches:
        why = g.authorization_error or _status(g.token_status)
        return Outcome("not_observed", observed, f"No category-scoped token was issued ({why}).")
    if not g.granted_as_requested:
        return Outcome(
            "not_observed", observed, "The server granted fewer scopes than asked, so category enforcement could not be tested."
        )
    leaks = sorted(k for k, s in searches.items() if s.outside_granted)
    blocked = sorted(k for k, s in searches.items() if k.endswith(" granted") and s.http_status != 200)
    observed["searches"] = {k: s.http_status for k, s in sorted(searches.items())}
    if leaks:
        return Outcome("fail", observed, f"Resources outside the granted category came back from: {_listing(leaks)}.")
    if blocked:
        return Outcome("fail", observed, f"Searches the granted category allows were refused: {_listing(blocked)}.")
    return Outcome("pass", observed)


class RefusedArgs(CheckArgs):
    case: Literal["pkce_wrong_verifier", "code_reuse", "redirect_mismatch", "wrong_client_secret"]


@check(args=RefusedArgs)
def launch_refused(view: View, args: RefusedArgs, as_of: dt.date) -> Outcome:
    """The token endpoint refuses one broken authorization-code request (`args.case`)."""
    case = args.case
    data = _launch(view)
    label = NEGATIVE[case]
    if data.mode != "standalone":
        return Outcome("not_applicable", None, STANDALONE_ONLY)
    result = (data.negative or {}).get(case)
    if result is None:
        why = (
            "The app is a public client: it has no secret to get wrong."
            if case == "wrong_client_secret"
            else "Not tested in this run."
        )
        return Outcome("not_applicable", None, why)
    if result.http_status is None:
        return Outcome(
            "not_observed", None, f"No code was issued to test {label} ({result.authorization_error or 'no reason given'})."
        )
    observed = {"http_status": result.http_status, "error": result.error}
    if case == "code_reuse" and result.first_use_status != 200:
        return Outcome(
            "not_observed", observed, f"The first use of the code was refused too ({_status(result.first_use_status)})."
        )
    if result.token_issued:
        return Outcome(
            "fail", observed, f"A token request with {label} was ACCEPTED: HTTP {result.http_status} with an access token."
        )
    if result.rejected:
        detail = f"Refused with HTTP {result.http_status}" + (f" ({result.error})" if result.error else "") + "."
        if result.control_status is not None and result.control_status != 200:
            detail += " The correct request with the same code was refused afterwards too (the server spent the code on the failed attempt)."
        return Outcome("pass", observed, detail)
    return Outcome("fail", observed, f"A token request with {label} answered HTTP {result.http_status}, not 400 or 401.")


@check()
def launch_cors(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """A browser-based patient app's CORS preflight is answered, and the read allows its origin."""
    data, token, early = _token(view)
    if token is None:
        return early or Outcome("not_observed")
    c = data.cors
    if c is None:
        return Outcome("not_observed", None, "There was no patient in context to read from a web app's origin.")
    observed = c.raw()
    problems = []
    if c.preflight_status not in (200, 204) or not c.allows_origin:
        problems.append(f"the preflight ({_status(c.preflight_status)}) did not allow the app's origin")
    elif not c.allows_authorization:
        problems.append("the preflight did not allow the Authorization header")
    if not c.read_allows_origin:
        problems.append("the read itself carried no Access-Control-Allow-Origin for the app")
    if problems:
        return Outcome("fail", observed, _sentence(problems))
    return Outcome("pass", observed)
