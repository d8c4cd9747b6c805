"""`ehrcheck scan --workers N`: audits in worker processes give the rows one process gives, keep
`--per-host` exact, stop early, record into --db once per endpoint, and a worker killed mid-scan
is error rows and an exit, never a hang. Every server is a loopback `many_endpoints`."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ehrcheck.scan.pool import auto_workers, portable, rebuilt, shares
from ehrcheck.scan.run import ScanOptions
from tests.paths import ROOT
from tests.support import cli
from tests.support.cli import wait_for_rows
from tests.support.many_endpoints import serve_many

TIMING = ("duration_ms", "median_ms", "evidence_finished_at")  # differ between any two audits


def run(*args: str):
    return cli.run(*args, env={"COLUMNS": "400"})


def _rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "results.jsonl").read_text(encoding="utf-8").splitlines()]


def _no_children_left() -> None:
    assert multiprocessing.active_children() == []  # every worker joined: no orphan, no zombie


def test_split_and_defaults():
    assert shares(16, 2) == [8, 8] and shares(5, 2) == [3, 2] and shares(2, 8) == [1, 1]
    assert auto_workers(50, 16) == 1  # a short list is not worth a process start
    assert auto_workers(10_000, 1) == 1  # never more workers than audits at once
    assert 1 <= auto_workers(10_000, 16) <= 8
    import ssl

    travelling = portable(ScanOptions(verify=ssl.create_default_context(), ca_bundle="/x/ca.pem"))
    assert travelling.verify == "/x/ca.pem"  # an SSLContext does not pickle: what built it travels
    assert portable(ScanOptions(verify=ssl.create_default_context())).verify is True
    assert isinstance(rebuilt(ScanOptions(verify=True)).verify, ssl.SSLContext)
    assert rebuilt(ScanOptions(verify=False)).verify is False


@pytest.mark.timeout(240)
def test_workers_write_the_rows_one_process_writes(tmp_path: Path):
    with serve_many(ports=4) as srv:
        listing = tmp_path / "list.txt"
        urls = [srv.url(i) for i in range(48)]
        listing.write_text("\n".join(urls) + "\n")
        one = run("scan", str(listing), "-o", str(tmp_path / "one"), "--workers", "1", "-j", "8", "-q")
        two = run("scan", str(listing), "-o", str(tmp_path / "two"), "--workers", "2", "-j", "8", "-q")
        shown = run("scan", str(listing), "-o", str(tmp_path / "shown"), "--workers", "2", "-j", "8")
    assert one.exit_code == two.exit_code and one.exit_code in (0, 1), two.output
    assert "in 2 worker processes" in shown.stderr
    _no_children_left()

    def comparable(folder: Path) -> dict[str, dict]:
        return {r["url"]: {k: v for k, v in r.items() if k not in TIMING} for r in _rows(folder)}

    a, b = comparable(tmp_path / "one"), comparable(tmp_path / "two")
    assert sorted(a) == sorted(b) == sorted(urls)  # every endpoint once, none twice
    assert a == b  # row for row, whichever process audited it
    assert {r["outcome"] for r in a.values()} >= {"audited"}
    assert (tmp_path / "two" / "index.html").is_file()


@pytest.mark.timeout(240)
def test_per_host_limit_holds_across_workers(tmp_path: Path):
    """Two hosts (ports), two workers, -j 8: were a host's endpoints split over both workers, each
    worker's own limit of 2 would let 4 of that host's endpoints be answered at once."""
    with serve_many(ports=2, delay=0.02) as srv:
        listing = tmp_path / "list.txt"
        listing.write_text("\n".join(srv.url(i) for i in range(40)) + "\n")
        res = run("scan", str(listing), "-o", str(tmp_path / "out"), "--workers", "2", "-j", "8", "--per-host", "2", "-q")
        peaks = dict(srv.peak_bases)
    assert res.exit_code in (0, 1), res.output
    assert len(_rows(tmp_path / "out")) == 40
    assert set(peaks) == set(srv.origins)
    assert max(peaks.values()) == 2, peaks  # reached, never exceeded, on either host
    _no_children_left()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(120)
def test_early_stop_with_workers(tmp_path: Path):
    dead = [f"http://127.0.0.1:{_closed_port()}/fhir/{i}" for i in range(40)]  # 40 hosts, all refusing
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(dead) + "\n")
    res = run("scan", str(listing), "-o", str(tmp_path / "out"), "--workers", "2", "-j", "4", "--timeout", "2")
    assert res.exit_code == 2, res.output
    assert "stopped" in res.stderr and "refused the connection" in res.stderr
    rows = _rows(tmp_path / "out")
    assert 20 <= len(rows) < 40 and all(r["outcome"] == "unreachable" for r in rows)
    assert "Traceback" not in res.output
    _no_children_left()


@pytest.mark.timeout(240)
def test_db_with_workers_records_every_endpoint_once(tmp_path: Path):
    db = tmp_path / "history.sqlite"
    with serve_many(ports=3) as srv:
        listing = tmp_path / "list.txt"
        urls = [srv.url(i) for i in range(30)]
        listing.write_text("\n".join(urls) + "\n")
        res = run("scan", str(listing), "-o", str(tmp_path / "out"), "--workers", "2", "--db", str(db), "-q")
    assert res.exit_code in (0, 1), res.output
    with sqlite3.connect(db) as con:
        recorded = [u for (u,) in con.execute("SELECT url FROM results")]
    assert Counter(recorded) == Counter(urls)
    assert Counter(r["url"] for r in _rows(tmp_path / "out")) == Counter(urls)
    _no_children_left()


def _children_of(pid: int) -> list[tuple[int, bytes]]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append((int(entry.name), cmdline))
    return found


def _workers_of(pid: int) -> tuple[list[int], list[int]]:
    """The scan's worker processes, and its fork server (the workers' parent where there is one)."""
    servers = [p for p, cmd in _children_of(pid) if b"multiprocessing.forkserver" in cmd]
    spawned = [p for p, cmd in _children_of(pid) if b"spawn_main" in cmd]
    return spawned + [p for server in servers for p, _ in _children_of(server)], servers


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@contextlib.contextmanager
def _scan_under_way(
    tmp_path: Path, *flags: str, **popen: Any
) -> Iterator[tuple[subprocess.Popen, list[int], list[str], Path, list[int]]]:
    """A 200-endpoint scan with 2 workers running as its own process, handed over once it has
    written 5 rows, with its workers' pids (and its fork server's); killed if the test leaves it running."""
    with serve_many(ports=4, delay=0.05) as srv:
        listing = tmp_path / "list.txt"
        urls = [srv.url(i) for i in range(200)]
        listing.write_text("\n".join(urls) + "\n")
        out = tmp_path / "out"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "400"}
        cmd = [sys.executable, "-m", "ehrcheck", "scan", str(listing), "-o", str(out), "--workers", "2", "-j", "8", *flags]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **popen)
        try:
            wait_for_rows(proc, out / "results.jsonl", 5)
            workers, servers = _workers_of(proc.pid)
            assert len(workers) == 2, workers
            assert len(servers) == ("forkserver" in multiprocessing.get_all_start_methods()), servers
            yield proc, workers, urls, out, servers
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.timeout(240)
def test_a_killed_worker_is_error_rows_and_an_exit_not_a_hang(tmp_path: Path):
    with _scan_under_way(tmp_path, "-q") as (proc, workers, urls, out, servers):
        os.kill(workers[0], signal.SIGKILL)
        code = proc.wait(timeout=120)  # a bound on a hang, not a timing assertion
        stderr = proc.stderr.read().decode()  # type: ignore[union-attr]
    assert code == 2, stderr
    assert f"(pid {workers[0]}) was killed by signal SIGKILL" in stderr and "--resume" in stderr
    assert "Traceback" not in stderr
    rows = _rows(out)
    errors = [r for r in rows if r["outcome"] == "error"]
    assert errors and all("worker process" in r["reason"] and "SIGKILL" in r["reason"] for r in errors)
    assert len(rows) < len(urls) and len({r["url"] for r in rows}) == len(rows)
    assert not any(_alive(p) for p in workers)  # the other worker was stopped too, and both reaped
    assert not any(_alive(p) for p in servers)  # and the fork server they came from


@pytest.mark.timeout(240)
def test_ctrl_c_with_workers_is_130_leaving_no_process(tmp_path: Path):
    """Ctrl-C reaches the whole process group: the workers ignore it, the scan process closes them,
    keeps the finished rows, says how to resume and exits 130, without a traceback."""

    def own_group_with_default_sigint() -> None:  # as a terminal's foreground job has it
        os.setpgrp()
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    with _scan_under_way(tmp_path, preexec_fn=own_group_with_default_sigint) as (proc, workers, urls, out, servers):
        os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=120)  # a bound on a hang, not a timing assertion
        stderr = proc.stderr.read().decode()  # type: ignore[union-attr]
    assert code == 130, stderr
    assert "interrupted" in stderr and "--resume" in stderr and "Traceback" not in stderr
    rows = _rows(out)
    assert 5 <= len(rows) < len(urls) and all(r["outcome"] != "error" for r in rows)
    assert not any(_alive(p) for p in [*workers, *servers])
