"""The lean HTTP/1.1 transport (ehrcheck/http/lean.py) against a real loopback socket server:
keep-alive per origin, a fresh connection when the server closed the idle one, the same answers
and failure kinds as httpx's own transport, and httpx's transport whenever a proxy variable is set."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator

import httpx
import pytest

from ehrcheck.http.client import Fetcher, FetchError, HttpOptions, Recorder
from ehrcheck.http.lean import LeanTransport


class Counting:
    """An HTTP/1.1 server on 127.0.0.1 that counts connections; `close_after` requests per connection
    (then it closes without saying so, as a server whose keep-alive timer ran out)."""

    def __init__(self, close_after: int = 1000, body: bytes = b'{"resourceType":"Patient"}', extra: bytes = b""):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.ended = 0  # connections the client closed (or that ended after close_after requests)
        self.requests: list[bytes] = []
        self.close_after = close_after
        self.body = body
        self.extra = extra  # more header lines for every answer, each ending in CRLF
        self._threads: list[threading.Thread] = []
        self.stop = threading.Event()
        self.sock.settimeout(0.05)  # so `serve` sees `stop` (closing a socket does not wake accept)

    def serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            self.connections += 1
            t = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _handle(self, conn: socket.socket) -> None:
        try:
            self._exchange(conn)
        finally:
            self.ended += 1

    def _exchange(self, conn: socket.socket) -> None:
        with conn:
            buf = b""
            served = 0
            while served < self.close_after:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                self.requests.append(head)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nX-Echo: kept\r\n"
                    + self.extra
                    + f"Content-Length: {len(self.body)}\r\n\r\n".encode()
                    + self.body
                )
                served += 1


@contextlib.contextmanager
def counting(**kwargs) -> Iterator[Counting]:
    server = Counting(**kwargs)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        thread.join(timeout=5)
        server.sock.close()


async def _gets(url: str, n: int, pause: float = 0.0) -> list[tuple[int, bytes, str | None]]:
    fetcher = Fetcher.create(HttpOptions(timeout=5, trust_env=False))
    assert isinstance(fetcher.client._transport, LeanTransport)
    out = []
    try:
        for _ in range(n):
            resp = await fetcher.get(url, Recorder())
            out.append((resp.status, resp.content, resp.headers.get("x-echo")))
            if pause:
                await asyncio.sleep(pause)
    finally:
        await fetcher.aclose()
    return out


def test_one_connection_serves_an_endpoints_requests():
    with counting() as server:
        got = asyncio.run(_gets(f"http://127.0.0.1:{server.port}/fhir/metadata", 4))
    assert got == [(200, server.body, "kept")] * 4
    assert server.connections == 1
    assert all(r.startswith(b"GET /fhir/metadata HTTP/1.1") for r in server.requests)
    assert all(b"\r\nhost: 127.0.0.1:" in r.lower() for r in server.requests)


def test_plain_http_never_loads_a_ca_store(monkeypatch: pytest.MonkeyPatch):
    """The TLS context (the system's CA store, ~19 ms of CPU) is made at the first https
    connection, not when the Fetcher is: an http:// audit never needs it."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("a CA store was loaded for plain http")

    for name in ("load_default_certs", "set_default_verify_paths", "load_verify_locations"):
        monkeypatch.setattr(ssl.SSLContext, name, refuse)
    with counting() as server:
        got = asyncio.run(_gets(f"http://127.0.0.1:{server.port}/fhir/metadata", 2))
    assert got == [(200, server.body, "kept")] * 2


def test_a_ca_store_that_cannot_be_loaded_is_named_at_the_first_https_connection(monkeypatch: pytest.MonkeyPatch):
    """Made on first use, a context that cannot be made fails that request with a reason that
    names the CA certificates (it was a traceback when the Fetcher was created)."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/ca.pem")

    async def get(url: str) -> None:
        fetcher = Fetcher.create(HttpOptions(timeout=5, retries=0))  # trust_env: reads SSL_CERT_FILE
        assert isinstance(fetcher.client._transport, LeanTransport)
        try:
            await fetcher.get(url, Recorder())
        finally:
            await fetcher.aclose()

    with counting() as server:
        asyncio.run(get(f"http://127.0.0.1:{server.port}/fhir/metadata"))  # plain http needs no CA store
        with pytest.raises(FetchError) as failed:
            asyncio.run(get(f"https://127.0.0.1:{server.port}/fhir/metadata"))
    assert failed.value.kind == "tls"
    assert "the CA certificates to trust could not be loaded (No such file or directory)" in str(failed.value)


def test_a_connection_the_server_closed_while_idle_is_not_reused():
    with counting(close_after=1) as server:
        got = asyncio.run(_gets(f"http://127.0.0.1:{server.port}/fhir/metadata", 3, pause=0.05))
    assert [g[0] for g in got] == [200, 200, 200]
    assert server.connections == 3


def _answer(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def test_an_answer_nobody_asked_for_never_goes_to_a_later_request():
    # Attack round 6 (T15): a server that answers one request twice left the second answer in the
    # connection; reusing it handed that answer to the next request. Both answers are sent in one
    # write, so they arrive together: the surplus is read and must end the connection.
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)  # so `serve` sees `stop`
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            with conn:
                buf = b""
                while True:
                    while b"\r\n\r\n" not in buf:
                        data = conn.recv(65536)
                        if not data:
                            break
                        buf += data
                    if b"\r\n\r\n" not in buf:
                        break
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    conn.sendall(_answer(b"first") + _answer(head.split(b" ", 2)[1]))

    t = threading.Thread(target=serve, daemon=True)
    t.start()

    async def fetch_all() -> list[tuple[str, bytes]]:
        fetcher = Fetcher.create(HttpOptions(timeout=5, trust_env=False))
        base = f"http://127.0.0.1:{server.getsockname()[1]}"
        try:
            return [(p, (await fetcher.get(f"{base}{p}", Recorder())).content) for p in ("/a", "/b", "/c")]
        finally:
            await fetcher.aclose()

    try:
        got = asyncio.run(fetch_all())
    finally:
        stop.set()
        server.close()
        t.join(timeout=5)
    assert got == [("/a", b"first"), ("/b", b"first"), ("/c", b"first")]


def test_refused_and_protocol_errors_classify_as_with_httpx():
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    with pytest.raises(FetchError) as refused:
        asyncio.run(_gets(f"http://127.0.0.1:{port}/fhir/metadata", 1))
    assert refused.value.kind == "connection_refused"

    junk = socket.create_server(("127.0.0.1", 0))

    def answer_junk() -> None:
        conn, _ = junk.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"NOT HTTP AT ALL\r\n\r\n")

    t = threading.Thread(target=answer_junk, daemon=True)
    t.start()
    try:
        with pytest.raises(FetchError) as broken:
            asyncio.run(_gets(f"http://127.0.0.1:{junk.getsockname()[1]}/fhir/metadata", 1))
    finally:
        junk.close()
        t.join(timeout=5)
    assert broken.value.kind == "protocol"


async def _shared_gets(transport: LeanTransport, urls: list[str], per_fetcher: int = 1) -> list[list[tuple[int, str | None]]]:
    """One Fetcher per URL, one after the other, all over `transport` (as a scan's audits)."""
    out = []
    for url in urls:
        fetcher = Fetcher.create(HttpOptions(timeout=5, trust_env=False), shared=transport)
        got = []
        try:
            for _ in range(per_fetcher):
                resp = await fetcher.get(url, Recorder())
                got.append((resp.status, resp.headers.get("x-echo")))
        finally:
            await fetcher.aclose()
        out.append(got)
    return out


def test_a_shared_transport_carries_many_fetchers_over_one_connection_but_not_their_cookies():
    """A scan's audits share kept-alive connections (scan.run.sharing_between_audits): closing one
    audit's fetcher leaves them open for the next, and a cookie one endpoint's server set goes
    back to that audit only, never to the next endpoint's requests on the same connection."""
    with counting(extra=b"Set-Cookie: session=abc; Path=/\r\n") as server:
        origin = f"http://127.0.0.1:{server.port}"

        async def go() -> list[list[tuple[int, str | None]]]:
            transport = LeanTransport(ssl.create_default_context, keepalive=5.0)
            try:
                return await _shared_gets(transport, [f"{origin}/a/metadata", f"{origin}/b/metadata"], per_fetcher=2)
            finally:
                await transport.aclose()

        got = asyncio.run(go())
    assert got == [[(200, "kept")] * 2] * 2
    assert server.connections == 1  # one connection for both fetchers' four requests
    cookies = [b"\r\ncookie: session=abc" in r.lower() for r in server.requests]
    assert cookies == [False, True, False, True]  # each audit sends back only what was set for it


def test_a_shared_transport_keeps_few_idle_connections_and_closes_expired_ones():
    """Shared by a scan over many hosts, idle connections must not pile up: at most
    `max_idle_total` are kept, and one idle past its keep-alive is closed by the next release."""
    with counting() as first, counting() as second:
        a, b = (f"http://127.0.0.1:{s.port}/fhir/metadata" for s in (first, second))

        async def capped() -> None:
            transport = LeanTransport(ssl.create_default_context, keepalive=5.0, max_idle_total=1)
            try:
                await _shared_gets(transport, [a, b, b, a])
            finally:
                await transport.aclose()

        asyncio.run(capped())
        assert first.connections == 1  # kept idle, reused
        assert second.connections == 2  # over the cap: closed after each use, opened again

    with counting() as first, counting() as second:
        a, b = (f"http://127.0.0.1:{s.port}/fhir/metadata" for s in (first, second))

        async def expiring() -> int:
            transport = LeanTransport(ssl.create_default_context, keepalive=0.05)
            try:
                await _shared_gets(transport, [a])
                await asyncio.sleep(0.2)
                await _shared_gets(transport, [b])  # its release sweeps the first host's expired connection
                for _ in range(100):  # the server sees the close a moment later
                    if first.ended:
                        break
                    await asyncio.sleep(0.01)
                return first.ended
            finally:
                await transport.aclose()

        assert asyncio.run(expiring()) == 1


def test_a_proxy_variable_keeps_httpx_own_transport(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    fetcher = Fetcher.create(HttpOptions(trust_env=True))
    try:
        assert not isinstance(fetcher.client._transport, LeanTransport)
        proxied = fetcher.client._transport_for_url(httpx.URL("https://127.0.0.1:1/"))
        assert isinstance(proxied, httpx.AsyncHTTPTransport) and proxied is not fetcher.client._transport
    finally:
        asyncio.run(fetcher.aclose())
    monkeypatch.delenv("HTTPS_PROXY")
    lean = Fetcher.create(HttpOptions(trust_env=True))
    try:
        assert isinstance(lean.client._transport, LeanTransport)
    finally:
        asyncio.run(lean.aclose())


def test_the_direct_path_sends_and_records_what_httpx_own_client_does(monkeypatch: pytest.MonkeyPatch):
    """The Fetcher sends straight to the lean transport, without httpx.AsyncClient's send: the
    request heads the server reads (header order, Host, a query's encoding, the cookie it set, a
    URL's user:password as Basic auth, a form's length and type) and every exchange recorded must
    be what the client sends over httpx's own transport (selected here by NO_PROXY alone)."""

    async def run(port: int) -> tuple[bool, list[tuple]]:
        fetcher = Fetcher.create(HttpOptions(timeout=5))
        fetcher.allow_userinfo(f"http://someone:pa%40ss@127.0.0.1:{port}/fhir")  # the user's own base URL
        lean = isinstance(fetcher.client._transport, LeanTransport)
        rec = Recorder()
        base = f"http://127.0.0.1:{port}"
        try:
            await fetcher.get(f"{base}/fhir/metadata", rec)
            await fetcher.get(f"{base}/fhir/metadata", rec)  # the same URL again: parsed once
            await fetcher.get(
                f"{base}/fhir/Patient?name=a b&_count=1",
                rec,
                headers={"Accept": "application/fhir+json", "Authorization": "Bearer s3cret-token"},
            )
            await fetcher.get(f"http://someone:pa%40ss@127.0.0.1:{port}/fhir/Observation", rec)
            await fetcher.request("POST", f"{base}/token", rec, form={"grant_type": "client_credentials"}, retry=False)
        finally:
            await fetcher.aclose()
        with pytest.raises(FetchError) as closed:  # a closed client refuses, as httpx's own does
            await fetcher.get(f"{base}/fhir/metadata", Recorder())
        recorded = [
            (e.method, e.url, e.status, e.error, e.request_headers, e.response_headers, e.body_bytes) for e in rec.exchanges
        ]
        return lean, [*recorded, (closed.value.kind, str(closed.value))]

    seen: dict[bool, tuple[list[bytes], str]] = {}
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for own in (False, True):
        if own:
            monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        with counting(extra=b"Set-Cookie: sid=abc; Path=/\r\n") as server:
            lean, recorded = asyncio.run(run(server.port))
        assert lean is not own
        at = f":{server.port}"  # two servers, two ports: compared without them
        seen[own] = ([h.replace(at.encode(), b":PORT") for h in server.requests], repr(recorded).replace(at, ":PORT"))
    heads, recorded = seen[False]
    assert seen[True] == (heads, recorded)
    assert len(heads) == 5 and b"\r\nCookie: sid=abc" in heads[1] and b"Cookie" not in heads[0]
    assert heads[2].startswith(b"GET /fhir/Patient?name=a%20b&_count=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nAuthorization: Basic " in heads[3]
    assert b"\r\nContent-Length: 29\r\n" in heads[4]
    assert "s3cret-token" not in recorded and "pa@ss" not in recorded and "'authorization': '[redacted]'" in recorded
    assert recorded.endswith("('error', 'Cannot send a request, as the client has been closed.')]")


@pytest.mark.timeout(60)  # a bound on a hang, not a timing assertion
def test_a_stalled_answer_ends_at_the_deadline_and_a_stalled_stream_at_the_read_timeout():
    """Both bounds hold over the lean path: a buffered request whose server never answers ends at
    the Fetcher's whole-request deadline; a Bulk Data stream given a longer deadline of its own
    still ends when one read waits longer than the read timeout (httpx's, kept per step)."""
    from tests.faults.server import Conn, fault_server, head, stall

    async def headers_then_nothing(c: Conn) -> None:
        await c.send(head(200, {"Content-Type": "application/fhir+ndjson", "Content-Length": "100"}))
        await c.stopping.wait()

    async def run(origin: str) -> tuple[bool, FetchError, FetchError]:
        fetcher = Fetcher.create(HttpOptions(timeout=1.0, retries=0, trust_env=False))
        try:
            with pytest.raises(FetchError) as buffered:
                await fetcher.get(origin + "/stall", Recorder())
            with pytest.raises(FetchError) as streamed:
                async with fetcher.stream(origin + "/file.ndjson", Recorder(), timeout=30.0) as resp:
                    async for _line in resp.lines(max_line_bytes=1024):
                        pass
        finally:
            await fetcher.aclose()
        return isinstance(fetcher.client._transport, LeanTransport), buffered.value, streamed.value

    with fault_server({"/stall": stall(), "/file.ndjson": headers_then_nothing}) as srv:
        lean, buffered, streamed = asyncio.run(run(srv.origin))
    assert lean
    assert buffered.kind == "timeout" and "no complete answer within the time limit" in str(buffered)
    assert streamed.kind == "timeout" and str(streamed) == "timed out waiting for the server"
