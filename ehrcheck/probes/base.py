"""What every probe shares: its context, and how its outcome becomes a ProbeAttempt.

A probe is an async function `(ctx, recorder) -> dict` of facts. It raises `ProbeError` when it
could not observe anything (the rules then say `not_observed`) and `ProbeSkipped` when it does not
apply. Any other exception is a bug, but still becomes an `error` attempt rather than a crash.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..http import FetchError, Fetcher, Recorder, Response
from ..models import AttemptStatus, ProbeAttempt


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
    settings: dict[str, Any] = field(default_factory=dict)
    _tasks: dict[str, asyncio.Task[ProbeAttempt]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    async def result(self, probe_id: str) -> ProbeAttempt:
        """Wait for another probe of the same run (e.g. openid waits for smart's issuer)."""
        return await asyncio.shield(self._tasks[probe_id])


ProbeFn = Callable[[ProbeContext, Recorder], Awaitable[dict[str, Any]]]


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
        status, reason = AttemptStatus.error, f"internal error in probe: {exc.__class__.__name__}: {exc}"
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
    try:
        return json.loads(resp.content), None
    except (ValueError, UnicodeDecodeError) as exc:
        head = resp.content[:200].lstrip().lower()
        if head.startswith(b"<!doctype html") or head.startswith(b"<html"):
            return None, "the server answered with an HTML page, not JSON"
        return None, f"the body is not valid JSON ({exc.__class__.__name__})"


def http_summary(resp: Response) -> dict[str, Any]:
    return {"http_status": resp.status, "content_type": resp.content_type, "elapsed_ms": resp.elapsed_ms}
