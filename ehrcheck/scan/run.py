"""`ehrcheck scan LIST`: audit every endpoint of a directory, concurrently, into a JSONL stream.

- Concurrency: at most `concurrency` audits at once, and at most `per_host` against one host
  (host:port), so a directory where hundreds of customers share one vendor host does not hammer
  it. Workers pull from a small bounded queue fed lazily from the list: the list is never
  materialised, and results are written as they finish and then forgotten, so memory stays flat
  however long the list is (only the set of URLs already done, for resume, grows).
- Output: one JSON object per endpoint per line in `results.jsonl`, flushed as each audit ends, so
  an interrupted scan (Ctrl-C, a killed job, a reboot) loses at most the audits in flight.
  `--resume` reads the file back, drops a torn last line, and audits only what is missing.
- An endpoint that errors or cannot be reached is a row with its outcome and reason, never a
  crash of the scan.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from ehrcheck.errors import UserInputError
from ehrcheck.files.store import evidence_text, write_atomic
from ehrcheck.http.client import HttpOptions, shared_transport
from ehrcheck.inert import json_text
from ehrcheck.models import Evidence, RunResult, Status
from ehrcheck.rules.checks.common import US_CORE
from ehrcheck.rules.schema import Pack
from ehrcheck.scan.diagnose import failure_kind
from ehrcheck.scan.endpoint_list import Endpoint
from ehrcheck.scan.gates import GateTally, ScanGates
from ehrcheck.scan.results import evidence_name, iter_rows, load_line, row_problem

if TYPE_CHECKING:
    from ehrcheck.engine.waivers import Waiver
    from ehrcheck.http.lean import LeanTransport
    from ehrcheck.probes.tls_surveys import TlsSurveys

RESULTS = "results.jsonl"
RECORD_VERSION = 2  # 2: index, listed_by, statuses, findings, answers, us_core, smart, timings
VERDICT_QUESTIONS = ("shares", "safe", "certification", "evidence")


@dataclass(frozen=True)
class ScanOptions:
    concurrency: int = 16
    per_host: int = 4
    timeout: float = 10.0
    as_of: dt.date | None = None
    profile: str = "default"
    packs: Sequence[Pack] = ()
    keep_evidence: bool = False
    reports: bool = False  # an HTML report per audited endpoint under reports/
    verify: ssl.SSLContext | bool | str = True
    waivers: Sequence[Waiver] = ()
    workers: int = 1  # >1: audits in that many worker processes (ehrcheck.scan.pool)
    ca_bundle: str | None = None  # the --ca-bundle `verify` was built from: worker processes build their own
    # What this process's audits share (`sharing_between_audits`): kept-alive connections and
    # TLS surveys, set inside the event loop that uses them, never sent to a worker process.
    connections: LeanTransport | None = field(default=None, repr=False, compare=False)
    tls_surveys: TlsSurveys | None = field(default=None, repr=False, compare=False)


@dataclass
class ScanStats:
    """Running totals: bounded by the number of rules and verdicts, not by the list's length."""

    done: int = 0
    skipped: int = 0  # already in results.jsonl when resuming
    outcomes: dict[str, int] = field(default_factory=dict)
    verdicts: dict[str, int] = field(default_factory=dict)
    failing_rules: dict[str, int] = field(default_factory=dict)
    score_sum: float = 0.0
    scored: int = 0
    failure_kinds: dict[str, int] = field(default_factory=dict)  # why endpoints could not be reached
    stopped: str | None = None  # why the scan stopped early, if it did
    worker_failed: str | None = None  # which worker process died, and how (the scan stopped)

    def add(self, record: dict[str, Any]) -> None:
        self.outcomes[record["outcome"]] = self.outcomes.get(record["outcome"], 0) + 1
        if record["outcome"] == "unreachable":
            kind = record.get("failure_kind") or failure_kind(record.get("reason"))
            self.failure_kinds[kind] = self.failure_kinds.get(kind, 0) + 1
        if record.get("verdict"):
            label = record["verdict"]["label"]
            self.verdicts[label] = self.verdicts.get(label, 0) + 1
        for rid in record.get("failed") or []:
            self.failing_rules[rid] = self.failing_rules.get(rid, 0) + 1
        if record.get("score") is not None:
            self.score_sum += record["score"]
            self.scored += 1

    @property
    def mean_score(self) -> float | None:
        return round(self.score_sum / self.scored, 1) if self.scored else None


