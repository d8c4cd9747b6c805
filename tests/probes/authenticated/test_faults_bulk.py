"""A hostile Bulk Data file server: the streamed NDJSON download gets the buffered path's
protections (one deadline to the last byte, a decoded-size cap, no credentials to another origin).

First `Fetcher.stream` on its own, then the whole bulk probe against a loopback export whose
file misbehaves. Bounds are pytest-timeout markers, never wall-clock assertions.
"""

from __future__ import annotations

import asyncio
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from ehrcheck.http.client import Fetcher, FetchError, HttpOptions, Recorder
from ehrcheck.http.redact import Secrets
from ehrcheck.probes.authenticated import bulk
from ehrcheck.probes.authenticated.credentials import load_credentials
from ehrcheck.probes.authenticated.token import AuthSession
from ehrcheck.probes.runner import collect
from tests.faults.audit import healthy
from tests.faults.certs import client_context, server_context
from tests.faults.server import (
    Conn,
    drip,
    dynamic,
    fault_server,
    gzip_bomb,
    gzip_of_zeros,
    json_reply,
    redirect,
    reply,
)

TOKEN = "PLANTED-bulk-token-4f1c9e7a"
COOKIE = "session=PLANTED-bulk-cookie-77aa"
NDJSON = b"".join(b'{"resourceType":"Patient","id":"p%d"}\n' % i for i in range(50))
FAST = HttpOptions(timeout=1.0, retries=0, trust_env=False)
CREDENTIALS = {"Authorization": f"Bearer {TOKEN}", "Cookie": COOKIE, "X-API-Key": "PLANTED-bulk-api-key-31"}


def stream_lines(url: str, options: HttpOptions = FAST, headers: dict[str, str] | None = None, **kw: Any):
    """Read `url` through Fetcher.stream: (lines, truncated, bytes read, error, recorder)."""

    async def go():
        fetcher = Fetcher.create(options)
        rec = Recorder()
        got: list[bytes | None] = []
        state: dict[str, Any] = {}
        try:
            async with fetcher.stream(url, rec, headers=headers, **kw) as resp:
                state["status"] = resp.status
                async for line in resp.lines(max_line_bytes=64 * 1024):
                    got.append(line)
                state.update(truncated=resp.truncated, bytes_read=resp.bytes_read)
        except FetchError as exc:
            state["error"] = exc
        finally:
            await fetcher.aclose()
        return got, state, rec

    return asyncio.run(go())


# ---- Fetcher.stream ----------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_slow_drip_ndjson_stops_at_the_deadline():
    with fault_server({"/files/Patient.ndjson": drip(NDJSON, interval=0.02)}) as srv:
        got, state, rec = stream_lines(srv.origin + "/files/Patient.ndjson")
    assert state["error"].kind == "timeout", state
    assert len(got) < 50  # some lines arrived in time, the file never finished
    [exchange] = rec.exchanges
    assert exchange.status == 200 and "timed out" in exchange.error
    assert 0 < exchange.body_bytes < len(NDJSON)


@pytest.mark.timeout(30)
def test_stream_deadline_is_its_own_when_given():
    # The bulk probe passes its export deadline: a longer one lets a slow but finite file finish.
    eight = b"".join(NDJSON.splitlines(keepends=True)[:8])
    with fault_server({"/files/Patient.ndjson": drip(eight, interval=0.005)}) as srv:
        got, state, _rec = stream_lines(srv.origin + "/files/Patient.ndjson", timeout=20)
    assert "error" not in state and got == eight.splitlines()


@pytest.mark.timeout(60)
def test_gzip_bomb_ndjson_stops_at_the_cap_in_bounded_memory():
    cap = 64 * 1024 * 1024
    gzip_of_zeros(200 * 1024 * 1024)  # built (and cached) before memory is measured
    with fault_server({"/files/Patient.ndjson": gzip_bomb(200 * 1024 * 1024)}) as srv:
        tracemalloc.start()
        try:
            got, state, rec = stream_lines(srv.origin + "/files/Patient.ndjson", max_body_bytes=cap)
            _now, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert state["truncated"] is True and state["bytes_read"] == cap
    assert got == []  # one endless line of zeros: never held, never passed on as a line
    [exchange] = rec.exchanges
    assert exchange.body_bytes == cap and "size cap" in exchange.error
    # Decoded a piece at a time: httpx would have inflated each 64 KB network chunk whole.
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes"


