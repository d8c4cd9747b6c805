"""CHPL listing documents -> the facts ehrcheck keeps as evidence. Pure: no I/O here.

CHPL answers in two shapes, and both are read:

- a listing's details (`GET /certified_products/{number}/details`, CertifiedProductSearchDetails):
  `certificationResults[]` with `criterion{id,number,title}`, `success`, `apiDocumentation`,
  `exportDocumentation`, `serviceBaseUrlList`; status in `currentStatus` / `certificationEvents`;
  dates in milliseconds since the epoch; `countOpenNonconformities`;
- a search result row (`GET /search/v3`, ListingSearchResult): `criteriaMet[]`,
  `apiDocumentation[]{criterion,value}`, `serviceBaseUrlList{criterion,value}`,
  `certificationStatus{name}`, ISO dates, open surveillance and direct-review non-conformity counts.

A search row does not carry the (b)(10) export documentation link, so a listing read from one has
no `export_documentation_url` key at all (not observed), rather than a None (not published).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

G10 = "170.315 (g)(10)"
B10 = "170.315 (b)(10)"
B11 = "170.315 (b)(11)"
MAX_STANDARDS = 40  # standard names kept per (g)(10) result: hostile files cannot bloat the evidence
_CRITERION = re.compile(r"^\s*(170\.3\d\d)\s*(\(.*)$", re.ASCII)


def criterion_number(text: Any) -> str | None:
    """'170.315(g)(10)' / '170.315 (g)(10)' -> '170.315 (g)(10)', CHPL's own spelling."""
    if not isinstance(text, str):
        return None
    m = _CRITERION.match(text.replace(" ", "").replace("(", " (", 1))
    if not m:
        return None
    return f"{m.group(1)} {m.group(2).replace(' ', '')}"


def _name(value: Any, *keys: str) -> str | None:
    """The first string found at value[key] for `keys` (CHPL nests names one level down)."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        for key in keys:
            if isinstance(value.get(key), str) and value[key]:
                return value[key]
    return None


def _items(value: Any) -> list[Any]:
    """A JSON array as a list; anything else (a hand-edited file) as no items."""
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    """A non-empty string, stripped; anything else is None (a link or name that is not text)."""
    return (value.strip() or None) if isinstance(value, str) else None


def _day(value: Any) -> str | None:
    """CHPL dates: milliseconds since the epoch (details) or 'YYYY-MM-DD' (search rows)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        try:
            return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC).date().isoformat()
        except (OverflowError, OSError, ValueError):  # NaN, or a date beyond year 9999
            return None
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10]).isoformat()
        except ValueError:
            return None
    return None


def _status(doc: dict[str, Any]) -> tuple[str | None, str | None]:
    """(current certification status, the day it took effect)."""
    current = doc.get("currentStatus")
    if isinstance(current, dict) and _name(current.get("status"), "name"):
        return _name(current.get("status"), "name"), _day(current.get("eventDate"))
    events = [e for e in _items(doc.get("certificationEvents")) if isinstance(e, dict)]
    if events:
        latest = max(events, key=_event_order)
        return _name(latest.get("status"), "name") or _name(latest, "status"), _day(latest.get("eventDate"))
    if _name(doc.get("certificationStatus"), "name"):
        status = _name(doc.get("certificationStatus"), "name")
        events = [e for e in _items(doc.get("statusEvents")) if isinstance(e, dict)]
        starts = [_day(e.get("statusStart")) for e in events if _name(e.get("status"), "name") == status]
        return status, max((s for s in starts if s), default=None)
    return None, None


def _event_order(event: dict[str, Any]) -> tuple[str, float]:
    """Sort key for status events: the day, then the instant (dates of either form compare)."""
    when = event.get("eventDate")
    instant = when if isinstance(when, int | float) and not isinstance(when, bool) and not math.isnan(when) else 0
    return _day(when) or "", instant


