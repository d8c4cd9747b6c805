"""A hostile FHIR server on 127.0.0.1: each path answers with a scripted fault.

Built on raw asyncio streams rather than http.server so that a fault can do what a well-behaved
framework never would: stall after the request, drip the body a byte at a time, close mid-answer,
send a gzip bomb or plain garbage. It runs its own event loop in a daemon thread, so tests can
drive it from synchronous code, from `asyncio.run`, or from a CLI subprocess.

    with fault_server({"/fhir/metadata": stall(), "/fhir/x": json_reply(CAP)}) as srv:
        ... srv.base ...

Paths without a route answer 404 with an OperationOutcome. Every request is recorded in
`srv.requests` (method, path, lower-cased headers).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import ssl
import threading
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

REASONS = {
    200: "OK",
    202: "Accepted",
    301: "Moved Permanently",
    302: "Found",
    307: "Temporary Redirect",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Conn:
    """What a fault gets: the parsed request, the writer, and the server's stop signal."""

    request: Request
    writer: asyncio.StreamWriter
    stopping: asyncio.Event
    server: FaultServer
    close: bool = False  # a fault sets it to drop the connection after its answer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()


Fault = Callable[[Conn], Awaitable[None]]


def head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# ---- the faults ------------------------------------------------------------------------------


def reply(
    status: int = 200, body: bytes | str = b"", headers: dict[str, str] | None = None, content_type: str = "application/fhir+json"
) -> Fault:
    """A plain, correct response (the baseline the faults differ from)."""
    data = body.encode() if isinstance(body, str) else body

    async def fault(c: Conn) -> None:
        hdrs = {"Content-Type": content_type, "Content-Length": str(len(data)), **(headers or {})}
        await c.send(head(status, hdrs) + (b"" if c.request.method == "HEAD" else data))

    return fault


def json_reply(
    doc: Any, status: int = 200, headers: dict[str, str] | None = None, content_type: str = "application/fhir+json"
) -> Fault:
    return reply(status, json.dumps(doc), headers, content_type)


def dynamic(make: Callable[[Conn], Fault]) -> Fault:
    """A reply built from the request (e.g. one that echoes what the client sent)."""

    async def fault(c: Conn) -> None:
        await make(c)(c)

    return fault


def stall() -> Fault:
    """Read the request, then never answer (until the server stops)."""

    async def fault(c: Conn) -> None:
        await c.stopping.wait()

    return fault


def drip(body: bytes, interval: float = 0.05, headers_too: bool = False) -> Fault:
    """Send the response a byte at a time, `interval` seconds apart: each read gets data in time,
    so only a deadline on the whole request stops it."""

    async def fault(c: Conn) -> None:
        top = head(200, {"Content-Type": "application/fhir+json", "Content-Length": str(len(body))})
        if not headers_too:
            await c.send(top)
        for byte in (top if headers_too else b"") + body:
            if c.stopping.is_set():
                return
            await c.send(bytes([byte]))
            await asyncio.sleep(interval)

    return fault


def hang_up() -> Fault:
    """Read the request and close the connection without a word."""

    async def fault(c: Conn) -> None:
        c.close = True

    return fault


def garbage(data: bytes = b"\x00\xffNOT HTTP AT ALL\r\n\r\n") -> Fault:
    """Answer with bytes that are not HTTP."""

    async def fault(c: Conn) -> None:
        await c.send(data)
        c.close = True

    return fault


def redirect(location: str | Callable[[Conn], str], status: int = 302) -> Fault:
    async def fault(c: Conn) -> None:
        where = location(c) if callable(location) else location
        await c.send(head(status, {"Location": where, "Content-Length": "0"}))

    return fault


def huge(size: int, chunk: int = 256 * 1024) -> Fault:
    """A well-formed response of `size` bytes, generated as it is sent (never held in memory)."""

    async def fault(c: Conn) -> None:
        await c.send(head(200, {"Content-Type": "application/fhir+json", "Content-Length": str(size)}))
        block = b" " * chunk
        sent = 0
        while sent < size and not c.stopping.is_set():
            n = min(chunk, size - sent)
            await c.send(block[:n])
            sent += n

    return fault


@lru_cache(maxsize=4)
def gzip_of_zeros(size: int) -> bytes:
    """gzip of `size` zero bytes, built incrementally (about 1 KB of output per MB of input)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1024 * 1024)
    out = [comp.compress(block) for _ in range(size // len(block))]
    out.append(comp.compress(bytes(size % len(block))))
    out.append(comp.flush())
    return b"".join(out)


def gzip_bomb(decoded_size: int, layers: int = 1) -> Fault:
    """A small body that inflates to `decoded_size` bytes; `layers=2` gzips it twice and says
    `Content-Encoding: gzip, gzip`, which a naive client inflates without bound."""
    body = gzip_of_zeros(decoded_size)
    for _ in range(layers - 1):
        body = gzip.compress(body)
    encoding = ", ".join(["gzip"] * layers)
    return reply(200, body, {"Content-Encoding": encoding}, content_type="application/fhir+json")


def sequence(*faults: Fault) -> Fault:
    """One fault per request, in order; the last one repeats."""
    queue = list(faults)

    async def fault(c: Conn) -> None:
        current = queue.pop(0) if len(queue) > 1 else queue[0]
        await current(c)

    return fault


def not_found() -> Fault:
    return json_reply({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]}, 404)


# ---- the server ------------------------------------------------------------------------------


@dataclass
class FaultServer:
    routes: dict[str, Fault]
    ssl_context: ssl.SSLContext | None = None
    prefix: str = "/fhir"
    requests: list[Request] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _stopping: asyncio.Event | None = None
    _server: asyncio.base_events.Server | None = None
    _thread: threading.Thread | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def origin(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def base(self) -> str:
        return self.origin + self.prefix

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None and self._stopping is not None
        self._handlers.add(task)
        try:
            while not self._stopping.is_set():
                request = await _read_request(reader)
                if request is None:
                    return
                self.requests.append(request)
                key = request.path if request.path in self.routes else urlsplit(request.path).path
                fault = self.routes.get(key) or not_found()
                conn = Conn(request, writer, self._stopping, self)
                await fault(conn)
                if conn.close:
                    return
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client hung up, or we are shutting down: both are fine here
        finally:
            self._handlers.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    def start(self) -> FaultServer:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            # Failed TLS handshakes (the point of several tests) are not worth a log line.
            loop.set_exception_handler(lambda _loop, _ctx: None)
            try:
                self._stopping = asyncio.Event()
                self._server = loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.ssl_context))
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="fault-server", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            return

        async def shutdown() -> None:
            assert self._stopping is not None and self._server is not None
            self._stopping.set()
            self._server.close()
            for task in list(self._handlers):
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=10)


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return None
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) < 2:
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length") or 0)
    if length:
        await reader.readexactly(length)  # bodies (token forms) are read and dropped
    return Request(parts[0], parts[1], headers)


@contextlib.contextmanager
def fault_server(
    routes: dict[str, Fault], ssl_context: ssl.SSLContext | None = None, prefix: str = "/fhir"
) -> Iterator[FaultServer]:
    """Serve `routes` on 127.0.0.1 (a fresh port) for the duration of the block. The dict is read
    live, so routes that need the server's own address may be added once it is running."""
    server = FaultServer(routes, ssl_context, prefix).start()
    try:
        yield server
    finally:
        server.stop()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
