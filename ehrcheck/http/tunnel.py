"""The raw TCP connection for a TLS handshake the transport probe makes itself, through the
proxy the environment names when one applies.

httpx honours HTTPS_PROXY/NO_PROXY for every request; the transport probe's handshakes use the
ssl module directly (httpx cannot pin a protocol version), so they must honour the same settings:
with a proxy set, a direct connection would resolve the target's name on a machine that is meant
to reach the outside only through the proxy. Through a proxy the handshake runs inside its
CONNECT tunnel; when the tunnel cannot be had, the caller reports why, and nothing is tried
directly.
"""

from __future__ import annotations

import base64
import select
import socket
import time
import urllib.request
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

MAX_CONNECT_REPLY = 16 * 1024  # a CONNECT answer's status line and headers


class TunnelError(Exception):
    """No connection to the target: the reason, safe to show (never the proxy's credentials)."""


@dataclass(frozen=True)
class Proxy:
    scheme: str
    host: str
    port: int
    auth: str | None = None  # the Proxy-Authorization value, when the proxy URL carries a user

    @property
    def label(self) -> str:  # for messages: no credentials
        return f"{self.scheme}://{self.host}:{self.port}"


def proxy_for(scheme: str, host: str, port: int, trust_env: bool = True) -> Proxy | None:
    """The proxy the environment sets for scheme://host:port, or None (none set, or NO_PROXY
    exempts the host). Same variables as httpx reads: HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY."""
    if not trust_env:
        return None
    proxies = urllib.request.getproxies_environment()
    url = proxies.get(scheme) or proxies.get("all")
    if not url:
        return None
    # proxy_bypass_environment is the NO_PROXY matcher urllib itself uses; typeshed does not list it.
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if bypass(f"{host}:{port}", proxies) or bypass(host, proxies):
        return None
    if "://" not in url:
        url = "http://" + url  # HTTPS_PROXY=host:port, as httpx reads it
    parts = urlsplit(url)
    proxy_scheme = parts.scheme.lower()
    try:
        proxy_port = parts.port or (443 if proxy_scheme == "https" else 1080 if proxy_scheme.startswith("socks") else 80)
    except ValueError:
        proxy_port = -1  # reported by connect() as an unusable proxy
    auth = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        auth = "Basic " + base64.b64encode(pair.encode()).decode()
    return Proxy(proxy_scheme, parts.hostname or "", proxy_port, auth)


def connect(host: str, port: int, timeout: float, proxy: Proxy | None) -> socket.socket:
    """A connected socket to host:port: directly, or through the proxy's CONNECT tunnel.
    Raises TunnelError with the reason when there is no connection."""
    if proxy is None:
        return _direct(host, port, timeout)
    if proxy.scheme != "http" or not proxy.host or proxy.port <= 0:
        raise TunnelError(
            f"the proxy {proxy.label if proxy.host else '(unparseable)'} is not an http:// proxy with a host and port; "
            "the TLS survey only tunnels through http:// proxies, and never connects around one"
        )
    deadline = time.monotonic() + timeout
    sock = _direct(proxy.host, proxy.port, timeout, what=f"the proxy {proxy.label}")
    try:
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        request = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
        if proxy.auth:
            request += f"Proxy-Authorization: {proxy.auth}\r\n"
        sock.sendall((request + "\r\n").encode("ascii"))
        status = _read_reply(sock, deadline, proxy)
        if not 200 <= status < 300:
            raise TunnelError(f"the proxy {proxy.label} refused the CONNECT tunnel to {target} (HTTP {status})")
        return sock
    except BaseException:
        sock.close()
        raise


def _direct(host: str, port: int, timeout: float, what: str | None = None) -> socket.socket:
    prefix = f"{what}: " if what else ""
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror as exc:
        raise TunnelError(f"{prefix}host name could not be resolved: {exc.strerror or exc}") from None
    except ConnectionRefusedError:
        raise TunnelError(f"{prefix}connection refused") from None
    except OSError as exc:
        raise TunnelError(f"{prefix}could not connect: {exc.strerror or exc.__class__.__name__}") from None


def _read_reply(sock: socket.socket, deadline: float, proxy: Proxy) -> int:
    """The CONNECT answer's status code, reading byte by byte up to the blank line, so no byte of
    the tunnelled TLS stream is consumed."""
    reply = b""
    while not reply.endswith(b"\r\n\r\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TunnelError(f"the proxy {proxy.label} did not answer the CONNECT in time")
        if not select.select([sock], [], [], remaining)[0]:
            continue
        try:
            byte = sock.recv(1)
        except OSError as exc:
            raise TunnelError(f"the proxy {proxy.label} failed: {exc.strerror or exc.__class__.__name__}") from None
        if not byte:
            raise TunnelError(f"the proxy {proxy.label} closed the connection before answering the CONNECT")
        reply += byte
        if len(reply) > MAX_CONNECT_REPLY:
            raise TunnelError(f"the proxy {proxy.label} sent an over-long answer to the CONNECT")
    status_line = reply.split(b"\r\n", 1)[0].split()
    if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/") or not status_line[1].isdigit():
        raise TunnelError(f"the proxy {proxy.label} did not answer the CONNECT in HTTP")
    return int(status_line[1])