@pytest.mark.timeout(30)
def test_double_gzip_ndjson_is_refused():
    with fault_server({"/files/Patient.ndjson": gzip_bomb(10 * 1024 * 1024, layers=2)}) as srv:
        got, state, _rec = stream_lines(srv.origin + "/files/Patient.ndjson")
    assert got == [] and state["error"].kind == "encoding"
    assert "Content-Encoding 'gzip, gzip'" in str(state["error"])


@pytest.mark.timeout(30)
def test_gzip_ndjson_within_the_cap_reads_whole():
    import gzip

    body = gzip.compress(NDJSON)
    with fault_server(
        {"/files/Patient.ndjson": reply(200, body, {"Content-Encoding": "gzip"}, "application/fhir+ndjson")}
    ) as srv:
        got, state, _rec = stream_lines(srv.origin + "/files/Patient.ndjson")
    assert got == NDJSON.splitlines() and state["truncated"] is False and state["bytes_read"] == len(NDJSON)


@pytest.mark.timeout(30)
def test_redirect_to_another_origin_drops_every_credential():
    # Another port on the same host is another origin: the old check (host only) kept Authorization.
    with fault_server({"/files/signed.ndjson": reply(200, NDJSON, content_type="application/fhir+ndjson")}) as storage:
        target = storage.origin + "/files/signed.ndjson?sig=PLANTED-signature-0a1b"
        with fault_server({"/files/Patient.ndjson": redirect(target)}) as srv:
            got, state, rec = stream_lines(srv.origin + "/files/Patient.ndjson", headers=dict(CREDENTIALS))
            first = srv.requests[0].headers
        landed = storage.requests[0].headers
    assert len(got) == 50 and "error" not in state
    assert first["authorization"] == f"Bearer {TOKEN}" and first["cookie"] == COOKIE
    assert not {"authorization", "cookie", "x-api-key"} & set(landed), landed
    assert [e.status for e in rec.exchanges] == [302, 200]
    assert TOKEN not in json.dumps([e.model_dump() for e in rec.exchanges])


