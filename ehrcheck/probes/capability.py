"""`GET [base]/metadata`: what the server says it can do.

Facts are read from the raw JSON so that DSTU2, STU3 and R5 statements are recorded too; R4
(4.0.1) content is additionally validated with fhir.resources' R4B models, which serve R4.
"""

from __future__ import annotations

from typing import Any

from ..http import Recorder
from .base import ProbeContext, ProbeError, http_summary, parse_json

ACCEPTS = ("application/fhir+json", "application/json+fhir", "application/json")
# Matched by suffix: real servers publish variants (Cerner's DSTU2 uses "http://DSTU2/fhir-registry...").
OAUTH_URIS_SUFFIX = "fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def release_of(fhir_version: str | None, resource_type: str | None) -> str:
    """Name the FHIR release from fhirVersion (and DSTU2's resource name)."""
    v = (fhir_version or "").strip()
    if v.startswith("1.0") or v.startswith("0."):
        return "DSTU2"
    if v.startswith("3.0") or v.startswith("1.8") or v.startswith("1.6") or v.startswith("1.4"):
        return "STU3"
    if v.startswith("4.0"):
        return "R4"
    if v.startswith("4.3"):
        return "R4B"
    if v.startswith("5.") or v.startswith("4.5") or v.startswith("4.6"):
        return "R5"
    if resource_type == "Conformance":
        return "DSTU2"
    return "unknown"


def _codes(items: list[Any] | None, key: str) -> list[str]:
    return sorted({str(i.get(key)) for i in items or [] if isinstance(i, dict) and i.get(key)})


def _names(items: list[Any] | None) -> list[str]:
    return sorted({str(i.get("name")) for i in items or [] if isinstance(i, dict) and i.get("name")})


def summarise(doc: dict[str, Any]) -> dict[str, Any]:
    """Extract every fact the rules use from a CapabilityStatement/Conformance."""
    rest_list = [r for r in doc.get("rest") or [] if isinstance(r, dict)]
    server = next((r for r in rest_list if r.get("mode") == "server"), rest_list[0] if rest_list else {})
    resources: dict[str, Any] = {}
    all_profiles: set[str] = set()
    for res in server.get("resource") or []:
        if not isinstance(res, dict) or not res.get("type"):
            continue
        supported = [str(p) for p in res.get("supportedProfile") or []]
        if res.get("profile"):
            base_profile = res["profile"]
            if isinstance(base_profile, dict):  # DSTU2: profile is a Reference
                base_profile = base_profile.get("reference")
            if base_profile:
                supported.append(str(base_profile))
        all_profiles.update(supported)
        resources[str(res["type"])] = {
            "interactions": _codes(res.get("interaction"), "code"),
            "search_params": _names(res.get("searchParam")),
            "operations": _names(res.get("operation")),
            "supported_profiles": sorted(set(supported)),
            "search_include": sorted(str(x) for x in res.get("searchInclude") or []),
            "search_rev_include": sorted(str(x) for x in res.get("searchRevInclude") or []),
        }
    security = server.get("security") or {}
    services: set[str] = set()
    for svc in security.get("service") or []:
        for coding in (svc or {}).get("coding") or []:
            if isinstance(coding, dict) and coding.get("code"):
                services.add(str(coding["code"]))
        if isinstance(svc, dict) and svc.get("text"):
            services.add(str(svc["text"]))
    oauth: dict[str, str] = {}
    for ext in security.get("extension") or []:
        if isinstance(ext, dict) and str(ext.get("url", "")).endswith(OAUTH_URIS_SUFFIX):
            for sub in ext.get("extension") or []:
                if isinstance(sub, dict) and sub.get("url"):
                    oauth[str(sub["url"])] = str(sub.get("valueUri") or sub.get("valueUrl") or "")
    software = doc.get("software") or {}
    implementation = doc.get("implementation") or {}
    return {
        "resource_type": doc.get("resourceType"),
        "fhir_version": doc.get("fhirVersion"),
        "fhir_release": release_of(doc.get("fhirVersion"), doc.get("resourceType")),
        "status": doc.get("status"),
        "kind": doc.get("kind"),
        "date": doc.get("date"),
        "publisher": doc.get("publisher"),
        "formats": sorted(str(f) for f in doc.get("format") or []),
        "patch_formats": sorted(str(f) for f in doc.get("patchFormat") or []),
        "software": {"name": software.get("name"), "version": software.get("version")},
        "implementation": {"description": implementation.get("description"), "url": implementation.get("url")},
        "instantiates": sorted(str(i) for i in doc.get("instantiates") or []),
        "implementation_guides": sorted(str(i) for i in doc.get("implementationGuide") or []),
        "rest_modes": sorted(str(r.get("mode")) for r in rest_list if r.get("mode")),
        "resources": dict(sorted(resources.items())),
        "resource_count": len(resources),
        "system_interactions": _codes(server.get("interaction"), "code"),
        "system_operations": _names(server.get("operation")),
        "supported_profiles": sorted(all_profiles),
        "security": {
            "declared": bool(security),
            "services": sorted(services),
            "cors": security.get("cors"),
            "oauth_uris": dict(sorted(oauth.items())),
        },
    }


def validate_r4(doc: dict[str, Any]) -> dict[str, Any]:
    """Validate R4 content structurally; the import is lazy because the models are heavy."""
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement
    from pydantic import ValidationError

    try:
        CapabilityStatement.model_validate(doc)
    except ValidationError as exc:
        errors = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()[:10]
        ]
        return {"valid": False, "error_count": len(exc.errors()), "errors": errors}
    except Exception as exc:  # noqa: BLE001 - a model quirk is a validation note, not a crash
        return {"valid": False, "error_count": 1, "errors": [f"{exc.__class__.__name__}: {exc}"[:300]]}
    return {"valid": True, "error_count": 0, "errors": []}


async def probe_capability(ctx: ProbeContext, recorder: Recorder) -> dict[str, Any]:
    url = ctx.url("metadata")
    last_problem = "no response"
    last = None
    for accept in ACCEPTS:
        resp = await ctx.fetcher.get(url, recorder, headers={"Accept": accept})
        last = resp
        if resp.status != 200:
            last_problem = f"HTTP {resp.status}"
            if resp.status in (404, 401, 403, 500, 502, 503, 504):
                break  # a different Accept will not change these
            continue
        doc, problem = parse_json(resp)
        if problem:
            last_problem = problem
            continue
        if not isinstance(doc, dict) or doc.get("resourceType") not in ("CapabilityStatement", "Conformance"):
            rtype = doc.get("resourceType") if isinstance(doc, dict) else type(doc).__name__
            last_problem = f"the body is a {rtype}, not a CapabilityStatement"
            continue
        facts = summarise(doc)
        facts.update(http_summary(resp))
        facts.update({"found": True, "accept_used": accept, "body_bytes": len(resp.content)})
        if facts["fhir_release"] == "R4" and doc.get("resourceType") == "CapabilityStatement":
            facts["validation"] = validate_r4(doc)
        return facts
    if last is None:
        raise ProbeError(last_problem)
    result = http_summary(last)
    result.update({"found": False, "problem": f"GET [base]/metadata gave no CapabilityStatement: {last_problem}"})
    return result
