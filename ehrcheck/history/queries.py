"""The questions `ehrcheck history` answers, as queries over the history database. Pure reads;
each returns plain values for the renderers.

- runs: which runs fall in the window (--since/--until, the last --runs N);
- counts over time: endpoints by FHIR version, US Core version, SMART capability, verdict and
  outcome per run, read from run_counts (a few rows per run, whatever the directory's size);
- availability: per run, how many endpoints answered; per endpoint, in how many of the runs, with
  the least available first;
- changes: for one endpoint, every change from run to run; for a vendor or the whole directory,
  what differs between the first and the last run of the window.

SQL safety: values (run ids, URLs, the vendor) always travel as `?` parameters. The only text
composed into a statement is this module's own: column lists from FIELDS, the fixed conditions of
Scope.where, and runs of `?` placeholders from _marks; hence the `noqa: S608` on those queries.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Literal

from ehrcheck.history.db import Database, as_int

DIMENSIONS = ("fhir_version", "us_core", "smart", "verdict", "answers", "outcome")
FIELDS = ("outcome", "fhir_version", "us_core", "smart", "verdict_label", "answers", "score", "failed")
SET_FIELDS = ("us_core", "smart", "answers", "failed")  # space-separated sets: changes are what was added or removed


@dataclass(frozen=True)
class Run:
    id: int
    label: str
    started_at: str
    list_name: str | None


@dataclass(frozen=True)
class Scope:
    """Which endpoints: one (`endpoint`, a normalised URL), a vendor's (`vendor`: the --vendor a scan
    recorded, or part of the organisation name), or all."""

    endpoint: str | None = None
    vendor: str | None = None

    def where(self, alias: Literal["", "a"] = "") -> tuple[str, tuple[Any, ...]]:
        """The condition to append (fixed text, `?` placeholders) and its parameters."""
        a = f"{alias}." if alias else ""
        if self.endpoint:
            return f" AND {a}url = ?", (self.endpoint,)
        if self.vendor:
            return f" AND ({a}vendor = ? OR LOWER({a}name) LIKE ?)", (self.vendor, f"%{self.vendor.lower()}%")
        return "", ()

    @property
    def whole(self) -> bool:
        return not (self.endpoint or self.vendor)


def runs(db: Database, since: str | None = None, until: str | None = None, last: int | None = None) -> list[Run]:
    sql = "SELECT id, label, started_at, list_name FROM runs WHERE 1 = 1"
    params: list[Any] = []
    if since:
        sql += " AND started_at >= ?"
        params.append(since)
    if until:
        sql += " AND started_at < ?"
        params.append(until)
    found = [
        Run(as_int(i, "a run id"), str(label), str(at), name)
        for i, label, at, name in db.query(sql + " ORDER BY started_at, id", params)
    ]
    return found[-last:] if last else found


def _marks(values: list[Any]) -> str:
    """`(?, ?, ?)`: one placeholder per value, for an IN list whose values go in the parameters."""
    return "(" + ", ".join("?" for _ in values) + ")"


def counts_over_time(db: Database, run_list: list[Run], scope: Scope) -> dict[str, dict[str, list[int]]]:
    """{dimension: {value: [count per run]}}; values most common first."""
    out: dict[str, dict[str, list[int]]] = {d: {} for d in DIMENSIONS}
    if not run_list:
        return out
    pos = {r.id: i for i, r in enumerate(run_list)}
    if scope.whole:
        ids = list(pos)
        rows = db.query(f"SELECT run_id, dimension, value, n FROM run_counts WHERE run_id IN {_marks(ids)}", ids)  # noqa: S608 - placeholders only
    else:  # a vendor's or one endpoint's rows: few enough to count here
        rows = _count_scoped(db, list(pos), scope)
    for run_id, dim, value, n in rows:
        if dim in out:
            out[dim].setdefault(str(value), [0] * len(run_list))[pos[run_id]] += as_int(n, "a count")
    return {d: dict(sorted(v.items(), key=lambda kv: (-sum(kv[1]), kv[0]))) for d, v in out.items()}


def _count_scoped(db: Database, ids: list[int], scope: Scope) -> list[tuple[int, str, str, int]]:
    cond, params = scope.where()
    counts: dict[tuple[int, str, str], int] = defaultdict(int)
    sql = f"SELECT run_id, outcome, verdict_label, fhir_version, us_core, smart, answers FROM results WHERE run_id IN {_marks(ids)}{cond}"  # noqa: S608 - placeholders and Scope.where's fixed text
    for run_id, outcome, verdict, fhir, us_core, smart, answers in db.query(sql, (*ids, *params)):
        counts[run_id, "outcome", outcome] += 1
        if outcome != "audited":
            continue
        counts[run_id, "verdict", verdict or "none"] += 1
        counts[run_id, "fhir_version", fhir or "none"] += 1
        for value in (us_core or "none").split():
            counts[run_id, "us_core", value] += 1
        for value in (smart or "none").split():
            counts[run_id, "smart", value] += 1
        for value in (answers or "").split():
            counts[run_id, "answers", value] += 1
    return [(r, d, v, n) for (r, d, v), n in counts.items()]


@dataclass
class Availability:
    per_run: list[tuple[int, int]]  # (answered, scanned) per run
    endpoints: list[dict[str, Any]] = field(default_factory=list)  # least available first, up to `limit`
    total_endpoints: int = 0
    always_up: int = 0


def availability(db: Database, run_list: list[Run], scope: Scope, limit: int = 50) -> Availability:
    """An endpoint counts as available in a run when it answered (audited, even if broken)."""
    if not run_list:
        return Availability(per_run=[])
    ids = [r.id for r in run_list]
    pos = {r.id: i for i, r in enumerate(run_list)}
    cond, params = scope.where()
    per_run = [(0, 0)] * len(run_list)
    if scope.whole:
        rows = db.query(f"SELECT run_id, value, n FROM run_counts WHERE dimension = 'outcome' AND run_id IN {_marks(ids)}", ids)  # noqa: S608 - placeholders only
        acc: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        for run_id, value, n in rows:
            acc[run_id][1] += as_int(n, "a count")
            if value == "audited":
                acc[run_id][0] += as_int(n, "a count")
        per_run = [tuple(acc[i]) if i in acc else (0, 0) for i in ids]  # type: ignore[misc]
    else:
        rows = db.query(
            f"SELECT run_id, SUM(CASE WHEN outcome = 'audited' THEN 1 ELSE 0 END), COUNT(*) FROM results "  # noqa: S608 - placeholders and Scope.where's fixed text
            f"WHERE run_id IN {_marks(ids)}{cond} GROUP BY run_id",
            (*ids, *params),
        )
        per_run_list = [(0, 0)] * len(run_list)
        for run_id, up, n in rows:
            per_run_list[pos[run_id]] = (as_int(up, "a count"), as_int(n, "a count"))
        per_run = per_run_list
    stats = db.query(
        # "+run_id": not by the primary key (run by run, then a sort) but along results_by_url, which
        # holds url, run and outcome: grouped by url as it reads, never touching the table
        f"SELECT url, SUM(CASE WHEN outcome = 'audited' THEN 1 ELSE 0 END) AS up, COUNT(*) AS seen FROM results "  # noqa: S608 - placeholders and Scope.where's fixed text
        f"WHERE +run_id IN {_marks(ids)}{cond} GROUP BY url",
        (*ids, *params),
    )
    counted = [(url, as_int(up, "a count"), as_int(seen, "a count")) for url, up, seen in stats]
    worst = sorted(
        ((seen - up, url, up, seen) for url, up, seen in counted if up < seen),
        key=lambda t: (-t[0] / t[3], t[1]),
    )
    result = Availability(per_run=per_run, total_endpoints=len(stats), always_up=len(stats) - len(worst))
    shown = worst[:limit]
    if shown:
        strips: dict[str, list[str]] = {url: ["·"] * len(run_list) for _, url, _, _ in shown}
        names: dict[str, str | None] = {}
        urls = [u for _, u, _, _ in shown]
        for run_id, url, outcome, name in db.query(
            f"SELECT run_id, url, outcome, name FROM results WHERE run_id IN {_marks(ids)} AND url IN {_marks(urls)}",  # noqa: S608 - placeholders only
            (*ids, *urls),
        ):
            strips[url][pos[run_id]] = "up" if outcome == "audited" else ("down" if outcome == "unreachable" else "error")
            names[url] = name or names.get(url)
        result.endpoints = [
            {"url": _shown(url), "name": names.get(url), "up": up, "seen": seen, "runs": strips[url]}
            for _, url, up, seen in shown
        ]
    return result


def _number(v: Any) -> str:
    return "–" if v is None else f"{float(v):.0f}"


def _diff(field_name: str, before: Any, after: Any) -> str | None:
    """How a field changed, in words; None when it did not."""
    if field_name in SET_FIELDS:
        old, new = set((before or "").split()), set((after or "").split())
        if old == new:
            return None
        parts = []
        if new - old:
            parts.append("added " + ", ".join(sorted(new - old)))
        if old - new:
            parts.append("removed " + ", ".join(sorted(old - new)))
        return "; ".join(parts)
    if field_name == "score":
        if before is None and after is None:
            return None
        if before is not None and after is not None and round(float(before)) == round(float(after)):
            return None
        return f"{_number(before)} → {_number(after)}"
    if (before or None) == (after or None):
        return None
    return f"{before or '–'} → {after or '–'}"


def _shown(url: Any) -> Any:
    """An endpoint's URL as history prints it. A scan never records user-info or a token (its
    lists lose them as they are read), but a hand-made or edited database can hold
    `https://user:password@host/r4?access_token=…`: like a report.json read back, it prints neither."""
    from ehrcheck.http.redact import redact_url_text

    return redact_url_text(url) if isinstance(url, str) else url


@dataclass(frozen=True)
class Change:
    url: str
    name: str | None
    field: str
    what: str
    before_run: str
    after_run: str


def changes(db: Database, run_list: list[Run], scope: Scope, limit: int = 500) -> tuple[list[Change], int]:
    """(changes, how many in all). One endpoint: run to run. Otherwise: first run against last."""
    if len(run_list) < 2:
        return [], 0
    cols = ", ".join(FIELDS)
    found: list[Change] = []
    total = 0
    cond, params = scope.where()
    labels = {r.id: r.label for r in run_list}
    if scope.endpoint:
        ids = list(labels)
        rows = db.query(
            f"SELECT run_id, url, name, {cols} FROM results WHERE run_id IN {_marks(ids)}{cond}",  # noqa: S608 - FIELDS, placeholders, Scope.where's fixed text
            (*ids, *params),
        )
        order = {r.id: i for i, r in enumerate(run_list)}
        rows.sort(key=lambda r: order[r[0]])
        for prev, cur in pairwise(rows):
            for i, name in enumerate(FIELDS):
                what = _diff(name, prev[3 + i], cur[3 + i])
                if what:
                    total += 1
                    found.append(Change(_shown(cur[1]), cur[2], name, what, labels[prev[0]], labels[cur[0]]))
        return found[:limit], total
    first, last = run_list[0], run_list[-1]
    a_cond, a_params = scope.where("a")
    rows = db.query(
        f"SELECT a.url, COALESCE(b.name, a.name), {', '.join(f'a.{c}' for c in FIELDS)}, {', '.join(f'b.{c}' for c in FIELDS)} "  # noqa: S608 - FIELDS and Scope.where's fixed text
        f"FROM results a JOIN results b ON b.url = a.url AND b.run_id = ? WHERE a.run_id = ?{a_cond} ORDER BY a.url",
        (last.id, first.id, *a_params),
    )
    n = len(FIELDS)
    for row in rows:
        for i, name in enumerate(FIELDS):
            what = _diff(name, row[2 + i], row[2 + n + i])
            if what:
                total += 1
                if len(found) < limit:
                    found.append(Change(_shown(row[0]), row[1], name, what, first.label, last.label))
    for kind, (x, y) in (("added to the list", (last, first)), ("dropped from the list", (first, last))):
        extra = db.query(
            f"SELECT a.url, a.name FROM results a WHERE a.run_id = ?{a_cond} AND NOT EXISTS "  # noqa: S608 - Scope.where's fixed text
            f"(SELECT 1 FROM results b WHERE b.run_id = ? AND b.url = a.url) ORDER BY a.url",
            (x.id, *a_params, y.id),
        )
        for url, name in extra:
            total += 1
            if len(found) < limit:
                found.append(Change(_shown(url), name, "listed", kind, first.label, last.label))
    return found, total
