"""Checks over the published security metadata: CapabilityStatement security, SMART and OpenID discovery.

See `ehrcheck.rules.checks` for the contract every check follows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field, field_validator

from ehrcheck.evidence.anonymous import OpenIdData, OpenIdDocument, Security, SmartDocument
from ehrcheck.evidence.view import View, need
from ehrcheck.rules.checks.common import (
    NO_CAPABILITY,
    CheckArgs,
    NoArgs,
    Outcome,
    _cap,
    _sentence,
    _smart,
    _smart_capabilities,
    _strings,
    check,
)
from ehrcheck.rules.shapes import Reading, Shape, read_openid, read_smart


def _list_field(reading: Reading, value: Any) -> tuple[list[str], str | None]:
    """A list field's string members, and the defect when the field is not an array at all (a
    single string is not read as a one-item list: SMART and OpenID define arrays)."""
    if reading.shape == Shape.wrong_type:
        return [], reading.defect()
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else [], None


def _known(names: list[str], document: type[SmartDocument | OpenIdDocument]) -> list[str]:
    unknown = [n for n in names if n not in document.model_fields]
    if unknown:
        raise ValueError(
            f"not a field of the discovery document: {', '.join(unknown)} (known: {', '.join(document.model_fields)})"
        )
    return names


@check()
def oauth_declared(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The API says it is protected by OAuth 2.0 (SMART on FHIR), in either discovery place.

    Evidence is the SMART configuration (SMART 2.0) or the CapabilityStatement's rest.security
    (a SMART-on-FHIR/OAuth service or the oauth-uris extension, the SMART 1.0 way). The SMART probe
    is read when present; when it is absent and the CapabilityStatement shows nothing, the answer is
    not_observed rather than fail.
    """
    sec = (view.capability.security if view.capability else None) or Security()
    services = _strings(sec.services)
    smart_doc, _ = _smart(view)
    signals = []
    if smart_doc is not None:
        signals.append("SMART configuration")
    if any("smart-on-fhir" in s.lower() or "oauth" in s.lower() for s in services):
        signals.append("rest.security service " + ", ".join(services))
    if (sec.oauth_uris or {}).get("authorize") and (sec.oauth_uris or {}).get("token"):
        signals.append("oauth-uris extension")
    if signals:
        return Outcome("pass", signals, f"Declared by: {'; '.join(signals)}.")
    if view.smart is None:
        return Outcome(
            "not_observed", None, "The CapabilityStatement declares no OAuth security and the SMART probe did not run."
        )
    return Outcome("fail", services, "Neither a SMART configuration nor an OAuth security declaration was found.")


