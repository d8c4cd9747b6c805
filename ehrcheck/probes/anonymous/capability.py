"""`GET [base]/metadata`: what the server says it can do.

Facts are read from the raw JSON so that DSTU2, STU3 and R5 statements are recorded too; R4
(4.0.1) content is additionally validated as fhir.resources' R4B models (which serve R4) would,
through the models themselves unless `capability_shape` can certify it without them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ehrcheck.evidence.anonymous import OAUTH_URIS_SUFFIX
from ehrcheck.files.limits import json_counts
from ehrcheck.http.client import FetchError, Recorder, Response
from ehrcheck.probes.anonymous.capability_shape import certainly_valid
from ehrcheck.probes.anonymous.cors import cors_facts
from ehrcheck.probes.base import ProbeContext, ProbeError, http_summary, parse_json, server_failure, status_problem

ACCEPTS = ("application/fhir+json", "application/json+fhir", "application/json")


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


def _list(value: Any) -> list[Any]:
    """A hostile or sloppy document may put anything anywhere: only a JSON array is a list."""
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any, limit: int = 500) -> str | None:
    """A scalar field as text (numbers and booleans too); objects and arrays where a string
    belongs are dropped rather than carried into evidence and reports."""
    if isinstance(value, bool | int | float):
        return str(value)
    return value[:limit] if isinstance(value, str) else None


def _texts(value: Any) -> list[str]:
    """`_text` of each item, without the empty ones, sorted and once each. Written out, not as
    `_text` per item: sekmet's statement has ~10,000 searchInclude/searchRevInclude strings."""
    found: set[str] = set()
    for v in _list(value):
        if isinstance(v, str):
            if v:
                found.add(v[:500])
        elif isinstance(v, bool | int | float):
            found.add(str(v))
    return sorted(found)


def _codes(items: Any, key: str) -> list[str]:
    return sorted({t for i in _list(items) if isinstance(i, dict) and (t := _text(i.get(key)))})


def _names(items: Any) -> list[str]:
    return _codes(items, "name")


def _operation_decls(operations: Any) -> list[Any]:
    """Each declared operation's name and definition as sent (anything else it carries dropped),
    so the typed reading can say what type a name or definition had."""
    return [{k: op[k] for k in ("name", "definition") if k in op} if isinstance(op, dict) else op for op in _list(operations)]


