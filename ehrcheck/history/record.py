"""Writing a scan into the history database: one `runs` row per run label, one `results` row per
endpoint (upserted: a --resume or --retry-unreachable replaces the endpoint's earlier row in the
same run), written in batches as the scan goes, and the run's counts recomputed at the end.

Shards of one run (`--shard i/n` on many machines, one `--run-label`) share the `runs` row; each
shard recounts the whole run when it finishes, under a row lock on PostgreSQL, so whichever
finishes last leaves the complete counts.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from ehrcheck.history.db import Database

COLUMNS = (
    "run_id",
    "url",
    "name",
    "vendor",
    "list_index",
    "shard",
    "checked_at",
    "outcome",
    "failure_kind",
    "reason",
    "fhir_version",
    "us_core",
    "smart",
    "verdict_level",
    "verdict_label",
    "answers",
    "score",
    "score_low",
    "score_high",
    "failed",
    "median_ms",
    "duration_ms",
)
UPSERT = (  # composed from COLUMNS alone; every value is a ? parameter
    f"INSERT INTO results ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)}) "  # noqa: S608 - the constant COLUMNS
    f"ON CONFLICT (run_id, url) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in COLUMNS[2:])}"
)
BATCH = 500
NONE = "none"  # the value counted when an endpoint has no FHIR version, US Core or SMART capability


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _row_values(run_id: int, row: dict[str, Any], vendor: str | None, shard: str | None) -> tuple[Any, ...]:
    verdict = row.get("verdict") or {}
    return (
        run_id,
        row["url"],
        row.get("name"),
        vendor,
        row.get("index"),
        shard,
        row.get("evidence_finished_at") or now(),
        row.get("outcome"),
        row.get("failure_kind"),
        row.get("reason"),
        row.get("fhir_version"),
        " ".join(row.get("us_core") or []) or None,
        " ".join(row.get("smart") or []) or None,
        verdict.get("level"),
        verdict.get("label"),
        " ".join(f"{q}={a}" for q, a in sorted((row.get("answers") or {}).items())) or None,
        row.get("score"),
        row.get("low"),
        row.get("high"),
        " ".join(row.get("failed") or []) or None,
        row.get("median_ms"),
        row.get("duration_ms"),
    )


def start_run(db: Database, label: str, meta: dict[str, Any]) -> int:
    """The run's id, creating the row unless another shard already did."""
    db.execute(
        "INSERT INTO runs (label, started_at, list_name, profile, tool_version) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (label) DO NOTHING",
        (label, meta.get("started_at") or now(), meta.get("list"), meta.get("profile"), meta.get("version")),
    )
    (run_id,) = db.query("SELECT id FROM runs WHERE label = ?", (label,))[0]
    db.commit()
    return int(run_id)


class Recorder:
    """Buffers result rows and writes them BATCH at a time; `finish` writes the rest and recounts."""

    def __init__(self, db: Database, run_id: int, vendor: str | None = None, shard: str | None = None):
        self.db = db
        self.run_id = run_id
        self.vendor = vendor
        self.shard = shard
        self.pending: list[tuple[Any, ...]] = []
        self.written = 0

    def add(self, row: dict[str, Any]) -> None:
        self.pending.append(_row_values(self.run_id, row, self.vendor, self.shard))
        if len(self.pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.db.executemany(UPSERT, self.pending)
            self.db.commit()
            self.written += len(self.pending)
            self.pending.clear()

    def finish(self) -> None:
        self.flush()
        if self.db.dialect == "postgres":
            self.db.execute("SELECT id FROM runs WHERE id = ? FOR UPDATE", (self.run_id,))
        recount(self.db, self.run_id)
        self.db.execute("UPDATE runs SET finished_at = ? WHERE id = ?", (now(), self.run_id))
        self.db.commit()
        if self.db.dialect == "postgres":  # fresh statistics after a bulk load, so history's plans fit the data
            self.db.execute("ANALYZE results")
            self.db.commit()


def recount(db: Database, run_id: int) -> None:
    """The run's counts by outcome, verdict, FHIR version, US Core version and SMART capability
    (each capability once per endpoint that offers it), so `history` reads a few rows per run."""
    counts: Counter[tuple[str, str]] = Counter()
    for batch in db.stream(
        "SELECT outcome, verdict_label, fhir_version, us_core, smart, answers FROM results WHERE run_id = ?", (run_id,)
    ):
        for outcome, verdict, fhir, us_core, smart, answers in batch:
            counts["outcome", outcome] += 1
            if outcome != "audited":
                continue
            counts["verdict", verdict or NONE] += 1
            counts["fhir_version", fhir or NONE] += 1
            for value in (us_core or NONE).split():
                counts["us_core", value] += 1
            for value in (smart or NONE).split():
                counts["smart", value] += 1
            for value in (answers or "").split():
                counts["answers", value] += 1
    db.execute("DELETE FROM run_counts WHERE run_id = ?", (run_id,))
    db.executemany(
        "INSERT INTO run_counts (run_id, dimension, value, n) VALUES (?, ?, ?, ?)",
        [(run_id, dim, value, n) for (dim, value), n in sorted(counts.items())],
    )