def _criterion_of(raw: Any, criteria: dict[int, dict[str, Any]]) -> dict[str, Any] | None:
    """A criterion object (or bare id) -> {number, title, removed}, resolving ids through the
    `/data/certification-criteria` map when the number is missing."""
    if _int(raw) is not None and raw in criteria:
        raw = criteria[raw]
    if not isinstance(raw, dict):
        return None
    known = criteria.get(raw["id"]) if _int(raw.get("id")) is not None else None
    number = criterion_number(raw.get("number")) or criterion_number((known or {}).get("number"))
    if number is None:
        return None
    title = raw.get("title") or (known or {}).get("title") or ""
    removed = bool(raw.get("removed") if "removed" in raw else (known or {}).get("removed"))
    return {"number": number, "title": str(title), "removed": removed}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def normalise_listing(doc: dict[str, Any], criteria: dict[int, dict[str, Any]] | None = None) -> dict[str, Any]:
    """One CHPL listing (details or search row) -> evidence facts; see docs/certification.md."""
    criteria = criteria or {}
    status, status_since = _status(doc)
    details = "certificationResults" in doc
    met: dict[str, dict[str, Any]] = {}
    api_docs: list[dict[str, str]] = []
    service_base_url_list: str | None = None
    export_doc: str | None = None
    risk_summary: str | None = None
    g10_standards: list[str] | None = None
    if details:
        for result in _items(doc.get("certificationResults")):
            if not isinstance(result, dict) or result.get("success") is not True:
                continue
            crit = _criterion_of(result.get("criterion") or result.get("number"), criteria)
            if crit is None:
                number = criterion_number(result.get("number"))
                crit = {"number": number, "title": str(result.get("title") or ""), "removed": False} if number else None
            if crit is None:
                continue
            met[crit["number"]] = crit
            if isinstance(result.get("apiDocumentation"), str) and result["apiDocumentation"].strip():
                api_docs.append({"criterion": crit["number"], "url": result["apiDocumentation"].strip()})
            if crit["number"] == G10 and isinstance(result.get("serviceBaseUrlList"), str):
                service_base_url_list = result["serviceBaseUrlList"].strip() or None
            if crit["number"] == B10 and isinstance(result.get("exportDocumentation"), str):
                export_doc = result["exportDocumentation"].strip() or None
            if crit["number"] == B11:
                risk_summary = _text(result.get("riskManagementSummaryInformation"))
            if crit["number"] == G10 and ("standards" in result or "svaps" in result):
                g10_standards = _standard_names(result)
    else:
        for raw in _items(doc.get("criteriaMet")):
            crit = _criterion_of(raw, criteria)
            if crit:
                met[crit["number"]] = crit
        for item in _items(doc.get("apiDocumentation")):
            if isinstance(item, dict) and isinstance(item.get("value"), str) and item["value"].strip():
                crit = _criterion_of(item.get("criterion"), criteria)
                api_docs.append({"criterion": crit["number"] if crit else "", "url": item["value"].strip()})
        sbul = doc.get("serviceBaseUrlList")
        service_base_url_list = (_name(sbul, "value") or "").strip() or None
    api_docs.sort(key=lambda d: (d["criterion"] != G10, d["criterion"], d["url"]))

    open_surv = _int(doc.get("openSurveillanceNonConformityCount"))
    if open_surv is None:
        open_surv = _int(doc.get("countOpenNonconformities"))
    open_dr = _int(doc.get("openDirectReviewNonConformityCount"))
    counts = [c for c in (open_surv, open_dr) if c is not None]

    listing: dict[str, Any] = {
        "found": True,
        "record": "details" if details else "search",
        "chpl_product_number": _text(doc.get("chplProductNumber")),
        "chpl_id": _int(doc.get("id")),
        "developer": _name(doc.get("developer"), "name"),
        "product": _name(doc.get("product"), "name"),
        "version": _name(doc.get("version"), "version", "name"),
        "certification_body": _name(doc.get("certificationBody") or doc.get("certifyingBody"), "name"),
        "status": status,
        "status_since": status_since,
        "edition": _name(doc.get("edition") or doc.get("certificationEdition"), "name"),
        "cures_update": doc.get("curesUpdate") if isinstance(doc.get("curesUpdate"), bool) else None,
        "certification_date": _day(doc.get("certificationDate")),
        "decertification_date": _day(doc.get("decertificationDate") or doc.get("decertificationDay")),
        "criteria_met": sorted(met, key=_criterion_sort_key),
        "criteria_removed": sorted((n for n, c in met.items() if c["removed"]), key=_criterion_sort_key),
        "api_documentation": api_docs,
        "api_documentation_url": api_docs[0]["url"] if api_docs else None,
        "service_base_url_list": service_base_url_list,
        "rwt_plans_url": _text(doc.get("rwtPlansUrl")),
        "rwt_results_url": _text(doc.get("rwtResultsUrl")),
        "mandatory_disclosures_url": _text(doc.get("mandatoryDisclosures")) or _text(doc.get("transparencyAttestationUrl")),
        "svap_notice_url": _text(doc.get("svapNoticeUrl")),
        "open_surveillance_nonconformities": open_surv,
        "open_direct_review_nonconformities": open_dr,
        "open_nonconformities": sum(counts) if counts else None,
        "previous_chpl_product_numbers": [n for n in _items(doc.get("previousChplProductNumbers")) if isinstance(n, str)],
    }
    if details:
        listing["export_documentation_url"] = export_doc
        listing["risk_management_summary_url"] = risk_summary
        if g10_standards is not None:  # absent: the record names no standards (not observed)
            listing["g10_standards"] = g10_standards
    return listing