@pytest.mark.timeout(30)
def test_redirect_within_the_origin_keeps_the_token():
    routes = {
        "/files/Patient.ndjson": redirect("/files/real.ndjson"),
        "/files/real.ndjson": reply(200, NDJSON, content_type="application/fhir+ndjson"),
    }
    with fault_server(routes) as srv:
        got, _state, _rec = stream_lines(srv.origin + "/files/Patient.ndjson", headers=dict(CREDENTIALS))
        landed = srv.requests[1].headers
    assert len(got) == 50 and landed["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.timeout(30)
def test_https_file_redirected_to_http_is_not_followed():
    import trustme

    ca = trustme.CA()
    with fault_server({"/files/plain.ndjson": reply(200, NDJSON)}) as plain:
        with fault_server(
            {"/files/Patient.ndjson": redirect(plain.origin + "/files/plain.ndjson")}, ssl_context=server_context(ca)
        ) as srv:
            options = HttpOptions(timeout=2.0, retries=0, verify=client_context(ca), trust_env=False)
            got, state, rec = stream_lines(srv.origin + "/files/Patient.ndjson", options, headers=dict(CREDENTIALS))
        assert plain.requests == []
    assert got == [] and state["error"].kind == "redirects" and "https:// to http://" in str(state["error"])
    assert [e.status for e in rec.exchanges] == [302]


# ---- the bulk probe ----------------------------------------------------------------------------


def bulk_vendor(file_fault, storage_origin: str | None = None) -> dict[str, Any]:
    """A vendor whose export completes at once, listing one Patient file at /files/Patient.ndjson
    (on `storage_origin` when given, else on the vendor itself)."""

    def export(c: Conn):
        if "authorization" not in c.request.headers:
            return json_reply({"resourceType": "OperationOutcome"}, 401)
        return reply(202, b"", {"Content-Location": "/fhir/status/1"})

    def status(c: Conn):
        origin = storage_origin or f"http://127.0.0.1:{c.server.port}"
        return json_reply(
            {
                "transactionTime": "2026-06-01T00:00:00Z",
                "request": f"http://127.0.0.1:{c.server.port}/fhir/Patient/$export",
                "requiresAccessToken": True,
                "error": [],
                "output": [{"type": "Patient", "url": origin + "/files/Patient.ndjson", "count": 50}],
            },
            content_type="application/json",
        )

    return {**healthy(export=dynamic(export)), "/fhir/status/1": dynamic(status), "/files/Patient.ndjson": file_fault}


def run_bulk(base: str, tmp_path: Path, bulk_timeout: float = 3):
    path = tmp_path / "creds.yaml"
    path.write_text(f"auth_method: bearer\nbearer_token: {TOKEN}\n", encoding="utf-8")
    creds = load_credentials(path, environ={})
    secrets = Secrets(creds.secrets())
    settings = {"auth": AuthSession(creds, secrets=secrets), "bulk_timeout": bulk_timeout}
    evidence = asyncio.run(collect(base, FAST, extra_probes={"bulk": bulk.probe_bulk}, settings=settings, secrets=secrets))
    return evidence, evidence.probes["bulk"]


@pytest.mark.timeout(60)
def test_bulk_probe_gives_up_on_a_dripping_file_at_its_deadline(tmp_path):
    with fault_server(bulk_vendor(drip(NDJSON * 20, interval=0.02))) as srv:
        evidence, attempt = run_bulk(srv.base, tmp_path)
        deletes = [r for r in srv.requests if r.method == "DELETE"]
    assert attempt.status.value == "completed", attempt.reason
    [file] = attempt.data["patient"]["files"]
    assert "timed out" in file["error"]
    assert attempt.data["patient"]["cleanup_delete_status"] is not None and deletes  # the job was still deleted
    assert evidence.probes["capability"].status.value == "completed"
    assert TOKEN not in evidence.model_dump_json()


@pytest.mark.timeout(120)
def test_bulk_probe_stops_a_gzip_bomb_file_at_its_cap(tmp_path):
    # 300 MB of zeros in about 300 KB: past the probe's own 256 MB cap for one file.
    with fault_server(bulk_vendor(gzip_bomb(300 * 1024 * 1024))) as srv:
        _evidence, attempt = run_bulk(srv.base, tmp_path, bulk_timeout=60)
    [file] = attempt.data["patient"]["files"]
    assert file["truncated"] is True and file["lines"] == 0 and file["count_matches"] is True
    # recorded scrubbed: the folder is not a FHIR word, the file's name is
    exchange = next(e for e in attempt.exchanges if e.url.endswith("/[id]/Patient.ndjson") and e.body_bytes)
    assert exchange.body_bytes == bulk.MAX_FILE_BYTES and "size cap" in exchange.error


@pytest.mark.timeout(60)
def test_bulk_probe_never_sends_its_token_to_another_origin(tmp_path):
    with fault_server({"/files/Patient.ndjson": reply(200, NDJSON, content_type="application/fhir+ndjson")}) as storage:
        with fault_server(bulk_vendor(None)) as srv:
            srv.routes["/fhir/status/1"] = bulk_vendor(None, storage_origin=f"http://127.0.0.1:{srv.port}/redirect")[
                "/fhir/status/1"
            ]
            srv.routes["/redirect/files/Patient.ndjson"] = redirect(storage.origin + "/files/Patient.ndjson")
            _evidence, attempt = run_bulk(srv.base, tmp_path)
            to_vendor = [r for r in srv.requests if r.path == "/redirect/files/Patient.ndjson"]
        at_storage = storage.requests
    [file] = attempt.data["patient"]["files"]
    assert file["lines"] == 50 and file["count_matches"] is True
    assert any(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in to_vendor)  # the manifest asked for it
    assert at_storage and all("authorization" not in r.headers for r in at_storage)
