"""The auditor's own network failing (a proxy, no route) is told apart from the server failing,
so no finding blames the vendor for it (CRT-206 and the endpoint sample)."""

from __future__ import annotations

import socket
import threading

import httpx

from ehrcheck.evidence.certification import AUDITOR_SIDE
from ehrcheck.http.client import classify_error


def test_a_proxy_that_refuses_is_the_auditors_side():
    # A real loopback proxy that answers CONNECT with 403: httpx raises ProxyError.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def refuse() -> None:
        conn, _ = server.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        conn.close()

    t = threading.Thread(target=refuse, daemon=True)
    t.start()
    try:
        with httpx.Client(proxy=f"http://127.0.0.1:{port}", timeout=5) as client:
            try:
                client.get("https://127.0.0.1:9/fhir/metadata")
            except httpx.HTTPError as exc:
                kind, reason = classify_error(exc)
            else:  # pragma: no cover - the proxy never lets the request through
                raise AssertionError("the proxy should have refused")
    finally:
        t.join(timeout=5)
        server.close()
    assert kind == "proxy" and kind in AUDITOR_SIDE
    assert "proxy" in reason


def test_a_refused_connection_is_the_servers_side():
    with httpx.Client(timeout=5) as client:
        try:
            client.get("http://127.0.0.1:9/fhir/metadata")
        except httpx.HTTPError as exc:
            kind, _ = classify_error(exc)
    assert kind == "connection_refused" and kind not in AUDITOR_SIDE


def test_a_proxy_that_cannot_be_reached_is_named_not_blamed_on_the_server(tmp_path):
    # A closed loopback port as HTTPS_PROXY: httpx raises ConnectError (not ProxyError), which
    # used to read "the server did not answer any request: connection refused".
    from tests.support.cli import run

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    out = tmp_path / "out"
    result = run(
        "audit",
        "https://ehr.example.invalid/fhir",
        "-o",
        str(out),
        env={"HTTPS_PROXY": f"http://127.0.0.1:{port}", "NO_PROXY": None, "no_proxy": None},
    )
    assert result.exit_code == 2
    assert f"the proxy 127.0.0.1:{port} could not be reached" in result.output
    assert "the server did not answer" not in result.output
    evidence = (out / "evidence.json").read_text()
    assert f"the proxy 127.0.0.1:{port} could not be reached: connection refused" in evidence
