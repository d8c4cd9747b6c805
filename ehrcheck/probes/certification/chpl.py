"""The `chpl` probe: the product's listings on ONC's Certified Health IT Product List (CHPL).

Inputs (from `ctx.settings`, put there by the CLI):

    chpl_numbers         CHPL product numbers to look up (validated already)
    chpl_documents       listings read from --chpl-file (offline), or None to ask the API
    chpl_file            that file's name, for the record
    chpl_url             the API base (default https://chpl.healthit.gov/rest)
    chpl_api_key         from CHPL_API_KEY only; sent as the `API-Key` header, which
                         ehrcheck.http.redact replaces in every recorded exchange
    cms_certification_id a CMS EHR Certification ID to verify, if one was given

With the API, each number is searched (`/search/v3`, which also finds a listing by a previous
number) and its details read (`/certified_products/{id}/details`); `/data/certification-criteria`
resolves criterion ids. The public documentation links a listing names (API documentation, EHI
export format, the (b)(11) risk management summary) are then fetched, as a patient's app developer would, to see whether they open
without a login. Without a key and without a file the probe is skipped with a hint, so the
certification rules say `not_observed` instead of guessing.
"""

from __future__ import annotations

import functools
import re
from typing import Any
from urllib.parse import quote, urlsplit

from ehrcheck.http.client import FetchError, Recorder, Response, gather_recorded
from ehrcheck.http.origins import api_key_refusal
from ehrcheck.models import Evidence
from ehrcheck.probes.base import ProbeContext, ProbeError, ProbeSkipped, parse_json
from ehrcheck.probes.certification.chpl_listing import criteria_index, listing_documents, matches, normalise_listing

DEFAULT_CHPL_URL = "https://chpl.healthit.gov/rest"
NO_KEY_HINT = "no CHPL API key: set CHPL_API_KEY (free from https://chpl.healthit.gov/#/resources/chpl_api) or give --chpl-file"
KEY_REJECTED = (401, 403)
LINK_FIELDS = ("api_documentation_url", "export_documentation_url", "risk_management_summary_url")
_PASSWORD_INPUT = re.compile(rb"<input[^>]+type\s*=\s*[\"']?password", re.IGNORECASE)
_LOGIN_PATH = re.compile(r"(^|[/._-])(login|log-in|signin|sign-in|sso|saml|oauth2?/authorize)([/._?-]|$)", re.IGNORECASE)


class ChplKeyRejected(ProbeError):
    """CHPL refused the API key; the CLI turns this into exit code 2."""


def _api_headers(key: str) -> dict[str, str]:
    return {"API-Key": key, "Accept": "application/json"}


async def _get_json(ctx: ProbeContext, url: str, recorder: Recorder, key: str) -> tuple[int, Any]:
    resp = await ctx.fetcher.get(url, recorder, headers=_api_headers(key))
    if resp.status in KEY_REJECTED:
        raise ChplKeyRejected(
            f"CHPL rejected the API key (HTTP {resp.status}{' Unauthorized' if resp.status == 401 else ' Forbidden'}): "
            "check CHPL_API_KEY"
        )
    if resp.status != 200:
        return resp.status, None
    doc, problem = parse_json(resp)
    if problem:
        raise ProbeError(f"CHPL answered {url.split('?')[0]} with something other than JSON: {problem}")
    return 200, doc