def _standard_names(result: dict[str, Any]) -> list[str]:
    """The standard versions a certification result names, as text: `standards[]` (each a
    `standard{value, regulatoryTextCitation}` or those keys directly) and SVAP updates `svaps[]`
    (`regulatoryTextCitation`, `approvedStandardVersion`). These two arrays are not among the
    fields of CHPL's listing details that docs/certification.md documents: they are read when a
    record carries them, and their absence is recorded as nothing observed."""
    names: list[str] = []
    for item in _items(result.get("standards")):
        inner = item.get("standard") if isinstance(item, dict) and isinstance(item.get("standard"), dict) else item
        if isinstance(inner, dict):
            names.append(" ".join(t for k in ("regulatoryTextCitation", "value") if (t := _text(inner.get(k)))))
    for item in _items(result.get("svaps")):
        if isinstance(item, dict):
            keys = ("regulatoryTextCitation", "approvedStandardVersion")
            names.append(" ".join(t for k in keys if (t := _text(item.get(k)))))
    return [n[:200] for n in names if n][:MAX_STANDARDS]


def _criterion_sort_key(number: str) -> tuple[Any, ...]:
    """'170.315 (a)(2)' before '170.315 (a)(10)': letters, then numbers as numbers."""
    parts = re.findall(r"\d+|[a-z]+", number.lower())
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)


def criteria_index(doc: Any) -> dict[int, dict[str, Any]]:
    """`/data/certification-criteria` ({"criteria": [...]}) -> {id: criterion}."""
    items = doc.get("criteria") if isinstance(doc, dict) else doc
    # An id of true or false is not criterion 1 or 0 (bool is an int to Python, not to JSON).
    return {c["id"]: c for c in _items(items) if isinstance(c, dict) and _int(c.get("id")) is not None}


def listing_documents(doc: Any) -> list[dict[str, Any]] | None:
    """The listings a CHPL JSON document holds: one listing's details, a search page
    (`{"results": [...]}`) or a list of either. None when it is none of those."""
    if isinstance(doc, dict) and isinstance(doc.get("chplProductNumber"), str):
        return [doc]
    if isinstance(doc, dict) and isinstance(doc.get("results"), list):
        doc = doc["results"]
    if isinstance(doc, list):
        found: list[dict[str, Any]] = []
        for item in doc:
            inner = listing_documents(item)
            if inner is None:
                return None
            found.extend(inner)
        return found
    return None


def listing_problem(doc: Any) -> str | None:
    """Where and why a CHPL JSON document read from a file cannot be used, or None. Each listing
    needs its product number, a certification status and its criteria: without them the rules
    would report a listing that is not Active, or certified to nothing, when the file is simply
    incomplete. Located like `results[3]: listing N has no certification status ...`; a document
    of the wrong shape is reported before any listing's missing fields."""
    listings: list[tuple[dict[str, Any], str]] = []
    stack: list[tuple[Any, str]] = [(doc, "")]
    while stack:
        item, where = stack.pop(0)
        at = f"{where}: " if where else ""
        if isinstance(item, dict) and "chplProductNumber" in item:
            if not isinstance(item["chplProductNumber"], str) or not item["chplProductNumber"].strip():
                return f"{at}chplProductNumber is not a CHPL product number string"
            listings.append((item, at))
        elif isinstance(item, dict) and isinstance(item.get("results"), list):
            stack.extend((x, f"{where}results[{i}]") for i, x in enumerate(item["results"]))
        elif isinstance(item, list):
            stack.extend((x, f"{where}[{i}]") for i, x in enumerate(item))
        elif isinstance(item, dict):
            return f"{at}an object with neither chplProductNumber nor results[]"
        else:
            return f"{at}{_kind(item)}, not a listing"
    for item, at in listings:
        number = item["chplProductNumber"]
        if _status(item)[0] is None:
            return f"{at}listing {number} has no certification status (currentStatus, certificationEvents or certificationStatus)"
        if not isinstance(item.get("certificationResults"), list) and not isinstance(item.get("criteriaMet"), list):
            return f"{at}listing {number} has no criteria (certificationResults or criteriaMet)"
    return None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true or false"}.get(
        type(value), "null" if value is None else "a number"
    )


def matches(doc: dict[str, Any], number: str) -> bool:
    """Does this CHPL document describe `number` (its current or a previous product number)?"""
    wanted = number.strip().upper()
    if str(doc.get("chplProductNumber", "")).strip().upper() == wanted:
        return True
    return any(p.upper() == wanted for p in _items(doc.get("previousChplProductNumbers")) if isinstance(p, str))
