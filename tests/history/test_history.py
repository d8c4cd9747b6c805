"""`scan --db` and `ehrcheck history`, against SQLite and a real PostgreSQL server: three scans of
loopback endpoints with changes planted between them, shards of one run, schema migrations, and
hostile values in the database kept inert in every output."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ehrcheck.cli import app
from ehrcheck.history.db import open_database
from ehrcheck.history.migrations import LATEST, current_version, migrate
from ehrcheck.history.record import Recorder, start_run
from ehrcheck.scan.shard import Shard
from tests.support.many_endpoints import serve_many, variant_of


def run(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "400"})


def _pick(server, variant: str, skip: set[int]) -> int:
    return next(i for i in range(100) if i not in skip and variant_of(f"/ep/{i}/fhir/r4") == variant)


def test_three_runs_with_planted_changes_show_in_history(db_target: str, tmp_path: Path):
    with serve_many() as srv, serve_many() as other:
        smart_a = _pick(srv, "r4-smart", set())
        smart_b = _pick(srv, "r4-smart", {smart_a})
        plain_c = _pick(srv, "r4-plain", set())
        picked = sorted({smart_a, smart_b, plain_c, *range(6)})
        urls = [srv.url(i) for i in picked] + [other.url(1)]
        listing = tmp_path / "list.txt"
        listing.write_text("\n".join(urls) + "\n")

        def scan(n: int) -> None:
            res = run(
                "scan", str(listing), "-o", str(tmp_path / f"scan{n}"), "--db", db_target, "--run-label", f"run-{n}",
                "--timeout", "2", "--vendor", "Loopback Health", "-q",
            )  # fmt: skip
            assert res.exit_code == 0, res.output

        scan(1)
        srv.overrides[f"/ep/{smart_a}/fhir/r4"] = "r4-plain"  # drops SMART
        srv.overrides[f"/ep/{plain_c}/fhir/r4"] = "r4-uscore"  # starts declaring US Core 6.1.0, with SMART
        scan(2)
        other.stop()  # a whole server goes away
        scan(3)
    a, c, gone = srv.url(smart_a), srv.url(plain_c), other.url(1)

    html_path = tmp_path / "history.html"
    res = run("history", "--db", db_target, "-o", str(html_path))
    assert res.exit_code == 0, res.output
    assert "3 run(s)" in res.stderr
    html = html_path.read_text()
    assert html.count("<svg") >= 5  # availability + FHIR version + US Core + SMART + verdict + outcome charts
    # the SMART table: launch-standalone offered by one endpoint fewer after run 1, one more again from run 2 (c)
    smart = _table_row(html, "smart-h", "launch-standalone")
    us_core = _table_row(html, "us_core-h", "6.1.0")
    assert smart[1] == smart[2] == smart[0] and us_core == [0, 1, 1]  # a lost it, c gained it
    answered = re.findall(r"<td>(\d+) of (\d+)</td>", html.split('id="runs-h"')[1].split("</table>")[0])
    assert [int(x) for x, _ in answered] == [len(urls), len(urls), len(urls) - 1]
    changes = html.split('id="changes-h"')[1].split("</section>")[0]
    assert re.search(re.escape(a) + r"</code></span></th><td>SMART capabilities</td><td>removed [^<]*launch-standalone", changes)
    assert re.search(re.escape(c) + r"</code></span></th><td>US Core</td><td>added 6.1.0", changes)
    assert gone in changes and "audited → unreachable" in changes
    assert "run-1 → run-3" in changes
    # the verdict's answers are recorded per question; an endpoint that went away lost them
    assert re.search(re.escape(gone) + r"</code></span></th><td>Verdict answers</td><td>removed [^<]*shares=", changes)
    assert 'id="answers-h"' in html

    one = run("history", "--db", db_target, "--endpoint", a + "/metadata", "-o", "-", "-q")
    assert one.exit_code == 0
    assert re.search(r"SMART capabilities \| removed [^|]*launch-standalone[^|]*\| run-1 → run-2", one.stdout), one.stdout
    assert c not in one.stdout
    vendor = json.loads(run("history", "--db", db_target, "--vendor", "Loopback Health", "-f", "json", "-q").stdout)
    assert [r["label"] for r in vendor["runs"]] == ["run-1", "run-2", "run-3"]
    assert vendor["availability"]["least_available"][0]["url"] == gone
    assert vendor["availability"]["least_available"][0]["runs"] == ["up", "up", "down"]
    none = json.loads(run("history", "--db", db_target, "--vendor", "Nobody", "-f", "json", "-q").stdout)
    assert none["changes"] == [] and none["availability"]["endpoints"] == 0
    last_two = json.loads(run("history", "--db", db_target, "--runs", "2", "-f", "json", "-q").stdout)
    assert [r["label"] for r in last_two["runs"]] == ["run-2", "run-3"]


def _table_row(html: str, section: str, value: str) -> list[int]:
    part = html.split(f'id="{section}"')[1].split("</section>")[0]
    m = re.search(r'<tr><th scope="row">' + re.escape(value) + r"</th>((?:<td>\d+</td>)+)</tr>", part)
    assert m, part[:2000]
    return [int(x) for x in re.findall(r"<td>(\d+)</td>", m.group(1))]


def test_shards_on_many_machines_make_one_run(db_target: str, tmp_path: Path):
    with serve_many() as srv:
        # 12 endpoints with at least two in each shard: the shard of a URL hangs on the server's
        # random port, and 12 URLs left one shard empty in ~2 % of runs.
        candidates = [srv.url(i) for i in range(200)]
        urls = [u for k in (1, 2, 3) for u in [c for c in candidates if Shard(k, 3).owns(c)][:4]]
        listing = tmp_path / "list.txt"
        listing.write_text("\n".join(urls) + "\n")
        parts = []
        for i in (1, 2, 3):
            out = tmp_path / f"shard{i}"
            res = run(
                "scan", str(listing), "-o", str(out), "--shard", f"{i}/3", "--db", db_target, "--run-label", "nightly-7", "-q"
            )
            assert res.exit_code == 0, res.output
            parts.append({json.loads(line)["url"] for line in (out / "results.jsonl").read_text().splitlines()})
    assert sorted(u for p in parts for u in p) == sorted(urls)  # disjoint, and together the whole list
    assert all(parts)
    doc = json.loads(run("history", "--db", db_target, "-f", "json", "-q").stdout)
    assert [r["label"] for r in doc["runs"]] == ["nightly-7"]
    assert doc["availability"]["per_run"] == [{"answered": 12, "scanned": 12}]
    assert sum(doc["counts"]["outcome"]["audited"]) == 12  # counts cover every shard's rows


def test_interrupted_scan_resumed_records_one_whole_run(db_target: str, tmp_path: Path):
    with serve_many() as srv:
        urls = [srv.url(i) for i in range(6)]
        listing = tmp_path / "list.txt"
        listing.write_text("\n".join(urls[:3]) + "\n")
        out = tmp_path / "scan"
        assert run("scan", str(listing), "-o", str(out), "--db", db_target, "-q").exit_code == 0
        listing.write_text("\n".join(urls) + "\n")  # as if the first pass had stopped half-way
        assert run("scan", str(listing), "-o", str(out), "--db", db_target, "--resume", "-q").exit_code == 0
    doc = json.loads(run("history", "--db", db_target, "-f", "json", "-q").stdout)
    assert len(doc["runs"]) == 1 and doc["availability"]["per_run"] == [{"answered": 6, "scanned": 6}]


def test_migrations_are_versioned_and_applied_in_order(db_target: str):
    db = open_database(db_target)
    try:
        assert migrate(db, target=1) == [1]
        assert current_version(db) == 1
        db.execute("INSERT INTO runs (label, started_at) VALUES ('old', '2026-01-01T00:00:00Z')")
        (run_id,) = db.query("SELECT id FROM runs WHERE label = 'old'")[0]
        db.execute(
            "INSERT INTO results (run_id, url, checked_at, outcome, fhir_version) VALUES (?, 'https://a.example/r4', 'x', 'audited', '4.0.1')",
            (run_id,),
        )
        db.commit()
        assert migrate(db) == list(range(2, LATEST + 1))  # run_counts and answers added; the old run counted
        assert db.query(
            "SELECT n FROM run_counts WHERE run_id = ? AND dimension = 'fhir_version' AND value = '4.0.1'", (run_id,)
        ) == [(1,)]
        assert migrate(db) == []  # idempotent
        db.execute("INSERT INTO schema_migrations (version, description, applied_at) VALUES (99, 'future', 'x')")
        db.commit()
    finally:
        db.close()
    res = run("history", "--db", db_target)
    assert res.exit_code == 2 and "schema version 99 was written by a newer ehrcheck" in res.output


def test_hostile_values_stay_text_in_every_output(db_target: str, tmp_path: Path):
    db = open_database(db_target)
    try:
        migrate(db)
        evil = "<script>alert(1)</script>[x](https://evil.example) | `code`"
        for n in (1, 2):
            rec = Recorder(db, start_run(db, f"r{n}", {"started_at": f"2026-01-0{n}T00:00:00Z"}))
            rec.add(
                {"url": "https://a.example/r4", "name": evil, "outcome": "audited", "fhir_version": evil if n == 2 else "4.0.1"}
            )
            rec.finish()
    finally:
        db.close()
    html = tmp_path / "h.html"
    assert run("history", "--db", db_target, "-o", str(html), "-q").exit_code == 0
    text = html.read_text()
    assert "<script>alert" not in text and "&lt;script&gt;" in text
    md = run("history", "--db", db_target, "-q").stdout
    assert "<script>" not in md and "](https" not in md and "\\[x\\]\\(https" in md


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("{tmp}/no/such/folder/h.sqlite", "does not exist"),
        ("{tmp}/not-a-db.sqlite", "not a usable SQLite database"),
        ("mysql://u@127.0.0.1/x", "use a file path (SQLite) or a postgresql:// URL"),
    ],
)
def test_bad_database_is_exit_2(tmp_path: Path, target: str, message: str):
    (tmp_path / "not-a-db.sqlite").write_bytes(b"this is not sqlite" * 100)
    listing = tmp_path / "list.txt"
    listing.write_text("https://fhir.example.invalid/r4\n")
    res = run("scan", str(listing), "-o", str(tmp_path / "o"), "--db", target.format(tmp=tmp_path))
    assert res.exit_code == 2 and message in res.output, res.output
    assert "Traceback" not in res.output


@pytest.mark.postgres
def test_unreachable_postgres_is_exit_2_without_the_password(tmp_path: Path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    listing = tmp_path / "list.txt"
    listing.write_text("https://fhir.example.invalid/r4\n")
    res = run("scan", str(listing), "-o", str(tmp_path / "o"), "--db", f"postgresql://scan:pg-s3cret@127.0.0.1:{port}/h")
    assert res.exit_code == 2 and "cannot connect to PostgreSQL" in res.output, res.output
    assert "pg-s3cret" not in res.output and f"postgresql://scan@127.0.0.1:{port}/h" in res.output
