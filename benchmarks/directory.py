"""Directory scale (issue 18): a scan of a large directory on loopback with the history database
on — SQLite and PostgreSQL — and `ehrcheck history` over many recorded runs.

- scan: `ehrcheck scan --db` of N endpoints (20,000 in a full run) served by one many_endpoints
  process; throughput (endpoints/s over the wall time of the whole command) and peak RSS.
- history: a database holding R runs of N endpoints (30 × 20,000), written through the same
  Recorder a scan uses with synthetic rows (a stable mix of FHIR versions, SMART capabilities,
  US Core versions, and a few endpoints changing or going down each run), then
  `ehrcheck history --db ... -o history.html` timed as a command, start-up included.
PostgreSQL is a throwaway cluster under .run/ on loopback (tests/support/postgres.py).
"""

from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path

from .measure import Samples, run
from .report import Row, Target

SMART = (
    "launch-standalone",
    "launch-ehr",
    "client-public",
    "client-confidential-symmetric",
    "sso-openid-connect",
    "context-standalone-patient",
    "permission-patient",
    "permission-v2",
)
FHIR = ("4.0.1", "4.0.1", "4.0.1", "1.0.2", "3.0.2")
US_CORE = ((), ("3.1.1",), ("6.1.0",), ("6.1.0", "7.0.0"))


def synthetic_row(i: int, run_no: int, rnd: random.Random) -> dict:
    """Endpoint i in run run_no: mostly stable, with a few changes and outages per run."""
    base = random.Random(i)  # noqa: S311 - seeded for reproducible synthetic data, not security
    up = rnd.random() > 0.06
    caps = [c for c in SMART if base.random() < 0.6]
    if run_no > 15 and i % 50 == 0:
        caps = caps[:-1]  # some endpoints drop a capability half-way
    row = {
        "index": i,
        "url": f"https://fhir{i % 3000}.vendor{i % 7}.example/api/FHIR/R4/{i}",
        "name": f"Organisation {i}",
        "outcome": "audited" if up else "unreachable",
        "reason": None if up else "the server did not answer any request: connection timed out",
        "failure_kind": None if up else "timeout",
        "evidence_finished_at": f"2026-01-{1 + run_no % 28:02d}T03:00:00Z",
        "median_ms": 120.0,
        "duration_ms": 800.0,
    }
    if up:
        fhir = FHIR[base.randrange(len(FHIR))]
        us_core = list(US_CORE[min(3, base.randrange(4) + (1 if run_no > 20 and i % 40 == 0 else 0))])
        row.update(
            fhir_version=fhir,
            us_core=us_core,
            smart=caps,
            score=40 + base.random() * 50,
            low=20.0,
            high=90.0,
            verdict={"level": "interoperable", "label": "Interoperable EHR"}
            if caps
            else {"level": "siloed", "label": "Siloed EMR"},
            failed=sorted(f"INT-0{k:02d}" for k in range(base.randrange(12))),
        )
    return row


def fill_history(target: str, runs: int, endpoints: int) -> float:
    """Write `runs` runs of `endpoints` rows through the scan's Recorder; seconds taken."""
    import time

    from ehrcheck.history.db import open_database
    from ehrcheck.history.migrations import migrate
    from ehrcheck.history.record import Recorder, start_run

    t0 = time.monotonic()
    db = open_database(target)
    try:
        migrate(db)
        for r in range(runs):
            rnd = random.Random(r)  # noqa: S311 - seeded for reproducible synthetic data, not security
            rec = Recorder(db, start_run(db, f"bench-{r:02d}", {"started_at": f"2026-01-01T00:{r:02d}:00Z", "list": "bench"}))
            for i in range(endpoints):
                rec.add(synthetic_row(i, r, rnd))
            rec.finish()
    finally:
        db.close()
    return time.monotonic() - t0


def scan_with_db(
    n: int, listed: Path, work: Path, concurrency: int, target: str, label: str, res_rows: list, targets: list
) -> None:
    out = work / f"scan-db-{label}"
    shutil.rmtree(out, ignore_errors=True)
    argv = [
        str(Path(sys.executable).with_name("ehrcheck")),
        "scan",
        str(listed),
        "-o",
        str(out),
        "-q",
        "-j",
        str(concurrency),
        "--per-host",
        str(concurrency),
        "--db",
        target,
        "--early-stop",
        "0",
    ]
    r = run(argv, tree=True)
    if r.returncode != 0:
        raise RuntimeError(f"ehrcheck scan --db ({label}) exited {r.returncode}:\n{r.stderr[-2000:]}")
    rows = (out / "results.jsonl").read_text().count("\n")
    if rows != n:
        raise RuntimeError(f"scan --db ({label}) wrote {rows} rows for {n} endpoints")
    rate, rss = Samples(), Samples()
    rate.add(n / r.wall)
    rss.add(r.tree_rss_mb)  # the scan process and its workers, summed
    res_rows.append(
        Row(
            "directory",
            f"`ehrcheck scan --db` ({label}), {n} endpoints: throughput",
            rate,
            "endpoints/s",
            f"CPU {r.cpu / n * 1000:.1f} ms per endpoint; one run (wall {r.wall:.0f} s)",
        )
    )
    res_rows.append(
        Row(
            "directory",
            f"… peak RSS, the scan process and its workers summed ({label})",
            rss,
            "MB",
            f"largest single process {r.max_rss_mb:.0f} MB (wait4)",
        )
    )
    targets.append(
        Target(f"scan --db {label} ≥ 100 endpoints/s at {n}", f"{rate.median:.0f} endpoints/s", rate.median >= 100, "directory")
    )
    targets.append(Target(f"scan --db {label} peak RSS ≤ 300 MB at {n}", f"{rss.median:.0f} MB", rss.median <= 300, "directory"))


def history_timing(target: str, label: str, runs: int, n: int, work: Path, times: int, res_rows: list, targets: list) -> None:
    fill = fill_history(target, runs, n)
    argv = [
        str(Path(sys.executable).with_name("ehrcheck")),
        "history",
        "--db",
        target,
        "-o",
        str(work / f"history-{label}.html"),
        "-q",
    ]
    wall = Samples()
    for _ in range(times):
        r = run(argv)
        if r.returncode != 0:
            raise RuntimeError(f"ehrcheck history ({label}) exited {r.returncode}:\n{r.stderr[-2000:]}")
        wall.add(r.wall)
    res_rows.append(
        Row(
            "directory",
            f"`ehrcheck history -o history.html` ({label}), {runs} runs × {n} endpoints",
            wall,
            "s",
            f"database filled through the scan's Recorder in {fill:.0f} s",
        )
    )
    targets.append(Target(f"history ({label}) over {runs} × {n} ≤ 2 s", f"{wall.median:.2f} s", wall.median <= 2.0, "directory"))
