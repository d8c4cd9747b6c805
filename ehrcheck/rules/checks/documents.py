"""Checks over the discovery documents as documents: their field types and formats, CORS, the
OpenID key set, the brand bundle, and agreement between the CapabilityStatement and the SMART
configuration. The typed reading they judge is ehrcheck/rules/shapes.py.

See `ehrcheck.rules.checks` for the contract every check follows.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal
from urllib.parse import urlsplit

from ehrcheck.evidence.anonymous import CorsFacts, Security
from ehrcheck.evidence.view import View, need
from ehrcheck.rules.checks.common import (
    CheckArgs,
    NoArgs,
    Outcome,
    _cap,
    _sentence,
    _smart,
    _smart_capabilities,
    check,
)
from ehrcheck.rules.shapes import OAUTH_URIS, Reading, Shape, judge, read_bulk, read_openid, read_security, read_smart


class DocumentArgs(CheckArgs):
    document: Literal["smart", "openid", "security", "bulk"]


def _readings(view: View, document: str) -> tuple[dict[str, Reading] | None, Outcome | None]:
    """The typed reading of one document, or the outcome when there is no document to read."""
    if document == "smart":
        doc, _ = _smart(view)
        if doc is None:
            return None, Outcome("not_applicable", None, "No SMART configuration was published to read.")
        return read_smart(doc), None
    if document == "openid":
        openid = view.openid
        if openid is None or not openid.found or openid.document is None:
            return None, Outcome("not_applicable", None, "No OpenID Connect configuration was read.")
        return read_openid(openid.document), None
    cap = _cap(view)
    if cap is None:
        return None, Outcome("not_applicable", None, "No CapabilityStatement was returned.")
    if document == "security":
        sec = cap.security or Security()
        if "element" not in sec.model_fields_set:
            return None, Outcome("not_observed", None, "The evidence predates the recording of rest.security as sent.")
        readings = read_security(sec.element)
        if not readings:
            return None, Outcome("not_applicable", None, "The CapabilityStatement has no rest.security.")
        return readings, None
    if cap.bulk_operations is None:
        return None, Outcome("not_observed", None, "The evidence predates the recording of operation declarations.")
    readings = read_bulk(cap.bulk_operations)
    if not readings:
        return None, Outcome("not_applicable", None, "No Bulk Data export operation is declared.")
    return readings, None


@check(args=DocumentArgs)
def document_shape(view: View, args: DocumentArgs, as_of: dt.date) -> Outcome:
    """Every field the document carries has the type and format its specification defines.

    Absence is not judged here (the rules for each field do that); a field that is present but
    unusable (a number for a URL, a string for an array, a relative endpoint) is, with the
    specification section that defines it.
    """
    readings, early = _readings(view, args.document)
    if readings is None:
        return early or Outcome("not_observed")
    present = {name: r.shape.value for name, r in readings.items() if r.shape != Shape.absent}
    defects = [r.defect() for r in readings.values() if r.defective]
    if defects:
        return Outcome("fail", present, "; ".join(defects) + ".")  # each names its field: no capital
    return Outcome("pass", present, f"{len(present)} field(s) checked.")


def _same_url(a: str, b: str) -> bool:
    """URLs compared as servers route them: scheme and host case-insensitive, no trailing slash."""

    def norm(url: str) -> tuple[str, str, str, str]:
        parts = urlsplit(url.strip())
        return parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query

    try:
        return norm(a) == norm(b)
    except ValueError:
        return a == b


@check()
def discovery_endpoints_agree(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The CapabilityStatement's oauth-uris and the SMART configuration name the same endpoints
    (authorize, token, register, manage, introspect, revoke), wherever both publish one.

    SMART 1.0 apps read the CapabilityStatement and 2.0 apps the well-known document; two that
    disagree send one kind of app to the wrong server. Malformed values are judged by the typed
    reading's rules, not compared.
    """
    cap = _cap(view)
    if cap is None:  # INT-001 judges that; there is nothing to compare
        return Outcome("not_applicable", None, "No CapabilityStatement was returned to compare.")
    doc, why = _smart(view)
    if doc is None:
        return Outcome("not_applicable", None, why)
    sec = cap.security or Security()
    if "element" in sec.model_fields_set:
        readings = read_security(sec.element)
        uris = {}
        for ext in OAUTH_URIS:
            reading = readings.get(f"oauth-uris.{ext}")
            if reading is not None and reading.shape == Shape.ok:
                uris[ext] = (sec.oauth_uris or {}).get(ext)
    else:
        uris = dict(sec.oauth_uris or {})
    smart = read_smart(doc)
    compared, differ = [], []
    for ext, field in OAUTH_URIS.items():
        mine, theirs = uris.get(ext), getattr(doc, field)
        if not isinstance(mine, str) or smart[field].shape != Shape.ok or not isinstance(theirs, str):
            continue
        compared.append(ext)
        if not _same_url(mine, theirs):
            differ.append(f"oauth-uris '{ext}' differs from {field}")
    observed = {"compared": compared, "differ": len(differ)}
    if not compared:
        return Outcome(
            "not_applicable", observed, "The CapabilityStatement publishes no endpoint the SMART configuration also does."
        )
    if differ:
        return Outcome("fail", observed, _sentence(differ))
    return Outcome("pass", observed, f"Compared: {', '.join(compared)}.")


