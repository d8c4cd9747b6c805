"""Check functions over a SMART user launch (the `launch` probe: standalone patient or EHR launch).

Same contract as the other areas: pure `(view, args, as_of) -> Outcome`. What the launch could not
reach (no token was issued, the server does not advertise revocation, the step belongs to the other
kind of launch) is `not_observed` or `not_applicable`, never pass or fail.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ehrcheck.rules.checks.common import Outcome, _listing, check

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


def _token(view: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None, Outcome | None]:
    data = view["launch"]
    token = data.get("token") or {}
    if not token.get("accepted"):
        return data, None, Outcome("not_observed", None, "The launch produced no access token, so there is nothing to judge.")
    return data, token, None


@check
def launch_completed(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """A launch of kind `args.mode` went from authorization to an access token."""
    data = view["launch"]
    if data.get("mode") != args["mode"]:
        return Outcome(
            "not_applicable",
            {"mode": data.get("mode")},
            f"This run did a {data.get('mode')} launch, not the {args['mode']} launch this rule judges.",
        )
    auth = data.get("authorization") or {}
    token = data.get("token") or {}
    observed = {"code_received": auth.get("code_received"), "token_status": token.get("http_status")}
    if args["mode"] == "ehr":
        ehr = data.get("ehr") or {}
        observed["iss_matches"] = ehr.get("iss_matches")
        if not ehr.get("iss_matches") and ehr.get("launches_refused_iss"):
            return Outcome("fail", observed, "The EHR launched the app with an iss that is not the audited FHIR base URL.")
    if not auth.get("code_received"):
        return Outcome("fail", observed, f"The authorization server returned no code ({auth.get('error') or 'no reason given'}).")
    if not token.get("accepted"):
        err = f" ({token['error']})" if token.get("error") else ""
        return Outcome("fail", observed, f"The code was not exchanged for a token: {_status(token.get('http_status'))}{err}.")
    return Outcome("pass", observed)


@check
def launch_token_response(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """access_token, token_type bearer, numeric expires_in, scope, and the patient in context."""
    _data, token, early = _token(view)
    if early:
        return early
    problems = [f"missing {f}" for f in token.get("fields_missing") or []]  # type: ignore[union-attr]
    if token.get("token_type") is not None and str(token.get("token_type")).lower() != "bearer":  # type: ignore[union-attr]
        problems.append(f"token_type is '{token.get('token_type')}', not bearer")  # type: ignore[union-attr]
    if "expires_in" not in (token.get("fields_missing") or []) and token.get("expires_in") is None:  # type: ignore[union-attr]
        problems.append("expires_in is not a number")
    if token.get("patient_context_requested") and not token.get("patient_present"):  # type: ignore[union-attr]
        problems.append("no patient in context although launch/patient (or launch) was granted")
    observed = {k: token.get(k) for k in ("fields_present", "token_type", "expires_in", "patient_present", "scopes_not_granted")}  # type: ignore[union-attr]
    if problems:
        return Outcome("fail", observed, "; ".join(problems) + ".")
    missing = token.get("scopes_not_granted") or []  # type: ignore[union-attr]
    return Outcome("pass", observed, f"Not granted (allowed, the ONC kit warns): {_listing(missing)}." if missing else None)


@check
def launch_ehr_context(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """An EHR launch's token response carries encounter, need_patient_banner and smart_style_url."""
    data = view["launch"]
    if data.get("mode") != "ehr":
        return Outcome("not_applicable", None, "Only an EHR launch carries encounter, banner and style context.")
    _, token, early = _token(view)
    if early:
        return early
    missing = [
        name
        for name, present in (
            ("patient", token.get("patient_present")),  # type: ignore[union-attr]
            ("encounter", token.get("encounter_present")),  # type: ignore[union-attr]
            ("need_patient_banner", token.get("need_patient_banner") is not None),  # type: ignore[union-attr]
            ("smart_style_url", token.get("smart_style_url_present")),  # type: ignore[union-attr]
        )
        if not present
    ]
    read = data.get("encounter_read") or {}
    observed = {"missing": missing, "encounter_status": read.get("http_status")}
    if missing:
        return Outcome("fail", observed, f"The token response lacks {_listing(missing)}.")
    if read and not read.get("is_encounter"):
        return Outcome(
            "fail", observed, f"The Encounter in context could not be read with the token ({_status(read.get('http_status'))})."
        )
    return Outcome("pass", observed)


