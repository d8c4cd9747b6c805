"""Bulk Data Access (Flat FHIR) v1.0.1 with a Backend Services token: kick-off, polling, the
manifest, the NDJSON files, cancellation, and refusal without a token.

What is checked (Bulk Data IG v1.0.1 §Bulk Data Kick-off Request, §Bulk Data Status Request,
§File Request, §Bulk Data Delete Request):

- `Patient/$export` and `Group/[id]/$export` answer 202 with `Content-Location`;
- polling honours `Retry-After` (else backs off exponentially) within `--bulk-timeout`;
- the complete-status manifest has `transactionTime`, `request`, `requiresAccessToken` and an
  `output` list whose items have `type` and an absolute `url`;
- each file is streamed and checked line by line (JSON, a resource of the declared type,
  structurally valid for the first lines) in bounded memory and time (the export's deadline;
  256 MB after decompression), and needs the token when the manifest says so;
- `DELETE` on a status URL answers 202, and the status URL then answers 404;
- a kick-off without a token is refused.

Every job this probe starts is deleted before it returns. Nothing of the exported data is kept:
only counts.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from typing import Any
from urllib.parse import urlsplit

from ehrcheck.files.limits import json_loads
from ehrcheck.http.client import REDIRECTS, FetchError, Recorder
from ehrcheck.http.origins import origin_text, same_origin, transport_refusal
from ehrcheck.http.resource_types import type_shown
from ehrcheck.probes.anonymous.transport import survey_hosts
from ehrcheck.probes.authenticated.bulk_params import kickoff_parameters
from ehrcheck.probes.authenticated.bulk_profiles import line_judge, line_summary, updated_before
from ehrcheck.probes.authenticated.token import AuthSession, session_of
from ehrcheck.probes.authenticated.uscore_judge import Judge
from ehrcheck.probes.authenticated.uscore_version import choose_version
from ehrcheck.probes.base import ProbeContext, ProbeError, parse_json
from ehrcheck.probes.fhir_structure import structure_problems
from ehrcheck.probes.phi import ScrubbingRecorder
from ehrcheck.probes.progress import progress_of

KICKOFF_HEADERS = {"Accept": "application/fhir+json", "Prefer": "respond-async"}
NDJSON_TYPES = ("application/fhir+ndjson", "application/ndjson", "application/x-ndjson")
DEFAULT_TIMEOUT = 120.0
MAX_LINE_BYTES = 4 * 1024 * 1024  # one resource per line; a 4 MB resource is already suspicious
MAX_FILES = 30  # files downloaded per export; more are listed but not read
MAX_FILE_BYTES = 256 * 1024 * 1024
BACKOFF_START, BACKOFF_MAX = 1.0, 30.0


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header, in either of its forms (delay-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # '²' is a digit to isdigit, not to float
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


async def _headers(session: AuthSession, ctx: ProbeContext, rec: Recorder, extra: dict[str, str]) -> dict[str, str]:
    return {**extra, **await session.auth_header(ctx, rec)}


async def kickoff(ctx: ProbeContext, session: AuthSession, rec: Recorder, path: str) -> dict[str, Any]:
    resp = await ctx.fetcher.get(ctx.url(path), rec, headers=await _headers(session, ctx, rec, KICKOFF_HEADERS))
    facts: dict[str, Any] = {"http_status": resp.status, "accepted": resp.status == 202}
    location = resp.headers.get("content-location")
    facts["content_location"] = bool(location)
    if resp.status != 202:
        doc, _ = parse_json(resp)
        facts["operation_outcome"] = isinstance(doc, dict) and doc.get("resourceType") == "OperationOutcome"
    return {"facts": facts, "status_url": _absolute(ctx, location) if location else None}


def _absolute(ctx: ProbeContext, location: str) -> str:
    import httpx

    try:
        return str(httpx.URL(ctx.base_url + "/").join(location))
    except httpx.InvalidURL:
        return "invalid:"


MAX_STATUS_REDIRECTS = 5


def _joined(current: str, location: str) -> str:
    """A redirect's target, absolute ("invalid:" when it does not parse: never the FHIR origin)."""
    import httpx

    try:
        return str(httpx.URL(current).join(location))
    except httpx.InvalidURL:
        return "invalid:"


