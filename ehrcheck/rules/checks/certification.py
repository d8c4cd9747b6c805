"""Checks over CHPL listings and the published service-base-URL Bundle.

See `ehrcheck.rules.checks` for the contract every check follows.
"""

from __future__ import annotations

import datetime as dt
import re

from pydantic import Field, field_validator

from ehrcheck.evidence.certification import (
    AUDITOR_SIDE,
    ContainedOrganizations,
    EndpointCounts,
    EndpointSample,
    EndpointsData,
    Listing,
    OrganizationCounts,
    SampledAddress,
)
from ehrcheck.evidence.view import View
from ehrcheck.rules.checks.capability import Expiries, ExportLevelsArgs, UsCoreVersionArgs, bulk_export_declared, us_core_version
from ehrcheck.rules.checks.claims import ClaimsPath
from ehrcheck.rules.checks.common import (
    NO_CAPABILITY,
    CheckArgs,
    NoArgs,
    Outcome,
    _cap,
    _date,
    _listing,
    _smart,
    _smart_capabilities,
    _strings,
    check,
)


def _criterion(text: str) -> str:
    """'170.315 (g)(10)' / '170.315(g)(10)' / '(g)(10)' / 'g10' -> '(g)(10)'."""
    t = str(text).replace(" ", "").lower()
    t = t.removeprefix("170.315")
    short = re.fullmatch(r"([a-h])(\d+)", t)
    return f"({short.group(1)})({short.group(2)})" if short else t


def _chpl_listings(view: View) -> list[Listing]:
    return list((view.chpl.listings if view.chpl else None) or [])


def _status_text(x: Listing) -> str:
    # As `str(listing.get("status", ""))` read it: absent is "", an explicit null is "None".
    return str(x.status) if "status" in x.model_fields_set else ""


def _active_listings(view: View) -> list[Listing]:
    return [x for x in _chpl_listings(view) if x.found and _status_text(x).strip().lower() == "active"]


def _listing_state(x: Listing) -> str:
    return str(x.status) if x.found else "not found on CHPL"


# The listing fields a rule may ask about (chpl_listing_field, chpl_public_link).
LISTING_FIELDS = tuple(Listing.model_fields)


def _listing_field(name: str) -> str:
    if name not in LISTING_FIELDS:
        raise ValueError(f"not a CHPL listing field (known: {', '.join(LISTING_FIELDS)})")
    return name


