"""What the certification probes record (docs/certification.md, "Evidence"): chpl, endpoints."""

from __future__ import annotations

from typing import Any

from ehrcheck.evidence.base import Facts

# --- chpl ------------------------------------------------------------------------------------


class ApiDocumentation(Facts):
    criterion: str | None = None
    url: str | None = None


class Listing(Facts):
    """One CHPL listing, normalised (probes/certification/chpl_listing.py), or a number CHPL does not know."""

    found: bool | None = True  # absent: found (a listing that is not found says so)
    reason: str | None = None
    requested_as: str | None = None
    record: str | None = None  # details | search: a search row lacks some fields
    chpl_product_number: str | None = None
    chpl_id: int | None = None
    developer: str | None = None
    product: str | None = None
    version: str | None = None
    certification_body: str | None = None
    status: str | None = None
    status_since: str | None = None
    edition: str | None = None
    cures_update: bool | None = None
    certification_date: str | None = None
    decertification_date: str | None = None
    criteria_met: list[str] | None = None
    criteria_removed: list[str] | None = None
    api_documentation: list[ApiDocumentation] | None = None
    api_documentation_url: str | None = None
    service_base_url_list: str | None = None
    export_documentation_url: str | None = None
    risk_management_summary_url: str | None = None  # (b)(11)'s riskManagementSummaryInformation
    g10_standards: list[str] | None = None  # absent: the record names no standard versions for (g)(10)
    rwt_plans_url: str | None = None
    rwt_results_url: str | None = None
    mandatory_disclosures_url: str | None = None
    svap_notice_url: str | None = None
    open_surveillance_nonconformities: int | None = None
    open_direct_review_nonconformities: int | None = None
    open_nonconformities: int | None = None
    previous_chpl_product_numbers: list[str] | None = None


class LinkCheck(Facts):
    """A documentation link a listing names, opened anonymously."""

    reachable: bool | None = None
    problem: str | None = None
    http_status: int | None = None
    login_required: bool | None = None
    content_type: str | None = None
    final_url: str | None = None
    login_signals: list[str] | None = None


class CertificationId(Facts):
    id: str | None = None
    valid: bool | None = None
    reason: str | None = None
    year: Any = None  # as CHPL sent it
    products: list[str] | None = None


class ChplData(Facts):
    source: str | None = None  # api | file
    api: str | None = None
    file: str | None = None
    requested: list[str] | None = None
    listings: list[Listing] | None = None
    links: dict[str, LinkCheck] | None = None
    certification_id: CertificationId | None = None


# --- endpoints -------------------------------------------------------------------------------


class BundleFacts(Facts):
    type: Any = None  # the Bundle's type, as sent
    total_present: bool | None = None
    entries: int | None = None
    entries_without_resource: int | None = None
    other_resource_types: list[str] | None = None


class OrganizationCounts(Facts):
    count: int | None = None
    missing_name: int | None = None
    missing_address: int | None = None
    missing_identifier: int | None = None
    missing_active: int | None = None
    without_endpoints: int | None = None
    unresolved_endpoint_refs: int | None = None
    unresolved_part_of: int | None = None


class EndpointCounts(Facts):
    count: int | None = None
    missing_status: int | None = None
    missing_connection_type: int | None = None
    missing_address: int | None = None
    address_not_url: int | None = None
    not_referenced: int | None = None
    unique_addresses: int | None = None


class ContainedOrganizations(Facts):
    endpoints_with_contained_organization: int | None = None
    organizations: int | None = None
    with_address: int | None = None
    with_identifier: int | None = None
    references_without_hash: int | None = None


class TargetListed(Facts):
    listed: bool | None = None
    listed_ignoring_case: bool | None = None
    address: str | None = None


class BundleAssessment(Facts):
    """What `assess_bundle` (probes/certification/service_base_urls.py) finds in a service-base-URL
    Bundle: shared by the published endpoint list and the SMART user-access brand bundle."""

    valid_bundle: bool | None = None
    bundle: BundleFacts | None = None
    organizations: OrganizationCounts | None = None
    endpoints: EndpointCounts | None = None
    contained_organizations: ContainedOrganizations | None = None
    issue_count: int | None = None
    issues: list[Any] | None = None
    target: TargetListed | None = None


# FetchError kinds (http/client.py) on the auditor's side of the wire: their resolver, proxy or
# network. They say nothing about the server, so findings built on them are "not observed".
AUDITOR_SIDE = ("dns", "proxy", "offline")


class SampledAddress(Facts):
    address: str | None = None
    http_status: int | None = None
    ok: bool | None = None
    problem: str | None = None
    error_kind: str | None = None  # no HTTP answer: dns, proxy, offline, timeout, tls, ... (http/client.py)


class EndpointSample(Facts):
    size: int | None = None
    available: int | None = None
    checked: int | None = None
    ok: int | None = None
    results: list[SampledAddress] | None = None


class EndpointsData(BundleAssessment):
    source: str | None = None  # chpl | url | file
    url: str | None = None
    file: str | None = None
    other_lists: list[str] | None = None
    http_status: int | None = None
    content_type: str | None = None
    public: bool | None = None
    fetched: bool | None = None
    problem: str | None = None
    sample: EndpointSample | None = None
