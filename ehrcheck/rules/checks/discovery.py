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


# --- what the SMART configuration offers, read for soundness (issue 19) ----------------------

# SMART App Launch 2.0.0-2.2.0 §Capabilities (conformance.html#capabilities): every capability name
# the specification defines. 2.1 added authorize-post and smart-app-state; 2.2 the passthrough pair.
SMART_CAPABILITY_NAMES = frozenset(
    {
        "launch-ehr",
        "launch-standalone",
        "authorize-post",
        "client-public",
        "client-confidential-symmetric",
        "client-confidential-asymmetric",
        "sso-openid-connect",
        "context-banner",
        "context-style",
        "context-passthrough-banner",
        "context-passthrough-style",
        "context-ehr-patient",
        "context-ehr-encounter",
        "context-standalone-patient",
        "context-standalone-encounter",
        "permission-offline",
        "permission-online",
        "permission-patient",
        "permission-user",
        "permission-v1",
        "permission-v2",
        "smart-app-state",
    }
)


def _smart_list(doc: SmartDocument, field: str) -> tuple[list[str], str | None]:
    return _list_field(read_smart(doc)[field], getattr(doc, field))


def _no_document(view: View) -> Outcome:
    """For rules about what a SMART configuration offers: without one there is nothing to judge
    (INT-018 reports the missing document)."""
    _, why = _smart(view)
    return Outcome("not_applicable", None, why)


