"""What the authenticated probes record (docs/evidence.md, "token, scopes, uscore, bulk")."""

from __future__ import annotations

from typing import Any

from ehrcheck.evidence.anonymous import HostTls
from ehrcheck.evidence.base import Facts

# --- token -----------------------------------------------------------------------------------


class CredentialsSummary(Facts):
    method: str | None = None
    alg: str | None = None
    scope_requested: str | None = None
    client_id_given: bool | None = None
    key_id_given: bool | None = None


class TokenEndpoint(Facts):
    url: str | None = None
    source: str | None = None
    https: bool | None = None
    plain_http_loopback: bool | None = None  # allowed between loopback hosts, and flagged
    refused: str | None = None  # why no credential was sent there (http/origins.py)


class BaseRefusal(Facts):
    refused: str | None = None  # a plain-http FHIR base off this machine gets no token


class TokenResponse(Facts):
    http_status: int | None = None
    content_type: str | None = None
    accepted: bool | None = None
    fields_present: list[str] | None = None
    fields_missing: list[str] | None = None
    token_type: str | None = None
    expires_in: int | float | None = None
    scope_granted: str | None = None
    cache_control: str | None = None
    no_store: bool | None = None
    pragma_no_cache: bool | None = None
    refresh_token_issued: bool | None = None
    error: str | None = None


class GrantedScopes(Facts):
    requested: list[str] | None = None
    granted: list[str] | None = None
    not_granted: list[str] | None = None
    beyond_requested: list[str] | None = None


class Refusal(Facts):
    """One broken token request (`negative.<case>`)."""

    http_status: int | None = None
    rejected: bool | None = None
    token_issued: bool | None = None
    error: str | None = None
    fetch_error: str | None = None
    first_use_status: int | None = None


class TokenData(Facts):
    credentials: CredentialsSummary | None = None
    token_endpoint: TokenEndpoint | None = None
    fhir_base: BaseRefusal | None = None
    valid: TokenResponse | None = None
    scopes: GrantedScopes | None = None
    negative: dict[str, Refusal] | None = None
    negative_rejected: list[str] | None = None
    negative_not_rejected: list[str] | None = None


# --- scopes ----------------------------------------------------------------------------------


class ScopesData(Facts):
    scope_requested: str | None = None
    patient_status: int | None = None
    observation_status: int | None = None
    observation_refused: bool | None = None
    observation_entries: int | None = None


# --- uscore ----------------------------------------------------------------------------------


class MustSupport(Facts):
    total: int | None = None
    covered: int | None = None
    missing: list[str] | None = None


class BindingResult(Facts):
    """One terminology binding over a profile's resources: how many coded values were judged how
    (uscore_terminology); `tx_*` only when a terminology server was asked."""

    strength: str | None = None
    value_set: str | None = None
    passed: int | None = None
    failed: int | None = None
    system_ok: int | None = None
    system_mismatch: int | None = None
    not_checked: int | None = None
    tx_valid: int | None = None
    tx_invalid: int | None = None
    bad_codes: list[str] | None = None


class ProfileResult(Facts):
    resource: str | None = None
    uscdi_required: bool | None = None
    resources: int | None = None
    structure_invalid: int | None = None
    structure_problems: list[str] | None = None
    mandatory_checked: int | None = None
    mandatory_violations: dict[str, int] | None = None
    resources_missing_mandatory: int | None = None
    must_support: MustSupport | None = None
    terminology: dict[str, BindingResult] | None = None  # element id -> binding


class SearchTally(Facts):
    requests: int | None = None
    ok: int | None = None
    http_errors: int | None = None
    errors_with_operation_outcome: int | None = None
    results: int | None = None
    mismatched: int | None = None
    pages: int | None = None
    seed_found: bool | None = None
    statuses: dict[str, int] | None = None
    offsite_next_link: bool | None = None
    variant: str | None = None  # a deeper form of a SHALL search: date gt, code without system, POST _search...
    count_matches_get: bool | None = None  # POST only: the first page counts what the GET's did


class PatientsTested(Facts):
    source: str | None = None
    tested: int | None = None


class PatientReads(Facts):
    requests: int | None = None
    ok: int | None = None
    id_matches: int | None = None


class ReadTally(Facts):
    requests: int | None = None
    ok: int | None = None
    id_matches: int | None = None


class RevInclude(Facts):
    requests: int | None = None
    ok: int | None = None
    statuses: dict[str, int] | None = None
    provenance: int | None = None
    provenance_without_target: int | None = None


class TxServer(Facts):
    server: str | None = None
    requests: int | None = None
    answered: int | None = None
    unavailable: bool | None = None
    statuses: dict[str, int] | None = None
    error: str | None = None
    not_asked: int | None = None
    candidates: int | None = None


class Terminology(Facts):
    offline: bool | None = None
    tx_server: TxServer | None = None


class References(Facts):
    found: int | None = None
    checked: int | None = None
    resolved: int | None = None
    unresolved: int | None = None
    unresolved_by_type: dict[str, int] | None = None


class InvalidSearch(Facts):
    http_status: int | None = None
    refused: bool | None = None
    operation_outcome: bool | None = None