class HostLimiter:
    """One semaphore per host, created on first use and dropped when idle (so a scan of a
    million distinct hosts does not keep a million semaphores)."""

    def __init__(self, per_host: int):
        self.per_host = per_host
        self._slots: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @contextlib.asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        sem, users = self._slots.get(host, (asyncio.Semaphore(self.per_host), 0))
        self._slots[host] = (sem, users + 1)
        try:
            async with sem:
                yield
        finally:
            sem, users = self._slots[host]
            if users <= 1:
                del self._slots[host]
            else:
                self._slots[host] = (sem, users - 1)

    def __len__(self) -> int:
        return len(self._slots)


def host_key(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def _fhir_version(evidence: Evidence | None) -> str | None:
    cap = evidence.probes.get("capability") if evidence else None
    return cap.data.get("fhir_version") if cap is not None else None


def us_core_versions(evidence: Evidence | None) -> list[str]:
    """US Core versions the CapabilityStatement declares (`...|6.1.0` on a profile, instantiates or
    implementationGuide), or ["unversioned"] when it names US Core profiles without a version."""
    cap = evidence.probes.get("capability") if evidence else None
    if cap is None:
        return []
    data = cap.data
    urls = [u for key in ("supported_profiles", "instantiates", "implementation_guides") for u in data.get(key) or []]
    mentions = [u for u in urls if isinstance(u, str) and US_CORE in u]
    versions = sorted({u.rsplit("|", 1)[1] for u in mentions if "|" in u and u.rsplit("|", 1)[1]})
    return versions or (["unversioned"] if mentions else [])


def _smart_capabilities(evidence: Evidence | None) -> list[str]:
    smart = evidence.probes.get("smart") if evidence else None
    caps = smart.data.get("capabilities") if smart is not None else None
    return sorted(str(c) for c in caps) if isinstance(caps, list) else []


def _median_ms(evidence: Evidence | None) -> float | None:
    availability = evidence.probes.get("availability") if evidence else None
    return availability.data.get("median_ms") if availability is not None else None


def summarise(
    endpoint: Endpoint, result: RunResult | None, outcome: str, reason: str | None, evidence: Evidence | None
) -> dict[str, Any]:
    """The JSONL row: small, flat, enough to rank, filter, gate and write SARIF/JUnit for the list;
    the evidence holds the rest. Message texts come from the rules, not from the server."""
    record: dict[str, Any] = {
        "v": RECORD_VERSION,
        "index": endpoint.index,
        "url": endpoint.url,
        "name": endpoint.name,
        "source": endpoint.where,
        "outcome": outcome,
        "reason": reason,
        "failure_kind": failure_kind(reason) if outcome == "unreachable" else None,
        "evidence_finished_at": evidence.finished_at if evidence else None,
        "median_ms": _median_ms(evidence),
    }
    if endpoint.listed_by:
        record["listed_by"] = [{"name": name, "source": where} for name, where in endpoint.listed_by]
    if result is not None:
        failed_ids = sorted(f.rule_id for f in result.findings if f.status == Status.fail)
        statuses: dict[str, list[str]] = {}
        for f in sorted(result.findings, key=lambda f: f.rule_id):
            statuses.setdefault(f.status.value, []).append(f.rule_id)
        record.update(
            verdict={"level": result.verdict.level, "label": result.verdict.label},
            # the verdict's four answers by question (shares, safe, certification, evidence): stable keys
            answers={q: a.answer for q in VERDICT_QUESTIONS if (a := getattr(result.verdict, q, None)) is not None},
            score=result.overall.score,
            low=result.overall.low,
            high=result.overall.high,
            packs={p.pack: p.score for p in result.packs},
            counts={k: v for k, v in result.overall.counts.items() if v},
            failed=failed_ids,
            statuses=statuses,
            # fail and warn, as SARIF results and JUnit failures for the whole list
            findings=[
                {
                    "rule": f.rule_id,
                    "pack": f.pack,
                    "status": f.status.value,
                    "severity": f.severity.value,
                    "message": f.message or f.title,
                    **({"waived": f"{f.waiver.reason} (waived until {f.waiver.expires})"} if f.waiver else {}),
                }
                for f in sorted(result.findings, key=lambda f: f.rule_id)
                if f.status in (Status.fail, Status.warn)
            ],
            fhir_version=_fhir_version(evidence),
            us_core=us_core_versions(evidence),
            smart=_smart_capabilities(evidence),
        )
    return record


def _waive(result: RunResult, options: ScanOptions) -> tuple[RunResult, list[str]]:
    """Apply --waivers; the expired ones matching this endpoint, as 'rule for target (file:line)'."""
    if not options.waivers:
        return result, []
    from ehrcheck.engine.waivers import apply_waivers

    outcome = apply_waivers(result, options.waivers, dt.date.today())
    return outcome.result, [f"waiver for {w.describe()} ({w.source}) expired on {w.expires.isoformat()}" for w in outcome.expired]


def http_options(options: ScanOptions) -> HttpOptions:
    return HttpOptions(timeout=options.timeout, verify=options.verify)


# Idle connections a scan keeps per host:port: each audit has at most ~4 requests in flight to
# its endpoint's origin (capability, SMART, access, transport), and --per-host audits run at once.
REQUESTS_IN_FLIGHT_PER_AUDIT = 4


@contextlib.asynccontextmanager
async def sharing_between_audits(options: ScanOptions) -> AsyncIterator[ScanOptions]:
    """`options` with what the audits this event loop runs share, released at the end:
    - one transport: audits of endpoints on one host:port reuse each other's kept-alive
      connections instead of opening ~3 each (and over HTTPS skip their handshakes). A connection
      carries no state of the audit that opened it: cookies stay in each audit's own client.
    - one TLS survey per host:port (probes/tls_surveys.py): the transport probe's four handshakes
      observe the host, not the endpoint."""
    from ehrcheck.probes.tls_surveys import TlsSurveys

    shared = shared_transport(http_options(options), max_idle=REQUESTS_IN_FLIGHT_PER_AUDIT * options.per_host)
    try:
        yield replace(options, connections=shared, tls_surveys=TlsSurveys())
    finally:
        if shared is not None:
            await shared.aclose()


async def audit_endpoint(endpoint: Endpoint, options: ScanOptions, out_dir: Path) -> dict[str, Any]:
    from ehrcheck.engine.scorecard import score_evidence
    from ehrcheck.probes.runner import collect

    started = time.perf_counter()

    def timed(record: dict[str, Any]) -> dict[str, Any]:
        record["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
        return record

    try:
        evidence = await collect(
            endpoint.url,
            http_options(options),
            label=endpoint.name,
            connections=options.connections,
            tls_surveys=options.tls_surveys,
        )
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - one bad endpoint must not sink a scan of thousands
        return timed(summarise(endpoint, None, "error", f"internal error: {exc.__class__.__name__}: {exc}", None))
    record_extra: dict[str, Any] = {}
    name = evidence_name(endpoint.url)
    if options.keep_evidence:
        write_atomic(out_dir / "evidence" / name, evidence_text(evidence))
        record_extra["evidence"] = f"evidence/{name}"
    availability = evidence.probes.get("availability")
    if availability is None or not availability.data.get("reachable"):
        reason = (availability.reason if availability else None) or "the server did not answer"
        return timed({**summarise(endpoint, None, "unreachable", reason, evidence), **record_extra})
    try:
        # Without --reports nothing renders the result: build only what the row reads.
        result = score_evidence(evidence, options.as_of, options.profile, extra_packs=options.packs, row_only=not options.reports)
        result, expired = _waive(result, options)
    except Exception as exc:  # noqa: BLE001
        return timed(
            {
                **summarise(endpoint, None, "error", f"internal error while scoring: {exc.__class__.__name__}: {exc}", evidence),
                **record_extra,
            }
        )
    if options.reports:
        from ehrcheck.render.report import render_html

        report = f"reports/{name[: -len('.json')]}.html"
        write_atomic(out_dir / report, render_html(result))
        record_extra["report"] = report
    if expired:
        record_extra["expired_waivers"] = expired
    return timed({**summarise(endpoint, result, "audited", None, evidence), **record_extra})


def read_done(path: Path, warn: Callable[[str], None]) -> set[str]:
    """URLs already in a results file; a torn last line (the scan was killed mid-write) is cut off
    so appending continues on a clean line."""
    done: set[str] = set()
    if not path.exists():
        return done
    good_end = 0
    with path.open("rb") as fh:
        offset = 0
        for n, raw in enumerate(fh, 1):
            offset += len(raw)
            if not raw.endswith(b"\n"):
                warn(f"{path}:{n}: dropped an incomplete last line (the scan was interrupted while writing it)")
                break
            try:
                row = load_line(raw)
            except ValueError:
                row = None
            if isinstance(row, dict) and isinstance(row.get("url"), str) and not isinstance(row.get("outcome"), str):
                # Looks like a row, but ehrcheck never writes one without its outcome: the file was
                # edited or is not ours, and counting it would skip an endpoint without a result.
                raise UserInputError(
                    f"{path}:{n}: a result row without its outcome, which `ehrcheck scan` never writes; "
                    "delete that line (its endpoint is then audited again) and run the same command with --resume"
                )
            problem = row_problem(row) if isinstance(row, dict) and isinstance(row.get("url"), str) else None
            if problem:  # counted as done, it would leave its endpoint without a usable result
                raise UserInputError(
                    f"{path}:{n}: a result row `ehrcheck scan` never writes ({problem}); "
                    "delete that line (its endpoint is then audited again) and run the same command with --resume"
                )
            if isinstance(row, dict) and isinstance(row.get("url"), str):
                done.add(row["url"])
            else:
                warn(f"{path}:{n}: not a result row; it is kept, and its endpoint (if any) will be audited again")
            good_end = offset
    if good_end != path.stat().st_size:
        with path.open("r+b") as fh:
            fh.truncate(good_end)
    return done


def write_row(record: dict[str, Any], out: TextIO, stats: ScanStats, on_record: Callable[[dict[str, Any]], None] | None) -> None:
    """One finished endpoint: its JSONL row written and flushed (an interrupted scan keeps it), the
    running totals, then `on_record` (the history Recorder, progress)."""
    out.write(json_text(json.dumps(record, ensure_ascii=False, sort_keys=True)) + "\n")
    out.flush()
    stats.done += 1
    stats.add(record)
    if on_record is not None:
        on_record(record)


async def run_scan(
    endpoints: Iterable[Endpoint],
    out: TextIO,
    out_dir: Path,
    options: ScanOptions,
    done: set[str] | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    audit: Callable[[Endpoint, ScanOptions, Path], Any] = audit_endpoint,
    stop: Callable[[dict[str, Any]], str | None] | None = None,
) -> ScanStats:
    """Audit `endpoints` (skipping `done`), writing one JSONL row to `out` per endpoint. When
    `stop(row)` returns a reason, audits in flight are cancelled and `stats.stopped` says why."""
    async with sharing_between_audits(options) as options:
        stats = ScanStats()
        already = done or set()
        queue: asyncio.Queue[Endpoint | None] = asyncio.Queue(maxsize=options.concurrency * 2)
        hosts = HostLimiter(options.per_host)
        stopping = asyncio.Event()

        async def worker() -> None:
            while True:
                endpoint = await queue.get()
                if endpoint is None:
                    return
                async with hosts.slot(host_key(endpoint.url)):
                    record = await audit(endpoint, options, out_dir)
                write_row(record, out, stats, on_record)
                if stop is not None and (why := stop(record)):
                    stats.stopped = why
                    stopping.set()
                    return

        workers = [asyncio.create_task(worker(), name=f"scan-worker-{i}") for i in range(options.concurrency)]

        async def feed() -> None:
            for endpoint in endpoints:
                if endpoint.url in already:
                    stats.skipped += 1
                    continue
                await queue.put(endpoint)
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)

        feeder = asyncio.create_task(feed(), name="scan-feeder")
        stopper = asyncio.create_task(stopping.wait(), name="scan-stopper")
        try:
            await asyncio.wait({feeder, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if feeder.done():
                feeder.result()  # a worker's exception surfaces here
        finally:
            for task in (*workers, feeder, stopper):
                task.cancel()
            await asyncio.gather(*workers, feeder, stopper, return_exceptions=True)
        return stats


def open_results(out_dir: Path, resume: bool, warn: Callable[[str], None]) -> tuple[Path, set[str]]:
    """Where results go, and what is already done. Never appends to or overwrites a previous scan
    unless --resume says so."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UserInputError(f"-o {out_dir}: exists and is not a folder")
    path = out_dir / RESULTS
    if path.exists() and not path.is_file():
        # A device (a symlink to /dev/zero) reads forever, a FIFO blocks the open: never a hang.
        raise UserInputError(f"{path}: not a regular file; a scan's results are a file `ehrcheck scan` writes")
    if path.exists() and path.stat().st_size > 0 and not resume:
        raise UserInputError(f"{path} already holds results: add --resume to continue that scan, or choose another -o folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    return path, read_done(path, warn) if resume else set()


def iter_results(path: Path) -> Iterable[dict[str, Any]]:
    """Stream the rows back (for the overview), skipping any line that is not a row (a torn or
    junk line). One pass over the file also serves the overview's list order (results.iter_rows)."""
    return iter_rows(path)


def totals(path: Path, gates: ScanGates | None = None) -> tuple[ScanStats, GateTally]:
    """The summary and the gates' tally, in one pass over the rows."""
    stats = ScanStats()
    tally = GateTally(gates or ScanGates())
    for row in iter_results(path):
        stats.done += 1
        stats.add(row)
        tally.add(row)
    return stats, tally