async def _lookup(
    ctx: ProbeContext, recorder: Recorder, base: str, key: str, number: str, criteria: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    """Search, then details; a search row alone when the details are unavailable."""
    status, page = await _get_json(ctx, f"{base}/search/v3?searchTerm={quote(number)}&pageSize=100", recorder, key)
    rows = (listing_documents(page) or []) if status == 200 else []
    row = next((r for r in rows if matches(r, number)), None)
    ident = str(row["id"]) if row and isinstance(row.get("id"), int) else quote(number)
    status, details = await _get_json(ctx, f"{base}/certified_products/{ident}/details", recorder, key)
    if status == 200 and isinstance(details, dict):
        listing = normalise_listing(details, criteria)
        if row is not None:  # search rows also count open direct-review non-conformities
            extra = normalise_listing(row, criteria)
            if extra["open_direct_review_nonconformities"] is not None:
                listing["open_direct_review_nonconformities"] = extra["open_direct_review_nonconformities"]
                listing["open_nonconformities"] = (listing["open_nonconformities"] or 0) + extra[
                    "open_direct_review_nonconformities"
                ]
    elif row is not None:
        listing = normalise_listing(row, criteria)
    elif status >= 500 or status == 429:  # CHPL failing or throttling says nothing about the listing
        raise ProbeError(f"CHPL failed to answer for {number} (HTTP {status})")
    else:
        return {"chpl_product_number": number, "found": False, "reason": f"CHPL has no listing with this number (HTTP {status})"}
    listing["requested_as"] = number
    return listing


async def _verify_certification_id(ctx: ProbeContext, recorder: Recorder, base: str, key: str, cms_id: str) -> dict[str, Any]:
    status, doc = await _get_json(ctx, f"{base}/certification-ids/verify?certificationIds={quote(cms_id)}", recorder, key)
    results = doc.get("results") if isinstance(doc, dict) else None
    match = next((r for r in results or [] if isinstance(r, dict) and str(r.get("id", "")).upper() == cms_id), None)
    if status != 200 or match is None or not isinstance(match.get("valid"), bool):
        return {"id": cms_id, "valid": None, "reason": f"CHPL gave no verdict (HTTP {status})"}
    record: dict[str, Any] = {"id": cms_id, "valid": match["valid"]}
    if match["valid"]:
        status, lookup = await _get_json(ctx, f"{base}/certification-ids/{quote(cms_id)}", recorder, key)
        if status == 200 and isinstance(lookup, dict):
            record["year"] = lookup.get("year")
            record["products"] = sorted(
                str(p["chplProductNumber"])
                for p in lookup.get("products") or []
                if isinstance(p, dict) and p.get("chplProductNumber")
            )
    return record


def login_signals(resp: Response) -> list[str]:
    """Why a documentation page looks like it needs a login (empty when it does not)."""
    signals = []
    if resp.status in (401, 407):
        signals.append(f"HTTP {resp.status}")
    if resp.status == 403:
        signals.append("HTTP 403 Forbidden")
    path = urlsplit(resp.url).path + ("?" + urlsplit(resp.url).query if urlsplit(resp.url).query else "")
    if _LOGIN_PATH.search(path):
        signals.append(f"ends at a sign-in address ({urlsplit(resp.url).path})")
    if resp.status == 200 and _PASSWORD_INPUT.search(resp.content[:500_000]):
        signals.append("the page asks for a password")
    return signals


async def check_link(ctx: ProbeContext, recorder: Recorder, url: str) -> dict[str, Any]:
    """Open a public documentation link anonymously; keep status and login signals, never the page."""
    if not url.startswith(("http://", "https://")):
        return {"reachable": False, "problem": "not a web address"}
    if ctx.fetcher.secrets.scrub(url) != url:  # a listing can name `…?api_key=<our CHPL key>` on any host
        return {"reachable": None, "problem": "not opened: the address carries a credential ehrcheck holds"}
    try:
        resp = await ctx.fetcher.get(url, recorder, headers={"Accept": "text/html,application/pdf,*/*"})
    except FetchError as exc:
        return {"reachable": None, "problem": str(exc)}
    signals = login_signals(resp)
    out: dict[str, Any] = {
        "http_status": resp.status,
        "reachable": 200 <= resp.status < 300,
        "login_required": bool(signals),
        "content_type": resp.content_type or None,
    }
    if resp.url != url:
        out["final_url"] = resp.url
    if signals:
        out["login_signals"] = signals
    return out


async def _check_links(ctx: ProbeContext, recorder: Recorder, listings: list[dict[str, Any]]) -> dict[str, Any]:
    urls = sorted({x[f] for x in listings if x.get("found") for f in LINK_FIELDS if isinstance(x.get(f), str)})
    results = await gather_recorded(recorder, [functools.partial(check_link, ctx, url=u) for u in urls])
    return dict(zip(urls, results, strict=True))


async def probe_chpl(ctx: ProbeContext, recorder: Recorder) -> dict[str, Any]:
    s = ctx.settings
    numbers: list[str] = list(s.get("chpl_numbers") or [])
    documents = s.get("chpl_documents")
    cms_id = s.get("cms_certification_id")
    data: dict[str, Any] = {"requested": numbers}
    if cms_id and s.get("cms_certification_id_malformed"):
        data["certification_id"] = {
            "id": cms_id,
            "valid": False,
            "reason": "not in the form of a CMS EHR Certification ID (15 letters and digits)",
        }
        cms_id = None
    if documents is not None:
        data["source"] = "file"
        data["file"] = s.get("chpl_file")
        wanted = numbers or [str(d.get("chplProductNumber")) for d in documents]
        listings = []
        for number in wanted:
            doc = next((d for d in documents if matches(d, number)), None)
            if doc is None:
                listings.append({"chpl_product_number": number, "found": False, "reason": "not in the CHPL file"})
            else:
                listings.append({**normalise_listing(doc), "requested_as": number})
        if cms_id:
            data["certification_id"] = {
                "id": cms_id,
                "valid": None,
                "reason": "a CHPL file cannot verify a CMS EHR Certification ID; use the CHPL API",
            }
    else:
        key = s.get("chpl_api_key")
        if not key:
            raise ProbeSkipped(NO_KEY_HINT)
        base = str(s.get("chpl_url") or DEFAULT_CHPL_URL).rstrip("/")
        if why := api_key_refusal(base):  # the key obeys the transport rule of tokens (docs/security.md §4)
            raise ProbeError(f"the CHPL API key was not sent: {why.replace('refused: ', 'refused: the CHPL API ', 1)}")
        data["source"] = "api"
        data["api"] = base
        status, crit_doc = await _get_json(ctx, f"{base}/data/certification-criteria", recorder, key)
        criteria = criteria_index(crit_doc) if status == 200 else {}
        listings = [await _lookup(ctx, recorder, base, key, n, criteria) for n in numbers]
        if cms_id:
            data["certification_id"] = await _verify_certification_id(ctx, recorder, base, key, cms_id)
    data["listings"] = listings
    data["links"] = await _check_links(ctx, recorder, listings)
    return data


def api_key_problem(evidence: Evidence) -> str | None:
    """The reason CHPL refused the API key, when it did: a configuration error (exit 2)."""
    attempt = evidence.probes.get("chpl")
    if attempt is None or attempt.status.value != "error" or not attempt.reason:
        return None
    return attempt.reason if attempt.reason.startswith("CHPL rejected the API key") else None
