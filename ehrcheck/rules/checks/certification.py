"""Checks over CHPL listings and the published service-base-URL Bundle.

See `ehrcheck.rules.checks` for the contract every check follows.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ehrcheck.rules.checks.capability import bulk_export_declared, us_core_version
from ehrcheck.rules.checks.common import (
    NO_CAPABILITY,
    Outcome,
    _cap,
    _date,
    _dotted,
    _get,
    _listing,
    _smart,
    _smart_capabilities,
    _strings,
    check,
)


def _criterion(text: str) -> str:
    """'170.315 (g)(10)' / '170.315(g)(10)' / '(g)(10)' / 'g10' -> '(g)(10)'."""
    t = str(text).replace(" ", "").lower()
    if t.startswith("170.315"):
        t = t[len("170.315") :]
    short = re.fullmatch(r"([a-h])(\d+)", t)
    return f"({short.group(1)})({short.group(2)})" if short else t


def _chpl_listings(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [x for x in _get(view, "chpl", "listings", default=[]) or [] if isinstance(x, dict)]


def _active_listings(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [x for x in _chpl_listings(view) if x.get("found", True) and str(x.get("status", "")).strip().lower() == "active"]


def _listing_state(x: dict[str, Any]) -> str:
    return str(x.get("status")) if x.get("found", True) else "not found on CHPL"


@check
def chpl_listing_active(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """At least one CHPL listing of the product has the certification status 'Active'."""
    listings = _chpl_listings(view)
    if not listings:
        return Outcome("fail", [], "The product has no CHPL listing.")
    active = _active_listings(view)
    statuses = {str(x.get("chpl_product_number")): _listing_state(x) for x in listings}
    if active:
        return Outcome("pass", statuses, f"Active: {', '.join(str(x.get('chpl_product_number')) for x in active)}.")
    return Outcome("fail", statuses, f"No listing is Active: {_listing(f'{k} {v}' for k, v in statuses.items())}.")


def _certified(view: dict[str, Any]) -> set[str]:
    """Criteria met on Active listings, less any criterion ONC has since removed."""
    return {
        _criterion(c)
        for x in _active_listings(view)
        for c in set(_strings(x.get("criteria_met"))) - set(_strings(x.get("criteria_removed")))
    }


@check
def chpl_criteria(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The product's Active CHPL listings together meet every criterion group in `args.groups`.

    A group is `{any: [criteria], label, from, until}`: one of `any` must be met; `from`/`until`
    make a group date-aware (e.g. (b)(11) replaced (a)(9) in the Base EHR definition on 2025-01-01).
    """
    met = _certified(view)
    missing = []
    for group in args.get("groups") or []:
        start, end = _date(group.get("from")), _date(group.get("until"))
        if (start and as_of < start) or (end and as_of >= end):
            continue
        options = [_criterion(c) for c in _strings(group.get("any"))]
        if not set(options) & met:
            missing.append(group.get("label") or " or ".join(options))
    if not _active_listings(view):
        return Outcome("fail", [], "No Active CHPL listing, so no criterion counts.")
    if missing:
        return Outcome("fail", sorted(met), f"not certified: {_listing(missing)}.")
    return Outcome("pass", sorted(met))


def _not_in_record(active: list[dict[str, Any]], field: str, what: str) -> Outcome | None:
    """A search-result record does not carry every field; that is not observed, not absent."""
    if active and all(x.get("record") == "search" and field not in x for x in active):
        return Outcome(
            "not_observed", None, f"The CHPL record read (a search result) does not show {what}; the listing's details do."
        )
    return None


