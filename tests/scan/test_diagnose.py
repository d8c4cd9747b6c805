"""Scan diagnostics: when most endpoints fail the same way, one line names the likely cause on the
auditor's side, and a scan whose first endpoints all fail stops early with exit 2.

The real Epic directory is scanned here with no network: its host names must never reach a real
resolver, so the resolver is the one thing replaced (failing as glibc does offline), and every
name it is asked for is checked to be one of the list's own hosts."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from ehrcheck.cli import app
from ehrcheck.scan.diagnose import EarlyStop, common_cause, failure_kind, proxy_in_use
from ehrcheck.scan.endpoint_list import iter_endpoints
from tests.paths import ROOT
from tests.support.many_endpoints import serve_many

EPIC = ROOT / "tests" / "fixtures" / "real" / "epic-r4-endpoints.lantern-list.json"
EPIC_HOSTS = {urlsplit(e.url).hostname for e in iter_endpoints(EPIC, lambda _m: None)}


def run(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "400"})


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def offline(monkeypatch) -> list[str]:
    """No DNS: loopback resolves, every other name fails as on a machine without a network."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name in ("127.0.0.1", "localhost", "::1"):
            return real(host, *args, **kwargs)
        asked.append(name)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    return asked


def _network_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "failed DNS" in line or "could not be reached through the proxy" in line]


@pytest.mark.timeout(90)
def test_real_epic_directory_offline_stops_early_naming_dns(offline, tmp_path: Path):
    out = tmp_path / "scan"
    res = run("scan", str(EPIC), "-o", str(out), "--timeout", "3")
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = _network_lines(res.stderr)
    assert len(lines) == 1, res.stderr  # one line, not one per endpoint
    assert "cannot resolve their host names" in lines[0] and "HTTPS_PROXY" in lines[0]
    assert "stopped" in lines[0] and "--resume --retry-unreachable" in res.stderr
    done = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert 20 <= len(done) < 254  # stopped after the first 20, not after the whole list
    assert all(r["outcome"] == "unreachable" and r["failure_kind"] == "dns" for r in done)
    assert offline and set(offline) <= EPIC_HOSTS  # only the list's own names were ever looked up
    html = (out / "index.html").read_text()
    assert "Stopped early" in html and "cannot resolve their host names" in html


@pytest.mark.timeout(90)
def test_a_dead_proxy_is_named_without_its_password(offline, monkeypatch, tmp_path: Path):
    port = closed_port()
    monkeypatch.setenv("HTTPS_PROXY", f"http://scanner:s3cret-pw@127.0.0.1:{port}")
    res = run("scan", str(EPIC), "-o", str(tmp_path / "scan"), "--timeout", "3")
    assert res.exit_code == 2, res.output
    lines = _network_lines(res.stderr)
    assert len(lines) == 1 and f"the proxy 127.0.0.1:{port} (from HTTPS_PROXY)" in lines[0], res.stderr
    assert "s3cret-pw" not in res.output and "s3cret-pw" not in (tmp_path / "scan" / "index.html").read_text()


def test_most_endpoints_failing_alike_gets_one_line_without_stopping(tmp_path: Path):
    listing = tmp_path / "list.txt"
    with serve_many() as srv:
        dead = [f"http://127.0.{i}.1:{closed_port()}/fhir" for i in range(1, 6)]  # five hosts, all refusing
        listing.write_text("\n".join([*dead, srv.url(1)]) + "\n")
        res = run("scan", str(listing), "-o", str(tmp_path / "scan"), "--timeout", "2", "--early-stop", "0")
    assert res.exit_code == 0, res.output
    lines = [line for line in res.stderr.splitlines() if "refused the connection" in line]
    assert len(lines) == 1 and "5 of 6 endpoints" in lines[0] and "HTTPS_PROXY" in lines[0]
    assert lines[0].startswith("network:")
    assert res.stderr.index("network:") < res.stderr.index("Scan summary")  # before the results


def test_failure_kinds_from_the_clients_reasons():
    assert failure_kind("the server did not answer any request: host name could not be resolved: x") == "dns"
    assert failure_kind("TLS handshake failed: certificate verify failed: self-signed (a private CA ...)") == "tls_untrusted"
    assert failure_kind("connection timed out") == "timeout"
    assert failure_kind("connection refused") == "refused"
    assert failure_kind(None) == "other"


def test_common_cause_needs_most_endpoints_failing_mostly_one_way():
    assert common_cause({"dns": 9}, 10, None) is not None
    assert common_cause({"dns": 4}, 10, None) is None  # most endpoints answered
    assert common_cause({"dns": 4, "timeout": 4}, 10, None) is None  # no single cause
    assert "--ca-bundle" in (common_cause({"tls_untrusted": 10}, 10, None) or "")


def _unreachable(url: str, reason: str = "connection timed out") -> dict:
    return {"url": url, "outcome": "unreachable", "reason": reason}


def test_early_stop_only_when_many_hosts_fail_alike_from_the_start():
    stop = EarlyStop(3)
    assert stop(_unreachable("https://a/x")) is None and stop(_unreachable("https://b/x")) is None
    assert "timed out" in (stop(_unreachable("https://c/x")) or "")
    one_host = EarlyStop(3)  # one vendor host down is the vendor's problem, not the auditor's
    assert all(one_host(_unreachable(f"https://a/{i}")) is None for i in range(5))
    answered = EarlyStop(2)
    assert answered({"url": "https://a/x", "outcome": "audited"}) is None
    assert all(answered(_unreachable(f"https://h{i}/x")) is None for i in range(5))
    assert all(EarlyStop(0)(_unreachable(f"https://h{i}/x")) is None for i in range(5))


def test_proxy_is_shown_without_credentials():
    assert proxy_in_use({"HTTPS_PROXY": "http://u:pw@proxy.corp:3128"}) == "proxy.corp:3128 (from HTTPS_PROXY)"
    assert proxy_in_use({"https_proxy": "proxy.corp:8080"}) == "proxy.corp:8080 (from https_proxy)"
    assert proxy_in_use({}) is None
