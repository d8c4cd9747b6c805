"""`ehrcheck demo`: audit three fictional vendors served from recorded responses on 127.0.0.1.

Each vendor is a folder under `data_dir("vendors")` (`examples/vendors/` in a checkout,
`ehrcheck/_data/vendors/` in the wheel) holding a `vendor.yaml` and the response bodies it names:

    name, product, description        what the report and index call it
    base_path: /fhir/r4               where its FHIR base lives on the demo server (default /fhir)
    tls: {min_version: TLSv1 | TLSv1_2, hsts: "max-age=..." | null}
    not_found: {status, headers, body}   optional answer for unknown addresses
    routes: [{method, path, status, headers, body}]
    chpl: {product_numbers: [...], api: /chpl/rest}   optional: its CHPL listing, looked up at
                                         that path of its own server (recorded in its routes)

A route's `path` is relative to the FHIR base (`metadata`, `Patient?_count=1`) or, starting with
`/`, to the server root (`/auth/.well-known/openid-configuration`). A request matches on method and
path + query first, then on path alone; anything else gets a 404 OperationOutcome (or the vendor's
`not_found`). `{{BASE}}` (the FHIR base URL) and `{{ORIGIN}}` (`https://127.0.0.1:<port>`) in bodies
and header values are substituted when the server starts, so every URL a probe may follow points
back at the same loopback server.

Each vendor gets its own HTTPS server on an ephemeral port, bound to 127.0.0.1 only, with a
certificate from a CA that exists only for this run (`tls_ca`). The audit is the real one: the
same probes, rules, scoring and renderers as `ehrcheck audit`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import re
import socket
import ssl
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import yaml

from ehrcheck import __version__
from ehrcheck.claims.load import example_claims
from ehrcheck.engine.scorecard import score_evidence
from ehrcheck.files.store import evidence_text, write_output
from ehrcheck.http.client import HttpOptions
from ehrcheck.http.tls_ca import EphemeralCA, ServerTLS, normalise_min_version
from ehrcheck.models import Evidence
from ehrcheck.probes.certification.chpl_number import parse_product_number
from ehrcheck.probes.certification.inputs import CertificationInputs, certification_inputs
from ehrcheck.probes.runner import collect
from ehrcheck.render import DEFAULT_FORMATS, RENDERERS
from ehrcheck.render.labels import score_text
from ehrcheck.render.templates import environment
from ehrcheck.resources import data_dir

if TYPE_CHECKING:
    from rich.console import Console

LOOPBACK = "127.0.0.1"
PLACEHOLDERS = ("BASE", "ORIGIN")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]+)\s*\}\}")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
AUDIT_TIMEOUT = 5.0
CONNECTION_TIMEOUT = 10.0  # a stalled client never holds a server thread longer than this

NOT_FOUND_BODY = (
    json.dumps(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "not-found", "diagnostics": "No resource or operation at this address."}],
        },
        indent=2,
    )
    + "\n"
).encode()


# --------------------------------------------------------------------------- vendor data


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # relative to the FHIR base, or absolute from the server root when it starts with "/"
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""  # raw, placeholders not yet substituted
    body_file: str | None = None


@dataclass(frozen=True)
class TLSSpec:
    min_version: str = "TLSv1_2"
    hsts: str | None = None


@dataclass(frozen=True)
class VendorSpec:
    slug: str
    name: str
    product: str
    description: str
    base_path: str
    tls: TLSSpec
    routes: tuple[Route, ...]
    not_found: Route | None = None
    chpl_numbers: tuple[str, ...] = ()
    chpl_api: str = "/chpl/rest"


def _fail(where: Path, message: str) -> ValueError:
    return ValueError(f"{where}: {message}")


def _check_placeholders(text: bytes, where: Path) -> None:
    decoded = text.decode("utf-8", errors="replace")
    unknown = sorted({m.group(1) for m in _PLACEHOLDER.finditer(decoded) if m.group(1) not in PLACEHOLDERS})
    if unknown:
        raise _fail(
            where, f"unknown placeholder(s) {', '.join('{{' + u + '}}' for u in unknown)}; known: {{{{BASE}}}}, {{{{ORIGIN}}}}"
        )
    if "{{" in _PLACEHOLDER.sub("", decoded):
        raise _fail(where, "a '{{' that is not a {{BASE}} or {{ORIGIN}} placeholder")


def _route(raw: Any, directory: Path, where: Path, index: str) -> Route:
    if not isinstance(raw, dict):
        raise _fail(where, f"{index} must be a mapping")
    method = str(raw.get("method", "GET")).upper()
    if method not in METHODS:
        raise _fail(where, f"{index}: unsupported method '{method}'")
    path = str(raw.get("path", "")).strip()
    if index != "not_found" and not path:
        raise _fail(where, f"{index}: a route needs a path")
    try:
        status = int(raw.get("status", 200))
    except (TypeError, ValueError):
        raise _fail(where, f"{index}: status must be an HTTP status code") from None
    if not 100 <= status <= 599:
        raise _fail(where, f"{index}: status {status} is not an HTTP status code")
    headers_raw = raw.get("headers") or {}
    if not isinstance(headers_raw, dict):
        raise _fail(where, f"{index}: headers must be a mapping")
    headers = tuple((str(k), str(v)) for k, v in headers_raw.items())
    for _k, v in headers:
        _check_placeholders(v.encode(), where)
    body_file = raw.get("body")
    body = b""
    if body_file is not None:
        body_path = (directory / str(body_file)).resolve()
        if directory.resolve() not in body_path.parents:
            raise _fail(where, f"{index}: body '{body_file}' is outside the vendor folder")
        if not body_path.is_file():
            raise _fail(where, f"{index}: body file '{body_file}' does not exist")
        body = body_path.read_bytes()
        _check_placeholders(body, body_path)
    return Route(method=method, path=path, status=status, headers=headers, body=body, body_file=body_file)


def load_vendor(directory: Path) -> VendorSpec:
    """Read and check one vendor folder; errors name the file and the problem."""
    where = directory / "vendor.yaml"
    try:
        raw = yaml.safe_load(where.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise _fail(where, f"cannot be read: {exc}") from None
    if not isinstance(raw, dict):
        raise _fail(where, "must be a mapping")
    for key in ("name", "product", "description"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise _fail(where, f"'{key}' is required")
    tls_raw = raw.get("tls") or {}
    if not isinstance(tls_raw, dict):
        raise _fail(where, "'tls' must be a mapping")
    try:
        min_version = normalise_min_version(tls_raw.get("min_version", "TLSv1_2"))
    except ValueError as exc:
        raise _fail(where, str(exc)) from None
    hsts = tls_raw.get("hsts")
    base_path = "/" + str(raw.get("base_path", "/fhir")).strip().strip("/")
    routes_raw = raw.get("routes")
    if not isinstance(routes_raw, list) or not routes_raw:
        raise _fail(where, "'routes' must be a non-empty list")
    routes = tuple(_route(r, directory, where, f"routes[{i}]") for i, r in enumerate(routes_raw))
    not_found = _route(raw["not_found"], directory, where, "not_found") if raw.get("not_found") else None
    chpl_numbers, chpl_api = _chpl(raw.get("chpl"), where)
    return VendorSpec(
        slug=directory.name,
        name=raw["name"].strip(),
        product=raw["product"].strip(),
        description=" ".join(raw["description"].split()),
        base_path=base_path.rstrip("/") or "/fhir",
        tls=TLSSpec(min_version=min_version, hsts=str(hsts) if hsts else None),
        routes=routes,
        not_found=not_found,
        chpl_numbers=chpl_numbers,
        chpl_api=chpl_api,
    )


def _chpl(raw: Any, where: Path) -> tuple[tuple[str, ...], str]:
    """The vendor's CHPL listing numbers and where on its own server the recorded CHPL answers."""
    if raw is None:
        return (), "/chpl/rest"
    if not isinstance(raw, dict) or not isinstance(raw.get("product_numbers"), list):
        raise _fail(where, "'chpl' must be a mapping with a list of product_numbers")
    numbers = []
    for value in raw["product_numbers"]:
        try:
            numbers.append(str(parse_product_number(str(value))))
        except ValueError as exc:
            raise _fail(where, f"chpl.product_numbers: {exc}") from None
    api = str(raw.get("api", "/chpl/rest"))
    if not api.startswith("/"):
        raise _fail(where, "chpl.api must be a path on the vendor's server, starting with /")
    return tuple(numbers), api.rstrip("/")