def summarise(doc: dict[str, Any]) -> dict[str, Any]:
    """Extract every fact the rules use from a CapabilityStatement/Conformance."""
    rest_list = [r for r in _list(doc.get("rest")) if isinstance(r, dict)]
    server = next((r for r in rest_list if r.get("mode") == "server"), rest_list[0] if rest_list else {})
    resources: dict[str, Any] = {}
    all_profiles: set[str] = set()
    for res in _list(server.get("resource")):
        rtype = _text(res.get("type")) if isinstance(res, dict) else None
        if not rtype:
            continue
        supported = _texts(res.get("supportedProfile"))
        base_profile = res.get("profile")
        if isinstance(base_profile, dict):  # DSTU2: profile is a Reference
            base_profile = base_profile.get("reference")
        if _text(base_profile):
            supported.append(str(_text(base_profile)))
        all_profiles.update(supported)
        resources[rtype] = {
            "interactions": _codes(res.get("interaction"), "code"),
            "search_params": _names(res.get("searchParam")),
            "operations": _names(res.get("operation")),
            "supported_profiles": sorted(set(supported)),
            "search_include": _texts(res.get("searchInclude")),
            "search_rev_include": _texts(res.get("searchRevInclude")),
        }
    by_type = {_text(r.get("type")): r for r in _list(server.get("resource")) if isinstance(r, dict)}
    bulk_operations = {
        "Group": _operation_decls(_dict(by_type.get("Group")).get("operation")),
        "Patient": _operation_decls(_dict(by_type.get("Patient")).get("operation")),
        "system": _operation_decls(server.get("operation")),
    }
    security = _dict(server.get("security"))
    services: set[str] = set()
    for svc in _list(security.get("service")):
        if not isinstance(svc, dict):
            continue
        services.update(_codes(svc.get("coding"), "code"))
        if _text(svc.get("text")):
            services.add(str(_text(svc.get("text"))))
    oauth: dict[str, str] = {}
    for ext in _list(security.get("extension")):
        if isinstance(ext, dict) and str(_text(ext.get("url")) or "").endswith(OAUTH_URIS_SUFFIX):
            for sub in _list(ext.get("extension")):
                if isinstance(sub, dict) and _text(sub.get("url")):
                    oauth[str(_text(sub["url"]))] = _text(sub.get("valueUri")) or _text(sub.get("valueUrl")) or ""
    software = _dict(doc.get("software"))
    implementation = _dict(doc.get("implementation"))
    cors = security.get("cors")
    return {
        "resource_type": _text(doc.get("resourceType")),
        "fhir_version": _text(doc.get("fhirVersion")),
        "fhir_release": release_of(_text(doc.get("fhirVersion")), _text(doc.get("resourceType"))),
        "status": _text(doc.get("status")),
        "kind": _text(doc.get("kind")),
        "date": _text(doc.get("date")),
        "publisher": _text(doc.get("publisher")),
        "formats": _texts(doc.get("format")),
        "patch_formats": _texts(doc.get("patchFormat")),
        "software": {"name": _text(software.get("name")), "version": _text(software.get("version"))},
        "implementation": {"description": _text(implementation.get("description")), "url": _text(implementation.get("url"))},
        "instantiates": _texts(doc.get("instantiates")),
        "implementation_guides": _texts(doc.get("implementationGuide")),
        "rest_modes": sorted({m for r in rest_list if (m := _text(r.get("mode")))}),
        "resources": dict(sorted(resources.items())),
        "resource_count": len(resources),
        "system_interactions": _codes(server.get("interaction"), "code"),
        "system_operations": _names(server.get("operation")),
        "supported_profiles": sorted(all_profiles),
        "security": {
            "declared": bool(security),
            "services": sorted(services),
            "cors": cors if isinstance(cors, bool) else None,
            "oauth_uris": dict(sorted(oauth.items())),
            "element": server.get("security"),
        },
        "bulk_operations": bulk_operations,
    }


def validate_r4(doc: dict[str, Any]) -> dict[str, Any]:
    """Validate R4 content structurally. A statement made only of plainly written common elements
    is certified without the model (`capability_shape`: the same answer, ~0.1 s of CPU less); any
    other goes through fhir.resources' R4B model, whose messages the evidence records."""
    if certainly_valid(doc):
        return {"valid": True, "error_count": 0, "errors": []}
    return model_validation(doc)


def model_validation(doc: dict[str, Any]) -> dict[str, Any]:
    """Validate with fhir.resources' R4B model; the import is lazy because the models are heavy."""
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement
    from pydantic import ValidationError

    try:
        CapabilityStatement.model_validate(doc)
    except ValidationError as exc:
        errors = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()[:10]]
        return {"valid": False, "error_count": len(exc.errors()), "errors": errors}
    except Exception as exc:  # noqa: BLE001 - a model quirk is a validation note, not a crash
        return {"valid": False, "error_count": 1, "errors": [f"{exc.__class__.__name__}: {exc}"[:300]]}
    return {"valid": True, "error_count": 0, "errors": []}


OFF_LOOP_BYTES = 1024 * 1024


def same_base(url: str | None, base: str) -> bool | None:
    """Whether `implementation.url` names the audited base URL (scheme and host compared without
    case, a trailing slash ignored); None when the statement gives no URL."""
    if not url:
        return None

    def norm(u: str) -> tuple[str, str]:
        scheme, sep, rest = u.strip().partition("://")
        host, slash, path = rest.partition("/")
        return (scheme.lower() + sep + host.lower(), (slash + path).rstrip("/"))

    return norm(url) == norm(base)