@check()
def no_legacy_grants(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The SMART configuration offers neither the resource-owner password grant nor the implicit
    flow (grant `implicit`, or a response type carrying `token`).

    RFC 9700 (OAuth 2.0 Security Best Current Practice) §2.4: the password grant MUST NOT be used;
    §2.1.2: the implicit grant SHOULD NOT be used (tokens in the URL leak). SMART App Launch 2.0
    defines only authorization_code and client_credentials. Evidence strength: declared (what the
    document advertises; nothing is tried).
    """
    doc, _ = _smart(view)
    if doc is None:
        return _no_document(view)
    grants, grant_defect = _smart_list(doc, "grant_types_supported")
    responses, response_defect = _smart_list(doc, "response_types_supported")
    if grant_defect or response_defect:
        return Outcome("fail", None, "; ".join(d for d in (grant_defect, response_defect) if d) + ".")
    observed = {"grant_types_supported": grants, "response_types_supported": responses}
    implicit = [g for g in grants if g == "implicit"] + [r for r in responses if "token" in r.split()]
    if "password" in grants:
        extra = f"; it also offers the implicit flow ({', '.join(implicit)})" if implicit else ""
        return Outcome("fail", observed, f"grant_types_supported offers the password grant (declared){extra}.")
    if implicit:
        return Outcome(
            "warn",
            observed,
            f"The implicit flow is offered (declared: {', '.join(implicit)}); RFC 9700 says it SHOULD NOT be used.",
        )
    looked = ", ".join(f for f, v in (("grant_types_supported", grants), ("response_types_supported", responses)) if v)
    return Outcome("pass", observed, f"Read: {looked}." if looked else "No grant or response type is listed.")


@check()
def signing_alg_not_none(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """token_endpoint_auth_signing_alg_values_supported does not list "none".

    RFC 8414 §2: for this field "the value none MUST NOT be used"; an unsigned client assertion
    would let anyone log in as any backend client. Not applicable when the field is not published.
    """
    doc, _ = _smart(view)
    if doc is None:
        return _no_document(view)
    algs, defect = _smart_list(doc, "token_endpoint_auth_signing_alg_values_supported")
    if defect:
        return Outcome("fail", None, defect + ".")
    if not algs:
        return Outcome("not_applicable", None, "token_endpoint_auth_signing_alg_values_supported is not published.")
    unsigned = [a for a in algs if a.strip().lower() == "none"]
    if unsigned:
        return Outcome("fail", algs, f"It lists {', '.join(unsigned)!r} among {len(algs)} algorithm(s) (declared).")
    return Outcome("pass", algs, f"Declared: {', '.join(algs[:8])}.")


@check()
def smart_capabilities_known(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """Every string in `capabilities` is a capability SMART App Launch 2.0-2.2 defines.

    An app looks capabilities up by exact name: a misspelt or invented one ("launch_standalone",
    "context-patient") advertises nothing, and the capability the vendor meant is in fact missing.
    """
    doc, _ = _smart(view)
    if doc is None:
        return _no_document(view)
    caps, defect = _list_field(read_smart(doc)["capabilities"], doc.capabilities)
    if defect:
        return Outcome("fail", None, defect + ".")
    if not caps:
        return Outcome("not_applicable", None, "No capabilities are listed (INT-020 and INT-021 report what is missing).")
    unknown = sorted({c for c in caps if c not in SMART_CAPABILITY_NAMES})
    if unknown:
        return Outcome("fail", unknown, f"Not SMART capabilities: {', '.join(unknown[:8])}.")
    return Outcome("pass", len(caps), f"All {len(caps)} listed capabilities are SMART's own names.")


def _scope_syntax(scope: str) -> str | None:
    """v1 for `patient/Observation.read`, v2 for `patient/Observation.rs` (with an optional
    `?query`), None for scopes that are not resource scopes (openid, launch, offline_access...)."""
    context, _, rest = scope.partition("/")
    if context not in ("patient", "user", "system") or "." not in rest:
        return None
    permission = rest.rsplit(".", 1)[1].split("?", 1)[0]
    if permission in ("read", "write", "*"):
        return "v1"
    letters = "cruds"
    if permission and all(c in letters for c in permission) and list(permission) == sorted(permission, key=letters.index):
        return "v2"
    return None


@check()
def scopes_match_permissions(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The resource scopes in scopes_supported use the syntax of the permission capabilities listed:
    SMART v2 scopes (`.rs`, `.cruds`) with permission-v2, v1 scopes (`.read`, `.write`) with
    permission-v1, and each capability listed has scopes of its syntax.

    SMART App Launch 2.0 §Capabilities (permission-v1, permission-v2) and §Scopes and Launch Context
    (v2 syntax). A mismatch tells app developers to ask for scopes the server may not grant.
    Not applicable when no resource scope is published (PRT-006 reports that).
    """
    doc, _ = _smart(view)
    if doc is None:
        return _no_document(view)
    scopes, defect = _smart_list(doc, "scopes_supported")
    if defect:
        return Outcome("fail", None, defect + ".")
    syntax = {s: _scope_syntax(s) for s in scopes}
    used = {v for v in syntax.values() if v}
    if not used:
        return Outcome("not_applicable", None, "scopes_supported publishes no resource scope.")
    caps = set(_smart_capabilities(view))
    problems = []
    for version in ("v1", "v2"):
        listed = f"permission-{version}" in caps
        examples = [s for s, v in syntax.items() if v == version][:3]
        if version in used and not listed:
            problems.append(f"{version} scopes ({', '.join(examples)}) are published without permission-{version}")
        if listed and version not in used:
            problems.append(f"permission-{version} is listed but scopes_supported has no {version} scope")
    observed = {"scope_syntax": sorted(used), "permissions": sorted(c for c in caps if c.startswith("permission-v"))}
    if problems:
        return Outcome("fail", observed, _sentence(problems))
    return Outcome("pass", observed, f"Declared: {' and '.join(sorted(used))} scopes, each with its permission capability.")


# The token-endpoint authentication each confidential client type uses: SMART App Launch 2.0
# §App Launch "Authenticate to the token endpoint" (symmetric: HTTP Basic with the client secret)
# and §Client Authentication: Asymmetric (private_key_jwt, RFC 7523).
CLIENT_AUTH_METHODS = {
    "client-confidential-symmetric": "client_secret_basic",
    "client-confidential-asymmetric": "private_key_jwt",
}


@check()
def client_auth_methods_match(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """Each confidential client type in `capabilities` has its authentication method in
    token_endpoint_auth_methods_supported (client_secret_basic, private_key_jwt), which SMART 2.0
    makes REQUIRED. Not applicable when no confidential client type is listed."""
    doc, _ = _smart(view)
    if doc is None:
        return _no_document(view)
    caps = set(_smart_capabilities(view))
    wanted = {c: m for c, m in CLIENT_AUTH_METHODS.items() if c in caps}
    if not wanted:
        return Outcome("not_applicable", None, "No confidential client type is listed in capabilities.")
    methods, defect = _smart_list(doc, "token_endpoint_auth_methods_supported")
    if defect:
        return Outcome("fail", None, defect + ".")
    if not methods:
        return Outcome(
            "fail", None, f"token_endpoint_auth_methods_supported is missing, yet {', '.join(sorted(wanted))} is listed."
        )
    missing = [f"{m} (for {c})" for c, m in sorted(wanted.items()) if m not in methods]
    if missing:
        return Outcome("fail", methods, f"token_endpoint_auth_methods_supported is missing: {', '.join(missing)}.")
    return Outcome("pass", methods, f"Declared: {', '.join(f'{c} with {m}' for c, m in sorted(wanted.items()))}.")