def offsite(ctx: ProbeContext, status_url: str, what: str) -> str | None:
    """Why `status_url` gets neither the token nor a request (None when it is on the FHIR
    server's own origin): a hostile server could aim our polls and DELETEs, and the token with
    them, at any host, including services inside the practice's network."""
    if same_origin(status_url, ctx.base_url):
        return None
    return f"{what}: the status URL is on another origin ({origin_text(status_url)}); the token goes only to the FHIR server's origin"


async def poll(
    ctx: ProbeContext, session: AuthSession, rec: Recorder, status_url: str, deadline: float, task: str
) -> dict[str, Any]:
    """Poll until complete, error or the deadline. Returns facts and, when complete, the manifest."""
    report = progress_of(ctx.settings)
    polls, hinted, hops = 0, 0, 0
    waits: list[float] = []
    backoff = BACKOFF_START
    while True:
        # Redirects are followed here, not by the fetcher, and only on the FHIR server's origin:
        # the fetcher would follow one elsewhere (without the token), and the manifest that host
        # served would then name the file servers the token goes to.
        resp = await ctx.fetcher.get(
            status_url, rec, headers=await _headers(session, ctx, rec, {"Accept": "application/json"}), follow_redirects=False
        )
        polls += 1
        facts: dict[str, Any] = {"polls": polls, "retry_after_hints": hinted, "waits_s": [round(w, 2) for w in waits[:20]]}
        if resp.status in REDIRECTS and resp.headers.get("location"):
            target = _joined(status_url, resp.headers["location"])
            refused = offsite(ctx, target, "not polled") or (
                "not polled: the status URL redirected more than 5 times" if hops >= MAX_STATUS_REDIRECTS else None
            )
            if refused:
                facts.update(state="error", http_status=resp.status)
                return {"facts": facts, "manifest": None, "refused": refused}
            hops += 1
            status_url = target
            continue
        if resp.status == 200:
            doc, problem = parse_json(resp)
            facts.update(state="complete", http_status=200, content_type=resp.content_type)
            if problem or not isinstance(doc, dict):
                facts["manifest_problem"] = problem or "the manifest is not a JSON object"
                return {"facts": facts, "manifest": None}
            return {"facts": facts, "manifest": doc}
        if resp.status != 202:
            doc, _ = parse_json(resp)
            facts.update(
                state="error",
                http_status=resp.status,
                operation_outcome=isinstance(doc, dict) and doc.get("resourceType") == "OperationOutcome",
            )
            return {"facts": facts, "manifest": None}
        hint = retry_after(resp.headers.get("retry-after"))
        if hint is not None:
            hinted += 1
            wait = hint
        else:
            wait, backoff = backoff, min(backoff * 2, BACKOFF_MAX)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            facts.update(state="timed_out", http_status=202, retry_after_hints=hinted)
            return {"facts": facts, "manifest": None}
        wait = min(max(wait, 0.1), remaining)
        waits.append(wait)
        report(task, polls, None, f"export in progress ({resp.headers.get('x-progress', 'waiting')[:40]})")
        await asyncio.sleep(wait)


def manifest_facts(manifest: dict[str, Any], kickoff_url: str) -> dict[str, Any]:
    outputs = manifest.get("output")
    items = [o for o in outputs if isinstance(o, dict)] if isinstance(outputs, list) else []
    missing = [f for f in ("transactionTime", "request", "requiresAccessToken", "output") if f not in manifest]
    bad_items = [i for i, o in enumerate(items) if not isinstance(o.get("type"), str) or not isinstance(o.get("url"), str)]
    relative = [i for i, o in enumerate(items) if isinstance(o.get("url"), str) and not urlsplit(o["url"]).scheme]
    tt = manifest.get("transactionTime")
    return {
        "fields_missing": missing,
        "transaction_time_valid": isinstance(tt, str) and _instant(tt),
        "request_matches": isinstance(manifest.get("request"), str)
        and manifest["request"].split("?")[0] == kickoff_url.split("?")[0],
        "requires_access_token": manifest.get("requiresAccessToken")
        if isinstance(manifest.get("requiresAccessToken"), bool)
        else None,
        "output_count": len(items),
        # FHIR's resource type names only: the server's own text there may be a patient's name
        "output_types": sorted({type_shown(o["type"]) for o in items if isinstance(o.get("type"), str)}),
        "outputs_without_type_or_url": len(bad_items),
        "outputs_with_relative_url": len(relative),
        "error_files": len(manifest["error"]) if isinstance(manifest.get("error"), list) else None,
    }


