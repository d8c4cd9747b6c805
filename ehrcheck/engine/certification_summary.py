"""The report's certification section: what CHPL lists and what the service-base-URL Bundle holds.

Pure: built from the evidence and the findings, so `score` re-creates it offline. The findings
judge; this only lays out the facts a practice manager wants beside them (the listing's status,
its criteria, the contradictions with the claims, the endpoint list's shape).
"""

from __future__ import annotations

from typing import Any

from ehrcheck.engine.evaluate import NOT_OBSERVED_HINTS
from ehrcheck.models import CertificationSummary, Evidence, Finding, Status

LISTING_FIELDS = (
    "chpl_product_number",
    "found",
    "reason",
    "developer",
    "product",
    "version",
    "status",
    "status_since",
    "edition",
    "cures_update",
    "certification_date",
    "decertification_date",
    "open_nonconformities",
    "api_documentation_url",
    "export_documentation_url",
    "service_base_url_list",
    "rwt_plans_url",
    "rwt_results_url",
    "mandatory_disclosures_url",
    "record",
)
BUNDLE_RULES = ("CRT-200", "CRT-201", "CRT-202", "CRT-203", "CRT-204", "CRT-205", "CRT-206")


def _sentence(hint: str) -> str:
    return hint[:1].upper() + hint[1:] + "."


def _how_chpl(evidence: Evidence) -> str:
    attempt = evidence.probes.get("chpl")
    if attempt is None:
        return _sentence(NOT_OBSERVED_HINTS["chpl"])
    if attempt.status.value != "completed":
        return f"CHPL could not be consulted: {attempt.reason}."
    data = attempt.data
    if data.get("source") == "file":
        return f"Read from the CHPL file {data.get('file')} (not checked against the live CHPL)."
    return f"Looked up on the CHPL API ({data.get('api')})."


def _endpoints(evidence: Evidence) -> tuple[dict[str, Any] | None, str]:
    attempt = evidence.probes.get("endpoints")
    if attempt is None:
        return None, _sentence(NOT_OBSERVED_HINTS["endpoints"])
    if attempt.status.value != "completed":
        return None, f"No service-base-URL Bundle was checked: {attempt.reason}."
    d = attempt.data
    contained = (d.get("contained_organizations") or {}).get("organizations", 0)
    sample = d.get("sample") or {}
    return {
        "source": d.get("url") or d.get("file"),
        "http_status": d.get("http_status"),
        "problem": d.get("problem"),
        "endpoints": (d.get("endpoints") or {}).get("count"),
        "addresses": (d.get("endpoints") or {}).get("unique_addresses"),
        "organizations": (d.get("organizations") or {}).get("count"),
        "contained_organizations": contained,
        "target_listed": (d.get("target") or {}).get("listed"),
        "sampled": sample.get("checked", 0),
        "sample_ok": sample.get("ok", 0),
        "issue_count": d.get("issue_count", 0),
        "issues": list(d.get("issues") or [])[:6],
    }, ""


def _cms_id(record: Any) -> dict[str, Any] | None:
    if not isinstance(record, dict):
        return None
    return {k: record.get(k) for k in ("id", "valid", "reason", "products")}


def certification_summary(evidence: Evidence, findings: list[Finding]) -> CertificationSummary:
    chpl = evidence.probes.get("chpl")
    data = chpl.data if chpl is not None and chpl.status.value == "completed" else {}
    listings = []
    for x in data.get("listings") or []:
        row = {k: x.get(k) for k in LISTING_FIELDS}  # every key, so templates never meet a hole
        row["found"] = x.get("found", True)
        removed = set(x.get("criteria_removed") or [])  # still on the listing, but ONC removed them: they count for nothing
        row["criteria"] = [n + (" (removed by ONC)" if n in removed else "") for n in x.get("criteria_met") or []]
        listings.append(row)
    by_id = {f.rule_id: f for f in findings}
    contra = by_id.get("CRT-207")
    contradictions = (
        [str(c) for c in contra.observed] if contra and contra.status == Status.fail and isinstance(contra.observed, list) else []
    )
    endpoints, note = _endpoints(evidence)
    return CertificationSummary(
        chpl=_how_chpl(evidence),
        listings=listings,
        certification_id=_cms_id(data.get("certification_id")),
        contradictions=contradictions,
        claims_compared=bool(contra and contra.status in (Status.passed, Status.fail)),
        endpoints=endpoints,
        endpoints_note=note,
        bundle_findings=[
            {"rule_id": r, "title": by_id[r].title, "status": by_id[r].status.value, "message": by_id[r].message}
            for r in BUNDLE_RULES
            if r in by_id and endpoints is not None
        ],
    )
