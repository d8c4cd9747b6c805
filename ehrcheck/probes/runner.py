"""Run the anonymous-tier probes concurrently over one client and assemble the Evidence.

This is the only place that knows the list of probes. Probes that need another's result await it
through the context, so all start at once and the run takes as long as the slowest chain.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import statistics
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ehrcheck import __version__
from ehrcheck.evidence.ids import ProbeId
from ehrcheck.http.client import Fetcher, HttpOptions, ssl_context
from ehrcheck.http.redact import Secrets, redact_url
from ehrcheck.models import AttemptStatus, Evidence, ProbeAttempt, Target
from ehrcheck.probes.anonymous.access import probe_access
from ehrcheck.probes.anonymous.capability import probe_capability
from ehrcheck.probes.anonymous.discovery import probe_openid, probe_smart
from ehrcheck.probes.anonymous.transport import probe_transport
from ehrcheck.probes.base import ProbeContext, ProbeFn, run_probe

if TYPE_CHECKING:
    from ehrcheck.http.lean import LeanTransport
    from ehrcheck.probes.tls_surveys import TlsSurveys

PROBES: dict[str, ProbeFn] = {
    ProbeId.capability: probe_capability,
    ProbeId.smart: probe_smart,
    ProbeId.openid: probe_openid,
    ProbeId.access: probe_access,
    ProbeId.transport: probe_transport,
}


# The whole audit's time bound (docs/security.md): each probe makes a fixed number of requests,
# each bounded by --timeout, but a server that answers slowly yet always in time could still
# stretch their sum. So the run as a whole gets BUDGET_TIMEOUTS x --timeout (at least
# BUDGET_FLOOR seconds), plus --bulk-timeout when the Bulk Data probe runs.
BUDGET_TIMEOUTS = 12
BUDGET_FLOOR = 60.0


def audit_budget(timeout: float, bulk_timeout: float | None) -> float:
    return max(BUDGET_FLOOR, BUDGET_TIMEOUTS * timeout) + (bulk_timeout or 0.0)


def over_budget(budget: float) -> str:
    return (
        f"stopped at the audit's time budget ({budget:.0f} s: {BUDGET_TIMEOUTS} x --timeout, at least "
        f"{BUDGET_FLOOR:.0f} s, plus --bulk-timeout): the server answered too slowly overall"
    )


def normalise_base_url(url: str) -> str:
    url = url.strip()
    url = url.removesuffix("/metadata")
    return url.rstrip("/")


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _origin(url: str) -> tuple[str | None, int | None]:
    """Host and port, so that a redacted user-info part does not hide the target's exchanges."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.hostname, port or {"http": 80, "https": 443}.get(parts.scheme)


def availability(attempts: dict[str, ProbeAttempt], base_url: str) -> ProbeAttempt:
    """Derived from the other probes' exchanges with the target's host: no extra traffic.
    (Exchanges with other hosts, such as CHPL or an OIDC issuer elsewhere, say nothing about it.)

    A server that completed a TLS handshake but answered no HTTP request (its certificate is not
    trusted, it speaks only TLS 1.0) is reachable: its report then shows why nothing else could be
    observed, instead of the audit stopping at "could not be reached"."""
    host = _origin(base_url)
    exchanges = [ex for a in attempts.values() for ex in a.exchanges if _origin(ex.url) == host]
    answered = [ex for ex in exchanges if ex.status is not None]
    latencies = sorted(ex.elapsed_ms for ex in answered if ex.elapsed_ms is not None)
    data: dict[str, Any] = {
        "requests": len(exchanges),
        "answered": len(answered),
        "failed": len(exchanges) - len(answered),
        "server_errors": sum(1 for ex in answered if ex.status and ex.status >= 500),
        "median_ms": round(statistics.median(latencies), 1) if latencies else None,
        "max_ms": max(latencies) if latencies else None,
        "reachable": bool(answered),
    }
    if not answered:
        transport = attempts.get(ProbeId.transport)
        tls = transport.data.get("tls") if transport else None
        if isinstance(tls, dict) and tls.get("negotiated_version"):
            data["reachable"] = data["tls_only"] = True
        reasons = sorted({ex.error for ex in exchanges if ex.error})
        return ProbeAttempt(
            status=AttemptStatus.error,
            reason="no request was answered" + (f": {reasons[0]}" if reasons else ""),
            data=data,
        )
    return ProbeAttempt(status=AttemptStatus.completed, data=data)