def _instant(text: str) -> bool:
    import datetime as dt

    try:
        dt.datetime.fromisoformat(text)  # Python 3.11 reads a trailing Z
    except ValueError:
        return False
    return "T" in text


async def download(
    ctx: ProbeContext,
    session: AuthSession,
    rec: Recorder,
    item: dict[str, Any],
    needs_token: bool,
    validate_lines: int,
    deadline: float,
    judge: Judge | None = None,
    since: str | None = None,
) -> dict[str, Any]:
    """Stream one NDJSON file; memory stays bounded by one line. The read ends at the export's
    deadline (`--bulk-timeout`, but never less than one request's `--timeout`) and at
    MAX_FILE_BYTES after decompression, whatever the server sends. With a `judge`, every line of
    a US Core type is checked against its profile (mandatory elements, bindings: bulk_profiles);
    with `since` (an export's `_since`), lines last updated before it are counted."""
    declared = item.get("type")
    headers = {"Accept": "application/fhir+ndjson"}
    if needs_token:
        headers.update(await session.auth_header(ctx, rec))
    facts: dict[str, Any] = {
        "type": type_shown(declared),
        "http_status": None,
        "lines": 0,
        "invalid_json": 0,
        "wrong_type": 0,
        "overlong_lines": 0,
        "validated": 0,
        "structure_invalid": 0,
        "truncated": False,
    }
    problems: list[str] = []
    timeout = max(ctx.fetcher.options.timeout, deadline - time.monotonic())
    async with ctx.fetcher.stream(item["url"], rec, headers=headers, timeout=timeout, max_body_bytes=MAX_FILE_BYTES) as resp:
        facts["http_status"] = resp.status
        facts["content_type"] = resp.content_type
        facts["ndjson_content_type"] = resp.content_type in NDJSON_TYPES
        if resp.status != 200:
            return facts
        async for line in resp.lines(MAX_LINE_BYTES):
            if line is None:
                facts["overlong_lines"] += 1
                continue
            if not line.strip():
                continue
            facts["lines"] += 1
            try:
                resource = json_loads(line)
            except (ValueError, UnicodeDecodeError):
                facts["invalid_json"] += 1
                continue
            if not isinstance(resource, dict) or resource.get("resourceType") != declared:
                facts["wrong_type"] += 1
                continue
            if facts["validated"] < validate_lines:
                facts["validated"] += 1
                found = structure_problems(resource, limit=3)
                if found:
                    facts["structure_invalid"] += 1
                    problems.extend(p for p in found if p not in problems)
            if judge is not None:
                judge.add(resource, structure=False, must_support=False)
            if since is not None and updated_before(resource, since):
                facts["updated_before_since"] = facts.get("updated_before_since", 0) + 1
        facts["truncated"] = resp.truncated
        if judge is not None:
            facts["us_core"] = line_summary(judge)
    if isinstance(item.get("count"), int):
        facts["manifest_count"] = item["count"]
        facts["count_matches"] = facts["truncated"] or item["count"] == facts["lines"]
    facts["structure_problems"] = problems[:5]
    return facts


async def delete(ctx: ProbeContext, session: AuthSession, rec: Recorder, status_url: str) -> int | None:
    try:
        resp = await ctx.fetcher.request(
            "DELETE", status_url, rec, headers=await _headers(session, ctx, rec, {}), follow_redirects=False
        )
    except FetchError:
        return None
    return resp.status


