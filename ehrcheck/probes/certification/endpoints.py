"""The `endpoints` probe: the vendor's published service-base-URL Bundle (45 CFR 170.404(b)(2)).

Where the Bundle comes from, first that applies (`ctx.settings`):

    endpoints_document   a Bundle read from --endpoints-bundle FILE (with endpoints_file, its name)
    endpoints_url        --endpoints-bundle URL
    otherwise            the `serviceBaseUrlList` of the CHPL listings the `chpl` probe found

The Bundle is fetched anonymously (it must be public), assessed by `service_base_urls`, and then
the first `endpoints_sample` distinct addresses (default 5; 0 turns it off) are asked for
`[address]/metadata`, a few at a time, as ONC's test kit does for all of them. The sample is
bounded on purpose: Epic's list alone has hundreds of hospitals.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ehrcheck.http.client import FetchError, Recorder, gather_recorded
from ehrcheck.http.redact import redact_path_params, strip_credentials
from ehrcheck.probes.base import ProbeContext, ProbeSkipped, parse_json
from ehrcheck.probes.certification.service_base_urls import assess_bundle

DEFAULT_SAMPLE = 5
SAMPLE_CONCURRENCY = 4
FHIR_ACCEPT = {"Accept": "application/fhir+json, application/json;q=0.9"}


async def _bundle_from_chpl(ctx: ProbeContext) -> list[str]:
    try:
        attempt = await ctx.result("chpl")
    except KeyError:
        raise ProbeSkipped("no service-base-URL Bundle to check: give --endpoints-bundle URL|FILE or a CHPL listing") from None
    if attempt.status.value != "completed":
        raise ProbeSkipped(f"no service-base-URL Bundle to check: the CHPL lookup {attempt.status.value} ({attempt.reason})")
    urls = sorted(
        {
            x["service_base_url_list"]
            for x in attempt.data.get("listings") or []
            if x.get("found") and isinstance(x.get("service_base_url_list"), str)
        }
    )
    if not urls:
        raise ProbeSkipped("the CHPL listing names no service base URL list; give --endpoints-bundle URL|FILE to check one")
    return urls


async def _sample(ctx: ProbeContext, recorder: Recorder, addresses: list[str], size: int) -> dict[str, Any]:
    chosen = addresses[:size]
    gate = asyncio.Semaphore(SAMPLE_CONCURRENCY)

    async def one(listed: str, recorder: Recorder) -> dict[str, Any]:
        # Anonymous, as security.md §9 says: a Bundle's `https://user:pw@host/r4?access_token=…`
        # sent its user-info as a Basic header to that host and kept the token in the evidence.
        # Without its query too, as a scan list's URL: FHIR's [base] has none, and a key or a
        # session is what a query on a published address would carry.
        try:
            parts = urlsplit(strip_credentials(listed))._replace(query="")
        except ValueError:
            return {"address": "[not a URL]", "ok": False, "problem": "not a URL", "error_kind": "other"}
        shown = redact_path_params(urlunsplit(parts))  # as every URL ehrcheck reports: a session there is a credential
        url = urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/metadata"))
        async with gate:
            try:
                resp = await ctx.fetcher.get(url, recorder, headers=FHIR_ACCEPT)
            except FetchError as exc:
                return {"address": shown, "ok": False, "problem": str(exc), "error_kind": exc.kind}
        doc, problem = parse_json(resp)
        rtype = doc.get("resourceType") if isinstance(doc, dict) else None
        ok = resp.status == 200 and rtype == "CapabilityStatement"
        out: dict[str, Any] = {"address": shown, "http_status": resp.status, "ok": ok}
        if not ok:
            out["problem"] = (
                f"HTTP {resp.status}"
                if resp.status != 200
                else (problem or f"answered a {rtype or 'non-FHIR'} document, not a CapabilityStatement")
            )
        return out

    results = await gather_recorded(recorder, [functools.partial(one, a) for a in chosen])
    return {
        "size": size,
        "available": len(addresses),
        "checked": len(results),
        "ok": sum(1 for r in results if r["ok"]),
        "results": results,
    }


async def probe_endpoints(ctx: ProbeContext, recorder: Recorder) -> dict[str, Any]:
    s = ctx.settings
    size = int(s.get("endpoints_sample", DEFAULT_SAMPLE))
    data: dict[str, Any]
    if s.get("endpoints_document") is not None:
        data = {"source": "file", "file": s.get("endpoints_file"), "fetched": True}
        doc = s["endpoints_document"]
    else:
        url = s.get("endpoints_url")
        data = {"source": "url"} if url else {"source": "chpl"}
        if not url:
            urls = await _bundle_from_chpl(ctx)
            url = urls[0]
            if len(urls) > 1:
                data["other_lists"] = urls[1:]
        data["url"] = url
        resp = await ctx.fetcher.get(url, recorder, headers=FHIR_ACCEPT)  # no credentials: it must be public
        data.update({"http_status": resp.status, "content_type": resp.content_type or None})
        data["public"] = resp.status == 200
        data["fetched"] = resp.status == 200
        if resp.status != 200:
            data["problem"] = f"HTTP {resp.status}" + (": the list is not public" if resp.status in (401, 403) else "")
            return data
        doc, problem = parse_json(resp)
        if problem:
            data["problem"] = problem
            data["fetched"] = False
            return data
    facts = assess_bundle(doc, ctx.base_url)
    addresses = facts.pop("addresses", [])
    data.update(facts)
    if size > 0 and addresses:
        data["sample"] = await _sample(ctx, recorder, addresses, size)
    else:
        data["sample"] = {"size": size, "available": len(addresses), "checked": 0, "ok": 0, "results": []}
    return data
