"""Checks over where ehrcheck's credentials were allowed to go (see http/origins.py): a refusal
to send a token or secret is a finding about the server that asked for it, never a silent skip."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ehrcheck.rules.checks.common import Outcome, _listing, check


@check
def credentials_over_https(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The token endpoint (and the FHIR base the token is used on) take credentials over https."""
    endpoint = view["token"].get("token_endpoint") or {}
    refused = [r for r in (endpoint.get("refused"), (view["token"].get("fhir_base") or {}).get("refused")) if r]
    observed = {"token_endpoint": endpoint.get("url") or None, "https": endpoint.get("https")}
    if refused:
        return Outcome("fail", observed, " ".join(f"{r[0].upper()}{r[1:]}." for r in refused))
    if endpoint.get("plain_http_loopback"):
        return Outcome(
            "warn", observed, "The token endpoint is plain http on this machine (allowed for a loopback test server only)."
        )
    if endpoint.get("https"):
        return Outcome("pass", observed)
    return Outcome("not_observed", None, "No token endpoint was used.")


@check
def bulk_token_origins(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """Bulk status URLs are on the FHIR server's origin, and file URLs that need the token are
    served over https; says which origins received the token for files."""
    bulk = view["bulk"]
    exports = [e for e in (bulk.get("patient"), bulk.get("group"), bulk.get("cancel")) if isinstance(e, dict)]
    refusals = [e["status_url_refused"] for e in exports if e.get("status_url_refused")]
    if (bulk.get("kickoff_without_token") or {}).get("cancel_refused"):
        refusals.append(bulk["kickoff_without_token"]["cancel_refused"])
    for e in exports:
        refusals += [f"file not sent the token: {f['token_refused']}" for f in e.get("files") or [] if f.get("token_refused")]
    sent = sorted({o for e in exports for o in e.get("token_sent_to_file_origins") or []})
    observed = {"token_sent_to_file_origins": sent, "refused": len(refusals)}
    if refusals:
        return Outcome("fail", observed, _listing(sorted(set(refusals)), 4) + ".")
    if not any("status" in e or "delete_status" in e for e in exports):
        return Outcome("not_observed", None, "No export was started, so no status or file URL was seen.")
    where = (
        f"The token went to these file origins, as the manifest asked: {', '.join(sent)}."
        if sent
        else "No file server received the token."
    )
    return Outcome("pass", observed, where)
