"""The shared HTTP layer: retries honour Retry-After up to a cap, and nothing secret is recorded."""

from __future__ import annotations

import asyncio

import pytest

from ehrcheck.http.client import Fetcher, FetchError, HttpOptions, Recorder
from ehrcheck.http.redact import REDACTED, redact_headers, redact_url
from tests.support.loopback import Reply, serve


def fetch(url: str, options: HttpOptions, headers: dict[str, str] | None = None):
    async def go():
        fetcher = Fetcher.create(options)
        recorder = Recorder()
        try:
            return await fetcher.get(url, recorder, headers=headers), recorder
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


def test_503_with_retry_after_is_retried_then_succeeds():
    routes = {"/fhir/metadata": [Reply(503, "busy", {"Retry-After": "0"}), Reply(200, {"resourceType": "CapabilityStatement"})]}
    with serve(routes) as srv:
        resp, rec = fetch(srv.base + "/metadata", HttpOptions(retries=2))
    assert resp.status == 200
    assert [ex.status for ex in rec.exchanges] == [503, 200]


def test_429_retry_after_beyond_cap_is_not_waited_for():
    routes = {"/fhir/metadata": [Reply(429, "slow down", {"Retry-After": "3600"}), Reply(200, "never")]}
    with serve(routes) as srv:
        resp, rec = fetch(srv.base + "/metadata", HttpOptions(retries=2, retry_after_cap=2))
    assert resp.status == 429
    assert len(rec.exchanges) == 1


def test_retries_are_bounded():
    routes = {"/fhir/metadata": [Reply(503, "down", {"Retry-After": "0"})]}
    with serve(routes) as srv:
        resp, rec = fetch(srv.base + "/metadata", HttpOptions(retries=2))
    assert resp.status == 503
    assert len(rec.exchanges) == 3  # first try + 2 retries


def test_connection_refused_is_a_clean_error_with_reason():
    with serve({}) as srv:
        dead = srv.origin
    with pytest.raises(FetchError) as info:
        fetch(dead + "/fhir/metadata", HttpOptions(retries=1, backoff=0.01, timeout=2))
    assert info.value.kind == "connection_refused"


def test_authorization_and_cookies_never_reach_exchanges():
    routes = {"/fhir/metadata": Reply(200, "ok", {"Set-Cookie": "session=abc123secret"})}
    with serve(routes) as srv:
        _resp, rec = fetch(
            srv.base + "/metadata?access_token=tok-SECRET-1",
            HttpOptions(),
            headers={"Authorization": "Bearer tok-SECRET-2", "Cookie": "sid=tok-SECRET-3"},
        )
        sent = srv.requests[0][2]
    assert sent["authorization"] == "Bearer tok-SECRET-2"  # it was really sent...
    dumped = rec.exchanges[0].model_dump_json()
    for secret in ("tok-SECRET-1", "tok-SECRET-2", "tok-SECRET-3", "abc123secret"):
        assert secret not in dumped  # ...but never recorded


def test_https_to_http_downgrade_is_not_followed(tls_server_ctx, tls_client_ctx):
    routes = {"/fhir/metadata": Reply(302, "", {"Location": "http://127.0.0.1:9/fhir/metadata"})}
    with serve(routes, ssl_context=tls_server_ctx) as srv:
        resp, rec = fetch(srv.base + "/metadata", HttpOptions(retries=0, verify=tls_client_ctx))
    assert resp.status == 302
    assert len(rec.exchanges) == 1  # the http:// target was never contacted


def test_cross_host_redirect_drops_authorization():
    with serve({"/fhir/landing": Reply(200, "ok")}) as other:
        target = other.base.replace("127.0.0.1", "localhost") + "/landing"
        with serve({"/fhir/metadata": Reply(302, "", {"Location": target})}) as srv:
            resp, _rec = fetch(srv.base + "/metadata", HttpOptions(retries=0), headers={"Authorization": "Bearer t"})
            first = srv.requests[0][2]
        landed = other.requests[0][2]
    assert resp.status == 200
    assert first.get("authorization") == "Bearer t"
    assert "authorization" not in landed


def test_redact_helpers():
    assert redact_headers({"Authorization": "Bearer x", "Accept": "a"}) == {"accept": "a", "authorization": REDACTED}
    url = redact_url("https://user:pw@h.example/p?code=abc&x=1&client_secret=s")
    assert "pw" not in url and "abc" not in url and "=s" not in url and "x=%5Bredacted%5D" in url
    # FHIR's own parameter names keep their values; nobody else's does (round 13: `passphrase`).
    assert redact_url("https://h/p?_count=5&page=2&passphrase=p") == "https://h/p?_count=5&page=2&passphrase=%5Bredacted%5D"