# Real statements hold a few thousand objects and arrays (Azure's 2,680, US Core's 2,334); each
# costs kilobytes once summarised and validated: 440,000 tiny entries peaked at 3.3 GB (round 12).
MAX_STATEMENT_CONTAINERS = 20_000


def read_capability(resp: Response) -> tuple[dict[str, Any], str | None]:
    """(facts, None) for a CapabilityStatement, ({}, problem) for anything else."""
    containers, _values = json_counts(resp.content)
    if containers > MAX_STATEMENT_CONTAINERS:
        return (
            {},
            f"the body holds {containers:,} objects and arrays, more than a CapabilityStatement ever does ({MAX_STATEMENT_CONTAINERS:,})",
        )
    doc, problem = parse_json(resp)
    if problem:
        return {}, problem
    if not isinstance(doc, dict) or doc.get("resourceType") not in ("CapabilityStatement", "Conformance"):
        rtype = doc.get("resourceType") if isinstance(doc, dict) else type(doc).__name__
        return {}, f"the body is a {rtype}, not a CapabilityStatement"
    facts = summarise(doc)
    facts.update(http_summary(resp))
    facts.update({"found": True, "body_bytes": len(resp.content)})
    if facts["fhir_release"] == "R4" and doc.get("resourceType") == "CapabilityStatement":
        facts["validation"] = validate_r4(doc)
    return facts, None


async def format_param_facts(ctx: ProbeContext, recorder: Recorder) -> dict[str, Any]:
    """`_format=json` against an XML Accept header: FHIR R4 says the parameter overrides the header.
    Asked only of a server that declares XML, where the two can be told apart."""
    accept = "application/fhir+xml"
    try:
        resp = await ctx.fetcher.get(ctx.url("metadata?_format=json"), recorder, headers={"Accept": accept})
    except FetchError as exc:
        return {"accept": accept, "error": str(exc)}
    doc, problem = parse_json(resp)
    is_statement = not problem and isinstance(doc, dict) and doc.get("resourceType") == "CapabilityStatement"
    return {**http_summary(resp), "accept": accept, "json_statement": is_statement}


async def probe_capability(ctx: ProbeContext, recorder: Recorder) -> dict[str, Any]:
    url = ctx.url("metadata")
    last_problem = "no response"
    last = None
    for accept in ACCEPTS:
        resp = await ctx.fetcher.get(url, recorder, headers={"Accept": accept})
        last = resp
        failure = server_failure(resp, "GET [base]/metadata")
        if failure:
            raise failure  # a broken server shows nothing about its capabilities: not_observed
        if resp.status != 200:
            last_problem = status_problem(resp)
            if resp.status in (404, 401, 403):
                break  # a different Accept will not change these
            continue
        # Parsing and validating a document near the 20 MB cap takes seconds of CPU: in a worker
        # thread, so the other probes' requests (and their deadlines) keep running meanwhile.
        if len(resp.content) > OFF_LOOP_BYTES:
            facts, problem = await asyncio.to_thread(read_capability, resp)
        else:
            facts, problem = read_capability(resp)
        if problem:
            last_problem = problem
            continue
        facts.update({"accept_used": accept})
        facts["nosniff"] = resp.headers.get("x-content-type-options", "").strip().lower() == "nosniff"
        facts["implementation_url_is_base"] = same_base(facts["implementation"]["url"], ctx.base_url)
        facts["cors"] = await cors_facts(ctx, url, recorder, accept)
        if any("xml" in f.lower() for f in facts["formats"]):
            facts["format_param"] = await format_param_facts(ctx, recorder)
        return facts
    if last is None:
        raise ProbeError(last_problem)
    result = http_summary(last)
    result.update({"found": False, "problem": f"GET [base]/metadata gave no CapabilityStatement: {last_problem}"})
    return result
