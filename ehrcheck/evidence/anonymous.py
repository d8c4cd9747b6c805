"""What the anonymous probes record (docs/evidence.md, "Probes"): capability, smart, openid, access,
transport, availability."""

from __future__ import annotations

from typing import Any

from ehrcheck.evidence.base import Facts
from ehrcheck.evidence.certification import BundleAssessment


class HttpFacts(Facts):
    """The status line of the one response a fact comes from (probes/base.py `http_summary`)."""

    http_status: int | None = None
    content_type: str | None = None
    elapsed_ms: float | None = None


class CorsFacts(Facts):
    """A second GET of a discovery document sent with an `Origin` header, as a browser app's would be
    (probes/anonymous/cors.py): what `Access-Control-Allow-Origin` came back."""

    origin: str | None = None
    http_status: int | None = None
    allow_origin: str | None = None  # the header as sent (bounded); None when absent
    error: str | None = None


class FormatParamFacts(HttpFacts):
    """`GET [base]/metadata?_format=json` sent with `Accept: application/fhir+xml` (only to a server
    that declares XML): whether `_format` overrode the Accept header, as FHIR R4 defines."""

    accept: str | None = None
    json_statement: bool | None = None  # the body parsed as a JSON CapabilityStatement
    error: str | None = None


# Matched by suffix: real servers publish variants (Cerner's DSTU2 uses "http://DSTU2/fhir-registry...").
OAUTH_URIS_SUFFIX = "fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"

# --- capability ------------------------------------------------------------------------------


class Software(Facts):
    name: str | None = None
    version: str | None = None


class Implementation(Facts):
    description: str | None = None
    url: str | None = None


class ResourceDecl(Facts):
    """One `rest.resource` of the CapabilityStatement."""

    interactions: list[str] | None = None
    search_params: list[str] | None = None
    operations: list[str] | None = None
    supported_profiles: list[str] | None = None
    search_include: list[str] | None = None
    search_rev_include: list[str] | None = None


class Security(Facts):
    declared: bool | None = None
    services: list[str] | None = None
    cors: bool | None = None
    oauth_uris: dict[str, str] | None = None
    # rest.security as the server sent it, for the typed reading (rules/shapes.py): `services` and
    # `oauth_uris` above keep only what could be read as text.
    element: Any = None


class Validation(Facts):
    valid: bool | None = None
    error_count: int | None = None
    errors: list[str] | None = None


class CapabilityData(HttpFacts):
    found: bool | None = None
    problem: str | None = None
    accept_used: str | None = None
    body_bytes: int | None = None
    resource_type: str | None = None
    fhir_version: str | None = None
    fhir_release: str | None = None
    status: str | None = None
    kind: str | None = None
    date: str | None = None
    publisher: str | None = None
    formats: list[str] | None = None
    patch_formats: list[str] | None = None
    software: Software | None = None
    implementation: Implementation | None = None
    instantiates: list[str] | None = None
    implementation_guides: list[str] | None = None
    rest_modes: list[str] | None = None
    resources: dict[str, ResourceDecl] | None = None
    resource_count: int | None = None
    system_interactions: list[str] | None = None
    system_operations: list[str] | None = None
    supported_profiles: list[str] | None = None
    security: Security | None = None
    validation: Validation | None = None
    # The operations declared on Group, on Patient and at system level ("system"), each
    # {name, definition} as sent: Bulk Data discovery (rules/shapes.py reads their types).
    bulk_operations: dict[str, list[Any]] | None = None
    cors: CorsFacts | None = None
    # implementation.url names the base URL audited (None: no implementation.url to compare).
    implementation_url_is_base: bool | None = None
    format_param: FormatParamFacts | None = None
    nosniff: bool | None = None  # the metadata response carried X-Content-Type-Options: nosniff


# --- smart, openid ---------------------------------------------------------------------------


class SmartDocument(Facts):
    """The fields SMART App Launch 2.0/2.2 defines, as the server sent them (probes/anonymous/discovery.py
    keeps only these; others are listed by name in `extra_fields`)."""

    issuer: Any = None
    jwks_uri: Any = None
    authorization_endpoint: Any = None
    grant_types_supported: Any = None
    token_endpoint: Any = None
    token_endpoint_auth_methods_supported: Any = None
    token_endpoint_auth_signing_alg_values_supported: Any = None
    registration_endpoint: Any = None
    associated_endpoints: Any = None
    user_access_brand_bundle: Any = None
    user_access_brand_identifier: Any = None
    scopes_supported: Any = None
    response_types_supported: Any = None
    management_endpoint: Any = None
    introspection_endpoint: Any = None
    revocation_endpoint: Any = None
    capabilities: Any = None
    code_challenge_methods_supported: Any = None


class OpenIdDocument(Facts):
    """The OpenID Connect Discovery fields the openid probe keeps, as the server sent them."""

    issuer: Any = None
    authorization_endpoint: Any = None
    token_endpoint: Any = None
    userinfo_endpoint: Any = None
    jwks_uri: Any = None
    registration_endpoint: Any = None
    scopes_supported: Any = None
    response_types_supported: Any = None
    grant_types_supported: Any = None
    subject_types_supported: Any = None
    id_token_signing_alg_values_supported: Any = None
    token_endpoint_auth_methods_supported: Any = None
    claims_supported: Any = None
    code_challenge_methods_supported: Any = None


class DiscoveryFacts(HttpFacts):
    found: bool | None = None
    problem: str | None = None
    json_content_type: bool | None = None
    extra_fields: list[str] | None = None
    fields_present: list[str] | None = None


