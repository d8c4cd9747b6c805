"""SMART App Launch and OpenID Connect discovery documents.

Both are public by design, so the whole document is kept as evidence (minus anything that is
not a field the specs define, which is only listed by name).
"""

from __future__ import annotations

from typing import Any

from ehrcheck.http.client import FetchError, Recorder
from ehrcheck.models import AttemptStatus
from ehrcheck.probes.anonymous.cors import cors_facts
from ehrcheck.probes.anonymous.jwks import summarise_jwks
from ehrcheck.probes.base import ProbeContext, ProbeError, ProbeSkipped, http_summary, parse_json, server_failure, status_problem
from ehrcheck.probes.certification.service_base_urls import assess_bundle

# Every field SMART App Launch 2.0 / 2.2 defines for .well-known/smart-configuration.
SMART_FIELDS = (
    "issuer",
    "jwks_uri",
    "authorization_endpoint",
    "grant_types_supported",
    "token_endpoint",
    "token_endpoint_auth_methods_supported",
    "token_endpoint_auth_signing_alg_values_supported",
    "registration_endpoint",
    "associated_endpoints",
    "user_access_brand_bundle",
    "user_access_brand_identifier",
    "scopes_supported",
    "response_types_supported",
    "management_endpoint",
    "introspection_endpoint",
    "revocation_endpoint",
    "capabilities",
    "code_challenge_methods_supported",
)

OPENID_FIELDS = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "registration_endpoint",
    "scopes_supported",
    "response_types_supported",
    "grant_types_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
    "token_endpoint_auth_methods_supported",
    "claims_supported",
    "code_challenge_methods_supported",
)


def _document_facts(resp, fields: tuple[str, ...], what: str) -> dict[str, Any]:
    failure = server_failure(resp, what)
    if failure:
        raise failure  # a broken server shows neither that it publishes the document nor not
    facts: dict[str, Any] = http_summary(resp)
    facts["found"] = False
    if resp.status != 200:
        facts["problem"] = status_problem(resp)
        return facts
    doc, problem = parse_json(resp)
    if problem:
        facts["problem"] = problem
        return facts
    if not isinstance(doc, dict):
        facts["problem"] = "the body is JSON but not an object"
        return facts
    facts["found"] = True
    facts["json_content_type"] = resp.content_type.startswith("application/json")
    facts["document"] = {k: doc[k] for k in fields if k in doc}
    facts["extra_fields"] = sorted(k for k in doc if k not in fields)
    facts["fields_present"] = sorted(k for k in fields if k in doc)
    return facts


def _http_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://")) and len(value) <= 2000


async def _linked_json(ctx: ProbeContext, url: str, recorder: Recorder, accept: str) -> tuple[dict[str, Any], Any]:
    """GET a document another document links to (no credentials: these are public by design).
    Returns (facts about the response, the decoded body or None)."""
    facts: dict[str, Any] = {"url": url, "found": False}
    try:
        resp = await ctx.fetcher.get(url, recorder, headers={"Accept": accept})
    except FetchError as exc:
        facts["problem"] = str(exc)[:300]
        return facts, None
    facts.update(http_summary(resp))
    if resp.truncated:
        facts["problem"] = "the response body exceeded the size cap"
        return facts, None
    if resp.status != 200:
        facts["problem"] = status_problem(resp)
        return facts, None
    doc, problem = parse_json(resp)
    if problem:
        facts["problem"] = problem
        return facts, None
    return facts, doc


async def _brand_bundle(ctx: ProbeContext, document: dict[str, Any], recorder: Recorder) -> dict[str, Any] | None:
    """SMART 2.2's user-access brand bundle, assessed as a Bundle of Organizations and Endpoints."""
    url = document.get("user_access_brand_bundle")
    if not isinstance(url, str) or not _http_url(url):
        return None  # absent or malformed: the typed reading of the document reports which
    facts, doc = await _linked_json(ctx, url, recorder, "application/fhir+json, application/json")
    if doc is None:
        return facts
    assessment = assess_bundle(doc, ctx.base_url)
    assessment.pop("addresses", None)  # a vendor-wide bundle lists thousands; `target` says whether ours is one
    facts["found"] = "problem" not in assessment
    facts.update(assessment)
    identifier = document.get("user_access_brand_identifier")
    if isinstance(identifier, dict) and facts["found"]:
        facts["identifier_matched"] = _identifier_in(identifier, doc)
    return facts