class UsCoreTotals(Facts):
    profiles: int | None = None
    profiles_with_data: int | None = None
    resources: int | None = None
    searches: int | None = None
    search_errors: int | None = None
    search_errors_with_operation_outcome: int | None = None
    mismatched: int | None = None
    structure_invalid: int | None = None
    resources_missing_mandatory: int | None = None
    variant_searches: int | None = None
    variant_search_errors: int | None = None
    codes_checked: int | None = None
    codes_failed: int | None = None
    codes_not_checked: int | None = None


class UsCoreData(Facts):
    us_core_version: str | None = None
    version_basis: str | None = None  # --us-core-version | instantiates | supportedProfile | meta.profile | default
    versions_declared: list[str] | None = None
    authorized_by: str | None = None  # backend (credentials) or launch (the launched patient's token)
    selection: str | None = None
    patients: PatientsTested | None = None
    sample: int | None = None
    max_pages: int | None = None
    profiles: dict[str, ProfileResult] | None = None
    unassigned_resources: dict[str, int] | None = None
    patient_reads: PatientReads | None = None
    reads: dict[str, ReadTally] | None = None  # resource type -> reads by id
    revinclude: dict[str, RevInclude] | None = None
    searches: dict[str, dict[str, SearchTally]] | None = None  # resource type -> search -> tally
    shall_searches_not_run: dict[str, list[str]] | None = None
    references: References | None = None
    invalid_search: InvalidSearch | None = None
    terminology: Terminology | None = None
    totals: UsCoreTotals | None = None


# --- bulk ------------------------------------------------------------------------------------


class Kickoff(Facts):
    http_status: int | None = None
    accepted: bool | None = None
    content_location: bool | None = None
    operation_outcome: bool | None = None


class ExportStatus(Facts):
    state: str | None = None  # complete | error | timed_out
    polls: int | None = None
    retry_after_hints: int | None = None
    waits_s: list[float] | None = None
    http_status: int | None = None
    content_type: str | None = None
    operation_outcome: bool | None = None
    manifest_problem: str | None = None


class Manifest(Facts):
    fields_missing: list[str] | None = None
    transaction_time_valid: bool | None = None
    request_matches: bool | None = None
    requires_access_token: bool | None = None
    output_count: int | None = None
    output_types: list[str] | None = None
    outputs_without_type_or_url: int | None = None
    outputs_with_relative_url: int | None = None
    error_files: int | None = None


class BulkProfile(Facts):
    resources: int | None = None
    resources_missing_mandatory: int | None = None
    mandatory_violations: dict[str, int] | None = None
    codes_failed: dict[str, int] | None = None
    bad_codes: list[str] | None = None


class BulkUsCore(Facts):
    """One file's lines judged against US Core (bulk_profiles)."""

    version: str | None = None
    checked: int | None = None
    failed: int | None = None
    unassigned: int | None = None
    profiles: dict[str, BulkProfile] | None = None


class NdjsonFile(Facts):
    type: Any = None  # the manifest's output type, as sent
    error: str | None = None
    http_status: int | None = None
    content_type: str | None = None
    ndjson_content_type: bool | None = None
    lines: int | None = None
    invalid_json: int | None = None
    wrong_type: int | None = None
    overlong_lines: int | None = None
    validated: int | None = None
    structure_invalid: int | None = None
    structure_problems: list[str] | None = None
    truncated: bool | None = None
    manifest_count: int | None = None
    count_matches: bool | None = None
    token_refused: str | None = None  # the manifest wanted the token over plain http
    us_core: BulkUsCore | None = None
    updated_before_since: int | None = None


class TokenlessRequest(Facts):
    http_status: int | None = None
    refused: bool | None = None
    error: str | None = None
    cancel_refused: str | None = None  # its status URL was on another origin: not DELETEd


class Export(Facts):
    found_by: str | None = None  # group only: given | search
    note: str | None = None  # group only: why there is none
    kickoff: Kickoff | None = None
    status: ExportStatus | None = None
    manifest: Manifest | None = None
    files: list[NdjsonFile] | None = None
    files_not_read: int | None = None
    token_sent_to_file_origins: list[str] | None = None
    status_url_refused: str | None = None  # on another origin: not polled, not cancelled
    file_without_token: TokenlessRequest | None = None
    file_hosts: list[HostTls] | None = None  # the manifest's file servers, surveyed for TLS
    cleanup_delete_status: int | None = None


class Cancel(Facts):
    status_url_refused: str | None = None
    kickoff_status: int | None = None
    delete_status: int | None = None
    after_delete_status: int | None = None
    after_delete_operation_outcome: bool | None = None
    cancelled: bool | None = None


class ParamExport(Facts):
    """One kick-off parameter tried in an export of its own (bulk_params)."""

    requested: Any = None
    kickoff_status: int | None = None
    accepted: bool | None = None
    state: str | None = None
    note: str | None = None
    output_types: list[str] | None = None
    unexpected_types: list[str] | None = None
    files: int | None = None
    lines: int | None = None
    updated_before_since: int | None = None


class KickoffParameters(Facts):
    output_format: ParamExport | None = None
    type: ParamExport | None = None
    since: ParamExport | None = None


class BulkData(Facts):
    timeout_s: int | float | None = None
    us_core_version: str | None = None
    us_core_version_basis: str | None = None
    kickoff_without_token: TokenlessRequest | None = None
    patient: Export | None = None
    group: Export | None = None
    cancel: Cancel | None = None
    kickoff_parameters: KickoffParameters | None = None
    interrupted: str | None = None
