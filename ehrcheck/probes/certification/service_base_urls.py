"""Assess a published service-base-URL Bundle (45 CFR 170.404(b)(2)). Pure: no I/O here.

HTI-1 requires a certified API developer to publish, free, every customer's FHIR service base URL
as an `Endpoint`, and per organisation an `Organization` with its name, location (address) and
facility identifier whose `Organization.endpoint` references those Endpoints, all in one FHIR R4
`Bundle`. The checks follow what ONC's Inferno Service Base URL test kit asserts:

- the Bundle is a `collection` (no `total`), and not empty;
- each Endpoint has `status`, `connectionType` and an http(s) `address`, and at least one
  Organization in the Bundle references it;
- each Organization has a `name` and an `address`, and either `endpoint` references that resolve
  to Endpoints in the Bundle or a `partOf` parent (in the Bundle) that has them;
- plus the regulation's facility identifier (`Organization.identifier`).

Directories published before HTI-1 (Epic's 2021 list, for one) instead put a name-only
Organization *inside* each Endpoint (`contained`, pointed to by `managingOrganization`). Those are
counted and reported as what they are, not mistaken for the Organizations the rule requires.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ehrcheck.http.redact import shown_url

MAX_ISSUES = 20
EXAMPLES_PER_KIND = 3  # 265 copies of one problem say less than three examples and a count


class _Issues:
    """Problems grouped by kind: a few examples of each, and how many there were."""

    def __init__(self) -> None:
        self.by_kind: dict[str, list[str]] = {}

    def add(self, kind: str, message: str) -> None:
        self.by_kind.setdefault(kind, []).append(message)

    def count(self) -> int:
        return sum(len(v) for v in self.by_kind.values())

    def summary(self) -> list[str]:
        out: list[str] = []
        for messages in self.by_kind.values():
            out.extend(messages[:EXAMPLES_PER_KIND])
            if len(messages) > EXAMPLES_PER_KIND:
                out.append(f"… and {len(messages) - EXAMPLES_PER_KIND} more like that")
        return out[:MAX_ISSUES]


def normalise_address(url: str) -> str:
    """Compare base URLs as servers do: scheme and host case-insensitive, no trailing slash or
    `/metadata`."""
    url = url.strip()
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if path.endswith("/metadata"):
        path = path[: -len("/metadata")]
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}"


def _is_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value.strip())
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _items(value: Any) -> list[Any]:
    """A JSON array as a list; anything else (a vendor's malformed Bundle) as no items."""
    return value if isinstance(value, list) else []


def _keys(entry: dict[str, Any], resource: dict[str, Any]) -> set[str]:
    """Every way a reference may name this entry: fullUrl, Type/id, or a URL ending in Type/id."""
    keys = set()
    if isinstance(entry.get("fullUrl"), str):
        keys.add(entry["fullUrl"])
    if isinstance(resource.get("id"), str) and resource.get("resourceType"):
        keys.add(f"{resource['resourceType']}/{resource['id']}")
    return keys


def _resolve(reference: Any, index: dict[str, int]) -> int | None:
    if not isinstance(reference, dict) or not isinstance(reference.get("reference"), str):
        return None
    ref = reference["reference"].split("/_history/")[0]
    if ref in index:
        return index[ref]
    parts = ref.rstrip("/").split("/")
    if len(parts) >= 2 and f"{parts[-2]}/{parts[-1]}" in index:  # absolute URL ending in Type/id
        return index[f"{parts[-2]}/{parts[-1]}"]
    return None


def _has(value: Any) -> bool:
    return value not in (None, "", [], {})


def assess_bundle(doc: Any, target_base_url: str | None = None) -> dict[str, Any]:
    """Facts about one service-base-URL Bundle; see docs/certification.md for every key."""
    issues = _Issues()
    facts: dict[str, Any] = {"valid_bundle": False}
    if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle":
        rtype = doc.get("resourceType") if isinstance(doc, dict) else type(doc).__name__
        facts["problem"] = f"not a FHIR Bundle (resourceType {rtype!r})"
        return facts
    entries = [e for e in _items(doc.get("entry")) if isinstance(e, dict)]
    resources = [e.get("resource") if isinstance(e.get("resource"), dict) else None for e in entries]
    types = [r.get("resourceType") if r else None for r in resources]
    facts["bundle"] = {
        "type": doc.get("type"),
        "total_present": "total" in doc,
        "entries": len(entries),
        "entries_without_resource": sum(1 for r in resources if r is None),
        "other_resource_types": sorted({str(t) for t in types if t not in ("Endpoint", "Organization", None)}),
    }
    if doc.get("type") != "collection":
        issues.add("bundle_type", f"the Bundle type is {doc.get('type')!r}, not 'collection'")
    if "total" in doc:
        issues.add("bundle_total", "a collection Bundle must not carry 'total'")
    if not entries:
        issues.add("bundle_empty", "the Bundle has no entries")
    facts["valid_bundle"] = doc.get("type") == "collection" and bool(entries)

    index: dict[str, int] = {}
    for i, (entry, res) in enumerate(zip(entries, resources, strict=True)):
        if res:
            for key in _keys(entry, res):
                index.setdefault(key, i)
    endpoint_ix = [i for i, t in enumerate(types) if t == "Endpoint"]
    org_ix = [i for i, t in enumerate(types) if t == "Organization"]

    def label(i: int) -> str:
        res = resources[i] or {}
        return f"{res.get('resourceType')} {res.get('id') or entries[i].get('fullUrl') or '#' + str(i)}"

    # Organizations and what they reference.
    referenced: set[int] = set()
    orgs = {
        "count": len(org_ix),
        "missing_name": 0,
        "missing_address": 0,
        "missing_identifier": 0,
        "missing_active": 0,
        "without_endpoints": 0,
        "unresolved_endpoint_refs": 0,
        "unresolved_part_of": 0,
    }
    org_endpoints: dict[int, list[int]] = {}
    for i in org_ix:
        res = resources[i] or {}
        targets = []
        for ref in _items(res.get("endpoint")):
            j = _resolve(ref, index)
            if j is None or types[j] != "Endpoint":
                orgs["unresolved_endpoint_refs"] += 1
                shown = ref.get("reference") if isinstance(ref, dict) else ref
                issues.add("org_endpoint_unresolved", f"{label(i)} references an Endpoint not in the Bundle ({shown})")
            else:
                targets.append(j)
        org_endpoints[i] = targets
        referenced.update(targets)
        for key, field in (("missing_name", "name"), ("missing_address", "address"), ("missing_identifier", "identifier")):
            if not _has(res.get(field)):
                orgs[key] += 1
                issues.add(f"org_missing_{field}", f"{label(i)} has no {field}")
        if "active" not in res:
            orgs["missing_active"] += 1
    for i in org_ix:
        res = resources[i] or {}
        if org_endpoints[i]:
            continue
        parent = _resolve(res.get("partOf"), index) if res.get("partOf") else None
        if res.get("partOf") and (parent is None or types[parent] != "Organization"):
            orgs["unresolved_part_of"] += 1
            issues.add("org_part_of", f"{label(i)} is partOf an Organization not in the Bundle")
        elif parent is None or not org_endpoints.get(parent):
            orgs["without_endpoints"] += 1
            issues.add("org_no_endpoint", f"{label(i)} has no endpoint references and no partOf parent that has them")

    # Endpoints, and Organizations contained in them (the pre-HTI-1 layout).
    eps = {
        "count": len(endpoint_ix),
        "missing_status": 0,
        "missing_connection_type": 0,
        "missing_address": 0,
        "address_not_url": 0,
        "not_referenced": 0,
        "unique_addresses": 0,
    }
    contained = {
        "endpoints_with_contained_organization": 0,
        "organizations": 0,
        "with_address": 0,
        "with_identifier": 0,
        "references_without_hash": 0,
    }
    addresses: list[str] = []
    for i in endpoint_ix:
        res = resources[i] or {}
        if not _has(res.get("status")):
            eps["missing_status"] += 1
            issues.add("ep_status", f"{label(i)} has no status")
        if not _has(res.get("connectionType")):
            eps["missing_connection_type"] += 1
            issues.add("ep_connection_type", f"{label(i)} has no connectionType")
        address = res.get("address")
        if not _has(address):
            eps["missing_address"] += 1
            issues.add("ep_address", f"{label(i)} has no address")
        elif not _is_url(address):
            eps["address_not_url"] += 1
            issues.add("ep_address_url", f"{label(i)} address is not an http(s) URL: {str(address)[:80]}")
        else:
            addresses.append(str(address).strip())
        if i not in referenced:
            eps["not_referenced"] += 1
            issues.add("ep_not_referenced", f"{label(i)} is not referenced by any Organization in the Bundle")
        inner = [c for c in _items(res.get("contained")) if isinstance(c, dict) and c.get("resourceType") == "Organization"]
        if inner:
            contained["endpoints_with_contained_organization"] += 1
            contained["organizations"] += len(inner)
            contained["with_address"] += sum(1 for c in inner if _has(c.get("address")))
            contained["with_identifier"] += sum(1 for c in inner if _has(c.get("identifier")))
            managing = res.get("managingOrganization")
            ref = managing.get("reference") if isinstance(managing, dict) else None
            if isinstance(ref, str) and not ref.startswith("#") and any(c.get("id") == ref for c in inner):
                contained["references_without_hash"] += 1
    unique = {normalise_address(a): a for a in addresses}
    eps["unique_addresses"] = len(unique)
    facts["endpoints"] = eps
    facts["organizations"] = orgs
    if contained["organizations"]:
        facts["contained_organizations"] = contained
        issues.add(
            "contained",
            f"{contained['organizations']} Organizations are contained inside Endpoints (managingOrganization) "
            "instead of being Bundle entries that reference their Endpoints",
        )
    facts["addresses"] = [shown_url(a) for a in unique.values()]  # in Bundle order, first spelling of each
    facts["issue_count"] = issues.count()
    facts["issues"] = issues.summary()
    if target_base_url:
        wanted = normalise_address(target_base_url)
        hit = unique.get(wanted)
        if hit is None:  # paths are case-sensitive in principle; say so when only case differs
            loose = {k.lower(): v for k, v in unique.items()}
            facts["target"] = {"listed": False, "listed_ignoring_case": wanted.lower() in loose}
        else:
            facts["target"] = {"listed": True, "address": shown_url(hit)}
    return facts