def load_vendors(root: Path | None = None) -> list[VendorSpec]:
    """Every vendor folder (one holding a vendor.yaml) under `root`, in slug order."""
    root = data_dir("vendors") if root is None else root
    folders = sorted(p for p in root.iterdir() if p.is_dir() and (p / "vendor.yaml").is_file())
    if not folders:
        raise FileNotFoundError(f"no demo vendors found in {root}")
    return [load_vendor(p) for p in folders]


# --------------------------------------------------------------------------- serving


def _split_target(target: str) -> tuple[str, str]:
    parts = urlsplit(target)
    return unquote(parts.path) or "/", unquote(parts.query)


def _key(path: str) -> tuple[str, str]:
    """A route path as (path, query), both percent-decoded; the path without a trailing slash."""
    path, _, query = path.partition("?")
    path = unquote(path)
    return (path.rstrip("/") or "/", unquote(query))


class VendorApp:
    """The pure half of a vendor server: (method, request target) -> (status, headers, body)."""

    def __init__(self, spec: VendorSpec, origin: str):
        self.spec = spec
        self.origin = origin.rstrip("/")
        self.base_url = self.origin + spec.base_path
        self._subs = {"BASE": self.base_url, "ORIGIN": self.origin}
        self._routes: dict[tuple[str, str, str], tuple[int, list[tuple[str, str]], bytes]] = {}
        for route in spec.routes:
            path = route.path if route.path.startswith("/") else f"{spec.base_path}/{route.path}"
            p, q = _key(path)
            self._routes.setdefault((route.method, p, q), self._render(route))
        if spec.not_found is not None:
            self._not_found = self._render(spec.not_found)
        else:
            self._not_found = (404, self._with_hsts([("Content-Type", "application/fhir+json; charset=utf-8")]), NOT_FOUND_BODY)

    def substitute(self, text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: self._subs[m.group(1)], text)

    def _with_hsts(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        if self.spec.tls.hsts and not any(k.lower() == "strict-transport-security" for k, _ in headers):
            headers.append(("Strict-Transport-Security", self.spec.tls.hsts))
        return headers

    def _render(self, route: Route) -> tuple[int, list[tuple[str, str]], bytes]:
        headers = [(k, self.substitute(v)) for k, v in route.headers if k.lower() != "content-length"]
        body = self.substitute(route.body.decode("utf-8")).encode("utf-8") if route.body else b""
        if b"{{" in body or any("{{" in v for _, v in headers):  # load_vendor already refuses these
            raise ValueError(f"{self.spec.slug}: unsubstituted placeholder in the response to {route.path}")
        return route.status, self._with_hsts(headers), body

    def respond(self, method: str, target: str) -> tuple[int, list[tuple[str, str]], bytes]:
        path, query = _split_target(target)
        path = path.rstrip("/") or "/"
        lookup = "GET" if method == "HEAD" else method
        if query and (lookup, path, query) in self._routes:
            return self._routes[(lookup, path, query)]
        if (lookup, path, "") in self._routes:
            return self._routes[(lookup, path, "")]
        return self._not_found


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ehrcheck-demo"
    sys_version = ""
    timeout = CONNECTION_TIMEOUT
    server: _VendorServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: the audit's own exchanges are the record

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 1 << 20))
        app = self.server.app
        assert app is not None  # run() sets it before the server starts serving
        status, headers, body = app.respond(self.command, self.path)
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch


