"""CORS on the public discovery documents: what a browser app (a SMART app with no server of its
own) gets back when it reads `/metadata` or `.well-known/smart-configuration` from another origin.

SMART App Launch 2.0.0 (§App Launch, "Considerations for Cross-Origin Resource Sharing") makes
servers that support browser-based apps permit any origin on these two documents; the ONC SMART
test kit sends an `Origin` header and checks `Access-Control-Allow-Origin`. This is a separate
request, so a server that mishandles the header cannot spoil the main read. No credentials.
"""

from __future__ import annotations

from typing import Any

from ehrcheck.http.client import FetchError, Recorder
from ehrcheck.probes.base import ProbeContext

# A reserved name (RFC 6761 .invalid): never resolved, and no server can mistake it for a real app.
ORIGIN = "https://ehrcheck-app.invalid"
MAX_HEADER = 200


async def cors_facts(ctx: ProbeContext, url: str, recorder: Recorder, accept: str) -> dict[str, Any]:
    """GET `url` as a cross-origin browser app would; the Access-Control-Allow-Origin it returned."""
    facts: dict[str, Any] = {"origin": ORIGIN}
    try:
        resp = await ctx.fetcher.get(url, recorder, headers={"Accept": accept, "Origin": ORIGIN})
    except FetchError as exc:
        facts["error"] = str(exc)[:300]
        return facts
    facts["http_status"] = resp.status
    allow = resp.headers.get("access-control-allow-origin")
    facts["allow_origin"] = allow.strip()[:MAX_HEADER] if allow is not None else None
    return facts