class BrandBundleFacts(HttpFacts, BundleAssessment):
    """The SMART 2.2 user-access brand bundle the SMART configuration links, fetched and assessed
    like a service-base-URL Bundle (probes/certification/service_base_urls.py)."""

    url: str | None = None
    found: bool | None = None
    problem: str | None = None
    # user_access_brand_identifier matches an Organization's identifier in the bundle (None: no
    # identifier was published to match).
    identifier_matched: bool | None = None


class SmartData(DiscoveryFacts):
    document: SmartDocument | None = None
    capabilities: list[str] | None = None  # the string members of document.capabilities
    cors: CorsFacts | None = None
    brand_bundle: BrandBundleFacts | None = None


class JwkFacts(Facts):
    """One key of a JWK Set, reduced to what judges it: never the key material itself."""

    kty: str | None = None  # short tokens as sent (letters, digits, -_.+), else "(other)"
    use: str | None = None
    alg: str | None = None
    kid_present: bool | None = None
    rsa_bits: int | None = None  # the modulus size of an RSA key
    public_parts: bool | None = None  # n and e (RSA) or crv, x (EC/OKP) present
    private_parts: bool | None = None  # d, p, q... published: the private key is out


class JwksFacts(HttpFacts):
    """The OpenID provider's key set (`jwks_uri`), fetched without credentials."""

    url: str | None = None
    source: str | None = None  # openid | smart: the document that named the URL
    found: bool | None = None
    problem: str | None = None
    keys_type: str | None = None  # JSON type of `keys` when it is not an array
    keys: list[JwkFacts] | None = None
    non_object_keys: int | None = None
    duplicate_kids: int | None = None


class OpenIdData(DiscoveryFacts):
    document: OpenIdDocument | None = None
    issuer_requested: str | None = None
    issuer_is_discovery_url: bool | None = None
    issuer_matches: bool | None = None
    jwks: JwksFacts | None = None


# --- access ----------------------------------------------------------------------------------


class Phi(Facts):
    """Only with --include-phi: what the probe saw, verbatim."""

    patient_ids: list[Any] | None = None
    resources: list[Any] | None = None


class AnonymousRequest(HttpFacts):
    error: str | None = None
    www_authenticate: bool | None = None
    body_resource_type: Any = None
    entry_count: int | None = None
    entry_types: list[str] | None = None
    patient_entries: int | None = None
    total: Any = None  # the Bundle's own `total`, as sent
    patient_elements_present: list[str] | None = None
    patient_id_hashes: list[str] | None = None
    phi: Phi | None = None
    issue_codes: list[str] | None = None


class PatientSearch(AnonymousRequest):
    returned_patient_data: bool | None = None


class BulkKickoff(AnonymousRequest):
    content_location: bool | None = None
    started_without_auth: bool | None = None
    cancel_status: int | None = None
    cancel_error: str | None = None


class AccessData(Facts):
    patient_search: PatientSearch | None = None
    bulk_export: BulkKickoff | None = None
    # GET [base]/Patient/<an id no server holds>: how a read of an unknown resource is answered.
    unknown_read: AnonymousRequest | None = None


# --- transport -------------------------------------------------------------------------------


class Certificate(Facts):
    subject: str | None = None
    issuer: str | None = None
    self_signed: bool | None = None
    not_before: str | None = None
    not_after: str | None = None
    days_left: int | None = None
    san_dns: list[str] | None = None
    san_ip: list[str] | None = None
    hostname_match: bool | None = None
    key_type: str | None = None
    key_bits: int | None = None
    signature_hash: str | None = None  # sha256, sha1...; "intrinsic" for Ed25519/Ed448
    parse_error: str | None = None


class Tls(Facts):
    error: str | None = None
    verified: bool | None = None
    verify_error: str | None = None
    modern_error: str | None = None
    negotiated_version: str | None = None
    # The modern handshake offered TLS 1.3 (our TLS library has it, and that handshake, not a
    # legacy-pinned one, produced negotiated_version): a TLS 1.2 answer then means no TLS 1.3.
    client_offered_tls13: bool | None = None
    cipher: str | None = None
    cipher_bits: int | None = None
    certificate: Certificate | None = None
    legacy: dict[str, str] | None = None  # "TLSv1.0" -> accepted | rejected | untestable
    # A TLS 1.2 handshake offering only static-RSA key exchange: accepted | rejected | untestable.
    static_kx: str | None = None


class Hsts(Facts):
    header: str | None = None
    max_age: int | None = None


class HttpRedirect(Facts):
    status: int | None = None
    redirects_to_https: bool | None = None
    serves_content: bool | None = None
    http_closed: bool | None = None
    untested: str | None = None
    error: str | None = None


class HostTls(Facts):
    """A host the API sends apps to (authorize, token, Bulk files), surveyed like the FHIR base.

    Only scheme://host:port is kept: a Bulk file URL can itself be a capability (a secret)."""

    origin: str | None = None
    roles: list[str] | None = None  # authorize | token | bulk files
    same_as_base: bool | None = None  # the FHIR base's own host:port: its survey is `transport.tls`
    tls: Tls | None = None
    skipped: str | None = None  # why no handshake was tried (plain http, over the host limit)
    unreachable: str | None = None  # the TCP connection failed: no TLS to observe


class TransportData(Facts):
    scheme: str | None = None
    host: str | None = None
    tls: Tls | None = None
    auth_hosts: list[HostTls] | None = None  # absent: evidence from before these were surveyed
    hsts: Hsts | None = None
    http_redirect: HttpRedirect | None = None


# --- availability ----------------------------------------------------------------------------


class AvailabilityData(Facts):
    requests: int | None = None
    answered: int | None = None
    failed: int | None = None
    server_errors: int | None = None
    median_ms: int | float | None = None
    max_ms: int | float | None = None
    reachable: bool | None = None
    tls_only: bool | None = None
