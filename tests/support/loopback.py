"""A scriptable HTTP server on 127.0.0.1 for tests: each path answers from a queue of responses.

Real sockets, real httpx: used where a behaviour (a 503 then a 200, a vendor's recorded
CapabilityStatement) cannot be had from sekmet.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict | list | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering: answers that arrive out of request order

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, (dict, list)):
            return json.dumps(self.body).encode(), "application/fhir+json"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain"
        return self.body or b"", "application/octet-stream"


@dataclass
class Loopback:
    base: str
    origin: str
    requests: list[tuple[str, str, dict[str, str]]]


@contextlib.contextmanager
def serve(routes: dict[str, Reply | list[Reply]], prefix: str = "/fhir", ssl_context: Any = None) -> Iterator[Loopback]:
    """Serve `routes` (path with optional query -> reply, or a list used one per request).

    The dict is read live, so a test may add routes once it knows the server's origin; reply
    lists are consumed in place (the last reply repeats)."""
    queues = routes
    seen: list[tuple[str, str, dict[str, str]]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def _answer(self) -> None:
            with lock:
                seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                key = self.path if self.path in queues else urlsplit(self.path).path
                entry = queues.get(key)
                if isinstance(entry, list):
                    reply = entry.pop(0) if len(entry) > 1 else entry[0]
                else:
                    reply = entry
            if reply is None:
                reply = Reply(404, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]})
            body, ctype = reply.encoded()
            if reply.delay:
                time.sleep(reply.delay)
            self.send_response(reply.status)
            headers = {"Content-Type": ctype, **reply.headers}
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_DELETE = do_POST = do_HEAD = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if ssl_context is not None:
        server.socket = ssl_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if ssl_context is not None else "http"
    origin = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    try:
        yield Loopback(base=origin + prefix, origin=origin, requests=seen)
    finally:
        server.shutdown()
        server.server_close()
