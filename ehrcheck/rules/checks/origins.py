"""Checks over where ehrcheck's credentials were allowed to go (see http/origins.py): a refusal
to send a token or secret is a finding about the server that asked for it, never a silent skip."""

from __future__ import annotations

import datetime as dt

from ehrcheck.evidence.view import View, need
from ehrcheck.http.origins import is_loopback
from ehrcheck.rules.checks.common import NoArgs, Outcome, _listing, check


def _sentence(text: str) -> str:
    return f"{text[0].upper()}{text[1:]}."


@check()
def credentials_over_https(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The token endpoint (and the FHIR base the token is used on) take credentials over https."""
    token = need(view.token, "token")
    endpoint = token.token_endpoint
    base_refused = token.fhir_base.refused if token.fhir_base else None
    refused = [r for r in (endpoint.refused if endpoint else None, base_refused) if r]
    observed = {"token_endpoint": endpoint.url if endpoint else None, "https": endpoint.https if endpoint else None}
    if refused:
        return Outcome("fail", observed, " ".join(_sentence(r) for r in refused))
    if endpoint and endpoint.https:
        return Outcome("pass", observed)
    if endpoint and endpoint.url and endpoint.https is False:
        if "plain_http_loopback" not in endpoint.model_fields_set:  # gathered before it was recorded
            return Outcome("not_observed", None, "This evidence predates the token endpoint check; audit again to judge it.")
        if endpoint.plain_http_loopback or is_loopback(endpoint.url):
            loopback = "The token endpoint is plain http on this machine (allowed for a loopback test server only)."
            return Outcome("warn", observed, loopback)
        return Outcome("fail", observed, f"The token endpoint {endpoint.url} is plain http: credentials were sent in clear text.")
    return Outcome("not_observed", None, "No token endpoint was used.")


@check()
def bulk_token_origins(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """Bulk status URLs are on the FHIR server's origin, and file URLs that need the token are
    served over https; says which origins received the token for files."""
    bulk = need(view.bulk, "bulk")
    exports = [e for e in (bulk.patient, bulk.group) if e is not None]
    refusals = [
        r for r in [e.status_url_refused for e in exports] + [bulk.cancel.status_url_refused if bulk.cancel else None] if r
    ]
    if bulk.kickoff_without_token and bulk.kickoff_without_token.cancel_refused:
        refusals.append(bulk.kickoff_without_token.cancel_refused)
    refusals += [f"file not sent the token: {f.token_refused}" for e in exports for f in e.files or [] if f.token_refused]
    sent = sorted({o for e in exports for o in e.token_sent_to_file_origins or []})
    observed = {"token_sent_to_file_origins": sent, "refused": len(refusals)}
    if refusals:
        return Outcome("fail", observed, _listing(sorted(set(refusals)), 4) + ".")
    if not any(e.status is not None for e in exports) and not (bulk.cancel and bulk.cancel.delete_status is not None):
        return Outcome("not_observed", None, "No export was started, so no status or file URL was seen.")
    if any(e.files and e.token_sent_to_file_origins is None for e in exports):
        return Outcome(
            "not_observed", None, "This evidence predates the record of where the token went; audit again to judge it."
        )
    if sent:
        plain = [o for o in sent if o.lower().startswith("http:")]  # the probe allows these on loopback only
        note = f" ({', '.join(plain)} over plain HTTP: allowed because it is a loopback address)" if plain else ""
        return Outcome("pass", observed, f"The token went to these file origins, as the manifest asked: {', '.join(sent)}{note}.")
    return Outcome("pass", observed, "No file server received the token.")
