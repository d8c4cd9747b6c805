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
import hashlib
import json
import ssl
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from ehrcheck.errors import UserInputError
from ehrcheck.files.limits import json_loads
from ehrcheck.files.store import evidence_text, write_atomic
from ehrcheck.http.client import HttpOptions
from ehrcheck.models import Evidence, RunResult, Status
from ehrcheck.rules.schema import Pack
from ehrcheck.scan.endpoint_list import Endpoint

RESULTS = "results.jsonl"
RECORD_VERSION = 1


@dataclass(frozen=True)
class ScanOptions:
    concurrency: int = 16
    per_host: int = 4
    timeout: float = 10.0
    as_of: dt.date | None = None
    profile: str = "default"
    packs: Sequence[Pack] = ()
    keep_evidence: bool = False
    verify: ssl.SSLContext | bool | str = True


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

    def add(self, record: dict[str, Any]) -> None:
        self.outcomes[record["outcome"]] = self.outcomes.get(record["outcome"], 0) + 1
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


def evidence_name(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:20] + ".json"


def _fhir_version(evidence: Evidence | None) -> str | None:
    cap = evidence.probes.get("capability") if evidence else None
    return cap.data.get("fhir_version") if cap is not None else None


def summarise(
    endpoint: Endpoint, result: RunResult | None, outcome: str, reason: str | None, evidence: Evidence | None
) -> dict[str, Any]:
    """The JSONL row: small, flat, enough to rank and filter; the evidence holds the rest."""
    record: dict[str, Any] = {
        "v": RECORD_VERSION,
        "url": endpoint.url,
        "name": endpoint.name,
        "source": endpoint.where,
        "outcome": outcome,
        "reason": reason,
        "evidence_finished_at": evidence.finished_at if evidence else None,
    }
    if result is not None:
        failed_ids = sorted(f.rule_id for f in result.findings if f.status == Status.fail)
        record.update(
            verdict={"level": result.verdict.level, "label": result.verdict.label},
            score=result.overall.score,
            low=result.overall.low,
            high=result.overall.high,
            packs={p.pack: p.score for p in result.packs},
            counts={k: v for k, v in result.overall.counts.items() if v},
            failed=failed_ids,
            fhir_version=_fhir_version(evidence),
        )
    return record


async def audit_endpoint(endpoint: Endpoint, options: ScanOptions, out_dir: Path) -> dict[str, Any]:
    from ehrcheck.engine.scorecard import score_evidence
    from ehrcheck.probes.runner import collect

    http = HttpOptions(timeout=options.timeout, verify=options.verify)
    try:
        evidence = await collect(endpoint.url, http, label=endpoint.name)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - one bad endpoint must not sink a scan of thousands
        return summarise(endpoint, None, "error", f"internal error: {exc.__class__.__name__}: {exc}", None)
    record_extra: dict[str, Any] = {}
    if options.keep_evidence:
        name = evidence_name(endpoint.url)
        write_atomic(out_dir / "evidence" / name, evidence_text(evidence))
        record_extra["evidence"] = f"evidence/{name}"
    availability = evidence.probes.get("availability")
    if availability is None or not availability.data.get("reachable"):
        reason = (availability.reason if availability else None) or "the server did not answer"
        return {**summarise(endpoint, None, "unreachable", reason, evidence), **record_extra}
    try:
        result = score_evidence(evidence, options.as_of, options.profile, extra_packs=options.packs)
    except Exception as exc:  # noqa: BLE001
        return {
            **summarise(endpoint, None, "error", f"internal error while scoring: {exc.__class__.__name__}: {exc}", evidence),
            **record_extra,
        }
    return {**summarise(endpoint, result, "audited", None, evidence), **record_extra}


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
                row = json_loads(raw)
            except ValueError:
                row = None
            if isinstance(row, dict) and isinstance(row.get("url"), str) and not isinstance(row.get("outcome"), str):
                # Looks like a row, but ehrcheck never writes one without its outcome: the file was
                # edited or is not ours, and counting it would skip an endpoint without a result.
                raise UserInputError(
                    f"{path}:{n}: a result row without its outcome, which `ehrcheck scan` never writes; "
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


async def run_scan(
    endpoints: Iterable[Endpoint],
    out: TextIO,
    out_dir: Path,
    options: ScanOptions,
    done: set[str] | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    audit: Callable[[Endpoint, ScanOptions, Path], Any] = audit_endpoint,
) -> ScanStats:
    """Audit `endpoints` (skipping `done`), writing one JSONL row to `out` per endpoint."""
    stats = ScanStats()
    already = done or set()
    queue: asyncio.Queue[Endpoint | None] = asyncio.Queue(maxsize=options.concurrency * 2)
    hosts = HostLimiter(options.per_host)

    async def worker() -> None:
        while True:
            endpoint = await queue.get()
            if endpoint is None:
                return
            async with hosts.slot(host_key(endpoint.url)):
                record = await audit(endpoint, options, out_dir)
            out.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
            out.flush()
            stats.done += 1
            stats.add(record)
            if on_record is not None:
                on_record(record)

    workers = [asyncio.create_task(worker(), name=f"scan-worker-{i}") for i in range(options.concurrency)]
    try:
        for endpoint in endpoints:
            if endpoint.url in already:
                stats.skipped += 1
                continue
            await queue.put(endpoint)
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return stats


def open_results(out_dir: Path, resume: bool, warn: Callable[[str], None]) -> tuple[Path, set[str]]:
    """Where results go, and what is already done. Never appends to or overwrites a previous scan
    unless --resume says so."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UserInputError(f"-o {out_dir}: exists and is not a folder")
    path = out_dir / RESULTS
    if path.exists() and path.stat().st_size > 0 and not resume:
        raise UserInputError(f"{path} already holds results: add --resume to continue that scan, or choose another -o folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    return path, read_done(path, warn) if resume else set()


def iter_results(path: Path) -> Iterable[dict[str, Any]]:
    """Stream the rows back (for the overview), skipping any line that is not a row."""
    with path.open("r", encoding="utf-8") as fh:
        for line in fh:
            try:
                row = json_loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and isinstance(row.get("url"), str) and isinstance(row.get("outcome"), str):
                yield row


def totals(path: Path) -> ScanStats:
    stats = ScanStats()
    for row in iter_results(path):
        stats.done += 1
        stats.add(row)
    return stats
