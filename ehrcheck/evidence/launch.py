"""What a SMART user launch records (docs/evidence.md, "launch"; probes/launch/probe.py).

Statuses, field names and yes/no facts only: the models have no field that could hold a token,
a code, a verifier, an id_token or a patient id.
"""

from __future__ import annotations

from ehrcheck.evidence.authenticated import Refusal, TokenResponse
from ehrcheck.evidence.base import Facts


class LaunchClient(Facts):
    client_type: str | None = None  # public, confidential-symmetric, confidential-asymmetric
    redirect_uri: str | None = None
    launch_uri: str | None = None
    scope_requested: list[str] | None = None


class LaunchEndpoints(Facts):
    revocation_advertised: bool | None = None
    introspection_advertised: bool | None = None
    jwks_uri_found: bool | None = None


class EhrLaunch(Facts):
    launches_received: int | None = None
    launches_refused_iss: int | None = None
    launch_present: bool | None = None
    iss_matches: bool | None = None


class Authorization(Facts):
    code_received: bool | None = None
    error: str | None = None
    iss_param_matches: bool | None = None


class LaunchTokenResponse(TokenResponse):
    """The backend token response's facts, plus the launch context and identity."""

    patient_present: bool | None = None
    encounter_present: bool | None = None
    need_patient_banner: bool | None = None
    need_patient_banner_present: bool | None = None
    smart_style_url_present: bool | None = None
    id_token_present: bool | None = None
    scope_requested: list[str] | None = None
    scopes_not_granted: list[str] | None = None
    patient_context_requested: bool | None = None


class IdToken(Facts):
    present: bool | None = None
    openid_requested: bool | None = None
    well_formed: bool | None = None
    alg: str | None = None
    kid_found: bool | None = None
    signature_valid: bool | None = None
    iss_ok: bool | None = None
    aud_ok: bool | None = None
    exp_ok: bool | None = None
    iat_present: bool | None = None
    sub_present: bool | None = None
    nonce_ok: bool | None = None
    fhir_user_present: bool | None = None
    fhir_user_type: str | None = None
    jwks_fetched: bool | None = None
    fhir_user_on_audited_server: bool | None = None
    fhir_user_status: int | None = None
    fhir_user_readable: bool | None = None


class ContextRead(Facts):
    http_status: int | None = None
    is_patient: bool | None = None
    is_encounter: bool | None = None
    id_matches: bool | None = None


class Cors(Facts):
    preflight_status: int | None = None
    allows_origin: bool | None = None
    allows_authorization: bool | None = None
    read_allows_origin: bool | None = None


class Introspected(Facts):
    http_status: int | None = None
    active: bool | None = None


class Introspection(Facts):
    advertised: bool | None = None
    # why the token was not sent there: the endpoint is on neither the FHIR nor the token origin
    not_sent: str | None = None
    client_authenticated: bool | None = None
    live: Introspected | None = None
    after_revocation: Introspected | None = None


class RefreshStep(Facts):
    http_status: int | None = None
    accepted: bool | None = None
    error: str | None = None
    new_refresh_token: bool | None = None
    patient_status: int | None = None


class Refresh(Facts):
    offline_access_requested: bool | None = None
    refresh_token_issued: bool | None = None
    first: RefreshStep | None = None
    second: RefreshStep | None = None


class Revocation(Facts):
    advertised: bool | None = None
    not_sent: str | None = None  # as Introspection.not_sent
    revoke_status: int | None = None
    read_after_status: int | None = None
    read_refused_after: bool | None = None
    revoke_refresh_status: int | None = None
    refresh_after_status: int | None = None
    refresh_refused_after: bool | None = None


class Limited(Facts):
    scope_requested: list[str] | None = None
    authorization_error: str | None = None
    token_status: int | None = None
    scope_granted: list[str] | None = None
    patient_status: int | None = None
    observation_status: int | None = None
    observation_refused: bool | None = None
    observation_entries: int | None = None


class GranularSearch(Facts):
    http_status: int | None = None
    refused: bool | None = None
    returned: int | None = None
    outside_granted: int | None = None


class Granular(Facts):
    scope_requested: list[str] | None = None
    authorization_error: str | None = None
    token_status: int | None = None
    granted_as_requested: bool | None = None
    granted_wider: list[str] | None = None
    searches: dict[str, GranularSearch] | None = None  # "<Type> granted|other|unfiltered"


class LaunchRefusal(Refusal):
    """One broken authorization-code request; `control_status` is the correct request sent after."""

    authorization_error: str | None = None
    control_status: int | None = None


class Callback(Facts):
    mismatched_state_refused: int | None = None


class LaunchData(Facts):
    mode: str | None = None  # standalone or ehr
    client: LaunchClient | None = None
    endpoints: LaunchEndpoints | None = None
    ehr: EhrLaunch | None = None
    authorization: Authorization | None = None
    token: LaunchTokenResponse | None = None
    id_token: IdToken | None = None
    patient_read: ContextRead | None = None
    encounter_read: ContextRead | None = None
    cors: Cors | None = None
    introspection: Introspection | None = None
    refresh: Refresh | None = None
    revocation: Revocation | None = None
    limited: Limited | None = None
    granular: Granular | None = None
    negative: dict[str, LaunchRefusal] | None = None
    callback: Callback | None = None
    authorizations: int | None = None