class _VendorServer(ThreadingHTTPServer):
    """HTTPS on 127.0.0.1; the TLS handshake runs in the connection's own thread, so a client
    that stalls or that the server refuses (a TLS 1.0 probe) never blocks accepting others."""

    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, ssl_context: ssl.SSLContext):
        self.ssl_context = ssl_context
        self.app: VendorApp | None = None
        super().__init__((LOOPBACK, 0), _Handler)

    def finish_request(self, request: socket.socket, client_address: Any) -> None:  # type: ignore[override]
        request.settimeout(CONNECTION_TIMEOUT)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # a refused or abandoned handshake: exactly what some probes test
        try:
            _Handler(tls, client_address, self)
        except (ssl.SSLError, OSError):
            pass  # the client went away mid-connection
        finally:
            with contextlib.suppress(OSError):
                tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # quiet: nothing a demo server sees is worth a traceback on the user's terminal


@dataclass
class RunningVendor:
    """A vendor being served: its data, FHIR base URL and a client context that trusts its CA."""

    spec: VendorSpec
    base_url: str
    origin: str
    client_context: ssl.SSLContext
    server_tls: ServerTLS
    app: VendorApp = field(repr=False)

    @property
    def slug(self) -> str:
        return self.spec.slug

    @property
    def tls_note(self) -> str | None:
        return self.server_tls.note


