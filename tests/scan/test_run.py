"""`ehrcheck scan`: Epic's real endpoint directory, rewritten to one loopback server that answers
for every address, audited concurrently; interrupted (a killed process, a cancelled task) and
resumed with no row lost or duplicated; limits and streaming checked on the scheduler itself."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ehrcheck.scan.endpoint_list import Endpoint, iter_endpoints
from ehrcheck.scan.run import HostLimiter, ScanOptions, read_done, run_scan
from tests.paths import ROOT
from tests.support import cli
from tests.support.cli import wait_for_rows
from tests.support.many_endpoints import answer, rewrite_bundle, serve_many, variant_of

EPIC = ROOT / "tests" / "fixtures" / "real" / "epic-r4-endpoints.lantern-list.json"


def run(*args: str):
    # wide enough that rich never wraps a message the test looks for
    return cli.run(*args, env={"COLUMNS": "400"})


@pytest.fixture(scope="module")
def server():
    with serve_many() as srv:
        yield srv


@pytest.fixture(scope="module")
def epic_on_loopback(server, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    path = tmp_path_factory.mktemp("epic") / "epic-loopback.json"
    path.write_text(json.dumps(rewrite_bundle(json.loads(EPIC.read_text()), server.origin)))
    urls = [e.url for e in iter_endpoints(path, lambda _m: None)]
    assert all(u.startswith(server.origin + "/") for u in urls)
    return path, urls


def _rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "results.jsonl").read_text(encoding="utf-8").splitlines()]


def test_server_answers_every_base_path_with_a_stable_variant(server):
    status, _, body, base = answer("GET", "/fhir.kp.org/api/FHIR/R4/metadata", server.origin)
    assert base == "/fhir.kp.org/api/FHIR/R4"
    # Pinned: the variant comes from a digest of the path, not from hash(), so every process (the
    # scan's workers, a resumed scan, the next CI run) sees this endpoint the same way.
    assert variant_of(base) == "down" and status == 503 and body
    # Every request under one base path is answered as the same variant.
    assert answer("GET", base + "/Patient?name=x", server.origin)[0] == 503
    assert answer("GET", "/a/metadata", server.origin)[0] == 200 and variant_of("/a") == "dstu2"


def test_scan_epic_directory_completes_with_a_summary(epic_on_loopback, tmp_path: Path):
    path, urls = epic_on_loopback
    out = tmp_path / "scan"
    res = run("scan", str(path), "-o", str(out), "-j", "24", "--per-host", "24", "--timeout", "5")
    assert res.exit_code == 0, res.output
    rows = _rows(out)
    assert sorted(r["url"] for r in rows) == sorted(urls)  # every endpoint exactly once
    outcomes = Counter(r["outcome"] for r in rows)
    assert outcomes["audited"] == len(urls), outcomes  # 503 servers are reachable, just broken
    verdicts = Counter(r["verdict"]["label"] for r in rows)
    assert len(verdicts) >= 2, verdicts  # the server's variants give a real mix
    first = next(r for r in rows if r["url"] == urls[0])
    assert first["name"] == "Kaiser Permanente – Georgia" and first["source"].endswith("entry 1")
    assert "Scan summary" in res.stderr and "Most common failures" in res.stderr
    html = (out / "index.html").read_text(encoding="utf-8")
    assert f"{len(urls)} endpoints from epic-loopback.json" in html
    assert html.count('<tr><th scope="row">') >= len(urls)
    _Balanced().feed(html)


class _Balanced(HTMLParser):
    VOID = {"meta", "br", "img", "input", "link", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}>"
        self.stack.pop()


def test_unreachable_endpoints_are_rows_not_crashes(server, tmp_path: Path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/fhir"
    listing = tmp_path / "list.txt"
    listing.write_text(f"{server.url(1)}\n{dead}\njunk line\n")
    res = run("scan", str(listing), "-o", str(tmp_path / "out"), "--timeout", "2")
    assert res.exit_code == 0, res.output
    assert f"{listing}:3: skipped 'junk line'" in res.stderr
    rows = {r["url"]: r for r in _rows(tmp_path / "out")}
    assert rows[dead]["outcome"] == "unreachable" and rows[dead]["reason"]
    assert rows[server.url(1)]["outcome"] == "audited"


def test_killed_scan_resumes_without_loss_or_duplicates(epic_on_loopback, tmp_path: Path):
    path, urls = epic_on_loopback
    out = tmp_path / "scan"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "ehrcheck", "scan", str(path), "-o", str(out), "-j", "4", "--per-host", "4", "-q"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    results = out / "results.jsonl"
    try:
        # wait (bounded) until some rows are written, then kill it hard, as a crash or a reboot would
        wait_for_rows(proc, results, 30)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    partial = [json.loads(line) for line in results.read_text().splitlines() if line.endswith("}")]
    assert 30 <= len(partial) < len(urls), "the kill must land mid-scan for this test to mean anything"
    with results.open("a") as fh:
        fh.write('{"url": "torn')  # as if killed in the middle of a write
    # without --resume the earlier results are never appended to or overwritten
    refused = run("scan", str(path), "-o", str(out), "-q")
    assert refused.exit_code == 2 and "--resume" in refused.output
    res = run("scan", str(path), "-o", str(out), "--resume", "-j", "16", "--per-host", "16")
    assert res.exit_code == 0, res.output
    assert "incomplete last line" in res.stderr
    assert f"Scanning {len(urls) - len(partial)} of {len(urls)}" in res.stderr
    rows = _rows(out)
    assert Counter(r["url"] for r in rows) == Counter(urls)  # nothing lost, nothing twice
    assert rows[: len(partial)] == partial  # earlier rows untouched


def test_cancelled_scan_resumes_in_process(server, tmp_path: Path):
    endpoints = [Endpoint(server.url(i), f"org {i}", f"list:{i}") for i in range(40)]
    out = tmp_path / "results.jsonl"
    options = ScanOptions(concurrency=4, per_host=4, timeout=5)

    async def first_pass() -> None:
        task = asyncio.current_task()

        def stop_after_ten(row: dict) -> None:
            if stop_after_ten.n >= 9:
                assert task is not None
                task.cancel()
            stop_after_ten.n += 1

        stop_after_ten.n = 0
        with out.open("a") as fh:
            await run_scan(endpoints, fh, tmp_path, options, on_record=stop_after_ten)

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(first_pass())
    done = read_done(out, lambda _m: None)
    assert 10 <= len(done) < 40

    async def second_pass():
        with out.open("a") as fh:
            return await run_scan(endpoints, fh, tmp_path, options, done=done)

    stats = asyncio.run(second_pass())
    assert stats.skipped == len(done) and stats.done == 40 - len(done)
    assert Counter(json.loads(line)["url"] for line in out.read_text().splitlines()) == Counter(e.url for e in endpoints)


def test_global_and_per_host_limits_hold_and_are_reached():
    """The scheduler alone, with an audit that only yields: no clock, no network."""
    active: Counter = Counter()
    peak: Counter = Counter()
    total = {"now": 0, "peak": 0}

    async def audit(endpoint: Endpoint, options: ScanOptions, out_dir: Path) -> dict:
        host = endpoint.url.split("/")[2]
        active[host] += 1
        total["now"] += 1
        peak[host] = max(peak[host], active[host])
        total["peak"] = max(total["peak"], total["now"])
        for _ in range(5):
            await asyncio.sleep(0)
        active[host] -= 1
        total["now"] -= 1
        return {"url": endpoint.url, "outcome": "audited"}

    endpoints = [Endpoint(f"https://h{i % 3}.example/fhir/{i}", None, "x") for i in range(60)]
    stats = asyncio.run(run_scan(endpoints, io.StringIO(), Path("."), ScanOptions(concurrency=5, per_host=2), audit=audit))
    assert stats.done == 60
    assert max(peak.values()) == 2  # per host: reached, never exceeded
    assert total["peak"] == 5  # globally: reached, never exceeded


def test_the_list_is_streamed_not_loaded():
    """Lookahead is bounded by the queue: memory does not grow with the list."""
    pulled = {"n": 0}

    def endpoints():
        for i in range(500):
            pulled["n"] += 1
            yield Endpoint(f"https://h{i}.example/fhir", None, "x")

    seen = {"max_ahead": 0, "done": 0}

    async def audit(endpoint, options, out_dir):
        await asyncio.sleep(0)
        return {"url": endpoint.url, "outcome": "audited"}

    def on_record(_row):
        seen["done"] += 1
        seen["max_ahead"] = max(seen["max_ahead"], pulled["n"] - seen["done"])

    options = ScanOptions(concurrency=4, per_host=4)
    asyncio.run(run_scan(endpoints(), io.StringIO(), Path("."), options, on_record=on_record, audit=audit))
    assert seen["done"] == 500
    assert seen["max_ahead"] <= options.concurrency * 3 + 1


def test_host_limiter_forgets_idle_hosts():
    async def go() -> int:
        limiter = HostLimiter(2)
        for i in range(100):
            async with limiter.slot(f"h{i}:443"):
                pass
        return len(limiter)

    assert asyncio.run(go()) == 0


def test_bad_scan_input_is_exit_2(tmp_path: Path):
    res = run("scan", str(tmp_path / "missing.txt"))
    assert res.exit_code == 2 and "no such file" in res.output
    junk = tmp_path / "junk.txt"
    junk.write_text("nothing useful\n")
    res = run("scan", str(junk), "-o", str(tmp_path / "o"))
    assert res.exit_code == 2 and "no http(s) FHIR base URLs" in res.output
    assert not (tmp_path / "o").exists()  # nothing created for a list with nothing to scan


def test_resume_over_a_non_utf8_junk_line_finishes(server, tmp_path: Path):
    """Attack round F4: a results.jsonl line that is not even UTF-8 is warned about and skipped;
    the resumed scan audits what is left and writes its overview, never a traceback."""
    listing = tmp_path / "list.txt"
    listing.write_text(f"{server.url(1)}\n{server.url(2)}\n")
    out = tmp_path / "out"
    first = run("scan", str(listing), "-o", str(out), "--timeout", "2", "-q")
    assert first.exit_code == 0, first.output
    rows = (out / "results.jsonl").read_bytes().splitlines(keepends=True)
    (out / "results.jsonl").write_bytes(rows[0] + b"junk \xff\n")
    res = run("scan", str(listing), "-o", str(out), "--resume", "--timeout", "2")
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    text = (out / "results.jsonl").read_bytes().decode("utf-8", errors="replace")
    urls = {json.loads(line)["url"] for line in text.splitlines() if line.startswith("{")}
    assert urls == {server.url(1), server.url(2)}
    assert (out / "index.html").is_file()


@pytest.mark.timeout(120)
def test_scan_rows_equal_one_endpoint_audits_over_the_variant_mix(server, tmp_path: Path):
    """Whatever the scan's per-endpoint path saves, each row must say what auditing that endpoint
    on its own says: same verdict, answers, scores and rule statuses, for every variant."""
    from ehrcheck.engine.scorecard import score_evidence
    from ehrcheck.http.client import HttpOptions
    from ehrcheck.probes.runner import collect
    from ehrcheck.scan.run import summarise

    urls = [server.url(i) for i in range(12)]
    assert {variant_of(u.removeprefix(server.origin)) for u in urls} == {"r4-smart", "r4-plain", "dstu2", "down"}
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(urls) + "\n")
    res = run("scan", str(listing), "-o", str(tmp_path / "out"), "--timeout", "5", "-q")
    assert res.exit_code in (0, 1), res.output
    rows = {r["url"]: r for r in _rows(tmp_path / "out")}
    compared = 0
    keys = ("outcome", "verdict", "answers", "score", "low", "high", "packs", "counts", "statuses", "failed", "findings")
    keys += ("fhir_version", "us_core", "smart")
    for endpoint in iter_endpoints(listing, lambda _m: None):
        evidence = asyncio.run(collect(endpoint.url, HttpOptions(timeout=5), label=endpoint.name))
        reachable = (evidence.probes.get("availability") or None) and evidence.probes["availability"].data.get("reachable")
        alone = summarise(endpoint, score_evidence(evidence, None, "default") if reachable else None, "audited", None, evidence)
        if not reachable:
            assert rows[endpoint.url]["outcome"] == "unreachable"
            continue
        assert {k: rows[endpoint.url].get(k) for k in keys} == {k: alone.get(k) for k in keys}, endpoint.url
        compared += 1
    assert compared == len(urls)  # every variant, the 503 one included, is reachable and scored


def test_audits_of_one_host_share_its_connections(server, tmp_path: Path):
    """A scan's audits reuse each other's kept-alive connections to a host (sharing_between_audits):
    12 endpoints on one host:port, two audits at a time, open fewer connections than endpoints,
    where an audit's own connections were ~3 per endpoint. (That rows stay what an audit alone
    says is the test above: its scan shares connections, its audits do not.)"""
    urls = [server.url(i) for i in range(100, 112)]
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(urls) + "\n")
    before = server.stats.connections
    res = run("scan", str(listing), "-o", str(tmp_path / "out"), "-j", "2", "--workers", "1", "--timeout", "5", "-q")
    assert res.exit_code in (0, 1), res.output
    assert len(_rows(tmp_path / "out")) == len(urls)
    assert server.stats.connections - before < len(urls)


@pytest.mark.timeout(120)
def test_rows_are_the_same_over_the_lean_transport_and_httpx_own(server, monkeypatch: pytest.MonkeyPatch):
    """The scan's HTTP path (ehrcheck/http/lean.py) must not change what an endpoint is judged:
    each variant's row, from evidence gathered over it and over httpx's own transport (which
    the Fetcher keeps whenever a proxy variable is set; a NO_PROXY alone selects it here)."""
    from ehrcheck.engine.scorecard import score_evidence
    from ehrcheck.http.client import Fetcher, HttpOptions
    from ehrcheck.http.lean import LeanTransport
    from ehrcheck.probes.runner import collect
    from ehrcheck.scan.run import summarise

    def row(endpoint: Endpoint) -> dict:
        evidence = asyncio.run(collect(endpoint.url, HttpOptions(timeout=5), label=endpoint.name))
        assert evidence.probes["availability"].data.get("reachable"), endpoint.url
        record = summarise(endpoint, score_evidence(evidence, None, "default"), "audited", None, evidence)
        requests = {pid: [(ex.method, ex.url, ex.status, ex.error) for ex in a.exchanges] for pid, a in evidence.probes.items()}
        return {**{k: v for k, v in record.items() if k not in ("median_ms", "evidence_finished_at")}, "requests": requests}

    endpoints = [Endpoint(url=server.url(i), index=i, name=None, where="test") for i in range(8)]
    assert {variant_of(e.url.removeprefix(server.origin)) for e in endpoints} == {"r4-smart", "r4-plain", "dstu2", "down"}

    def transport_is_lean() -> bool:
        fetcher = Fetcher.create(HttpOptions())
        asyncio.run(fetcher.aclose())
        return isinstance(fetcher.client._transport, LeanTransport)

    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert transport_is_lean()
    lean = [row(e) for e in endpoints]
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert not transport_is_lean()
    assert [row(e) for e in endpoints] == lean