@check
def chpl_listing_field(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """An Active listing publishes the named field (a documentation or results URL, a flag)."""
    field = str(args["field"])
    what = str(args.get("what") or field)
    active = _active_listings(view)
    if not active:
        return Outcome("fail", None, "No Active CHPL listing.")
    values = [x.get(field) for x in active if x.get(field)]
    if values:
        return Outcome("pass", values[0])
    return _not_in_record(active, field, what) or Outcome("fail", None, f"No Active listing publishes {what}.")


@check
def chpl_public_link(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """An Active listing names the link in `args.field`, and it opened anonymously, without a
    login (the probe fetched it). A link that could not be fetched at all is not observed."""
    field = str(args["field"])
    what = str(args.get("what") or field)
    active = _active_listings(view)
    if not active:
        return Outcome("fail", None, "No Active CHPL listing.")
    urls = [str(x[field]) for x in active if x.get(field)]
    if not urls:
        return _not_in_record(active, field, what) or Outcome("fail", None, f"No Active listing links {what}.")
    links = _get(view, "chpl", "links", default={}) or {}
    checks = {u: links.get(u) for u in urls}
    good = [u for u, c in checks.items() if c and c.get("reachable") is True and not c.get("login_required")]
    if good:
        return Outcome("pass", good[0], f"{good[0]} opens without a login.")
    gated = [u for u, c in checks.items() if c and c.get("login_required")]
    if gated:
        signals = "; ".join(_strings((checks[gated[0]] or {}).get("login_signals")))
        return Outcome("fail", gated[0], f"{gated[0]} asks for a login ({signals}).")
    broken = [u for u, c in checks.items() if c and c.get("reachable") is False]
    if broken:
        c = checks[broken[0]] or {}
        why = f"HTTP {c['http_status']}" if c.get("http_status") else c.get("problem", "not reachable")
        return Outcome("fail", broken[0], f"{broken[0]} does not open ({why}).")
    problems = [str((c or {}).get("problem") or "not checked") for c in checks.values()]
    return Outcome("not_observed", urls[0], f"{urls[0]} could not be fetched: {problems[0]}.")


@check
def chpl_nonconformities(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """No Active listing has open surveillance or direct-review non-conformities."""
    active = _active_listings(view)
    if not active:
        return Outcome("fail", None, "No Active CHPL listing.")
    counts = {str(x.get("chpl_product_number")): x.get("open_nonconformities") for x in active}
    if any(not isinstance(v, int) for v in counts.values()):
        return Outcome("not_observed", counts, "Open non-conformity counts were not recorded.")
    open_ = {k: v for k, v in counts.items() if v}
    if open_:
        return Outcome("fail", counts, f"Open non-conformities: {', '.join(f'{k}: {v}' for k, v in open_.items())}.")
    return Outcome("pass", counts)


@check
def cms_certification_id(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The CMS EHR Certification ID the vendor gives is valid on CHPL and covers the audited listings."""
    claimed = _dotted(view, str(args.get("path", "claims.certification.cms_ehr_certification_id")))
    if not claimed:
        return Outcome(
            "not_observed", None, "The vendor's claims give no CMS EHR Certification ID (certification.cms_ehr_certification_id)."
        )
    record = _get(view, "chpl", "certification_id") or {}
    if record.get("id") and str(record["id"]).strip().upper() != str(claimed).strip().upper():
        return Outcome("fail", record.get("id"), f"CHPL checked {record.get('id')}, not the claimed {claimed}.")
    if record.get("valid") is False:
        why = f" ({record['reason']})" if record.get("reason") else ""
        return Outcome("fail", claimed, f"CHPL does not recognise {claimed} as a valid CMS EHR Certification ID{why}.")
    if record.get("valid") is not True:
        return Outcome(
            "not_observed", claimed, str(record.get("reason") or "CHPL gave no answer for the CMS EHR Certification ID.")
        )
    covered = set(_strings(record.get("products")))
    listed = {str(x.get("chpl_product_number")) for x in _active_listings(view)}
    if covered and listed and not covered & listed:
        return Outcome(
            "fail",
            claimed,
            f"{claimed} is valid but covers {_listing(sorted(covered))}, none of the audited listings ({_listing(sorted(listed))}).",
        )
    return Outcome("pass", claimed, f"Covers {_listing(sorted(covered))}." if covered else None)


@check
def chpl_claims_contradictions(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """What the vendor claims about its certification against what CHPL shows.

    Compared: the criteria the claims say are certified (`args.criteria_paths`, first present),
    `certification.cures_update`, and the claimed CHPL product numbers (each must be on CHPL and
    Active). A claim CHPL contradicts is a fail; nothing comparable claimed is not observed.
    """
    compared: list[str] = []
    contradictions: list[str] = []
    certified = _certified(view)
    listings = {str(x.get("chpl_product_number")): x for x in _chpl_listings(view)}
    for path in _strings(args.get("criteria_paths")):
        claimed = _dotted(view, path)
        if claimed is None:
            continue
        wanted = sorted({_criterion(c) for c in _strings(claimed)})
        compared.append(f"{len(wanted)} claimed criteria")
        missing = [c for c in wanted if c not in certified]
        if missing:
            contradictions.append(f"claimed as certified but not on an Active listing: {_listing(missing)}")
        break
    cures = _dotted(view, str(args.get("cures_path", "claims.certification.cures_update")))
    if isinstance(cures, bool):
        compared.append("Cures Update")
        active = _active_listings(view)
        if cures and active and not any(x.get("cures_update") is True for x in active):
            contradictions.append("claimed Cures Update, but no Active listing is updated to it")
    numbers = _dotted(view, str(args.get("numbers_path", "claims.product.chpl_product_numbers")))
    for number in _strings(numbers):
        compared.append(number)
        x = next((v for k, v in listings.items() if k == number or number in _strings(v.get("requested_as"))), None)
        if x is None or not x.get("found", True):
            contradictions.append(f"claimed listing {number} is not on CHPL")
        elif str(x.get("status", "")).lower() != "active":
            contradictions.append(f"claimed listing {number} is {x.get('status')} on CHPL, not Active")
    if not compared:
        return Outcome("not_observed", None, "The claims state no certified criteria, Cures Update or CHPL numbers to compare.")
    if contradictions:
        return Outcome("fail", contradictions, "CHPL contradicts the claims: " + "; ".join(contradictions) + ".")
    return Outcome("pass", compared, f"CHPL agrees with the claims ({_listing(compared)}).")


# --- the service-base-URL Bundle (45 CFR 170.404(b)(2)) --------------------------------------


def _bundle(view: dict[str, Any]) -> tuple[dict[str, Any], Outcome | None]:
    """The assessed Bundle, or the outcome to give when there is none to judge."""
    data = _get(view, "endpoints", default={}) or {}
    if not data.get("fetched"):
        why = data.get("problem") or "it was not fetched"
        return data, Outcome("not_observed", None, f"The service-base-URL Bundle could not be read: {why}.")
    if data.get("problem"):
        return data, Outcome("fail", None, f"The service-base-URL list is {data['problem']}.")
    return data, None


@check
def endpoints_public(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The Bundle was fetched anonymously with HTTP 200."""
    data = _get(view, "endpoints", default={}) or {}
    if data.get("source") == "file":
        return Outcome("not_observed", None, "The Bundle was read from a file, so whether it is public was not checked.")
    status = data.get("http_status")
    if data.get("public") is True:
        return Outcome("pass", data.get("url"), f"{data.get('url')} answered HTTP 200 without credentials.")
    if status is None:
        return Outcome("not_observed", data.get("url"), "The Bundle's address did not answer.")
    return Outcome("fail", status, f"{data.get('url')} answered HTTP {status}.")


@check
def endpoints_bundle_valid(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """A non-empty `collection` Bundle, as the Inferno Service Base URL kit requires."""
    data, early = _bundle(view)
    if early:
        return early
    bundle = data.get("bundle") or {}
    problems = []
    if bundle.get("type") != "collection":
        problems.append(f"type is {bundle.get('type')!r}, not 'collection'")
    if not bundle.get("entries"):
        problems.append("it has no entries")
    if problems:
        return Outcome("fail", bundle, "The Bundle " + "; ".join(problems) + ".")
    extra = "; it also carries 'total', which a collection must not" if bundle.get("total_present") else ""
    return Outcome("pass", bundle, f"A collection of {bundle.get('entries')} entries{extra}.")


@check
def endpoints_complete(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """Every Endpoint has status, connectionType and an http(s) address: what an app needs to connect."""
    data, early = _bundle(view)
    if early:
        return early
    eps = data.get("endpoints") or {}
    if not eps.get("count"):
        return Outcome("fail", eps, "The Bundle has no Endpoint entries.")
    gaps = {k: eps.get(k, 0) for k in ("missing_status", "missing_connection_type", "missing_address", "address_not_url")}
    bad = [f"{v} {k.replace('_', ' ')}" for k, v in gaps.items() if v]
    if bad:
        return Outcome("fail", eps, f"Of {eps['count']} Endpoints: {', '.join(bad)}.")
    return Outcome("pass", eps, f"{eps['count']} Endpoints, {eps.get('unique_addresses')} distinct addresses.")


def _contained_note(data: dict[str, Any]) -> str:
    c = data.get("contained_organizations") or {}
    if not c.get("organizations"):
        return ""
    return (
        f" {c['organizations']} Organizations are contained inside Endpoints instead "
        f"({c.get('with_address', 0)} with an address, {c.get('with_identifier', 0)} with an identifier)."
    )


@check
def endpoints_linked(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """Organizations reference their Endpoints (or inherit them via partOf) and every Endpoint has one,
    so a patient can tell whose endpoint each address is."""
    data, early = _bundle(view)
    if early:
        return early
    eps, orgs = data.get("endpoints") or {}, data.get("organizations") or {}
    if not orgs.get("count"):
        return Outcome(
            "fail",
            orgs,
            "The Bundle has no Organization entries, so no Endpoint is tied to an organisation." + _contained_note(data),
        )
    bad = []
    if eps.get("not_referenced"):
        bad.append(f"{eps['not_referenced']} of {eps.get('count')} Endpoints are referenced by no Organization")
    if orgs.get("unresolved_endpoint_refs"):
        bad.append(f"{orgs['unresolved_endpoint_refs']} endpoint references do not resolve in the Bundle")
    if orgs.get("without_endpoints"):
        bad.append(f"{orgs['without_endpoints']} Organizations have no endpoint (nor a partOf parent with one)")
    if orgs.get("unresolved_part_of"):
        bad.append(f"{orgs['unresolved_part_of']} partOf references do not resolve")
    if bad:
        return Outcome("fail", {"endpoints": eps, "organizations": orgs}, "; ".join(bad) + ".")
    return Outcome(
        "pass", None, f"Every Endpoint is referenced by one of {orgs['count']} Organizations, and every reference resolves."
    )


@check
def endpoints_org_details(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """Every Organization carries the name, location and facility identifier HTI-1 names."""
    data, early = _bundle(view)
    if early:
        return early
    orgs = data.get("organizations") or {}
    if not orgs.get("count"):
        return Outcome("fail", orgs, "The Bundle has no Organization entries." + _contained_note(data))
    gaps = {
        "name": orgs.get("missing_name", 0),
        "address": orgs.get("missing_address", 0),
        "identifier": orgs.get("missing_identifier", 0),
    }
    bad = [f"{v} without {k}" for k, v in gaps.items() if v]
    if bad:
        return Outcome("fail", orgs, f"Of {orgs['count']} Organizations: {', '.join(bad)}.")
    return Outcome("pass", orgs, f"All {orgs['count']} Organizations have a name, an address and an identifier.")


@check
def endpoints_sample_answer(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The sampled addresses answer `/metadata` with a CapabilityStatement: the list is live, not stale."""
    data, early = _bundle(view)
    if early:
        return early
    sample = data.get("sample") or {}
    if not sample.get("checked"):
        return Outcome("not_observed", None, "No listed address was asked for /metadata (--endpoints-sample 0, or no addresses).")
    failed = [r for r in sample.get("results") or [] if not r.get("ok")]
    observed = {"checked": sample["checked"], "ok": sample.get("ok"), "of": sample.get("available")}
    if failed:
        shown = _listing(f"{r.get('address')} ({r.get('problem')})" for r in failed)
        return Outcome(
            "fail", observed, f"{len(failed)} of {sample['checked']} sampled addresses gave no CapabilityStatement: {shown}."
        )
    return Outcome(
        "pass",
        observed,
        f"All {sample['checked']} sampled addresses (of {sample.get('available')}) answered with a CapabilityStatement.",
    )


@check
def endpoints_lists_target(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The audited base URL is in the published list, so patients' apps can find this practice."""
    data, early = _bundle(view)
    if early:
        return early
    target = data.get("target")
    if not isinstance(target, dict):
        return Outcome("not_observed", None, "The audited endpoint was not compared with the list.")
    if target.get("listed"):
        return Outcome("pass", target.get("address"), f"Listed as {target.get('address')}.")
    note = " (an address differs only in letter case)" if target.get("listed_ignoring_case") else ""
    return Outcome(
        "fail",
        None,
        f"The audited endpoint is not among the list's {(data.get('endpoints') or {}).get('unique_addresses', 0)} addresses{note}.",
    )


# --- combined, date-aware readiness ----------------------------------------------------------


@check
def g10_standards(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """Anonymous signals that the API meets the (g)(10) standard versions in force on the as-of date.

    FHIR R4 4.0.1; a US Core version accepted on that date; SMART App Launch 2.0 (shown by the
    permission-v2 capability) once SMART 1.0 has expired (`args.smart_v1_until`); group-level Bulk
    $export. The detail lists every shortfall.
    """
    cap = _cap(view)
    if cap is None:
        return NO_CAPABILITY
    shortfalls: list[str] = []
    met: list[str] = []
    version = cap.get("fhir_version")
    (met if version == "4.0.1" else shortfalls).append(
        "FHIR R4 4.0.1" if version == "4.0.1" else f"FHIR {version} ({cap.get('fhir_release')}), not R4 4.0.1"
    )
    us_core_args = {"minimum": args.get("us_core_minimum", "6.1.0"), "expires": args.get("us_core_expires")}
    us_core = us_core_version(view, us_core_args, as_of)
    if us_core.status == "pass":
        met.append("US Core: " + (us_core.detail or ""))
    else:
        shortfalls.append("US Core: " + (us_core.detail or "not declared"))
    doc, _ = _smart(view)
    smart_v1_until = _date(args.get("smart_v1_until"))
    if doc is None:
        shortfalls.append("no SMART App Launch configuration")
    elif "permission-v2" in _smart_capabilities(view):
        met.append("SMART App Launch 2.0 (permission-v2)")
    elif smart_v1_until is not None and as_of < smart_v1_until:
        met.append(f"SMART App Launch 1.0 (accepted until {smart_v1_until})")
    else:
        shortfalls.append(
            "SMART App Launch 2.0 not shown (no permission-v2)"
            + (f"; SMART 1.0 expired on {smart_v1_until}" if smart_v1_until else "")
        )
    bulk = bulk_export_declared(view, {"levels": ["group"]}, as_of)
    (met if bulk.status == "pass" else shortfalls).append(
        "Bulk Data group $export" if bulk.status == "pass" else "no group-level Bulk $export"
    )
    if shortfalls:
        return Outcome("fail", {"met": met, "short": shortfalls}, "Short of: " + "; ".join(shortfalls) + ".")
    return Outcome("pass", {"met": met}, "Meets: " + "; ".join(met) + ".")


# --- vendor claims against what the probes observed ------------------------------------------
# Each function judges one claim (`args.path`, default shown) against the evidence: pass means the
# observation agrees (verified), fail that it contradicts the claim, not_observed that it cannot
# settle it (reported as unverified). A claim of `no` (not supported) has nothing to verify.