@check()
def chpl_listing_active(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """At least one CHPL listing of the product has the certification status 'Active'."""
    listings = _chpl_listings(view)
    if not listings:
        return Outcome("fail", [], "The product has no CHPL listing.")
    active = _active_listings(view)
    statuses = {str(x.chpl_product_number): _listing_state(x) for x in listings}
    if active:
        return Outcome("pass", statuses, f"Active: {', '.join(str(x.chpl_product_number) for x in active)}.")
    return Outcome("fail", statuses, f"No listing is Active: {_listing(f'{k} {v}' for k, v in statuses.items())}.")


def _certified(view: View) -> set[str]:
    """Criteria met on Active listings, less any criterion ONC has since removed."""
    return {
        _criterion(c) for x in _active_listings(view) for c in set(_strings(x.criteria_met)) - set(_strings(x.criteria_removed))
    }


class CriterionGroup(CheckArgs):
    any: list[str]
    label: str | None = None
    from_: dt.date | str | None = Field(None, alias="from")
    until: dt.date | str | None = None


class CriteriaArgs(CheckArgs):
    groups: list[CriterionGroup] = Field(default_factory=list)


@check(args=CriteriaArgs)
def chpl_criteria(view: View, args: CriteriaArgs, as_of: dt.date) -> Outcome:
    """The product's Active CHPL listings together meet every criterion group in `args.groups`.

    A group is `{any: [criteria], label, from, until}`: one of `any` must be met; `from`/`until`
    make a group date-aware (e.g. (b)(11) replaced (a)(9) in the Base EHR definition on 2025-01-01).
    """
    met = _certified(view)
    missing = []
    for group in args.groups:
        start, end = _date(group.from_), _date(group.until)
        if (start and as_of < start) or (end and as_of >= end):
            continue
        options = [_criterion(c) for c in group.any]
        if not set(options) & met:
            missing.append(group.label or " or ".join(options))
    if not _active_listings(view):
        return Outcome("fail", [], "No Active CHPL listing, so no criterion counts.")
    if missing:
        return Outcome("fail", sorted(met), f"not certified: {_listing(missing)}.")
    return Outcome("pass", sorted(met))


def _not_in_record(active: list[Listing], field: str, what: str) -> Outcome | None:
    """A search-result record does not carry every field; that is not observed, not absent."""
    if active and all(x.record == "search" and field not in x.model_fields_set for x in active):
        return Outcome(
            "not_observed", None, f"The CHPL record read (a search result) does not show {what}; the listing's details do."
        )
    return None


class ListingFieldArgs(CheckArgs):
    field: str
    what: str | None = None

    @field_validator("field")
    @classmethod
    def _field(cls, v: str) -> str:
        return _listing_field(v)


@check(args=ListingFieldArgs)
def chpl_listing_field(view: View, args: ListingFieldArgs, as_of: dt.date) -> Outcome:
    """An Active listing publishes the named field (a documentation or results URL, a flag)."""
    field = args.field
    what = args.what or field
    active = _active_listings(view)
    if not active:
        return Outcome("fail", None, "No Active CHPL listing.")
    values = [getattr(x, field) for x in active if getattr(x, field)]
    if values:
        return Outcome("pass", values[0])
    return _not_in_record(active, field, what) or Outcome("fail", None, f"No Active listing publishes {what}.")


@check(args=ListingFieldArgs)
def chpl_public_link(view: View, args: ListingFieldArgs, as_of: dt.date) -> Outcome:
    """An Active listing names the link in `args.field`, and it opened anonymously, without a
    login (the probe fetched it). A link that could not be fetched at all is not observed."""
    field = args.field
    what = args.what or field
    active = _active_listings(view)
    if not active:
        return Outcome("fail", None, "No Active CHPL listing.")
    urls = [str(getattr(x, field)) for x in active if getattr(x, field)]
    if not urls:
        return _not_in_record(active, field, what) or Outcome("fail", None, f"No Active listing links {what}.")
    return _public_link_outcome(view, urls)


def _public_link_outcome(view: View, urls: list[str]) -> Outcome:
    """Pass when one of `urls` opened without a login; otherwise why not (gated, broken, unfetched)."""
    links = (view.chpl.links if view.chpl else None) or {}
    checks = {u: links.get(u) for u in urls}
    good = [u for u, c in checks.items() if c and c.reachable is True and not c.login_required]
    if good:
        return Outcome("pass", good[0], f"{good[0]} opens without a login.")
    gated = [u for u, c in checks.items() if c and c.login_required]
    if gated:
        gate = checks[gated[0]]
        signals = "; ".join(_strings(gate.login_signals if gate else None))
        return Outcome("fail", gated[0], f"{gated[0]} asks for a login ({signals}).")
    broken = [u for u, c in checks.items() if c and c.reachable is False]
    if broken:
        c = checks[broken[0]]
        assert c is not None
        # absent problem: "not reachable"; an explicit null reads "None", as the dict did
        problem = str(c.problem) if "problem" in c.model_fields_set else "not reachable"
        why = f"HTTP {c.http_status}" if c.http_status else problem
        return Outcome("fail", broken[0], f"{broken[0]} does not open ({why}).")
    problems = [str((c.problem if c else None) or "not checked") for c in checks.values()]
    return Outcome("not_observed", urls[0], f"{urls[0]} could not be fetched: {problems[0]}.")


class CriterionLinkArgs(ListingFieldArgs):
    criterion: str  # e.g. "170.315 (b)(11)"


@check(args=CriterionLinkArgs)
def chpl_criterion_public_link(view: View, args: CriterionLinkArgs, as_of: dt.date) -> Outcome:
    """Every Active listing certified to `args.criterion` names the link in `args.field` (a
    disclosure the ONC-ACB publishes for that criterion), and the link opens without a login.
    Without an Active listing certified to the criterion the rule does not apply."""
    what = args.what or args.field
    wanted = _criterion(args.criterion)
    active = _active_listings(view)
    details = [x for x in active if x.record != "search"]
    if details and not any(args.field in x.model_fields_set for x in details):
        return Outcome("not_observed", None, f"The CHPL records read do not show {what} (evidence from an older ehrcheck).")
    certified = [x for x in active if wanted in {_criterion(c) for c in _strings(x.criteria_met)}]
    if not certified:
        return Outcome("not_applicable", None, f"No Active listing is certified to {args.criterion}.")
    early = _not_in_record(certified, args.field, what)
    if early:
        return early
    # A record without the key (a search row, evidence from before ehrcheck read it) shows nothing;
    # a details record with the key empty is a listing that does not publish it.
    lacking = [str(x.chpl_product_number) for x in certified if args.field in x.model_fields_set and not getattr(x, args.field)]
    if lacking:
        return Outcome("fail", lacking, f"Certified to {args.criterion} without {what}: {_listing(lacking)}.")
    urls = [str(getattr(x, args.field)) for x in certified if getattr(x, args.field)]
    if not urls:  # a mix of search rows and records without the key
        return Outcome("not_observed", None, f"The CHPL records read do not show {what}.")
    return _public_link_outcome(view, urls)


class StandardsUpdateArgs(CheckArgs):
    # Each update (label) and the texts, any of which in the (g)(10) result's standards shows it;
    # compared lower-cased with spaces removed ("US Core 6.1.0" matches "us core 6.1.0").
    updates: dict[str, list[str]]


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


@check(args=StandardsUpdateArgs)
def chpl_g10_standards_update(view: View, args: StandardsUpdateArgs, as_of: dt.date) -> Outcome:
    """Every Active (g)(10) listing's certification result names the updated standards in
    `args.updates` (USCDI v3, US Core 6.1.0, SMART App Launch 2.0, or their SVAP-approved
    successors). CHPL's documented listing details carry no field for these versions; the
    `standards[]` and `svaps[]` of a result are read when a record has them, and a record without
    them is not observed (the listing's SVAP notice and the vendor are where to look)."""
    g10 = [x for x in _active_listings(view) if "(g)(10)" in {_criterion(c) for c in _strings(x.criteria_met)}]
    if not g10:
        return Outcome("not_applicable", None, "No Active listing is certified to 170.315 (g)(10).")
    unread = [x for x in g10 if x.g10_standards is None]
    if unread:
        notice = next((x.svap_notice_url for x in unread if x.svap_notice_url), None)
        where = f" Read its SVAP notice ({notice}) or ask the vendor." if notice else " Ask the vendor."
        numbers = _listing(str(x.chpl_product_number) for x in unread)
        return Outcome(
            "not_observed",
            None,
            f"The CHPL record of {numbers} names no standard versions for its (g)(10) certification "
            f"(not among the listing details CHPL documents).{where}",
        )
    gaps: dict[str, list[str]] = {}
    for x in g10:
        names = [_squash(n) for n in _strings(x.g10_standards)]
        missing = [label for label, texts in args.updates.items() if not any(_squash(t) in n for t in texts for n in names)]
        if missing:
            gaps[str(x.chpl_product_number)] = missing
    if gaps:
        shown = "; ".join(f"{number} lacks {_listing(missing)}" for number, missing in gaps.items())
        return Outcome("fail", gaps, f"{shown}.")
    return Outcome("pass", sorted(args.updates), f"(g)(10) names {_listing(args.updates)}.")


@check()
def chpl_nonconformities(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """No Active listing has open surveillance or direct-review non-conformities."""
    active = _active_listings(view)
    if not active:
        return Outcome("fail", None, "No Active CHPL listing.")
    counts = {str(x.chpl_product_number): x.open_nonconformities for x in active}
    if any(not isinstance(v, int) for v in counts.values()):
        return Outcome("not_observed", counts, "Open non-conformity counts were not recorded.")
    open_ = {k: v for k, v in counts.items() if v}
    if open_:
        return Outcome("fail", counts, f"Open non-conformities: {', '.join(f'{k}: {v}' for k, v in open_.items())}.")
    return Outcome("pass", counts)


class CertificationIdArgs(CheckArgs):
    path: ClaimsPath = "claims.certification.cms_ehr_certification_id"


@check(args=CertificationIdArgs)
def cms_certification_id(view: View, args: CertificationIdArgs, as_of: dt.date) -> Outcome:
    """The CMS EHR Certification ID the vendor gives is valid on CHPL and covers the audited listings."""
    claimed = view.lookup(args.path)
    if not claimed:
        return Outcome(
            "not_observed", None, "The vendor's claims give no CMS EHR Certification ID (certification.cms_ehr_certification_id)."
        )
    record = view.chpl.certification_id if view.chpl else None
    record_id = record.id if record else None
    if record_id and str(record_id).strip().upper() != str(claimed).strip().upper():
        return Outcome("fail", record_id, f"CHPL checked {record_id}, not the claimed {claimed}.")
    valid = record.valid if record else None
    reason = record.reason if record else None
    if valid is False:
        why = f" ({reason})" if reason else ""
        return Outcome("fail", claimed, f"CHPL does not recognise {claimed} as a valid CMS EHR Certification ID{why}.")
    if valid is not True:
        return Outcome("not_observed", claimed, str(reason or "CHPL gave no answer for the CMS EHR Certification ID."))
    covered = set(_strings(record.products if record else None))
    listed = {str(x.chpl_product_number) for x in _active_listings(view)}
    if covered and listed and not covered & listed:
        return Outcome(
            "fail",
            claimed,
            f"{claimed} is valid but covers {_listing(sorted(covered))}, none of the audited listings ({_listing(sorted(listed))}).",
        )
    return Outcome("pass", claimed, f"Covers {_listing(sorted(covered))}." if covered else None)


class ContradictionsArgs(CheckArgs):
    criteria_paths: list[ClaimsPath] = Field(default_factory=list)
    cures_path: ClaimsPath = "claims.certification.cures_update"
    numbers_path: ClaimsPath = "claims.product.chpl_product_numbers"


@check(args=ContradictionsArgs)
def chpl_claims_contradictions(view: View, args: ContradictionsArgs, as_of: dt.date) -> Outcome:
    """What the vendor claims about its certification against what CHPL shows.

    Compared: the criteria the claims say are certified (`args.criteria_paths`, first present),
    `certification.cures_update`, and the claimed CHPL product numbers (each must be on CHPL and
    Active). A claim CHPL contradicts is a fail; nothing comparable claimed is not observed.
    """
    compared: list[str] = []
    contradictions: list[str] = []
    certified = _certified(view)
    listings = {str(x.chpl_product_number): x for x in _chpl_listings(view)}
    for path in args.criteria_paths:
        claimed = view.lookup(path)
        if claimed is None:
            continue
        wanted = sorted({_criterion(c) for c in _strings(claimed)})
        compared.append(f"{len(wanted)} claimed criteria")
        missing = [c for c in wanted if c not in certified]
        if missing:
            contradictions.append(f"claimed as certified but not on an Active listing: {_listing(missing)}")
        break
    cures = view.lookup(args.cures_path)
    if isinstance(cures, bool):
        compared.append("Cures Update")
        active = _active_listings(view)
        if cures and active and not any(x.cures_update is True for x in active):
            contradictions.append("claimed Cures Update, but no Active listing is updated to it")
    numbers = view.lookup(args.numbers_path)
    for number in _strings(numbers):
        compared.append(number)
        x = next((v for k, v in listings.items() if k == number or number in _strings(v.requested_as)), None)
        if x is None or not x.found:
            contradictions.append(f"claimed listing {number} is not on CHPL")
        elif _status_text(x).lower() != "active":
            contradictions.append(f"claimed listing {number} is {x.status} on CHPL, not Active")
    if not compared:
        return Outcome("not_observed", None, "The claims state no certified criteria, Cures Update or CHPL numbers to compare.")
    if contradictions:
        return Outcome("fail", contradictions, "CHPL contradicts the claims: " + "; ".join(contradictions) + ".")
    return Outcome("pass", compared, f"CHPL agrees with the claims ({_listing(compared)}).")


# --- the service-base-URL Bundle (45 CFR 170.404(b)(2)) --------------------------------------


def _bundle(view: View) -> tuple[EndpointsData, Outcome | None]:
    """The assessed Bundle, or the outcome to give when there is none to judge."""
    data = view.endpoints or EndpointsData()
    if not data.fetched:
        why = data.problem or "it was not fetched"
        return data, Outcome("not_observed", None, f"The service-base-URL Bundle could not be read: {why}.")
    if data.problem:
        return data, Outcome("fail", None, f"The service-base-URL list is {data.problem}.")
    return data, None


def _n(value: int | None) -> int:
    """A count the probe may not have written (a rule case): absent counts as 0."""
    return value or 0


@check()
def endpoints_public(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The Bundle was fetched anonymously with HTTP 200."""
    data = view.endpoints or EndpointsData()
    if data.source == "file":
        return Outcome("not_observed", None, "The Bundle was read from a file, so whether it is public was not checked.")
    status = data.http_status
    if data.public is True:
        return Outcome("pass", data.url, f"{data.url} answered HTTP 200 without credentials.")
    if status is None:
        return Outcome("not_observed", data.url, "The Bundle's address did not answer.")
    return Outcome("fail", status, f"{data.url} answered HTTP {status}.")


@check()
def endpoints_bundle_valid(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """A non-empty `collection` Bundle, as the Inferno Service Base URL kit requires."""
    data, early = _bundle(view)
    if early:
        return early
    bundle = data.bundle
    raw = bundle.raw() if bundle else {}
    problems = []
    if (bundle.type if bundle else None) != "collection":
        problems.append(f"type is {bundle.type if bundle else None!r}, not 'collection'")
    if not (bundle and bundle.entries):
        problems.append("it has no entries")
    if problems:
        return Outcome("fail", raw, "The Bundle " + "; ".join(problems) + ".")
    assert bundle is not None
    extra = "; it also carries 'total', which a collection must not" if bundle.total_present else ""
    return Outcome("pass", raw, f"A collection of {bundle.entries} entries{extra}.")


@check()
def endpoints_complete(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """Every Endpoint has status, connectionType and an http(s) address: what an app needs to connect."""
    data, early = _bundle(view)
    if early:
        return early
    eps = data.endpoints or EndpointCounts()
    if not eps.count:
        return Outcome("fail", eps.raw(), "The Bundle has no Endpoint entries.")
    gaps = {
        "missing_status": eps.missing_status,
        "missing_connection_type": eps.missing_connection_type,
        "missing_address": eps.missing_address,
        "address_not_url": eps.address_not_url,
    }
    bad = [f"{v} {k.replace('_', ' ')}" for k, v in gaps.items() if v]
    if bad:
        return Outcome("fail", eps.raw(), f"Of {eps.count} Endpoints: {', '.join(bad)}.")
    return Outcome("pass", eps.raw(), f"{eps.count} Endpoints, {eps.unique_addresses} distinct addresses.")


def _contained_note(data: EndpointsData) -> str:
    c = data.contained_organizations or ContainedOrganizations()
    if not c.organizations:
        return ""
    return (
        f" {c.organizations} Organizations are contained inside Endpoints instead "
        f"({_n(c.with_address)} with an address, {_n(c.with_identifier)} with an identifier)."
    )


@check()
def endpoints_linked(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """Organizations reference their Endpoints (or inherit them via partOf) and every Endpoint has one,
    so a patient can tell whose endpoint each address is."""
    data, early = _bundle(view)
    if early:
        return early
    eps, orgs = data.endpoints or EndpointCounts(), data.organizations or OrganizationCounts()
    if not orgs.count:
        return Outcome(
            "fail",
            orgs.raw(),
            "The Bundle has no Organization entries, so no Endpoint is tied to an organisation." + _contained_note(data),
        )
    bad = []
    if eps.not_referenced:
        bad.append(f"{eps.not_referenced} of {eps.count} Endpoints are referenced by no Organization")
    if orgs.unresolved_endpoint_refs:
        bad.append(f"{orgs.unresolved_endpoint_refs} endpoint references do not resolve in the Bundle")
    if orgs.without_endpoints:
        bad.append(f"{orgs.without_endpoints} Organizations have no endpoint (nor a partOf parent with one)")
    if orgs.unresolved_part_of:
        bad.append(f"{orgs.unresolved_part_of} partOf references do not resolve")
    if bad:
        return Outcome("fail", {"endpoints": eps.raw(), "organizations": orgs.raw()}, "; ".join(bad) + ".")
    return Outcome(
        "pass", None, f"Every Endpoint is referenced by one of {orgs.count} Organizations, and every reference resolves."
    )


@check()
def endpoints_org_details(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """Every Organization carries the name, location and facility identifier HTI-1 names."""
    data, early = _bundle(view)
    if early:
        return early
    orgs = data.organizations or OrganizationCounts()
    if not orgs.count:
        return Outcome("fail", orgs.raw(), "The Bundle has no Organization entries." + _contained_note(data))
    gaps = {"name": _n(orgs.missing_name), "address": _n(orgs.missing_address), "identifier": _n(orgs.missing_identifier)}
    bad = [f"{v} without {k}" for k, v in gaps.items() if v]
    if bad:
        return Outcome("fail", orgs.raw(), f"Of {orgs.count} Organizations: {', '.join(bad)}.")
    return Outcome("pass", orgs.raw(), f"All {orgs.count} Organizations have a name, an address and an identifier.")


def _auditor_side(result: SampledAddress) -> bool:
    """No answer because of the auditor's DNS, proxy or network (older evidence: from the text)."""
    if result.error_kind:
        return result.error_kind in AUDITOR_SIDE
    return (result.problem or "").startswith(("host name could not be resolved", "the proxy ", "no network route"))


@check()
def endpoints_sample_answer(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The sampled addresses answer `/metadata` with a CapabilityStatement: the list is live, not stale."""
    data, early = _bundle(view)
    if early:
        return early
    sample = data.sample or EndpointSample()
    if not sample.checked:
        return Outcome("not_observed", None, "No listed address was asked for /metadata (--endpoints-sample 0, or no addresses).")
    failed = [r for r in sample.results or [] if not r.ok]
    # The auditor's own resolver, proxy or network failing says nothing about the vendor's list.
    ours = [r for r in failed if _auditor_side(r)]
    theirs = [r for r in failed if not _auditor_side(r)]
    observed = {"checked": sample.checked, "ok": sample.ok, "of": sample.available}
    unreached = (
        f"{len(ours)} could not be checked from this network ({_listing(f'{r.address} ({r.problem})' for r in ours)}); "
        "check DNS, the proxy or the connection, or re-run from another network"
        if ours
        else ""
    )
    if theirs:
        shown = _listing(f"{r.address} ({r.problem})" for r in theirs)
        tail = f" {unreached[0].upper()}{unreached[1:]}." if ours else ""
        return Outcome(
            "fail", observed, f"{len(theirs)} of {sample.checked} sampled addresses gave no CapabilityStatement: {shown}.{tail}"
        )
    if ours and len(ours) == sample.checked:
        return Outcome("not_observed", observed, f"None of the {sample.checked} sampled addresses was reached: {unreached}.")
    if ours:
        return Outcome(
            "not_observed",
            observed,
            f"{sample.checked - len(ours)} answered with a CapabilityStatement; {unreached}.",
        )
    return Outcome(
        "pass",
        observed,
        f"All {sample.checked} sampled addresses (of {sample.available}) answered with a CapabilityStatement.",
    )


@check()
def endpoints_lists_target(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The audited base URL is in the published list, so patients' apps can find this practice."""
    data, early = _bundle(view)
    if early:
        return early
    target = data.target
    if target is None:
        return Outcome("not_observed", None, "The audited endpoint was not compared with the list.")
    if target.listed:
        return Outcome("pass", target.address, f"Listed as {target.address}.")
    note = " (an address differs only in letter case)" if target.listed_ignoring_case else ""
    unique = _n(data.endpoints.unique_addresses) if data.endpoints else 0
    return Outcome("fail", None, f"The audited endpoint is not among the list's {unique} addresses{note}.")


# --- combined, date-aware readiness ----------------------------------------------------------


class G10Args(CheckArgs):
    us_core_minimum: str = "6.1.0"
    us_core_accepted: dict[str, str] | None = None
    us_core_expires: Expiries | None = None
    smart_v1_until: dt.date | str | None = None


@check(args=G10Args)
def g10_standards(view: View, args: G10Args, as_of: dt.date) -> Outcome:
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
    version = cap.fhir_version
    (met if version == "4.0.1" else shortfalls).append(
        "FHIR R4 4.0.1" if version == "4.0.1" else f"FHIR {version} ({cap.fhir_release}), not R4 4.0.1"
    )
    us_core_args = UsCoreVersionArgs(minimum=args.us_core_minimum, accepted=args.us_core_accepted, expires=args.us_core_expires)
    us_core = us_core_version(view, us_core_args, as_of)
    if us_core.status == "pass":
        met.append("US Core: " + (us_core.detail or ""))
    else:
        shortfalls.append("US Core: " + (us_core.detail or "not declared"))
    doc, _ = _smart(view)
    smart_v1_until = _date(args.smart_v1_until)
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
    bulk = bulk_export_declared(view, ExportLevelsArgs(levels=["group"]), as_of)
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