@contextlib.contextmanager
def serve_vendors(vendors: Iterable[VendorSpec] | None = None) -> Iterator[list[RunningVendor]]:
    """Serve each vendor on its own loopback HTTPS port for the duration of the block."""
    specs = load_vendors() if vendors is None else list(vendors)
    ca = EphemeralCA()
    started: list[tuple[_VendorServer, threading.Thread]] = []
    running: list[RunningVendor] = []
    try:
        for spec in specs:
            server_tls = ca.server_context(spec.tls.min_version, organization=spec.name)
            server = _VendorServer(server_tls.context)
            origin = f"https://{LOOPBACK}:{server.server_address[1]}"
            server.app = VendorApp(spec, origin)
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"ehrcheck-demo-{spec.slug}",
                daemon=True,
            )
            started.append((server, thread))
            thread.start()
            running.append(
                RunningVendor(
                    spec=spec,
                    base_url=server.app.base_url,
                    origin=origin,
                    client_context=ca.client_context(),
                    server_tls=server_tls,
                    app=server.app,
                )
            )
        yield running
    finally:
        for server, thread in started:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


# --------------------------------------------------------------------------- the demo run


@dataclass(frozen=True)
class DemoResult:
    """One audited demo vendor. `paths` lists the files written (reports in the order of the
    formats asked for, then evidence.json); `files` names them by format (and "evidence")."""

    slug: str
    name: str
    product: str
    verdict_level: str
    verdict_label: str
    score: float | None
    score_low: float
    score_high: float
    files: dict[str, Path]

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(self.files.values())

    @property
    def score_text(self) -> str:
        return score_text(self.score, self.score_low, self.score_high)


def _check_formats(formats: Sequence[str]) -> list[str]:
    chosen = list(dict.fromkeys(str(f).strip().lower() for f in formats))
    unknown = [f for f in chosen if f not in RENDERERS]
    if unknown or not chosen:
        raise ValueError(f"unknown report format(s): {', '.join(unknown) or '(none given)'}; known: {', '.join(RENDERERS)}")
    return chosen


def demo_paths(out_dir: Path, formats: Sequence[str]) -> list[Path]:
    """Every file `run_demo(out_dir, formats)` writes, so the caller can refuse, before the demo
    runs, to replace one that ehrcheck did not write (the user's own index.md)."""
    chosen = _check_formats(formats)
    names = [RENDERERS[f].filename for f in chosen] + ["evidence.json"]
    return [out_dir / "index.md"] + [out_dir / spec.slug / name for spec in load_vendors() for name in names]


def _prepare_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"the output folder {out_dir} exists but is not a folder; choose another path")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ValueError(f"cannot create the output folder {out_dir}: part of that path is a file") from None
    except OSError as exc:  # the CLI checked first; a library caller, or a race, still gets a message
        raise ValueError(f"cannot create the output folder {out_dir}: {exc.strerror or exc}") from None


