"""Checks over unauthenticated requests that must be refused.

See `ehrcheck.rules.checks` for the contract every check follows.
"""

from __future__ import annotations

import datetime as dt

from ehrcheck.evidence.view import View
from ehrcheck.rules.checks.common import NoArgs, Outcome, check


@check()
def unauthenticated_patient_search(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """GET Patient without a token is refused (401/403; US Core also allows 404).

    Patient entries in a 200 response are a disclosure of PHI to anyone on the internet; a 200
    without entries still means the API does not ask who is calling. A 5xx is not_observed: the
    server broke before showing whether it enforces authentication.
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
            f"HTTP {status} returned {search.patient_entries} Patient record(s) to an anonymous caller.",
        )
    if status in (401, 403):
        return Outcome("pass", status, f"HTTP {status}.")
    if status == 404:
        return Outcome("pass", status, "HTTP 404 (allowed by US Core; 401 is clearer to apps).")
    if status >= 500:
        return Outcome(
            "not_observed", status, f"The server failed with HTTP {status} before showing whether it requires a login."
        )
    if 200 <= status < 300:
        return Outcome("fail", status, f"HTTP {status}: the search was accepted without any credentials.")
    return Outcome("warn", status, f"HTTP {status}: refused, but not with 401/403 as apps expect.")


@check()
def unauthenticated_export(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """An anonymous Patient/$export kick-off is refused and starts no bulk job."""
    export = view.access.bulk_export if view.access else None
    if export is None or export.error:
        return Outcome("not_observed", None, f"The $export kick-off got no answer: {export.error if export else None}.")
    status = export.http_status
    if status is None:
        return Outcome("not_observed", None, "The $export kick-off status was not recorded.")
    if export.started_without_auth or status == 202:
        return Outcome("fail", status, "HTTP 202: a bulk export of patient data was started without credentials.")
    if 200 <= status < 300:
        return Outcome("fail", status, f"HTTP {status}: the kick-off was accepted without credentials.")
    if status >= 500:
        return Outcome("not_observed", status, f"The server failed with HTTP {status}.")
    return Outcome("pass", status, f"HTTP {status}: no export was started.")


# --- vendor claims ---------------------------------------------------------------------------