@check()
def security_matches_smart(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """rest.security declares SMART on FHIR the SMART 1.0 way: the SMART-on-FHIR service code and
    an oauth-uris extension with `authorize` and `token` URLs.

    SMART 1.0 required both publication routes; 2.0 deprecates the CapabilityStatement one, but
    apps written for 1.0 still read it (hence a warning). Whether its URLs agree with the SMART
    configuration is `discovery_endpoints_agree`; whether they are well-formed, the typed reading.
    """
    cap = _cap(view)
    if cap is None:
        return NO_CAPABILITY
    sec = cap.security or Security()
    problems = []
    if "SMART-on-FHIR" not in _strings(sec.services):
        problems.append("rest.security.service lacks the SMART-on-FHIR code")
    oauth = sec.oauth_uris or {}
    lacking = [ext for ext in ("authorize", "token") if not oauth.get(ext)]
    if not oauth:
        problems.append("there is no oauth-uris extension (SMART 1.0 requires one with authorize and token)")
    elif lacking:
        problems.append(f"the oauth-uris extension lacks {' and '.join(lacking)}")
    if problems:
        return Outcome("fail", {"services": sec.services, "oauth_uris": oauth}, _sentence(problems))
    return Outcome("pass", {"services": sec.services, "oauth_uris": oauth})


# --- SMART App Launch ------------------------------------------------------------------------


@check()
def smart_config_published(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """GET [base]/.well-known/smart-configuration returns a JSON object served as application/json."""
    smart = need(view.smart, "smart")
    if not smart.found:
        return Outcome("fail", smart.http_status, f"Problem: {smart.problem or 'not found'}.")
    if not smart.json_content_type:
        return Outcome("fail", smart.content_type, f"It is served as '{smart.content_type}', not application/json.")
    return Outcome("pass", smart.http_status)


class SmartCapabilitiesArgs(CheckArgs):
    required: list[str] = Field(default_factory=list)
    aliases: dict[str, list[str]] = Field(default_factory=dict)


@check(args=SmartCapabilitiesArgs)
def smart_capabilities(view: View, args: SmartCapabilitiesArgs, as_of: dt.date) -> Outcome:
    """The SMART configuration lists every capability in `args.required`.

    `args.aliases` maps a required name to names that count for it (SMART 2.2's
    `context-passthrough-banner` for 2.0's `context-banner`). The detail names what is missing.
    """
    doc, why = _smart(view)
    if doc is None:
        return Outcome("fail", None, why)
    _, defect = _list_field(read_smart(doc)["capabilities"], doc.capabilities)
    if defect:
        return Outcome("fail", None, defect + ".")
    have = set(_smart_capabilities(view))
    aliases = args.aliases
    required = args.required
    missing = [c for c in required if c not in have and not (set(aliases.get(c) or []) & have)]
    if missing:
        return Outcome("fail", sorted(have), f"missing: {', '.join(missing)}.")
    return Outcome("pass", sorted(have))


class SmartFieldsArgs(CheckArgs):
    fields: list[str] = Field(default_factory=list)

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: list[str]) -> list[str]:
        return _known(v, SmartDocument)


@check(args=SmartFieldsArgs)
def smart_fields_present(view: View, args: SmartFieldsArgs, as_of: dt.date) -> Outcome:
    """The SMART configuration carries a non-empty value for every field in `args.fields`."""
    doc, why = _smart(view)
    if doc is None:
        return Outcome("fail", None, why)
    fields = args.fields
    readings = read_smart(doc)
    missing = [f for f in fields if readings[f].shape == Shape.absent or readings[f].found in ("null", "an empty string")]
    defects = [readings[f].defect() for f in fields if f not in missing and readings[f].defective]
    observed = {f: getattr(doc, f) for f in fields}
    problems = ([f"missing: {', '.join(missing)}"] if missing else []) + defects
    if problems:
        return Outcome("fail", observed, "; ".join(problems) + ".")
    return Outcome("pass", observed)


class SmartFieldIncludesArgs(CheckArgs):
    field: str
    values: list[str] = Field(default_factory=list)
    any: bool = False

    @field_validator("field")
    @classmethod
    def _field(cls, v: str) -> str:
        return _known([v], SmartDocument)[0]


@check(args=SmartFieldIncludesArgs)
def smart_field_includes(view: View, args: SmartFieldIncludesArgs, as_of: dt.date) -> Outcome:
    """A list field of the SMART configuration contains the listed values (all, or `any: true`)."""
    doc, why = _smart(view)
    if doc is None:
        return Outcome("fail", None, why)
    field = args.field
    have, defect = _list_field(read_smart(doc)[field], getattr(doc, field))
    if defect:
        return Outcome("fail", None, defect + ".")
    wanted = args.values
    if args.any:
        if set(wanted) & set(have):
            return Outcome("pass", have)
        return Outcome("fail", have, f"{field} lists none of: {', '.join(wanted)}.")
    missing = [v for v in wanted if v not in have]
    if missing:
        return Outcome("fail", have, f"{field} is missing: {', '.join(missing)}.")
    return Outcome("pass", have)


@check()
def pkce_s256(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """PKCE: `code_challenge_methods_supported` lists S256 and does not list `plain`.

    SMART 2.0 makes the field REQUIRED with S256 and forbids `plain`, which gives no protection
    against a stolen authorization code.
    """
    doc, why = _smart(view)
    if doc is None:
        return Outcome("fail", None, why)
    methods, defect = _list_field(read_smart(doc)["code_challenge_methods_supported"], doc.code_challenge_methods_supported)
    if defect:
        return Outcome("fail", None, defect + ".")
    problems = []
    if "S256" not in methods:
        problems.append("S256 is not listed" if methods else "code_challenge_methods_supported is missing")
    if "plain" in methods:
        problems.append("the insecure 'plain' method is offered")
    if problems:
        return Outcome("fail", methods, "; ".join(problems) + ".")
    return Outcome("pass", methods)


@check()
def patient_scopes(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """scopes_supported advertises patient-level scopes (`patient/...`), what patient apps request.

    This answers "can a patient's app tell what to ask for?", not US Core conformance: US Core only
    requires the resource scopes a server supports to be published, in whatever form.
    """
    doc, why = _smart(view)
    if doc is None:
        return Outcome("fail", None, why)
    scopes, defect = _list_field(read_smart(doc)["scopes_supported"], doc.scopes_supported)
    if defect:
        return Outcome("fail", None, defect + ".")
    if not scopes:
        return Outcome("fail", None, "scopes_supported is not published.")
    patient = [s for s in scopes if s.startswith("patient/")]
    if patient:
        return Outcome("pass", len(patient), f"{len(patient)} patient/ scopes are advertised.")
    return Outcome("fail", scopes[:10], "No patient/ scope is advertised.")


@check()
def backend_services(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """SMART Backend Services, the authorization Bulk Data 1.0.1 requires, is advertised.

    Needs the client-confidential-asymmetric capability, private_key_jwt in
    token_endpoint_auth_methods_supported, RS384 or ES384 in
    token_endpoint_auth_signing_alg_values_supported and the client_credentials grant.
    """
    doc, why = _smart(view)
    if doc is None:
        return Outcome("fail", None, why)
    readings = read_smart(doc)
    lists: dict[str, list[str]] = {}
    defects = []
    for field in (
        "token_endpoint_auth_methods_supported",
        "token_endpoint_auth_signing_alg_values_supported",
        "grant_types_supported",
    ):
        lists[field], defect = _list_field(readings[field], getattr(doc, field))
        defects += [defect] if defect else []
    missing = []
    if "client-confidential-asymmetric" not in _smart_capabilities(view):
        missing.append("capability client-confidential-asymmetric")
    if "private_key_jwt" not in lists["token_endpoint_auth_methods_supported"]:
        missing.append("private_key_jwt authentication")
    if not {"RS384", "ES384"} & set(lists["token_endpoint_auth_signing_alg_values_supported"]):
        missing.append("RS384/ES384 signing")
    if "client_credentials" not in lists["grant_types_supported"]:
        missing.append("client_credentials grant")
    observed = {
        "token_endpoint_auth_methods_supported": doc.token_endpoint_auth_methods_supported,
        "token_endpoint_auth_signing_alg_values_supported": doc.token_endpoint_auth_signing_alg_values_supported,
    }
    if missing or defects:
        return Outcome("fail", observed, "; ".join(([f"missing: {', '.join(missing)}"] if missing else []) + defects) + ".")
    return Outcome("pass", observed)


def _openid(view: View) -> tuple[OpenIdData | None, Outcome | None]:
    """The OpenID discovery evidence, or the outcome to report when it is not there.

    The openid probe only runs when the SMART configuration names an issuer, so its absence means
    "no issuer to follow" (a fail) when the issuer is missing, and "not observed" otherwise.
    """
    openid = view.openid
    if openid is not None:
        return openid, None
    doc, _ = _smart(view)
    issuer = doc.issuer if doc else None
    if not isinstance(issuer, str) or not issuer.startswith(("http://", "https://")):
        return None, Outcome("fail", None, "The SMART configuration names no issuer, so OpenID discovery cannot be found.")
    return None, Outcome("not_observed", None, "OpenID Connect discovery was not fetched (the openid probe did not complete).")


class OpenIdFieldsArgs(CheckArgs):
    fields: list[str] = Field(default_factory=list)

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: list[str]) -> list[str]:
        return _known(v, OpenIdDocument)


def _doc_field(openid: OpenIdData, field: str) -> Any:
    return getattr(openid.document, field) if openid.document is not None else None


@check(args=OpenIdFieldsArgs)
def openid_discovery(view: View, args: OpenIdFieldsArgs, as_of: dt.date) -> Outcome:
    """[issuer]/.well-known/openid-configuration is published and its issuer equals SMART's issuer.

    OpenID Connect Discovery 1.0 §4.3: the issuer in the document must be identical to the one
    used to find it, or ID tokens cannot be validated.
    """
    openid, problem = _openid(view)
    if openid is None:
        return problem or Outcome("not_observed")
    if not openid.found:
        return Outcome("fail", openid.http_status, f"Problem: {openid.problem or 'not found'}.")
    if openid.json_content_type is False:
        served = f"as '{openid.content_type}'" if openid.content_type else "with no Content-Type"
        return Outcome(
            "fail", openid.content_type, f"It is served {served}; OpenID Connect Discovery 1.0 §4.2 requires application/json."
        )
    if not openid.issuer_matches:
        got = _doc_field(openid, "issuer")
        return Outcome(
            "fail",
            got,
            f"The document's issuer ({got}) differs from SMART's issuer ({openid.issuer_requested}).",
        )
    readings = read_openid(openid.document)
    missing = [f for f in args.fields if readings[f].shape == Shape.absent or not _doc_field(openid, f)]
    defects = [readings[f].defect() for f in args.fields if f not in missing and readings[f].defective]
    if missing or defects:
        lacks = [f"The discovery document lacks: {', '.join(missing)}"] if missing else []
        return Outcome("fail", openid.fields_present, "; ".join(lacks + defects) + ".")
    return Outcome("pass", openid.issuer_requested)


class OpenIdFieldIncludesArgs(CheckArgs):
    field: str
    value: str

    @field_validator("field")
    @classmethod
    def _field(cls, v: str) -> str:
        return _known([v], OpenIdDocument)[0]


@check(args=OpenIdFieldIncludesArgs)
def openid_field_includes(view: View, args: OpenIdFieldIncludesArgs, as_of: dt.date) -> Outcome:
    """A list field of the OpenID discovery document contains `args.value` (e.g. RS256)."""
    openid, problem = _openid(view)
    if openid is None:
        return problem or Outcome("not_observed")
    if not openid.found:
        return Outcome("fail", None, "OpenID Connect discovery document was not found.")
    field, value = args.field, args.value
    have, defect = _list_field(read_openid(openid.document)[field], _doc_field(openid, field))
    if defect:
        return Outcome("fail", None, defect + ".")
    if value in have:
        return Outcome("pass", have)
    return Outcome("fail", have, f"{field} does not list {value}" + (f" (lists {', '.join(have)})." if have else "."))