def _cors_problem(what: str, cors: CorsFacts) -> str | None:
    allow = cors.allow_origin
    if allow is None:
        return f"{what} sent no Access-Control-Allow-Origin"
    if allow != "*" and allow != cors.origin:
        return f"{what} allows only another origin, not the requesting app's"
    return None


@check()
def cors_discovery(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """`/metadata` and `.well-known/smart-configuration` answer a cross-origin GET with an
    Access-Control-Allow-Origin of `*` or the requesting origin, so browser apps can read them."""
    cap, smart = view.capability, view.smart
    judged: dict[str, str | None] = {}
    for what, facts in (
        ("GET [base]/metadata", cap.cors if cap else None),
        ("the SMART configuration", smart.cors if smart else None),
    ):
        if facts is None or facts.error or facts.http_status is None:
            continue
        judged[what] = _cors_problem(what, facts)
    if not judged:
        return Outcome("not_observed", None, "Neither discovery document was read with an Origin header.")
    observed = {
        "metadata": cap.cors.allow_origin if cap and cap.cors else None,
        "smart": smart.cors.allow_origin if smart and smart.cors else None,
    }
    problems = [p for p in judged.values() if p]
    if problems:
        return Outcome("fail", observed, _sentence(problems))
    return Outcome("pass", observed, f"Checked: {', '.join(judged)}.")


def _key_label(i: int) -> str:
    return f"key {i + 1}"


@check()
def jwks_valid(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The OpenID key set (jwks_uri) is a JWK Set apps can verify ID tokens with.

    An object with a `keys` array (RFC 7517 §5); each key with a `kty` and its public parameters;
    a `kid` on every key when there are several (OpenID Connect Core 1.0 §10.1); no private key
    members; and an RSA key of at least 2048 bits usable for RS256 (RFC 7518 §3.3), the algorithm
    SMART apps must support.
    """
    need(view.smart, "smart")
    openid = view.openid
    if openid is None:
        return Outcome("not_observed", None, "OpenID Connect discovery was not fetched, so no key set was either.")
    jwks = openid.jwks
    if jwks is None:
        return Outcome("not_applicable", None, "No jwks_uri was published to fetch (the jwks_uri rules judge that).")
    if not jwks.found:
        return Outcome("fail", jwks.http_status, f"The key set could not be read: {jwks.problem or 'not found'}.")
    if jwks.keys_type:
        return Outcome("fail", None, f"'keys' is {jwks.keys_type}, where RFC 7517 §5 defines an array of JWKs.")
    keys = jwks.keys or []
    if not keys:
        return Outcome("fail", 0, "The key set holds no keys.")
    problems = []
    if jwks.non_object_keys:
        problems.append(f"{jwks.non_object_keys} item(s) of 'keys' are not objects")
    if jwks.duplicate_kids:
        problems.append(f"{jwks.duplicate_kids} kid value(s) are repeated")
    usable = 0
    for i, key in enumerate(keys):
        if key.private_parts:
            problems.append(f"{_key_label(i)} publishes private key members (d, p, q...): the private key is exposed")
        if key.kty is None:
            problems.append(f"{_key_label(i)} has no kty")
        elif not key.public_parts:
            problems.append(f"{_key_label(i)} lacks its public parameters for its kty")
        if len(keys) > 1 and not key.kid_present:
            problems.append(
                f"{_key_label(i)} has no kid, which OpenID Connect Core 1.0 §10.1 requires when a set has several keys"
            )
        if key.kty == "RSA" and key.rsa_bits is not None and key.rsa_bits < 2048:
            problems.append(f"{_key_label(i)} is a {key.rsa_bits}-bit RSA key (RFC 7518 §3.3: at least 2048)")
        if (
            key.kty == "RSA"
            and key.public_parts
            and key.use in (None, "sig")
            and key.alg in (None, "RS256")
            and (key.rsa_bits or 0) >= 2048
        ):
            usable += 1
    if not usable:
        problems.append("no RSA signing key of 2048 bits or more usable for RS256")
    observed = {"keys": len(keys), "rs256_keys": usable}
    if problems:
        return Outcome("fail", observed, _sentence(problems))
    return Outcome("pass", observed, f"{len(keys)} key(s), {usable} usable for RS256.")


@check()
def issuer_without_sso(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """An `issuer` is published only with the `sso-openid-connect` capability.

    SMART App Launch makes `issuer` conditional on sso-openid-connect and omitted otherwise: an
    issuer without the capability leaves apps unsure whether OpenID Connect sign-in is offered.
    """
    doc, why = _smart(view)
    if doc is None:
        return Outcome("not_applicable", None, why)
    if "issuer" not in doc.model_fields_set or doc.issuer is None:
        return Outcome("not_applicable", None, "No issuer is published.")
    if "sso-openid-connect" in _smart_capabilities(view):
        return Outcome("pass", "sso-openid-connect")
    return Outcome("fail", None, "An issuer is published but sso-openid-connect is not among the capabilities.")


@check()
def brand_bundle_valid(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The user-access brand bundle is a FHIR collection Bundle of Organizations and Endpoints.

    SMART App Launch 2.2.0 §User-access Brands: Organizations with a name (and address) whose
    `endpoint` references resolve to Endpoints in the Bundle; Endpoints with status, connectionType
    and an http(s) address; the audited endpoint among them; and the Organization the SMART
    configuration's user_access_brand_identifier names. The same structure 45 CFR 170.404(b)(2)
    asks of a service-base-URL list, which a brand bundle may serve as.
    """
    doc, why = _smart(view)
    if doc is None:
        return Outcome("not_applicable", None, why)
    if judge(doc.user_access_brand_bundle, "url")[0] != Shape.ok:
        reading = read_smart(doc)["user_access_brand_bundle"]
        return Outcome("fail", None, reading.defect() + ".")
    smart = need(view.smart, "smart")
    brand = smart.brand_bundle
    if brand is None:
        return Outcome("not_observed", None, "The brand bundle was not fetched (the evidence predates it).")
    if not brand.found:
        return Outcome(
            "fail", brand.http_status, f"The brand bundle could not be read as a Bundle: {brand.problem or 'not found'}."
        )
    problems = []
    bundle, orgs, eps = brand.bundle, brand.organizations, brand.endpoints
    if bundle is not None and bundle.type != "collection":
        problems.append("the Bundle's type is not 'collection'")
    if bundle is not None and bundle.total_present:
        problems.append("a collection Bundle carries 'total'")
    if orgs is None or not orgs.count:
        problems.append("no Organization entries")
    else:
        for key, text in (
            ("missing_name", "without a name"),
            ("missing_address", "without an address"),
            ("without_endpoints", "without Endpoint references (own or a parent's)"),
            ("unresolved_endpoint_refs", "Endpoint references that do not resolve in the Bundle"),
        ):
            n = getattr(orgs, key) or 0
            if n:
                problems.append(f"{n} Organization(s) {text}" if key != "unresolved_endpoint_refs" else f"{n} {text}")
    if eps is None or not eps.count:
        problems.append("no Endpoint entries")
    else:
        for key, text in (
            ("missing_status", "without a status"),
            ("missing_connection_type", "without a connectionType"),
            ("missing_address", "without an address"),
            ("address_not_url", "whose address is not an http(s) URL"),
        ):
            n = getattr(eps, key) or 0
            if n:
                problems.append(f"{n} Endpoint(s) {text}")
    if brand.target is not None and not brand.target.listed:
        problems.append("the audited endpoint is not among its Endpoints")
    if brand.identifier_matched is False:
        problems.append("no Organization carries the user_access_brand_identifier")
    observed = {
        "organizations": orgs.count if orgs else 0,
        "endpoints": eps.count if eps else 0,
        "issue_count": brand.issue_count,
    }
    if problems:
        return Outcome("fail", observed, _sentence(problems))
    return Outcome("pass", observed)
