"""A lean HTTP/1.1 transport for httpx: h11 driven directly over asyncio streams.

httpx's default transport (httpcore over anyio) costs ~0.6 ms of CPU per request on a kept-alive
loopback connection, about half of a scan's per-endpoint CPU. This one does the same work with
fewer layers: one h11 state machine per connection, keep-alive per origin, asyncio's own streams.

What it keeps (docs/security.md): the timeouts httpx hands every request (connect, TLS handshake,
each read and write; the Fetcher's own whole-request deadline wraps it as before), the same h11
limits (100 KB of headers), TLS through the SSL context httpx itself would build from `verify`
(ALPN http/1.1, hostname checked), and the same exception types and texts httpcore raises, so
`classify_error` reads failures the same way. Redirects, size caps and decoding stay in the
Fetcher. Proxies are not handled here: `Fetcher.create` uses httpx's own transport whenever the
environment names one (httpx ignores proxy variables once a transport is given).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import h11
import httpx

READ_BYTES = 64 * 1024  # as httpcore
MAX_INCOMPLETE_EVENT_SIZE = 100 * 1024  # as httpcore: a head larger than this is a protocol error
KEEPALIVE_SECONDS = 5.0  # as httpx's default pool
MAX_IDLE_PER_ORIGIN = 8
MAX_IDLE_TOTAL = 256

Origin = tuple[str, str, int]


class HandshakeEndOfStream(Exception):
    """The server closed the connection during the TLS handshake (the cause classify_error reads)."""


def _timeouts(request: httpx.Request) -> dict[str, float | None]:
    value = request.extensions.get("timeout")
    return value if isinstance(value, dict) else {}


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(our_role=h11.CLIENT, max_incomplete_event_size=MAX_INCOMPLETE_EVENT_SIZE)
        self.expires = 0.0

    def reusable(self) -> bool:
        """Idle and still open: a server that closed it (or sent bytes unasked) makes it unusable."""
        if self.writer.is_closing() or self.reader.at_eof() or self.reader.exception() is not None:
            return False
        if getattr(self.reader, "_buffer", b""):  # bytes while idle: only a close or junk can follow
            return False
        if self.h11.trailing_data[0]:  # bytes read past the last answer: the next request would get them
            return False
        return time.monotonic() < self.expires

    def close(self) -> None:
        self.writer.close()

    async def read(self, timeout: float | None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self.reader.read(READ_BYTES)
        except TimeoutError as exc:
            raise httpx.ReadTimeout("timed out reading from the server") from exc
        except ssl.SSLError as exc:
            raise httpx.ReadError(str(exc)) from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc)) from exc

    async def write(self, data: bytes, timeout: float | None) -> None:
        if not data:
            return
        try:
            async with asyncio.timeout(timeout):
                self.writer.write(data)
                await self.writer.drain()
        except TimeoutError as exc:
            raise httpx.WriteTimeout("timed out writing to the server") from exc
        except OSError as exc:
            raise httpx.WriteError(str(exc)) from exc

    async def next_event(self, timeout: float | None) -> Any:
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc)) from exc
            if event is not h11.NEED_DATA:
                return event
            data = await self.read(timeout)
            if data == b"" and self.h11.their_state == h11.SEND_RESPONSE:
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
            self.h11.receive_data(data)


class _Body(httpx.AsyncByteStream):
    def __init__(self, transport: LeanTransport, origin: Origin, conn: _Connection, read_timeout: float | None):
        self._transport = transport
        self._origin = origin
        self._conn: _Connection | None = conn
        self._read_timeout = read_timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        try:
            while True:
                event = await conn.next_event(self._read_timeout)
                if isinstance(event, h11.Data):
                    yield bytes(event.data)
                elif isinstance(event, h11.EndOfMessage | h11.PAUSED):
                    return
        except BaseException:
            self._drop()
            raise

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE:
            conn.h11.start_next_cycle()
            self._transport._release(self._origin, conn)
        else:
            conn.close()


class LeanTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over asyncio streams, keep-alive per origin. Only for http:// and https:// URLs
    with no proxy (see the module docstring)."""

    def __init__(
        self,
        make_ssl_context: Callable[[], ssl.SSLContext],
        max_idle: int = MAX_IDLE_PER_ORIGIN,
        keepalive: float = KEEPALIVE_SECONDS,
        max_idle_total: int = MAX_IDLE_TOTAL,
    ):
        self._make_ssl = make_ssl_context
        self._ssl: ssl.SSLContext | None = None
        self._idle: dict[Origin, list[_Connection]] = {}
        self._max_idle = max_idle
        self._keepalive = keepalive
        # A transport shared by a scan's audits outlives each of them: idle connections to hosts
        # never asked again are closed by a sweep once they expire, and never more than
        # `max_idle_total` are kept, so a scan over thousands of hosts holds few sockets.
        self._max_idle_total = max_idle_total
        self._idle_count = 0
        self._next_sweep = 0.0
        self._closed = False

    def _tls(self) -> ssl.SSLContext:
        """The TLS context, made at the first https connection: loading the system's CA store
        costs ~19 ms of CPU that a run speaking only http:// never needs."""
        if self._ssl is None:
            self._ssl = self._make_ssl()
            self._ssl.set_alpn_protocols(["http/1.1"])  # what httpcore sets without HTTP/2
        return self._ssl

    def _release(self, origin: Origin, conn: _Connection) -> None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._sweep(now)
        idle = self._idle.setdefault(origin, [])
        if self._closed or len(idle) >= self._max_idle or self._idle_count >= self._max_idle_total:
            conn.close()
            return
        conn.expires = now + self._keepalive
        idle.append(conn)
        self._idle_count += 1

    def _sweep(self, now: float) -> None:
        """Close every expired idle connection; at most once per keep-alive span."""
        self._next_sweep = now + self._keepalive
        for origin in list(self._idle):
            idle = self._idle[origin]
            kept = [conn for conn in idle if conn.expires > now]
            for conn in idle:
                if conn.expires <= now:
                    conn.close()
            self._idle_count -= len(idle) - len(kept)
            if kept:
                self._idle[origin] = kept
            else:
                del self._idle[origin]

    def _reuse(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            self._idle_count -= 1
            if conn.reusable():
                return conn
            conn.close()
        return None

    async def _connect(self, origin: Origin, request: httpx.Request, timeout: float | None) -> _Connection:
        scheme, host, port = origin
        try:
            async with asyncio.timeout(timeout):
                try:
                    reader, writer = await asyncio.open_connection(host, port)
                except socket.gaierror as exc:
                    raise httpx.ConnectError(str(exc)) from exc
                except OSError as exc:  # the text anyio gives httpcore, which classify_error reads
                    raise httpx.ConnectError("All connection attempts failed") from exc
                if scheme == "https":
                    sni = request.extensions.get("sni_hostname") or host
                    try:
                        try:
                            context = self._tls()
                        except (ssl.SSLError, OSError, ValueError) as exc:  # SSL_CERT_FILE names no PEM file
                            why = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
                            raise httpx.ConnectError(f"the CA certificates to trust could not be loaded ({why})") from None
                        try:
                            await writer.start_tls(context, server_hostname=sni)
                        except ssl.SSLError as exc:
                            raise httpx.ConnectError(str(exc)) from exc
                        except (OSError, EOFError) as exc:
                            raise httpx.ConnectError("") from HandshakeEndOfStream(str(exc))
                    except BaseException:  # failed, timed out or cancelled mid-handshake: no socket left open
                        writer.close()
                        raise
        except TimeoutError as exc:
            raise httpx.ConnectTimeout("timed out connecting to the server") from exc
        return _Connection(reader, writer)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https") or self._closed:
            raise httpx.UnsupportedProtocol(f"Request URL has an unsupported protocol '{url.scheme}://'.")
        origin: Origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        timeouts = _timeouts(request)
        conn = self._reuse(origin) or await self._connect(origin, request, timeouts.get("connect"))
        try:
            target = url.raw_path
            event = h11.Request(method=request.method, target=target, headers=request.headers.raw)
            try:
                await conn.write(conn.h11.send(event) or b"", timeouts.get("write"))
                async for chunk in request.stream:  # type: ignore[union-attr]
                    await conn.write(conn.h11.send(h11.Data(data=chunk)) or b"", timeouts.get("write"))
                await conn.write(conn.h11.send(h11.EndOfMessage()) or b"", timeouts.get("write"))
            except httpx.WriteError:
                pass  # as httpcore: a server may close early and still answer; read what it sent
            read_timeout = timeouts.get("read")
            while True:
                head = await conn.next_event(read_timeout)
                if not isinstance(head, h11.InformationalResponse):
                    break
            if not isinstance(head, h11.Response):  # h11 yields a Response or raises: defensive
                raise httpx.RemoteProtocolError("the server sent no response head")
            return httpx.Response(
                status_code=head.status_code,
                headers=head.headers.raw_items(),
                stream=_Body(self, origin, conn, read_timeout),
                extensions={"http_version": b"HTTP/" + head.http_version, "reason_phrase": head.reason},
            )
        except h11.LocalProtocolError as exc:
            conn.close()
            raise httpx.LocalProtocolError(str(exc)) from exc
        except BaseException:
            conn.close()
            raise

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
        self._idle_count = 0


class Borrowed(httpx.AsyncBaseTransport):
    """A transport someone else owns (a scan's shared connections): a client closing it leaves
    it open for the next audit; its owner closes it once, at the end."""

    def __init__(self, transport: LeanTransport):
        self.transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.transport.handle_async_request(request)

    async def aclose(self) -> None:
        return None
