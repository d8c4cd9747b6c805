"""SMART App Launch and OpenID Connect discovery documents.

Both are public by design, so the whole document is kept as evidence (minus anything that is
not a field the specs define, which is only listed by name).
"""

from __future__ import annotations

from typing import Any

from ehrcheck.http.client import Recorder
from ehrcheck.models import AttemptStatus
from ehrcheck.probes.base import ProbeContext, ProbeError, ProbeSkipped, http_summary, parse_json, server_failure, status_problem

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


async def probe_smart(ctx: ProbeContext, recorder: Recorder) -> dict[str, Any]:
    resp = await ctx.fetcher.get(ctx.url(".well-known/smart-configuration"), recorder, headers={"Accept": "application/json"})
    facts = _document_facts(resp, SMART_FIELDS, "GET [base]/.well-known/smart-configuration")
    caps = facts.get("document", {}).get("capabilities")
    facts["capabilities"] = sorted(str(c) for c in caps) if isinstance(caps, list) else []
    return facts


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
    return facts
