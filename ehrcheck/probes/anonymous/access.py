"""Unauthenticated requests: a patient search and a bulk export kick-off that must be refused, and a
read of an id no server holds (how an unknown resource is answered).

A 200 with patient data is a critical HIPAA finding. We keep only counts, resource types, the
names of the elements present and keyed hashes of the ids, never the data itself (unless the user
asked for it with --include-phi). A bulk job accidentally started by our kick-off is cancelled
at once.
"""

from __future__ import annotations

from typing import Any

import httpx

from ehrcheck.http.client import FetchError, Recorder, Response
from ehrcheck.http.resource_types import UNKNOWN_TYPE, type_shown
from ehrcheck.probes.base import ProbeContext, http_summary, parse_json
from ehrcheck.probes.phi import ScrubbingRecorder

UNKNOWN_ID = "ehrcheck-no-such-resource-7f3a"  # a valid FHIR id (64 characters at most) nobody uses
PHI_SAMPLE = 5  # with --include-phi, at most this many resources are kept verbatim


# What a server's own words become when they are not FHIR's: a resourceType or an element name
# is the server's text, and one answering an anonymous search may carry a patient's name there.
PATIENT_ELEMENTS = frozenset(
    {
        "id", "meta", "implicitRules", "language", "text", "contained", "extension", "modifierExtension",
        "identifier", "active", "name", "telecom", "gender", "birthDate", "deceasedBoolean", "deceasedDateTime",
        "address", "maritalStatus", "multipleBirthBoolean", "multipleBirthInteger", "photo", "contact",
        "communication", "generalPractitioner", "managingOrganization", "link",
    }
)  # fmt: skip
ISSUE_TYPES = frozenset(
    {
        "invalid",
        "structure",
        "required",
        "value",
        "invariant",
        "security",
        "login",
        "unknown",
        "expired",
        "forbidden",
        "suppressed",
        "processing",
        "not-supported",
        "duplicate",
        "multiple-matches",
        "not-found",
        "deleted",
        "too-long",
        "code-invalid",
        "extension",
        "too-costly",
        "business-rule",
        "conflict",
        "transient",
        "lock-error",
        "no-store",
        "exception",
        "timeout",
        "incomplete",
        "throttled",
        "informational",
    }
)  # fmt: skip  (FHIR R4 IssueType)


def _known(value: Any, words: frozenset[str], other: str) -> str:
    return value if isinstance(value, str) and value in words else other


def _body_facts(resp: Response, ctx: ProbeContext) -> dict[str, Any]:
    """Reduce a response body to non-identifying facts: FHIR's own words only (resource types,
    Patient element names, issue codes); anything else a server wrote there is `[unknown type]`
    or `[other]`."""
    doc, problem = parse_json(resp)
    if problem or not isinstance(doc, dict):
        return {"body_resource_type": None}
    rtype = type_shown(doc.get("resourceType"))
    facts: dict[str, Any] = {"body_resource_type": rtype}
    if rtype == "Bundle":
        entries: list[Any] = doc["entry"] if isinstance(doc.get("entry"), list) else []
        resources = [e["resource"] for e in entries if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
        patients = [r for r in resources if r.get("resourceType") == "Patient"]
        facts["entry_count"] = len([e for e in entries if isinstance(e, dict)])
        facts["entry_types"] = sorted({type_shown(r.get("resourceType")) or UNKNOWN_TYPE for r in resources})
        facts["patient_entries"] = len(patients)
        if isinstance(doc.get("total"), int):
            facts["total"] = doc["total"]
        if patients:
            # Which kinds of data leaked (name? birthDate? address?) without the data itself.
            facts["patient_elements_present"] = sorted(
                {_known(k, PATIENT_ELEMENTS, "[other]") for p in patients for k in p if k not in ("resourceType", "id", "meta")}
            )
            ids = [str(p["id"]) for p in patients if isinstance(p.get("id"), str | int)]
            facts["patient_id_hashes"] = sorted({ctx.hash_id("Patient", i) for i in ids})
            if ctx.include_phi:
                facts["phi"] = {"patient_ids": sorted(set(ids)), "resources": patients[:PHI_SAMPLE]}
    elif rtype == "OperationOutcome":
        issues: list[Any] = doc["issue"] if isinstance(doc.get("issue"), list) else []
        facts["issue_codes"] = sorted({_known(i.get("code"), ISSUE_TYPES, "[other]") for i in issues if isinstance(i, dict)})
    return facts


async def probe_access(ctx: ProbeContext, recorder: Recorder) -> dict[str, Any]:
    # A server may answer the patient search with patient data, or redirect it to a URL carrying
    # names and birth dates: record through the same scrubber as the data probes.
    recorder = ScrubbingRecorder(recorder, ctx.base_url)
    out: dict[str, Any] = {}
    accept = {"Accept": "application/fhir+json"}
    try:
        resp = await ctx.fetcher.get(ctx.url("Patient?_count=1"), recorder, headers=accept)
        search = http_summary(resp)
        search["www_authenticate"] = "www-authenticate" in resp.headers
        search.update(_body_facts(resp, ctx))
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
        export.update(_body_facts(resp, ctx))
        export["started_without_auth"] = resp.status == 202
        if resp.status == 202 and "content-location" in resp.headers:
            # We must not leave a bulk job running on the vendor's server, but neither may a
            # hostile server point our DELETE at some other host (an internal service of the
            # practice's network, say): only a status URL on the audited origin is cancelled.
            kickoff = httpx.URL(ctx.url("Patient/$export"))
            try:
                status_url = kickoff.join(resp.headers["content-location"])
            except httpx.InvalidURL:
                status_url = httpx.URL("invalid:")
            if (status_url.scheme, status_url.host, status_url.port) != (kickoff.scheme, kickoff.host, kickoff.port):
                export["cancel_status"] = None
                export["cancel_error"] = "not cancelled: the job's status URL is on another origin"
            else:
                try:
                    cancel = await ctx.fetcher.request("DELETE", str(status_url), recorder, follow_redirects=False)
                    export["cancel_status"] = cancel.status
                except FetchError as exc:
                    export["cancel_status"] = None
                    export["cancel_error"] = str(exc)
        out["bulk_export"] = export
    except FetchError as exc:
        out["bulk_export"] = {"error": str(exc)}

    if all("error" in v for v in out.values()):
        raise FetchError("unreachable", out["patient_search"]["error"])

    try:  # an id no server holds: FHIR R4 answers a read of an unknown resource with 404
        resp = await ctx.fetcher.get(ctx.url(f"Patient/{UNKNOWN_ID}"), recorder, headers=accept)
        unknown = http_summary(resp)
        unknown["www_authenticate"] = "www-authenticate" in resp.headers
        unknown.update(_body_facts(resp, ctx))
        out["unknown_read"] = unknown
    except FetchError as exc:
        out["unknown_read"] = {"error": str(exc)}
    return out