@check
def launch_no_store(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The token response to an app is sent with Cache-Control: no-store (RFC 6749 §5.1)."""
    _, token, early = _token(view)
    if early:
        return early
    observed = {"cache_control": token.get("cache_control"), "pragma_no_cache": token.get("pragma_no_cache")}  # type: ignore[union-attr]
    if token.get("no_store"):  # type: ignore[union-attr]
        return Outcome("pass", observed)
    return Outcome("fail", observed, f"Cache-Control was '{token.get('cache_control') or 'absent'}'.")  # type: ignore[union-attr]


@check
def launch_id_token(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The id_token verifies against the JWKS, and its iss, aud, exp and nonce are right."""
    data, _token_facts, early = _token(view)
    if early:
        return early
    idt = data.get("id_token") or {}
    if not idt.get("present"):
        if not idt.get("openid_requested"):
            return Outcome("not_applicable", None, "The app did not ask for openid, so no id_token was due.")
        return Outcome("fail", {"present": False}, "openid was requested but the token response has no id_token.")
    if not idt.get("well_formed"):
        return Outcome("fail", {"well_formed": False}, "The id_token is not a well-formed JWT.")
    if idt.get("signature_valid") is None:
        return Outcome(
            "not_observed",
            {"jwks_fetched": idt.get("jwks_fetched")},
            "The issuer's JWKS could not be fetched, so the signature could not be checked.",
        )
    checks = {
        "signature": idt.get("signature_valid"),
        "iss": idt.get("iss_ok"),
        "aud": idt.get("aud_ok"),
        "exp": idt.get("exp_ok"),
        "nonce": idt.get("nonce_ok"),
        "sub": idt.get("sub_present"),
    }
    failed = [k for k, ok in checks.items() if not ok]
    observed = {"alg": idt.get("alg"), "kid_found": idt.get("kid_found"), "failed": failed}
    if failed:
        return Outcome("fail", observed, f"The id_token failed: {_listing(failed)}.")
    return Outcome("pass", observed)


@check
def launch_fhir_user(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The id_token names the user (fhirUser) and that resource can be read with the token."""
    data, _t, early = _token(view)
    if early:
        return early
    idt = data.get("id_token") or {}
    if not idt.get("present"):
        return Outcome("not_observed", None, "No id_token was issued, so there is no fhirUser claim.")
    observed = {"type": idt.get("fhir_user_type"), "status": idt.get("fhir_user_status")}
    if not idt.get("fhir_user_present"):
        return Outcome("fail", observed, "The id_token has no fhirUser claim.")
    if idt.get("fhir_user_type") is None:
        return Outcome("fail", observed, "fhirUser is not a resource URL such as Patient/123.")
    if idt.get("fhir_user_on_audited_server") is False:
        return Outcome("not_observed", observed, "fhirUser points at another server; ehrcheck does not send the token there.")
    if idt.get("fhir_user_readable"):
        return Outcome("pass", observed)
    return Outcome(
        "fail", observed, f"The fhirUser resource could not be read with the token ({_status(idt.get('fhir_user_status'))})."
    )


@check
def launch_patient_read(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The patient in context can be read with the launch's token."""
    data, _token_facts, early = _token(view)
    if early:
        return early
    read = data.get("patient_read")
    if not read:
        return Outcome("not_observed", None, "The token response named no patient, so there was no patient to read.")
    observed = {"http_status": read.get("http_status")}
    if read.get("http_status") == 200 and read.get("is_patient") and read.get("id_matches"):
        return Outcome("pass", observed)
    return Outcome("fail", observed, f"Reading the patient in context answered {_status(read.get('http_status'))}.")


@check
def launch_refresh(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """offline_access yields a refresh token; refreshing works, the new token reads the patient,
    and the newest refresh token works again."""
    data, _t, early = _token(view)
    if early:
        return early
    r = data.get("refresh") or {}
    if not r.get("offline_access_requested"):
        return Outcome("not_applicable", None, "The app did not ask for offline_access.")
    if not r.get("refresh_token_issued"):
        return Outcome("fail", {"refresh_token_issued": False}, "offline_access was requested but no refresh token was issued.")
    first, second = r.get("first") or {}, r.get("second") or {}
    observed = {
        "first": first.get("http_status"),
        "second": second.get("http_status"),
        "patient_status": first.get("patient_status"),
    }
    if not first.get("accepted"):
        return Outcome("fail", observed, f"The refresh token was refused: {_status(first.get('http_status'))}.")
    if first.get("patient_status") not in (None, 200):
        return Outcome(
            "fail", observed, f"A refreshed token could not read the patient ({_status(first.get('patient_status'))})."
        )
    if not second.get("accepted"):
        return Outcome(
            "fail",
            observed,
            f"A second refresh with the newest refresh token was refused ({_status(second.get('http_status'))}).",
        )
    return Outcome("pass", observed)


@check
def launch_revocation(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """After revocation the access token no longer reads data, and the refresh token no longer works."""
    data, _t, early = _token(view)
    if early:
        return early
    rev = data.get("revocation") or {}
    if not rev.get("advertised"):
        return Outcome("not_applicable", None, "The SMART configuration advertises no revocation_endpoint.")
    observed = {k: rev.get(k) for k in ("revoke_status", "read_after_status", "refresh_after_status")}
    problems = []
    if rev.get("read_refused_after") is False:
        problems.append(f"the revoked access token still read the patient ({_status(rev.get('read_after_status'))})")
    if rev.get("refresh_refused_after") is False:
        problems.append(f"the revoked refresh token still worked ({_status(rev.get('refresh_after_status'))})")
    if problems:
        return Outcome("fail", observed, _sentence(problems))
    if rev.get("read_refused_after") is None:
        return Outcome("not_observed", observed, "There was no patient in context to read after revoking.")
    return Outcome("pass", observed)


@check
def launch_introspection(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """Introspection calls a live token active and a revoked one inactive."""
    data, _t, early = _token(view)
    if early:
        return early
    intro = data.get("introspection") or {}
    if not intro.get("advertised"):
        return Outcome("not_applicable", None, "The SMART configuration advertises no introspection_endpoint.")
    live, after = intro.get("live") or {}, intro.get("after_revocation")
    observed = {
        "live": live.get("active"),
        "after_revocation": (after or {}).get("active"),
        "client_authenticated": intro.get("client_authenticated"),
    }
    if live.get("active") is not True:
        if not intro.get("client_authenticated") and live.get("http_status") in (400, 401, 403):
            return Outcome(
                "not_observed", observed, "A public client may not be allowed to introspect; use a confidential app registration."
            )
        return Outcome("fail", observed, f"Introspecting a live token did not say active ({_status(live.get('http_status'))}).")
    if after is not None and after.get("active") is not False:
        return Outcome("fail", observed, "Introspecting the revoked token did not say inactive.")
    return Outcome(
        "pass", observed, None if after is not None else "Only the live token could be introspected (no revocation endpoint)."
    )


@check
def launch_limited(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """A token granted only patient/Patient.rs reads the Patient and is refused on Observation."""
    data = view["launch"]
    lim = data.get("limited")
    if lim is None:
        return Outcome("not_applicable", None, STANDALONE_ONLY)
    observed = {k: lim.get(k) for k in ("token_status", "patient_status", "observation_status", "observation_entries")}
    if lim.get("observation_status") is None:
        return Outcome(
            "not_observed",
            observed,
            f"The limited launch gave no usable patient token ({lim.get('authorization_error') or _status(lim.get('token_status'))}).",
        )
    if lim.get("observation_refused"):
        return Outcome("pass", observed, f"Observation answered HTTP {lim['observation_status']}.")
    if lim.get("patient_status") != 200:
        return Outcome(
            "not_observed",
            observed,
            "The limited token could not read the Patient either, so enforcement cannot be told from a broken token.",
        )
    return Outcome(
        "fail",
        observed,
        f"A Patient-only token read Observation: HTTP {lim['observation_status']}, {lim.get('observation_entries', 0)} returned.",
    )


@check
def launch_granular(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """SMART v2 category scopes, as the ONC kit reads them since its relaxation: the granted category
    must be readable, and nothing outside it may come back; refusing or filtering are both fine."""
    data = view["launch"]
    g = data.get("granular")
    if g is None:
        return Outcome("not_applicable", None, STANDALONE_ONLY)
    searches = g.get("searches")
    observed = {"granted_as_requested": g.get("granted_as_requested"), "granted_wider": g.get("granted_wider")}
    if g.get("granted_wider"):
        return Outcome(
            "fail", observed, f"Asked for category scopes, the server granted wider ones: {_listing(g['granted_wider'])}."
        )
    if not searches:
        return Outcome(
            "not_observed",
            observed,
            f"No category-scoped token was issued ({g.get('authorization_error') or _status(g.get('token_status'))}).",
        )
    if not g.get("granted_as_requested"):
        return Outcome(
            "not_observed", observed, "The server granted fewer scopes than asked, so category enforcement could not be tested."
        )
    leaks = sorted(k for k, s in searches.items() if s.get("outside_granted"))
    blocked = sorted(k for k, s in searches.items() if k.endswith(" granted") and s.get("http_status") != 200)
    observed["searches"] = {k: s.get("http_status") for k, s in sorted(searches.items())}
    if leaks:
        return Outcome("fail", observed, f"Resources outside the granted category came back from: {_listing(leaks)}.")
    if blocked:
        return Outcome("fail", observed, f"Searches the granted category allows were refused: {_listing(blocked)}.")
    return Outcome("pass", observed)


@check
def launch_refused(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The token endpoint refuses one broken authorization-code request (`args.case`)."""
    case = args["case"]
    data = view["launch"]
    label = NEGATIVE.get(case, case)
    if data.get("mode") != "standalone":
        return Outcome("not_applicable", None, STANDALONE_ONLY)
    result = (data.get("negative") or {}).get(case)
    if result is None:
        why = (
            "The app is a public client: it has no secret to get wrong."
            if case == "wrong_client_secret"
            else "Not tested in this run."
        )
        return Outcome("not_applicable", None, why)
    if result.get("http_status") is None:
        return Outcome(
            "not_observed",
            None,
            f"No code was issued to test {label} ({result.get('authorization_error') or 'no reason given'}).",
        )
    observed = {"http_status": result["http_status"], "error": result.get("error")}
    if case == "code_reuse" and result.get("first_use_status") != 200:
        return Outcome(
            "not_observed", observed, f"The first use of the code was refused too ({_status(result.get('first_use_status'))})."
        )
    if result.get("token_issued"):
        return Outcome(
            "fail", observed, f"A token request with {label} was ACCEPTED: HTTP {result['http_status']} with an access token."
        )
    if result.get("rejected"):
        detail = f"Refused with HTTP {result['http_status']}" + (f" ({result['error']})" if result.get("error") else "") + "."
        if "control_status" in result and result["control_status"] != 200:
            detail += " The correct request with the same code was refused afterwards too (the server spent the code on the failed attempt)."
        return Outcome("pass", observed, detail)
    return Outcome("fail", observed, f"A token request with {label} answered HTTP {result['http_status']}, not 400 or 401.")


@check
def launch_cors(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """A browser-based patient app's CORS preflight is answered, and the read allows its origin."""
    data, _t, early = _token(view)
    if early:
        return early
    c = data.get("cors")
    if not c:
        return Outcome("not_observed", None, "There was no patient in context to read from a web app's origin.")
    observed = {k: c.get(k) for k in ("preflight_status", "allows_origin", "allows_authorization", "read_allows_origin")}
    problems = []
    if c.get("preflight_status") not in (200, 204) or not c.get("allows_origin"):
        problems.append(f"the preflight ({_status(c.get('preflight_status'))}) did not allow the app's origin")
    elif not c.get("allows_authorization"):
        problems.append("the preflight did not allow the Authorization header")
    if not c.get("read_allows_origin"):
        problems.append("the read itself carried no Access-Control-Allow-Origin for the app")
    if problems:
        return Outcome("fail", observed, _sentence(problems))
    return Outcome("pass", observed)
