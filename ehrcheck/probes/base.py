"""What every probe shares: its context, and how its outcome becomes a ProbeAttempt.

A probe is an async function `(ctx, recorder) -> dict` of facts. It raises `ProbeError` when it
could not observe anything (the rules then say `not_observed`) and `ProbeSkipped` when it does not
apply. Any other exception is a bug, but still becomes an `error` attempt rather than a crash.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import re
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ehrcheck.files.limits import MAX_DEPTH, MAX_JSON_CONTAINERS, MAX_JSON_VALUES, json_counts, json_loads, too_deep
from ehrcheck.http.client import Fetcher, FetchError, Recorder, Response
from ehrcheck.models import AttemptStatus, ProbeAttempt
from ehrcheck.probes.tls_surveys import TlsSurveys


class ProbeError(Exception):
    """The probe could not observe what it looks for; the message is the reason."""


class ProbeSkipped(Exception):
    """The probe does not apply to this target; the message says why."""


@dataclass
class ProbeContext:
    base_url: str  # normalised: no trailing slash
    fetcher: Fetcher
    timeout: float
    ssl_context_factory: Callable[[], Any] | None = None
    # Inputs some probes need beyond the URL (CHPL id, credentials, sample size...), by name.
    # `include_phi: True` (from --include-phi) lets probes keep patient data they would otherwise
    # reduce to counts, element names and hashed ids.
    settings: dict[str, Any] = field(default_factory=dict)
    # A scan's TLS surveys, shared by its audits in one process (tls_surveys.py); None: survey here.
    tls_surveys: TlsSurveys | None = None
    _tasks: dict[str, asyncio.Task[ProbeAttempt]] = field(default_factory=dict)
    # Per-run key for hashed ids: ids can be correlated within one evidence file, but a short id
    # ("123") cannot be recovered by hashing candidates, and two runs' hashes do not match.
    _id_key: bytes = field(default_factory=lambda: os.urandom(32), repr=False)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    @property
    def include_phi(self) -> bool:
        return bool(self.settings.get("include_phi"))

    def hash_id(self, resource_type: str, resource_id: str) -> str:
        """A patient-safe stand-in for a resource id (HMAC-SHA256 under the run's key)."""
        digest = hmac.new(self._id_key, f"{resource_type}/{resource_id}".encode(), hashlib.sha256)
        return "hmac:" + digest.hexdigest()[:16]

    def runs(self, probe_id: str) -> bool:
        """Is that probe part of this run (an audit chooses its probes from its flags)?"""
        return probe_id in self._tasks

    async def result(self, probe_id: str) -> ProbeAttempt:
        """Wait for another probe of the same run (e.g. openid waits for smart's issuer)."""
        return await asyncio.shield(self._tasks[probe_id])


ProbeFn = Callable[[ProbeContext, Recorder], Awaitable[dict[str, Any]]]

log = logging.getLogger("ehrcheck.probes")


async def run_probe(fn: ProbeFn, ctx: ProbeContext) -> ProbeAttempt:
    recorder = Recorder()
    start = time.perf_counter()
    status, reason, data = AttemptStatus.completed, None, {}
    try:
        data = await fn(ctx, recorder)
    except ProbeSkipped as exc:
        status, reason = AttemptStatus.skipped, str(exc)
    except (ProbeError, FetchError) as exc:
        status, reason = AttemptStatus.error, str(exc)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - a probe bug must not sink the audit
        status = AttemptStatus.error
        reason = f"internal error in probe: {exc.__class__.__name__}: {exc}"
        log.debug("%s", ctx.fetcher.secrets.scrub("".join(traceback.format_exception(exc))))
    if reason:  # reasons may quote what a server sent back: scrub whole, then shorten
        reason = ctx.fetcher.secrets.scrub(reason)[:500]
    log.debug("probe %s: %s%s", getattr(fn, "__name__", fn), status.value, f" ({reason})" if reason else "")
    return ProbeAttempt(
        status=status,
        reason=reason,
        data=data,
        exchanges=recorder.exchanges,
        duration_ms=round((time.perf_counter() - start) * 1000, 1),
    )


def parse_json(resp: Response) -> tuple[Any, str | None]:
    """Decode a JSON body; returns (value, problem)."""
    if resp.truncated:
        return None, "the response body exceeded the size cap"
    # Memory follows the number of values, not bytes: an answer is bounded as input files are.
    containers, values = json_counts(resp.content)
    if containers > MAX_JSON_CONTAINERS or values > MAX_JSON_VALUES:
        return (
            None,
            f"the body holds over {MAX_JSON_CONTAINERS:,} objects and arrays or {MAX_JSON_VALUES:,} values, more than ehrcheck reads",
        )
    try:
        doc = json_loads(resp.content)
    except RecursionError:
        return None, f"the body nests more than {MAX_DEPTH} levels deep"
    except (ValueError, UnicodeDecodeError) as exc:
        head = resp.content[:200].lstrip().lower()
        if head.startswith((b"<!doctype html", b"<html")):
            return None, "the server answered with an HTML page, not JSON"
        return None, f"the body is not valid JSON ({exc.__class__.__name__})"
    if too_deep(doc):  # kept documents must stay readable by our own loaders and renderers
        return None, f"the body nests more than {MAX_DEPTH} levels deep"
    return doc, None


def server_failure(resp: Response, what: str) -> ProbeError | None:
    """A ProbeError when `resp` shows nothing about `what` (a 5xx, a 429 we stopped waiting on,
    a body over the size cap): the rules then say not_observed with this reason, not fail."""
    if resp.truncated:
        return ProbeError(f"{what}: the response body exceeded the size cap")
    if resp.status >= 500 or resp.status == 429:
        retry_after = resp.headers.get("retry-after")
        later = ""
        if retry_after:  # quoted only in its legal forms (seconds, an HTTP date): it is the server's text
            legal = re.fullmatch(r"[0-9A-Za-z ,:]{1,40}", retry_after.strip())
            later = f" (Retry-After: {retry_after.strip()})" if legal else " (with an unusable Retry-After)"
        label = "rate-limited us with HTTP 429" if resp.status == 429 else f"failed with HTTP {resp.status}"
        return ProbeError(f"{what}: the server {label}{later}")
    return None


def status_problem(resp: Response) -> str:
    """'HTTP 404', or for a redirect we refused to follow, why."""
    refused = getattr(resp, "refused_redirect", None)
    return f"HTTP {resp.status}" + (f" ({refused})" if refused else "")


def http_summary(resp: Response) -> dict[str, Any]:
    return {"http_status": resp.status, "content_type": resp.content_type, "elapsed_ms": resp.elapsed_ms}