async def export(
    ctx: ProbeContext,
    session: AuthSession,
    rec: Recorder,
    path: str,
    deadline: float,
    download_files: bool,
    validate_lines: int,
    us_core_version: str | None = None,
    since: str | None = None,
) -> dict[str, Any]:
    """One export from kick-off to deleted job. With `us_core_version`, each file's lines are
    judged against that version's profiles."""
    report = progress_of(ctx.settings)
    start = await kickoff(ctx, session, rec, path)
    out: dict[str, Any] = {"kickoff": start["facts"]}
    status_url = start["status_url"]
    if not status_url:
        return out
    refused = offsite(ctx, status_url, "not polled")
    if refused:
        out["status_url_refused"] = refused
        return out
    try:
        polled = await poll(ctx, session, rec, status_url, deadline, "bulk")
        out["status"] = polled["facts"]
        if polled.get("refused"):
            out["status_url_refused"] = polled["refused"]
        manifest = polled["manifest"]
        if manifest is not None:
            facts = manifest_facts(manifest, ctx.url(path))
            out["manifest"] = facts
            items = [o for o in manifest.get("output") or [] if isinstance(o, dict) and isinstance(o.get("url"), str)]
            # The file servers are where the data itself travels: TLS 1.2 or later there too.
            out["file_hosts"] = await survey_hosts(ctx, [("bulk files", o["url"]) for o in items])
            if download_files and items:
                # The token goes with a file only when the manifest asks for it, and only over https
                # (or loopback to loopback); the evidence names every origin that received it.
                needs_token = facts["requires_access_token"] is True
                sent_to: set[str] = set()
                files: list[dict[str, Any]] = []
                for i, item in enumerate(items[:MAX_FILES]):
                    if files and time.monotonic() >= deadline:
                        break  # the export's time is up: one file was checked, the rest are counted
                    report(
                        "bulk",
                        i,
                        min(len(items), MAX_FILES),
                        f"reading {type_shown(item.get('type')) or 'a'} NDJSON",  # never a server's own text (nor a dict)
                    )
                    try:
                        why_not = transport_refusal(item["url"], ctx.base_url) if needs_token else None
                        if needs_token and not why_not:
                            sent_to.add(origin_text(item["url"]))
                        judge = line_judge(us_core_version) if us_core_version else None
                        files.append(
                            await download(
                                ctx, session, rec, item, needs_token and not why_not, validate_lines, deadline, judge, since
                            )
                        )
                        if why_not:
                            files[-1]["token_refused"] = why_not
                    except FetchError as exc:
                        files.append({"type": type_shown(item.get("type")), "error": str(exc)})
                out["files"] = files
                out["token_sent_to_file_origins"] = sorted(sent_to)
                out["files_not_read"] = len(items) - len(files)
                if facts["requires_access_token"]:
                    out["file_without_token"] = await _file_without_token(ctx, rec, items[0]["url"])
    finally:
        out["cleanup_delete_status"] = await delete(ctx, session, rec, status_url)
    return out


async def _file_without_token(ctx: ProbeContext, rec: Recorder, url: str) -> dict[str, Any]:
    try:
        async with ctx.fetcher.stream(url, rec, headers={"Accept": "application/fhir+ndjson"}) as resp:
            return {"http_status": resp.status, "refused": resp.status in (401, 403)}
    except FetchError as exc:
        return {"http_status": None, "refused": None, "error": str(exc)}


async def cancel_check(ctx: ProbeContext, session: AuthSession, rec: Recorder, path: str) -> dict[str, Any]:
    start = await kickoff(ctx, session, rec, path)
    facts: dict[str, Any] = {"kickoff_status": start["facts"]["http_status"]}
    if not start["status_url"]:
        return facts
    refused = offsite(ctx, start["status_url"], "not cancelled")
    if refused:
        facts["status_url_refused"] = refused
        return facts
    facts["delete_status"] = await delete(ctx, session, rec, start["status_url"])
    resp = await ctx.fetcher.get(  # not followed: a redirect is not the 404 a cancelled job answers
        start["status_url"],
        rec,
        headers=await _headers(session, ctx, rec, {"Accept": "application/json"}),
        follow_redirects=False,
    )
    doc, _ = parse_json(resp)
    facts["after_delete_status"] = resp.status
    facts["after_delete_operation_outcome"] = isinstance(doc, dict) and doc.get("resourceType") == "OperationOutcome"
    facts["cancelled"] = facts["delete_status"] == 202 and resp.status == 404
    return facts