def _identifier_in(identifier: dict[str, Any], bundle: dict[str, Any]) -> bool:
    """An Organization in the bundle carries this Identifier (same system and value)."""
    wanted = (identifier.get("system"), identifier.get("value"))
    entries = bundle.get("entry")
    for entry in entries if isinstance(entries, list) else []:
        res = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(res, dict) and res.get("resourceType") == "Organization":
            found = res.get("identifier")
            ids = found if isinstance(found, list) else []
            if any(isinstance(i, dict) and (i.get("system"), i.get("value")) == wanted for i in ids):
                return True
    return False


def string_capabilities(document: dict[str, Any]) -> list[str]:
    """The capabilities the rules match on: only strings are capabilities, so a 1 or a null in the
    list is a defect the typed reading names, never a capability called "1"."""
    caps = document.get("capabilities")
    return sorted({c for c in caps if isinstance(c, str)}) if isinstance(caps, list) else []


async def probe_smart(ctx: ProbeContext, recorder: Recorder) -> dict[str, Any]:
    url = ctx.url(".well-known/smart-configuration")
    resp = await ctx.fetcher.get(url, recorder, headers={"Accept": "application/json"})
    facts = _document_facts(resp, SMART_FIELDS, "GET [base]/.well-known/smart-configuration")
    document = facts.get("document", {})
    facts["capabilities"] = string_capabilities(document)
    if facts["found"]:
        facts["cors"] = await cors_facts(ctx, url, recorder, "application/json")
        brand = await _brand_bundle(ctx, document, recorder)
        if brand is not None:
            facts["brand_bundle"] = brand
    return facts


async def _jwks(
    ctx: ProbeContext, openid_doc: dict[str, Any], smart_doc: dict[str, Any], recorder: Recorder
) -> dict[str, Any] | None:
    """The key set that verifies ID tokens: OpenID's jwks_uri, else SMART's."""
    for source, doc in (("openid", openid_doc), ("smart", smart_doc)):
        url = doc.get("jwks_uri")
        if isinstance(url, str) and _http_url(url):
            facts, body = await _linked_json(ctx, url, recorder, "application/json")
            facts["source"] = source
            if body is not None:
                facts.update(summarise_jwks(body))
            return facts
    return None


async def probe_openid(ctx: ProbeContext, recorder: Recorder) -> dict[str, Any]:
    smart = await ctx.result("smart")
    if smart.status != AttemptStatus.completed:
        raise ProbeError(f"the SMART configuration, which names the issuer, could not be read ({smart.reason})")
    issuer = (smart.data.get("document") or {}).get("issuer")
    if not isinstance(issuer, str) or not issuer.startswith(("http://", "https://")):
        raise ProbeSkipped("the SMART configuration publishes no issuer")
    well_known = "/.well-known/openid-configuration"
    # Some servers (Cerner's, for one) publish the discovery URL itself as the issuer.
    url = issuer if issuer.rstrip("/").endswith(well_known) else issuer.rstrip("/") + well_known
    resp = await ctx.fetcher.get(url, recorder, headers={"Accept": "application/json"})
    facts = _document_facts(resp, OPENID_FIELDS, "GET {issuer}/.well-known/openid-configuration")
    facts["issuer_requested"] = issuer
    facts["issuer_is_discovery_url"] = url == issuer
    doc_issuer = facts.get("document", {}).get("issuer")
    facts["issuer_matches"] = isinstance(doc_issuer, str) and doc_issuer.rstrip("/") == issuer.rstrip("/")
    jwks = await _jwks(ctx, facts.get("document", {}), smart.data.get("document") or {}, recorder)
    if jwks is not None:
        facts["jwks"] = jwks
    return facts