async def collect(
    base_url: str,
    options: HttpOptions,
    on_done: Callable[[str, ProbeAttempt], None] | None = None,
    label: str | None = None,
    extra_probes: dict[str, ProbeFn] | None = None,
    settings: dict[str, Any] | None = None,
    secrets: Secrets | None = None,
    budget: float | None = None,
    connections: LeanTransport | None = None,
    tls_surveys: TlsSurveys | None = None,
) -> Evidence:
    """Run the anonymous-tier probes plus `extra_probes` (e.g. CHPL, authenticated tiers, chosen
    by the CLI from its flags) concurrently; `settings` carries their inputs.

    `secrets` holds every secret value the run knows (the caller's, and those the fetcher sees);
    the evidence is scrubbed of them before it is returned. `budget` (default `audit_budget`)
    bounds the whole run: probes still running then are error attempts saying so. `connections`
    and `tls_surveys`: what a scan's audits share in one process (`scan.run.sharing_between_audits`):
    kept-alive connections, and one TLS survey per host:port."""
    base = normalise_base_url(base_url)
    probes = {**PROBES, **(extra_probes or {})}
    started = now_iso()
    secrets = secrets if secrets is not None else Secrets()
    secrets.add_url(base)
    fetcher = Fetcher.create(options, secrets=secrets, shared=connections)
    fetcher.allow_userinfo(base)
    verify = options.verify

    def ssl_factory() -> ssl.SSLContext:
        return ssl_context(verify)

    ctx = ProbeContext(
        base_url=base,
        fetcher=fetcher,
        timeout=options.timeout,
        ssl_context_factory=ssl_factory,
        settings=dict(settings or {}),
        tls_surveys=tls_surveys,
    )
    try:
        for probe_id, fn in probes.items():
            ctx._tasks[probe_id] = asyncio.create_task(run_probe(fn, ctx), name=probe_id)
        if budget is None:
            bulk = None
            if "bulk" in probes:  # then its module is loaded already; an anonymous run never loads it
                from ehrcheck.probes.authenticated.bulk import DEFAULT_TIMEOUT as BULK_DEFAULT_TIMEOUT

                bulk = (settings or {}).get("bulk_timeout") or BULK_DEFAULT_TIMEOUT
            budget = audit_budget(options.timeout, float(bulk) if bulk else None)
        attempts: dict[str, ProbeAttempt] = {}
        try:
            async with asyncio.timeout(budget):
                for fut in asyncio.as_completed(list(ctx._tasks.values())):
                    attempt = await fut
                    probe_id = next(k for k, t in ctx._tasks.items() if t.done() and t.result() is attempt)
                    attempts[probe_id] = attempt
                    if on_done:
                        on_done(probe_id, attempt)
        except TimeoutError:
            for probe_id in ctx._tasks:
                if probe_id not in attempts:
                    attempts[probe_id] = ProbeAttempt(status=AttemptStatus.error, reason=over_budget(budget))
                    if on_done:
                        on_done(probe_id, attempts[probe_id])
    finally:
        for task in ctx._tasks.values():
            task.cancel()
        await fetcher.aclose()
    return assemble(base, options, list(probes), attempts, started, label, secrets)


INTERRUPTED = "interrupted before it finished (Ctrl-C)"


def assemble(
    base_url: str,
    options: HttpOptions,
    probe_ids: list[str],
    attempts: dict[str, ProbeAttempt],
    started: str,
    label: str | None,
    secrets: Secrets,
) -> Evidence:
    """The evidence document from the attempts that finished; a probe that did not (the run was
    interrupted) is an error attempt, so its rules say not_observed and why."""
    base = normalise_base_url(base_url)
    ordered = {k: attempts.get(k) or ProbeAttempt(status=AttemptStatus.error, reason=INTERRUPTED) for k in probe_ids}
    ordered[ProbeId.availability] = availability(ordered, base)
    evidence = Evidence(
        tool_version=__version__,
        target=Target(base_url=redact_url(base), label=label),
        started_at=started,
        finished_at=now_iso(),
        options={"timeout": options.timeout, "retries": options.retries},
        probes=ordered,
    )
    if not secrets:
        return evidence
    # Last line of defence: whatever a hostile server echoed back, no known secret is kept (the
    # document's own field names excepted: they are ehrcheck's words, whatever a token spells).
    from ehrcheck.evidence.registry import schema_words

    return Evidence.model_validate(secrets.scrub_data(evidence.to_json_dict(), keep=schema_words()))


def probe_ids(extra_probes: dict[str, ProbeFn] | None = None) -> list[str]:
    return list({**PROBES, **(extra_probes or {})})
