"""The transport probe's own TLS handshakes honour HTTPS_PROXY and NO_PROXY, as the HTTP client does.

A real CONNECT proxy on 127.0.0.1 records every tunnel asked of it and sends them all to a real
TLS server on loopback; the target's host name is under `.invalid`, so it can only be reached
through the proxy, and a spy on `socket.getaddrinfo` (it only watches: the real lookup still
runs) proves the probe never tried to resolve it itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from ehrcheck.http.client import HttpOptions
from ehrcheck.http.tunnel import proxy_for
from ehrcheck.probes.runner import collect
from tests.support.loopback import Reply, serve

CAP = {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1", "status": "active", "kind": "instance", "format": ["json"]}
HOST = "ehr.example.invalid"


@dataclass
class ConnectProxy:
    url: str
    connects: list[str] = field(default_factory=list)
    others: list[str] = field(default_factory=list)  # request lines that were not CONNECT


@contextlib.contextmanager
def connect_proxy(upstream: tuple[str, int], refuse: bool = False) -> Iterator[ConnectProxy]:
    """An HTTP proxy that tunnels every CONNECT to `upstream` (or refuses it with 403)."""
    listener = socket.create_server(("127.0.0.1", 0))
    proxy = ConnectProxy(f"http://127.0.0.1:{listener.getsockname()[1]}")
    stop = threading.Event()

    def pipe(a: socket.socket, b: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := a.recv(65536):
                b.sendall(chunk)
        with contextlib.suppress(OSError):
            b.shutdown(socket.SHUT_WR)

    def handle(conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            method, target = (line.split() + ["", ""])[:2]
            if method != "CONNECT":
                proxy.others.append(line)
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            proxy.connects.append(target)
            if refuse:
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            with socket.create_connection(upstream) as up:
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                back = threading.Thread(target=pipe, args=(up, conn), daemon=True)
                back.start()
                pipe(conn, up)
                back.join(timeout=10)

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


@pytest.fixture
def lookups(monkeypatch) -> list[str]:
    """Every host name this process resolves while the test runs (the real lookup still happens)."""
    seen: list[str] = []
    real = socket.getaddrinfo

    def spy(host, *args, **kwargs):
        seen.append(host.decode() if isinstance(host, bytes) else str(host))
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", spy)
    return seen


def _server_ctx(tls_ca) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert(HOST).configure_cert(ctx)
    return ctx


def _transport(base: str, client_ctx: ssl.SSLContext):
    evidence = asyncio.run(collect(base, HttpOptions(timeout=5, retries=0, verify=client_ctx, trust_env=True)))
    return evidence.probes["transport"]


def _clear_proxy_env(monkeypatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.timeout(60)
def test_tls_facts_are_taken_through_the_proxy_tunnel(monkeypatch, lookups, tls_ca, tls_client_ctx):
    routes = {"/fhir/metadata": Reply(200, CAP)}
    with (
        serve(routes, ssl_context=_server_ctx(tls_ca)) as srv,
        connect_proxy(("127.0.0.1", int(srv.origin.rsplit(":", 1)[1]))) as proxy,
    ):
        _clear_proxy_env(monkeypatch)
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        attempt = _transport(f"https://{HOST}:8443/fhir", tls_client_ctx)
    assert attempt.status.value == "completed", attempt.reason
    tls = attempt.data["tls"]
    assert tls["verified"] is True  # the certificate for the .invalid name, seen through the tunnel
    assert tls["certificate"]["hostname_match"] is True
    assert tls["negotiated_version"] in ("TLSv1.2", "TLSv1.3")
    # the survey's handshakes (verified + TLS 1.0 + TLS 1.1) went through the proxy too
    assert proxy.connects.count(f"{HOST}:8443") >= 3
    assert HOST not in lookups


@pytest.mark.timeout(60)
def test_a_refused_tunnel_is_not_observed_and_never_goes_around_the_proxy(monkeypatch, lookups, tls_client_ctx):
    with connect_proxy(("127.0.0.1", 9), refuse=True) as proxy:
        _clear_proxy_env(monkeypatch)
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        attempt = _transport(f"https://{HOST}:8443/fhir", tls_client_ctx)
    assert attempt.status.value == "error"  # the rules read it as not observed
    assert "refused the CONNECT tunnel" in attempt.reason and "403" in attempt.reason
    assert f"{HOST}:8443" in proxy.connects
    assert HOST not in lookups


def test_no_proxy_and_scheme_choose_as_the_http_client_does(monkeypatch):
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTPS_PROXY", "http://user:secret@127.0.0.1:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.internal.example")
    proxy = proxy_for("https", HOST, 443)
    assert proxy is not None and (proxy.host, proxy.port) == ("127.0.0.1", 3128)
    assert proxy.auth is not None and "secret" not in proxy.label
    assert proxy_for("https", "fhir.internal.example", 443) is None
    assert proxy_for("https", "localhost", 8443) is None
    assert proxy_for("https", HOST, 443, trust_env=False) is None
    monkeypatch.delenv("HTTPS_PROXY")
    assert proxy_for("https", HOST, 443) is None