def _run_async(coro_factory: Any) -> Any:
    """asyncio.run, also from inside a running event loop (then in a helper thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_factory())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(coro_factory())).result()


def _certification(rv: RunningVendor) -> CertificationInputs:
    """A vendor with a recorded CHPL listing is looked up on its own server; the key is a
    placeholder that server ignores (it is not a CHPL key, and is never recorded either)."""
    if not rv.spec.chpl_numbers:
        return CertificationInputs()
    return certification_inputs(
        chpl_ids=list(rv.spec.chpl_numbers), chpl_url=rv.origin + rv.spec.chpl_api, environ={"CHPL_API_KEY": "ehrcheck-demo"}
    )


async def _collect_all(running: list[RunningVendor]) -> list[Evidence]:
    async def one(rv: RunningVendor) -> Evidence:
        cert = _certification(rv)
        options = HttpOptions(verify=rv.client_context, timeout=AUDIT_TIMEOUT, trust_env=False)
        return await collect(rv.base_url, options, None, rv.spec.name, extra_probes=cert.probes, settings=cert.settings)

    return list(await asyncio.gather(*(one(rv) for rv in running)))


# How index.md names each file a vendor got.
FILE_LABELS = {"html": "HTML", "md": "Markdown", "json": "JSON", "evidence": "evidence"}


def render_index(results: list[DemoResult], specs: dict[str, VendorSpec], verdicts: dict[str, str]) -> str:
    template = environment().get_template("demo-index.md.j2")
    return template.render(results=results, specs=specs, verdicts=verdicts, version=__version__, FILE_LABELS=FILE_LABELS)


def run_demo(
    out_dir: Path,
    formats: Sequence[str] = DEFAULT_FORMATS,
    console: Console | None = None,
) -> list[DemoResult]:
    """Serve the demo vendors on loopback, audit each, and write its reports and evidence.

    Writes `out_dir/<slug>/report.<ext>` per format, `out_dir/<slug>/evidence.json` and
    `out_dir/index.md`. Raises ValueError for an unusable output folder or an unknown format.
    """
    out_dir = Path(out_dir)
    chosen = _check_formats(formats)
    _prepare_out_dir(out_dir)
    specs = load_vendors()

    def say(message: str) -> None:
        if console is not None:
            from ehrcheck.inert import terminal

            console.print(terminal(message), highlight=False)

    with serve_vendors(specs) as running:
        say(f"Serving {len(running)} fictional vendors from recorded responses on {LOOPBACK} …")
        for rv in running:
            if rv.tls_note:
                say(f"[yellow]note[/yellow] {_escape(rv.spec.name)}: {_escape(rv.tls_note)}")
        evidences = _run_async(lambda: _collect_all(running))

    results: list[DemoResult] = []
    verdicts: dict[str, str] = {}
    for spec, evidence in zip(specs, evidences, strict=True):
        evidence.claims = example_claims(spec.slug)  # examples/claims/<slug>.yaml, when there is one
        run = score_evidence(evidence)
        vendor_dir = out_dir / spec.slug
        vendor_dir.mkdir(parents=True, exist_ok=True)
        paths: dict[str, Path] = {}
        for fmt in chosen:
            renderer = RENDERERS[fmt]
            path = vendor_dir / renderer.filename
            write_output(path, renderer.fn(run))
            paths[fmt] = path
        evidence_path = vendor_dir / "evidence.json"
        write_output(evidence_path, evidence_text(evidence))
        paths["evidence"] = evidence_path
        result = DemoResult(
            slug=spec.slug,
            name=spec.name,
            product=spec.product,
            verdict_level=run.verdict.level,
            verdict_label=run.verdict.label,
            score=run.overall.score,
            score_low=run.overall.low,
            score_high=run.overall.high,
            files=paths,
        )
        verdicts[spec.slug] = run.verdict.sentence
        results.append(result)
        say(f"  audited {_escape(spec.name)}: {_escape(result.verdict_label)}, score {result.score_text}")

    write_output(out_dir / "index.md", render_index(results, {s.slug: s for s in specs}, verdicts))
    return results


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
