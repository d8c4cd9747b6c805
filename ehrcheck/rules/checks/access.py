"""Checks over unauthenticated requests that must be refused.

See `ehrcheck.rules.checks` for the contract every check follows.
"""

from __future__ import annotations

import datetime as dt

from ehrcheck.evidence.anonymous import AnonymousRequest
from ehrcheck.evidence.view import View
from ehrcheck.rules.checks.common import NoArgs, Outcome, check


def _fhir_body(request: AnonymousRequest) -> bool:
    return isinstance(request.body_resource_type, str)


@check()
def unauthenticated_patient_search(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """GET Patient without a token must be refused with 401, as the (g)(10) test kit requires.

    Only FHIR Patient resources coming back are patient data returned without a login (fail). A
    403, a redirect or a login page is a refusal of the wrong kind (warn: apps cannot tell they
    should authenticate). A 404 is not a refusal: the endpoint may simply not exist, so nothing
    was observed; nor was anything when the server broke (5xx).
    """
    search = view.access.patient_search if view.access else None
    if search is None or search.error:
        return Outcome("not_observed", None, f"The Patient search got no answer: {search.error if search else None}.")
    status = search.http_status
    if status is None:
        return Outcome("not_observed", None, "The Patient search status was not recorded.")
    if search.returned_patient_data:
        return Outcome(
            "fail",
            status,
            f"HTTP {status} returned {search.patient_entries} FHIR Patient record(s) to an anonymous caller.",
        )
    if status == 401:
        return Outcome("pass", status, "HTTP 401.")
    if status == 403:
        return Outcome("warn", status, "HTTP 403: refused, but the (g)(10) test kit requires 401 for a request without a token.")
    if status == 404:
        return Outcome(
            "not_observed", status, "HTTP 404: no Patient endpoint answered, so whether it requires a login was not observed."
        )
    if status >= 500:
        return Outcome(
            "not_observed", status, f"The server failed with HTTP {status} before showing whether it requires a login."
        )
    if 200 <= status < 300 and _fhir_body(search):
        return Outcome(
            "warn",
            status,
            f"HTTP {status}: a {search.body_resource_type} came back without any credentials, though no patient in it.",
        )
    if 200 <= status < 300:
        return Outcome(
            "warn", status, f"HTTP {status} without FHIR data (a login page?): refused, but not with 401 as apps expect."
        )
    return Outcome("warn", status, f"HTTP {status}: refused, but not with 401 as apps expect.")


def _patient_export_declared(view: View) -> bool | None:
    cap = view.capability
    if cap is None or not cap.found:
        return None
    patient = (cap.resources or {}).get("Patient")
    ops = {str(o).lstrip("$").lower() for o in (patient.operations if patient else None) or []}
    system = {str(o).lstrip("$").lower() for o in cap.system_operations or []}
    return "export" in ops or "patient-export" in system


@check()
def unauthenticated_export(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """An anonymous Patient/$export kick-off is refused and starts no bulk job.

    The kick-off must target an export the server offers: a 404 where no Patient-level export is
    declared is not applicable, and elsewhere not observed (nothing was refused)."""
    export = view.access.bulk_export if view.access else None
    if export is None or export.error:
        return Outcome("not_observed", None, f"The $export kick-off got no answer: {export.error if export else None}.")
    status = export.http_status
    if status is None:
        return Outcome("not_observed", None, "The $export kick-off status was not recorded.")
    if export.started_without_auth or status == 202:
        return Outcome("fail", status, "HTTP 202: a bulk export of patient data was started without credentials.")
    if 200 <= status < 300 and (_fhir_body(export) or export.content_location):
        return Outcome("fail", status, f"HTTP {status}: the kick-off was accepted without credentials.")
    if status == 404:
        if _patient_export_declared(view) is False:
            return Outcome("not_applicable", status, "No Patient-level $export is declared, so there was no kick-off to refuse.")
        return Outcome("not_observed", status, "HTTP 404: no Patient/$export answered, so no refusal was observed.")
    if status >= 500:
        return Outcome("not_observed", status, f"The server failed with HTTP {status}.")
    if 200 <= status < 300:
        return Outcome(
            "warn", status, f"HTTP {status} without FHIR data: no export was started, but it was not refused with 401."
        )
    return Outcome("pass", status, f"HTTP {status}: no export was started.")


# --- vendor claims ---------------------------------------------------------------------------


@check()
def unknown_read_not_found(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """A read of an id no server holds is answered 404 Not Found (or 410 Gone), as FHIR R4's read
    interaction defines, so apps can tell "no such record" from a failure.

    A 401 or 403 is a refusal before any lookup, right for an anonymous caller (HIP-012), so the
    rule does not apply; a request that got no answer was not observed.
    """
    read = view.access.unknown_read if view.access else None
    if read is None or read.error or read.http_status is None:
        why = read.error if read is not None and read.error else "no unknown-id read was made"
        return Outcome("not_observed", None, f"Not observed: {why}.")
    status = read.http_status
    if status in (401, 403):
        return Outcome("not_applicable", status, f"HTTP {status}: the anonymous read was refused before any lookup.")
    if status in (404, 410):
        return Outcome("pass", status, f"Observed: HTTP {status} for GET [base]/Patient/<unknown id>.")
    body = f" with a {read.body_resource_type}" if _fhir_body(read) else ""
    return Outcome("fail", status, f"Observed: HTTP {status}{body} for GET [base]/Patient/<unknown id>, not 404.")


@check()
def unknown_read_outcome(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The 404 (or 410) for an unknown id carries an OperationOutcome, the resource FHIR defines for
    saying what went wrong, rather than an HTML page or nothing. Applies only when the read was
    answered 404/410 (unknown_read_not_found judges the status)."""
    read = view.access.unknown_read if view.access else None
    if read is None or read.error or read.http_status is None:
        return Outcome("not_observed", None, "No unknown-id read was answered.")
    if read.http_status not in (404, 410):
        return Outcome("not_applicable", read.http_status, f"The unknown-id read was answered HTTP {read.http_status}, not 404.")
    if read.body_resource_type == "OperationOutcome":
        codes = ", ".join(read.issue_codes or []) or "none"
        return Outcome("pass", read.issue_codes, f"Observed: an OperationOutcome (issue codes: {codes}).")
    got = f"a {read.body_resource_type} resource" if _fhir_body(read) else f"a {read.content_type or 'typeless'} body"
    return Outcome("fail", read.content_type, f"Observed: HTTP {read.http_status} with {got}, not an OperationOutcome.")
