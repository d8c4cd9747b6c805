"""One loopback process that is many FHIR endpoints: any path ending in /metadata,
/.well-known/smart-configuration, /Patient... is answered for the base path in front of it.

For `ehrcheck scan` tests and the scan benchmark (1,000 endpoints from one server). An asyncio
HTTP/1.1 server with keep-alive in a background thread, bound to 127.0.0.1 only. What a base
answers is decided by a hash of its path, so a list of endpoints gets a stable mix:

    r4-smart   R4 CapabilityStatement with SMART security + a SMART configuration
    r4-uscore  as r4-smart, declaring US Core 6.1.0 profiles
    r4-plain   R4 CapabilityStatement, no security declared, no SMART configuration
    dstu2      a DSTU2 Conformance
    down       every request answers 503 (after the client's retries: a reachable, broken server)

`rewrite_bundle` points every Endpoint.address of a real directory (e.g. Epic's) at this server,
keeping the original host and path as the base path, so a real list can be scanned offline.

    python -m tests.support.many_endpoints --count 1000 --list endpoints.txt   # serve until Ctrl-C
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

VARIANTS = ("r4-smart", "r4-plain", "dstu2", "down")
SUFFIXES = ("/.well-known/smart-configuration", "/.well-known/openid-configuration", "/metadata")


def variant_of(base_path: str, variants: tuple[str, ...] = VARIANTS) -> str:
    return variants[hashlib.sha1(base_path.encode(), usedforsecurity=False).digest()[0] % len(variants)]


def _capability(variant: str, base: str) -> dict[str, Any]:
    if variant == "dstu2":
        return {
            "resourceType": "Conformance",
            "fhirVersion": "1.0.2",
            "status": "active",
            "kind": "instance",
            "format": ["json"],
            "rest": [{"mode": "server", "resource": [{"type": "Patient", "interaction": [{"code": "read"}]}]}],
        }
    resources = [
        {
            "type": t,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{"name": "patient", "type": "reference"}],
        }
        for t in ("Patient", "AllergyIntolerance", "Condition", "Immunization", "MedicationRequest", "Observation")
    ]
    rest: dict[str, Any] = {"mode": "server", "resource": resources}
    if variant == "r4-uscore":
        for r in resources:
            r["supportedProfile"] = [f"http://hl7.org/fhir/us/core/StructureDefinition/us-core-{r['type'].lower()}|6.1.0"]
    if variant in ("r4-smart", "r4-uscore"):
        rest["security"] = {
            "service": [
                {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR"}
                    ]
                }
            ],
            "extension": [
                {
                    "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                    "extension": [
                        {"url": "authorize", "valueUri": f"{base}/auth/authorize"},
                        {"url": "token", "valueUri": f"{base}/auth/token"},
                    ],
                }
            ],
        }
    return {
        "resourceType": "CapabilityStatement",
        "fhirVersion": "4.0.1",
        "status": "active",
        "kind": "instance",
        "date": "2026-01-01",
        "format": ["json"],
        "software": {"name": "many-endpoints", "version": "1"},
        "rest": [rest],
    }


def _smart(base: str) -> dict[str, Any]:
    return {
        "authorization_endpoint": f"{base}/auth/authorize",
        "token_endpoint": f"{base}/auth/token",
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "fhirUser", "launch/patient", "patient/*.rs", "offline_access"],
        "capabilities": [
            "launch-standalone",
            "client-public",
            "context-standalone-patient",
            "permission-patient",
            "permission-v2",
        ],
    }


@dataclass
class Stats:
    requests: int = 0
    connections: int = 0
    by_base: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, base: str) -> None:
        with self.lock:
            self.requests += 1
            self.by_base[base] = self.by_base.get(base, 0) + 1


def answer(
    method: str, target: str, origin: str, variants: tuple[str, ...] = VARIANTS, overrides: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes, str]:
    """(status, headers, body, base path) for one request: the pure half of the server.
    `overrides` maps a base path to the variant it answers as instead (a change planted between runs)."""
    path = urlsplit(target).path
    base_path = path
    for suffix in SUFFIXES:
        if path.endswith(suffix):
            base_path = path[: -len(suffix)]
            break
    else:
        for marker in ("/Patient", "/Group/", "/$export"):
            if marker in path:
                base_path = path[: path.index(marker)]
                break
    variant = (overrides or {}).get(base_path) or variant_of(base_path, variants)
    base = origin + base_path
    js = {"Content-Type": "application/fhir+json"}
    if variant == "down":
        return 503, {**js, "Retry-After": "0"}, b'{"resourceType":"OperationOutcome","issue":[]}', base_path
    if path.endswith("/metadata"):
        return 200, js, json.dumps(_capability(variant, base)).encode(), base_path
    if path.endswith("/.well-known/smart-configuration") and variant in ("r4-smart", "r4-uscore"):
        return 200, {"Content-Type": "application/json"}, json.dumps(_smart(base)).encode(), base_path
    if "/Patient" in path or "$export" in path:
        return (
            401,
            {**js, "WWW-Authenticate": 'Bearer realm="fhir"'},
            b'{"resourceType":"OperationOutcome","issue":[]}',
            base_path,
        )
    return 404, js, b'{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]}', base_path


class ManyEndpoints:
    """The running server: `origin` is http://127.0.0.1:<port>; `url(i)` a base URL on it."""

    def __init__(self, variants: tuple[str, ...] = VARIANTS, port: int = 0, ports: int = 1, delay: float = 0.0):
        self.port = port  # 0: any free port
        self.delay = delay  # seconds before each answer, so that audits overlap and can be counted
        self.in_flight: dict[str, Counter[str]] = {}  # origin -> base paths with a request being answered
        self.peak_bases: dict[str, int] = {}  # origin -> most base paths (endpoints) in flight at once
        self.ports = ports  # listening sockets: a list over several host:port, as a real directory spreads over hosts
        self.variants = variants
        self.overrides: dict[str, str] = {}  # base path -> variant, e.g. {"/ep/3/fhir/r4": "down"}
        self.stats = Stats()
        self.origin = ""  # the first port's
        self.origins: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._servers: list[asyncio.base_events.Server] = []
        self._thread: threading.Thread | None = None

    def url(self, i: int) -> str:
        """Endpoint i: on port i mod `ports` (the base path alone decides its variant)."""
        return f"{self.origins[i % len(self.origins)]}/ep/{i}/fhir/r4"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, origin: str) -> None:
        self.stats.connections += 1
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                parts = line.decode("latin-1").split()
                if len(parts) < 2:
                    return
                method, target = parts[0], parts[1]
                length, close = 0, False
                while True:
                    header = await reader.readline()
                    if header in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = header.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip() or 0)
                    elif name.strip().lower() == "connection" and value.strip().lower() == "close":
                        close = True
                if length:
                    await reader.readexactly(length)
                status, headers, body, base_path = answer(method, target, origin, self.variants, self.overrides)
                if self.delay:
                    bases = self.in_flight.setdefault(origin, Counter())
                    bases[base_path] += 1
                    self.peak_bases[origin] = max(self.peak_bases.get(origin, 0), len(bases))
                    try:
                        await asyncio.sleep(self.delay)
                    finally:
                        bases[base_path] -= 1
                        if bases[base_path] <= 0:
                            del bases[base_path]
                self.stats.count(base_path)
                head = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}", f"Content-Length: {len(body)}"]
                head += [f"{k}: {v}" for k, v in headers.items()]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (b"" if method == "HEAD" else body))
                await writer.drain()
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def start(self) -> ManyEndpoints:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            for n in range(self.ports):
                origin: list[str] = []

                def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, origin: list[str] = origin):
                    return self._serve(reader, writer, origin[0])

                port = self.port + n if self.port else 0
                server = loop.run_until_complete(asyncio.start_server(handler, "127.0.0.1", port, backlog=1024))
                origin.append(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
                self._servers.append(server)
                self.origins.append(origin[0])
            self.origin = self.origins[0]
            ready.set()
            loop.run_forever()
            for server in self._servers:
                server.close()
                loop.run_until_complete(server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=run, name="many-endpoints", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("many-endpoints server did not start")
        return self

    def stop(self) -> None:
        """Stop serving (idempotent: a test may stop a server before its context ends)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._loop = self._thread = None


@contextlib.contextmanager
def serve_many(
    variants: tuple[str, ...] = VARIANTS, port: int = 0, ports: int = 1, delay: float = 0.0
) -> Iterator[ManyEndpoints]:
    server = ManyEndpoints(variants, port, ports, delay).start()
    try:
        yield server
    finally:
        server.stop()


def rewrite_bundle(bundle: dict[str, Any], origin: str) -> dict[str, Any]:
    """A copy of an Endpoint Bundle whose addresses all point at `origin`, keeping each original
    host and path as the base path (https://fhir.kp.org/x/R4/ -> origin/fhir.kp.org/x/R4/)."""
    out = json.loads(json.dumps(bundle))
    for entry in out.get("entry") or []:
        res = entry.get("resource") or {}
        if res.get("resourceType") == "Endpoint" and res.get("address"):
            parts = urlsplit(res["address"])
            res["address"] = f"{origin}/{parts.netloc}{parts.path}"
    return out


def main() -> None:  # pragma: no cover - a tool for benchmarks and manual runs
    import argparse
    import signal

    parser = argparse.ArgumentParser(description="Serve many FHIR endpoints on 127.0.0.1 until interrupted.")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--list", help="write the endpoint URLs here, one per line")
    parser.add_argument("--ports", type=int, default=1, help="listen on this many loopback ports, endpoints spread over them")
    args = parser.parse_args()
    server = ManyEndpoints(ports=args.ports).start()
    if args.list:
        with open(args.list, "w", encoding="utf-8") as fh:
            fh.writelines(server.url(i) + "\n" for i in range(args.count))
    print(server.origin, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    server.stop()


if __name__ == "__main__":  # pragma: no cover
    main()