async def find_group(ctx: ProbeContext, session: AuthSession, rec: Recorder) -> tuple[str | None, str]:
    given = ctx.settings.get("group_id")
    if given:
        return str(given), "given"
    resp = await ctx.fetcher.get(
        ctx.url("Group?_count=1"), rec, headers=await _headers(session, ctx, rec, {"Accept": "application/fhir+json"})
    )
    doc, _ = parse_json(resp)
    for entry in (doc.get("entry") or []) if isinstance(doc, dict) else []:
        gid = (entry.get("resource") or {}).get("id") if isinstance(entry, dict) else None
        if isinstance(gid, str) and gid:
            return gid, "search"
    return None, f"no Group found (Group search answered HTTP {resp.status})"


async def probe_bulk(ctx: ProbeContext, recorder: Recorder) -> dict[str, Any]:
    session = session_of(ctx)
    rec = ScrubbingRecorder(recorder, ctx.base_url)
    timeout = float(ctx.settings.get("bulk_timeout") or DEFAULT_TIMEOUT)
    validate_lines = max(1, int(ctx.settings.get("sample") or 5)) * 20
    deadline = time.monotonic() + timeout
    report = progress_of(ctx.settings)
    out: dict[str, Any] = {"timeout_s": timeout}
    cap = await ctx.result("capability")
    version, basis, _declared = choose_version(
        ctx.settings.get("us_core_version"), cap.data if cap.status.value == "completed" else {}
    )
    out["us_core_version"] = version
    out["us_core_version_basis"] = basis
    try:
        # Group/[id]/$export is the path (g)(10) certifies: it is followed end to end (files,
        # tokenless kick-off, cancel); Patient/$export is optional and exported without reading files.
        group_id, how = await find_group(ctx, session, rec)
        certified = f"Group/{group_id}/$export" if group_id else "Patient/$export"
        resp = await ctx.fetcher.get(ctx.url(certified), rec, headers=KICKOFF_HEADERS)
        out["kickoff_without_token"] = {"http_status": resp.status, "refused": resp.status in (400, 401, 403)}
        if resp.status == 202 and resp.headers.get("content-location"):
            # Started without a token: a finding, and a job we must not leave behind (but only
            # on the audited origin: never a DELETE to wherever the server points).
            status_url = _absolute(ctx, resp.headers["content-location"])
            refused = offsite(ctx, status_url, "not cancelled")
            if refused:
                out["kickoff_without_token"]["cancel_refused"] = refused
            else:
                await ctx.fetcher.request("DELETE", status_url, rec, follow_redirects=False)
        if group_id:
            report("bulk", 0, None, "Group/[id]/$export")
            out["group"] = {
                "found_by": how,
                **await export(ctx, session, rec, certified, deadline, True, validate_lines, version),
            }
        else:
            out["group"] = {"found_by": None, "note": how}
        report("bulk", 0, None, "Patient/$export")
        out["patient"] = await export(ctx, session, rec, "Patient/$export", deadline, not group_id, validate_lines, version)
        out["cancel"] = await cancel_check(ctx, session, rec, certified)

        async def run_export(path: str, since: str | None) -> dict[str, Any]:
            return await export(ctx, session, rec, path, deadline, since is not None, validate_lines, None, since)

        # Tried on the export that read its files: the certified Group export when there is one.
        read = out["group"] if group_id else out["patient"]
        out["kickoff_parameters"] = await kickoff_parameters(certified, read, run_export)
    except FetchError as exc:
        if "kickoff_without_token" not in out:
            raise ProbeError(f"the FHIR server could not be reached: {exc}") from None
        out["interrupted"] = str(exc)
    return out
