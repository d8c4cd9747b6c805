"""Unauthenticated requests that must be refused: patient search and bulk export kick-off.

A 200 with patient data is a critical HIPAA finding. We keep only counts and resource types,
never the data itself. A bulk job accidentally started by our kick-off is cancelled at once.
"""

from __future__ import annotations

from typing import Any

from ..http import FetchError, Recorder, Response
from .base import ProbeContext, http_summary, parse_json


def _body_facts(resp: Response) -> dict[str, Any]:
    """Reduce a response body to non-identifying facts."""
    doc, problem = parse_json(resp)
    if problem or not isinstance(doc, dict):
        return {"body_resource_type": None}
    rtype = doc.get("resourceType")
    facts: dict[str, Any] = {"body_resource_type": rtype}
    if rtype == "Bundle":
        entries = [e for e in doc.get("entry") or [] if isinstance(e, dict)]
        types = sorted({str((e.get("resource") or {}).get("resourceType")) for e in entries if e.get("resource")})
        facts["entry_count"] = len(entries)
        facts["entry_types"] = types
        facts["patient_entries"] = sum(
            1 for e in entries if (e.get("resource") or {}).get("resourceType") == "Patient"
        )
        if isinstance(doc.get("total"), int):
            facts["total"] = doc["total"]
    elif rtype == "OperationOutcome":
        issues = doc.get("issue") or []
        facts["issue_codes"] = sorted({str(i.get("code")) for i in issues if isinstance(i, dict)})
    return facts


async def probe_access(ctx: ProbeContext, recorder: Recorder) -> dict[str, Any]:
    out: dict[str, Any] = {}
    accept = {"Accept": "application/fhir+json"}
    try:
        resp = await ctx.fetcher.get(ctx.url("Patient?_count=1"), recorder, headers=accept)
        search = http_summary(resp)
        search["www_authenticate"] = "www-authenticate" in resp.headers
        search.update(_body_facts(resp))
        search["returned_patient_data"] = resp.status == 200 and search.get("patient_entries", 0) > 0
        out["patient_search"] = search
    except FetchError as exc:
        out["patient_search"] = {"error": str(exc)}

    try:
        headers = {**accept, "Prefer": "respond-async"}
        resp = await ctx.fetcher.get(ctx.url("Patient/$export"), recorder, headers=headers)
        export = http_summary(resp)
        export["www_authenticate"] = "www-authenticate" in resp.headers
        export["content_location"] = "content-location" in resp.headers
        export.update(_body_facts(resp))
        export["started_without_auth"] = resp.status == 202
        if resp.status == 202 and "content-location" in resp.headers:
            # We must not leave a bulk job running on the vendor's server.
            try:
                cancel = await ctx.fetcher.request(
                    "DELETE", resp.headers["content-location"], recorder, follow_redirects=False
                )
                export["cancel_status"] = cancel.status
            except FetchError as exc:
                export["cancel_status"] = None
                export["cancel_error"] = str(exc)
        out["bulk_export"] = export
    except FetchError as exc:
        out["bulk_export"] = {"error": str(exc)}

    if all("error" in v for v in out.values()):
        raise FetchError("unreachable", out["patient_search"]["error"])
    return out
