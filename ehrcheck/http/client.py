"""The one HTTP client the probes share, with bounded retries and exchange recording.

Probes never build their own client: `Fetcher` owns the `httpx.AsyncClient`, applies the retry
policy (connect errors; 429/503 honouring Retry-After up to a cap) and records every exchange,
redacted, into the probe's attempt.

A hostile server cannot hang, exhaust or fool it: every request has one deadline for everything
from connect to last byte (so a body dripped a byte at a time still ends), bodies are capped
after decompression (so a gzip bomb stops at the cap, one bounded chunk at a time), redirects
never downgrade https to http and never carry credentials to another origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import ssl
import time
import urllib.request
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import httpx

from ehrcheck import __version__
from ehrcheck.http.redact import REDACTED, SECRET_HEADERS, Secrets, redact_headers, redact_url, scrub_url
from ehrcheck.http.tunnel import proxy_for
from ehrcheck.models import Exchange

T = TypeVar("T")

if TYPE_CHECKING:
    from ehrcheck.http.lean import LeanTransport

USER_AGENT = f"ehrcheck/{__version__} (+https://github.com/ehrcheck/ehrcheck)"
MAX_BODY_BYTES = 20 * 1024 * 1024  # a CapabilityStatement over 20 MB is a finding, not a read
# We decode these ourselves, bounded; anything else a server sends unasked is refused.
ACCEPT_ENCODING = "gzip, deflate"
REDIRECTS = (301, 302, 303, 307, 308)
PIECE_BYTES = 256 * 1024  # decoded bytes handed on at a time: a bomb's chunk inflates piece by piece
MEMO_ENTRIES = 64  # parsed URLs and merged header sets a Fetcher keeps (one audit asks for a dozen)
SHARED_KEEPALIVE = 1.0  # seconds a scan's shared connection may stay idle (see shared_transport)

log = logging.getLogger("ehrcheck.http.client")


@dataclass(frozen=True)
class HttpOptions:
    timeout: float = 10.0  # seconds for a whole request: connect, headers and the full body
    retries: int = 2
    retry_after_cap: float = 5.0
    backoff: float = 0.25
    verify: ssl.SSLContext | bool | str = True
    max_body_bytes: int = MAX_BODY_BYTES
    trust_env: bool = True  # honour HTTPS_PROXY etc.; the demo turns it off for its loopback vendors


def ssl_context(verify: ssl.SSLContext | bool | str) -> ssl.SSLContext:
    """The context `verify` stands for: itself, a CA bundle's path, or (True/False) the system's
    store. A process that cannot be handed a context (a scan's worker) builds its own from this."""
    if isinstance(verify, ssl.SSLContext):
        return verify
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return ssl.create_default_context()


def uses_proxy(options: HttpOptions) -> bool:
    """Does a proxy variable apply? Then httpx's own transport is used, which honours it.
    (Reading the variables decodes the whole environment: ~0.1 ms, once per scan, not per audit.)"""
    return bool(options.trust_env and urllib.request.getproxies_environment())


def lean_ssl_context(options: HttpOptions) -> ssl.SSLContext:
    """The context httpx would build from `verify` (certifi, or SSL_CERT_FILE/DIR with trust_env)."""
    return httpx.create_ssl_context(verify=options.verify, trust_env=options.trust_env)


def shared_transport(options: HttpOptions, max_idle: int) -> LeanTransport | None:
    """Connections for many audits of one scan to share, so consecutive audits of endpoints on
    one host:port reuse kept-alive connections (and over HTTPS skip their handshakes) instead of
    opening ~3 each. None when a proxy applies (each Fetcher then uses httpx's own transport).
    Kept alive only SHARED_KEEPALIVE seconds: a connection idle longer may meet a server's own
    idle close as it is reused (a failed request that a fresh connection would not have had);
    a busy scan reuses within milliseconds. The caller closes it (`aclose`) when done."""
    if uses_proxy(options):
        return None
    from ehrcheck.http.lean import LeanTransport

    return LeanTransport(functools.partial(lean_ssl_context, options), max_idle=max_idle, keepalive=SHARED_KEEPALIVE)


@dataclass
class Response:
    """A fully read response, small enough to keep in memory."""

    status: int
    headers: httpx.Headers
    content: bytes
    url: str
    elapsed_ms: float
    truncated: bool = False
    refused_redirect: str | None = None  # why a 3xx was returned instead of followed

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclass
class Recorder:
    """Collects the exchanges of one probe."""

    exchanges: list[Exchange] = field(default_factory=list)

    def add(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)

    def fork(self) -> Recorder:
        """A recorder that treats exchanges as this one does (scrubbing included), into a list of
        its own: what each of several concurrent calls records (see gather_recorded)."""
        return Recorder()


class RedirectedRecorder(Recorder):
    """Records the requests a redirect led to. Their URL is the server's `Location`, which may
    name a patient (`/metadata` -> `/Patient/123?birthdate=...`) on any request, the anonymous
    probes' too: it is scrubbed as that header is (redact.scrub_url), then recorded by `inner`."""

    def __init__(self, inner: Recorder):
        super().__init__()
        self.inner = inner
        self.exchanges = inner.exchanges  # one list: the caller reads what `inner` kept

    def add(self, exchange: Exchange) -> None:
        try:
            url = scrub_url(exchange.url)
        except ValueError:  # not a URL urlsplit accepts: nothing of it is kept
            url = REDACTED
        self.inner.add(exchange.model_copy(update={"url": url}))

    def fork(self) -> Recorder:
        return RedirectedRecorder(self.inner.fork())


async def gather_recorded(recorder: Recorder, calls: Sequence[Callable[[Recorder], Awaitable[T]]]) -> list[T]:
    """Run `calls` concurrently, each recording into a fork of `recorder` (scrubbed as it
    scrubs, so a --debug line quoting the last exchange is as clean as the evidence); their
    exchanges reach `recorder` in the calls' order, not in the order the answers came, so two runs
    against the same server record the same requests in the same order (evidence files compare
    cleanly). Exchanges of calls cut short (a probe's time budget) are kept too."""
    own = [recorder.fork() for _ in calls]
    try:
        return list(await asyncio.gather(*(call(rec) for call, rec in zip(calls, own, strict=True))))
    finally:
        for rec in own:
            recorder.exchanges.extend(rec.exchanges)  # already treated by the fork


def redirected(recorder: Recorder) -> Recorder:
    return recorder if isinstance(recorder, RedirectedRecorder) else RedirectedRecorder(recorder)


class FetchError(Exception):
    """A request that produced no HTTP response at all; `kind` is machine-readable."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 10:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    return chain


def classify_error(exc: BaseException) -> tuple[str, str]:
    """Map an httpx/ssl exception to (kind, one-line reason) without leaking internals."""
    if isinstance(exc, FetchError):
        return exc.kind, str(exc)
    # Not shortened here: a secret cut in half could not be scrubbed. Callers scrub, then shorten.
    text = re.sub(r"\s*\(_ssl\.c:\d+\)", "", str(exc)) or exc.__class__.__name__
    if isinstance(exc, httpx.InvalidURL):  # a server named an address with a control character, say
        return "url", "the server named an address that is not a valid URL (value not shown)"
    if "Illegal header" in text or isinstance(exc, UnicodeEncodeError):
        # h11 quotes the value as a bytes repr (`b'Bearer to\\x00k'`), a form no scrubber matches:
        # a header ehrcheck was to send (a server-issued token, say) held a character HTTP forbids.
        return "request", "a header ehrcheck was to send holds a character HTTP does not allow (value not shown)"
    if isinstance(exc, httpx.ConnectTimeout):
        return "timeout", "connection timed out"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout", "timed out waiting for the server"
    if isinstance(exc, TimeoutError):  # our own whole-request deadline
        return (
            "timeout",
            "timed out: no complete answer within the time limit (--timeout); the server stalled or answered too slowly",
        )
    if isinstance(exc, httpx.ProxyError):
        return "proxy", f"the proxy refused or failed the connection: {text}"
    if isinstance(exc, httpx.ConnectError):
        low = text.lower()
        if "network is unreachable" in low or "no route to host" in low:
            return "offline", f"no network route from this machine: {text}"
        if "certificate verify failed" in low:
            return "tls", f"TLS handshake failed: {text} (a private CA can be trusted with --ca-bundle)"
        if "certificate" in low or "ssl" in low or "tls" in low:
            return "tls", f"TLS handshake failed: {text}"
        if any(
            c.__class__.__name__ in ("EndOfStream", "BrokenResourceError", "SSLEOFError", "HandshakeEndOfStream")
            for c in _causes(exc)
        ):
            return "tls", "TLS handshake failed: the server closed the connection (it may speak only old TLS versions)"
        if any(
            m in low
            for m in (
                "name or service not known",
                "nodename nor servname",
                "getaddrinfo",
                "temporary failure in name resolution",
                "no address associated",
            )
        ):
            return "dns", f"host name could not be resolved: {text}"
        if "refused" in low or "all connection attempts failed" in low:
            return "connection_refused", "connection refused"
        return "connect", f"could not connect: {text}"
    if isinstance(exc, httpx.TooManyRedirects):
        return "redirects", "too many redirects"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "protocol", f"the server broke the HTTP protocol: {text}"
    if isinstance(exc, httpx.HTTPError):
        return "http", text
    return "error", text


def _origin(url: str) -> tuple[str, str, int | None]:
    u = httpx.URL(url)
    return u.scheme, u.host, u.port or {"http": 80, "https": 443}.get(u.scheme)


def without_credentials(headers: dict[str, str]) -> dict[str, str]:
    """The headers minus every one that carries a credential (any spelling of Authorization,
    cookies, API keys): what may follow a redirect to another origin."""
    return {k: v for k, v in headers.items() if k.lower() not in SECRET_HEADERS}


class BoundedDecoder:
    """Content-Encoding decoding that never produces more than it is asked for.

    httpx inflates each network chunk whole, and follows `Content-Encoding: gzip, gzip` through
    every layer, so one 64 KB chunk of a bomb can become gigabytes before any cap is checked.
    Here each chunk is inflated with zlib's `max_length`, a piece at a time, so memory stays
    within one piece (streamed bodies) or the cap (buffered ones)."""

    def __init__(self, header: str):
        codings = [c.strip().lower() for c in header.split(",") if c.strip() and c.strip().lower() != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise FetchError("encoding", f"the server used Content-Encoding '{header[:60]}', which ehrcheck did not ask for")
        self.coding = codings[0] if codings else None
        wbits = zlib.MAX_WBITS | 16 if self.coding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._z = zlib.decompressobj(wbits)
        self._first = True

    def feed(self, data: bytes, room: int) -> bytes:
        """Decode `data` after any input held back last time, returning at most `room` bytes
        (> 0). Input not decoded yet is held for the next call: call again with b"" while the
        answer fills `room` (what a bomb does), or stop reading there."""
        if self.coding is None:
            return data
        data = self._z.unconsumed_tail + data
        if not data:
            return b""
        try:
            try:
                return self._z.decompress(data, room)
            except zlib.error:
                if not (self._first and self.coding == "deflate"):
                    raise
                # "deflate" is meant to be zlib-wrapped, but some servers send raw deflate.
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                return self._z.decompress(data, room)
            finally:
                self._first = False
        except zlib.error:
            raise FetchError("encoding", f"the body's {self.coding} encoding is corrupt") from None


class BoundedBody:
    """A response body read the one safe way, for the buffered and the streamed path alike:
    decoded by `BoundedDecoder`, stopped once more than `cap` bytes come out, and every read
    within `deadline` (event-loop time), so a body dripped a byte at a time still ends."""

    def __init__(self, response: httpx.Response, cap: int, deadline: float):
        self._response = response
        self._cap = cap
        self._deadline = deadline
        self.size = 0  # decoded bytes handed out
        self.truncated = False

    async def chunks(self) -> AsyncIterator[bytes]:
        decoder = BoundedDecoder(self._response.headers.get("content-encoding", ""))
        raw = self._response.aiter_raw()
        while True:
            async with asyncio.timeout_at(self._deadline):
                try:
                    data = await anext(raw)
                except StopAsyncIteration:
                    return
            while True:  # one network chunk may inflate to many pieces
                want = min(PIECE_BYTES, self._cap - self.size + 1)
                piece = decoder.feed(data, want)
                data = b""
                if self.size + len(piece) > self._cap:
                    self.truncated = True
                    piece = piece[: self._cap - self.size]
                self.size += len(piece)
                if piece:
                    yield piece
                if self.truncated:
                    return
                if len(piece) < want or decoder.coding is None:
                    break


@dataclass(frozen=True)
class Hop:
    """Where a redirect leads, the headers that may go there, and why not to go (or None)."""

    url: str
    headers: dict[str, str]
    refused: str | None = None


def next_hop(current: str, location: str, headers: dict[str, str]) -> Hop:
    """The redirect rules both paths share: never an https->http downgrade, no credential header
    (any spelling) to another origin (scheme, host and port), and no user-info from the `Location`
    itself (httpx would send it as Basic credentials: ehrcheck sends only credentials it was given)."""
    try:
        joined = httpx.URL(current).join(location)
        if joined.userinfo:
            joined = joined.copy_with(username=None, password=None)
        nxt = str(joined)
    except httpx.InvalidURL:
        raise FetchError("redirects", "the server redirected to an invalid URL") from None
    if _origin(current)[0] == "https" and _origin(nxt)[0] == "http":
        return Hop(nxt, headers, "refused to follow a redirect from https:// to http://")
    if _origin(nxt) != _origin(current):
        headers = without_credentials(headers)
    return Hop(nxt, headers)


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # HTTP-date form: treat as "no usable hint"


class Fetcher:
    """Shared async HTTP access for all probes of one audit."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        options: HttpOptions,
        secrets: Secrets | None = None,
        lean: LeanTransport | None = None,
    ):
        self.client = client
        self.options = options
        # Every credential this fetcher sends is remembered here, so that it can be scrubbed from
        # whatever a server echoes back (see redact.Secrets).
        self.secrets = secrets if secrets is not None else Secrets()
        # `lean`: the client's own transport (lean.py), sent to directly (see `_build`, `_send`).
        self._lean = lean
        self._timeout = client.timeout.as_dict()
        self._urls: dict[str, httpx.URL] = {}
        self._headers: dict[tuple[tuple[str, str], ...], httpx.Headers] = {}
        self._userinfo: tuple[tuple[str, str, int | None], bytes] | None = None  # see allow_userinfo

    @classmethod
    def create(cls, options: HttpOptions, secrets: Secrets | None = None, shared: LeanTransport | None = None) -> Fetcher:
        """`shared`: connections the caller owns and keeps open across fetchers (`shared_transport`,
        which gives none when a proxy applies); closing this fetcher then leaves them open."""
        transport: LeanTransport | None = None
        client_transport: httpx.AsyncBaseTransport | None = None
        if shared is not None:  # shared_transport checked the proxy variables once for all its fetchers
            from ehrcheck.http.lean import Borrowed

            transport, client_transport = shared, Borrowed(shared)
        # httpx reads proxy variables only for its own transport: with one set, it keeps that.
        elif not uses_proxy(options):
            from ehrcheck.http.lean import LeanTransport

            # the context is made when the first https connection needs it (lean_ssl_context)
            transport = client_transport = LeanTransport(functools.partial(lean_ssl_context, options))
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(options.timeout),
            verify=options.verify,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING},
            trust_env=options.trust_env,
            transport=client_transport,
        )
        from ehrcheck.http.cookies import OriginCookiePolicy

        client.cookies.jar.set_policy(OriginCookiePolicy())
        return cls(client, options, secrets, lean=transport)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def get(
        self,
        url: str,
        recorder: Recorder,
        headers: dict[str, str] | None = None,
        follow_redirects: bool = True,
    ) -> Response:
        """GET with retries; follows up to 5 redirects by hand, never an https->http downgrade."""
        return await self.request("GET", url, recorder, headers, follow_redirects)

    async def request(
        self,
        method: str,
        url: str,
        recorder: Recorder,
        headers: dict[str, str] | None = None,
        follow_redirects: bool = True,
        form: dict[str, str] | None = None,
        retry: bool = True,
    ) -> Response:
        """`form` is sent as an urlencoded body and never recorded: token requests carry
        client secrets and signed assertions. `retry=False` sends exactly once (a retried
        assertion would be a replayed `jti`); a request with a form never follows redirects."""
        if form is not None:
            return await self._send_with_retries(method, url, recorder, headers or {}, form, retry)
        current = url
        for _hop in range(6):
            resp = await self._send_with_retries(method, current, recorder, headers or {}, None, retry)
            if follow_redirects and resp.status in REDIRECTS and "location" in resp.headers:
                hop = next_hop(current, resp.headers["location"], headers or {})
                if hop.refused:
                    resp.refused_redirect = hop.refused  # the caller sees the 3xx and why it stopped there
                    return resp
                current, headers = hop.url, hop.headers
                recorder = redirected(recorder)
                continue
            return resp
        raise FetchError("redirects", "too many redirects")

    async def _send_with_retries(
        self,
        method: str,
        url: str,
        recorder: Recorder,
        headers: dict[str, str],
        form: dict[str, str] | None = None,
        retry: bool = True,
    ) -> Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = await self._send_once(method, url, recorder, headers, form)
            except FetchError as exc:
                if retry and exc.kind in ("connection_refused", "connect") and attempt <= self.options.retries:
                    await asyncio.sleep(self.options.backoff * attempt)
                    continue
                raise
            if retry and resp.status in (429, 503) and attempt <= self.options.retries:
                wait = _retry_after_seconds(resp.headers.get("retry-after"))
                if wait is None:
                    wait = self.options.backoff * attempt
                if wait <= self.options.retry_after_cap:
                    await asyncio.sleep(wait)
                    continue
            return resp

    async def _send_once(
        self,
        method: str,
        url: str,
        recorder: Recorder,
        headers: dict[str, str],
        form: dict[str, str] | None = None,
    ) -> Response:
        start = time.perf_counter()
        try:
            request = self._build(method, url, headers, form)
        except (UnicodeEncodeError, httpx.InvalidURL) as exc:  # a non-ASCII header value, a control character in a URL
            raise FetchError(*classify_error(exc)) from None
        self._learn_url(url)
        self.secrets.add_headers(request.headers)
        response: httpx.Response | None = None
        chunks: list[bytes] = []
        cap = self.options.max_body_bytes
        # One deadline for the whole exchange: httpx's timeouts bound each read, not the sum.
        deadline = asyncio.get_running_loop().time() + self.options.timeout
        try:
            response = await self._open(request, deadline)
            body = BoundedBody(response, cap, deadline)
            try:
                async for piece in body.chunks():
                    chunks.append(piece)
            finally:
                await response.aclose()
        except Exception as exc:  # noqa: BLE001 - every failure becomes a recorded reason
            raise self._failed(method, url, request, response, start, exc, recorder) from None
        elapsed = round((time.perf_counter() - start) * 1000, 1)
        content = b"".join(chunks)
        if form is not None:  # a token request: its answer's own headers may already echo the token
            self._learn_tokens(content)
        self._record(recorder, method, url, request, response, start, body.size, body.truncated, cap)
        return Response(
            status=response.status_code,
            headers=response.headers,
            content=content,
            url=url,
            elapsed_ms=elapsed,
            truncated=body.truncated,
        )

    def _learn_tokens(self, content: bytes) -> None:
        """The credentials a form POST's JSON answer hands over (its tokens, a device secret, an
        issued client secret, a session state, any of them nested), known as secrets before that
        answer is recorded or logged (the caller learns them only after: --debug printed a header
        echoing the token on the very line of the answer that issued it)."""
        try:
            doc = json.loads(content)
        except (ValueError, RecursionError):  # not JSON (UnicodeDecodeError included): nothing issued here
            return
        self.secrets.add_token_answer(doc)

    def allow_userinfo(self, base_url: str) -> None:
        """The one URL whose user-info may be sent (httpx makes it a Basic header): the base URL
        the user gave, on its own origin. User-info in any other URL came from a server (an
        issuer, a status or file URL, an introspection endpoint) and is dropped before sending."""
        parsed = httpx.URL(base_url)
        if parsed.userinfo:
            self._userinfo = (_origin(base_url), parsed.userinfo)

    def _own_userinfo_only(self, url: str) -> str:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            return url  # refused as build_request refuses it
        if parsed.userinfo and (_origin(url), parsed.userinfo) != self._userinfo:
            return str(parsed.copy_with(userinfo=b""))
        return url

    def _learn_url(self, url: str) -> None:
        """The credentials of `url` as it is sent become secrets of the run: not user-info a
        server put there (it is dropped before sending, and a vendor naming its own host:port as
        user-info would otherwise blank its address out of the whole report)."""
        self.secrets.add_url(self._own_userinfo_only(url) if "@" in url else url)

    def _build(self, method: str, url: str, headers: dict[str, str], form: dict[str, str] | None) -> httpx.Request:
        """The request `client.build_request` would build, without its per-request merging when
        the lean transport is in use: the URL parsed once per fetcher, the client's headers merged
        with each distinct header set once, the same timeouts and cookies. User-info is sent only
        as the user gave it (allow_userinfo)."""
        if "@" in url:
            url = self._own_userinfo_only(url)
        if self._lean is None:
            return self.client.build_request(method, url, headers=headers, data=form)
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = httpx.URL(url)  # InvalidURL as build_request raises it
            if len(self._urls) < MEMO_ENTRIES:
                self._urls[url] = parsed
        if parsed.is_relative_url:  # httpx's own merging with its (empty) base URL
            return self.client.build_request(method, url, headers=headers, data=form)
        key = tuple(headers.items())
        merged = self._headers.get(key)
        if merged is None:
            merged = httpx.Headers(self.client.headers)  # as client._merge_headers
            merged.update(headers)
            if len(self._headers) < MEMO_ENTRIES:
                self._headers[key] = merged
        cookies = self.client.cookies
        return httpx.Request(
            method,
            parsed,
            headers=merged,  # copied by Request: the memo is never changed
            cookies=cookies.jar if cookies else None,  # the jar itself, with its origin policy
            data=form,
            extensions={"timeout": dict(self._timeout)},
        )

    async def _send(self, request: httpx.Request) -> httpx.Response:
        """`client.send(request, stream=True)`, straight to the lean transport when it is the
        client's: no auth (a URL's user:password still goes through httpx, which turns it into
        Basic auth), no redirects (the Fetcher follows them), cookies kept as the client keeps them."""
        lean = self._lean
        if lean is None or request.url.userinfo:
            return await self.client.send(request, stream=True)
        if self.client.is_closed:  # the text client.send raises
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        try:
            response = await lean.handle_async_request(request)
        except httpx.RequestError as exc:  # as httpx's request_context
            exc.request = request
            raise
        response.request = request
        if "set-cookie" in response.headers:  # what client.cookies.extract_cookies reads
            self.client.cookies.extract_cookies(response)
        return response

    async def _open(self, request: httpx.Request, deadline: float) -> httpx.Response:
        """Send `request` and wait for the response head, within `deadline`."""
        async with asyncio.timeout_at(deadline):
            response = await self._send(request)
        self.secrets.add_headers(request.headers)  # auth flows add theirs while sending
        return response

    def _through_proxy(self, request: httpx.Request, exc: BaseException, kind: str, reason: str) -> tuple[str, str]:
        """A connect failure while a proxy applies is the proxy's (the auditor's side), not the
        server's: httpx raises ConnectError, not ProxyError, when the proxy itself cannot be reached."""
        if not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout) or kind == "tls":
            return kind, reason
        url = request.url
        proxy = proxy_for(url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80), self.options.trust_env)
        if proxy is None:
            return kind, reason
        return "proxy", f"the proxy {proxy.host}:{proxy.port} could not be reached: {reason}"

    def _failed(
        self,
        method: str,
        url: str,
        request: httpx.Request,
        response: httpx.Response | None,
        start: float,
        exc: BaseException,
        recorder: Recorder | None = None,
    ) -> FetchError:
        """A failure as a FetchError with a scrubbed, shortened reason; recorded when `recorder`
        is given (the streamed path records its exchange itself, when the block ends)."""
        kind, reason = classify_error(exc)
        kind, reason = self._through_proxy(request, exc, kind, reason)
        reason = self.secrets.scrub(reason)[:400]
        if recorder is not None:
            recorder.add(
                Exchange(
                    method=method,
                    url=redact_url(url),
                    request_headers=redact_headers(request.headers),
                    status=response.status_code if response is not None else None,
                    response_headers=redact_headers(response.headers, response=True) if response is not None else {},
                    elapsed_ms=round((time.perf_counter() - start) * 1000, 1),
                    error=reason,
                )
            )
        logged = recorder.exchanges[-1].url if recorder is not None and recorder.exchanges else redact_url(url)
        self._debug("%s %s -> failed: %s", method, logged, reason)
        return FetchError(kind, reason)

    def _record(
        self,
        recorder: Recorder,
        method: str,
        url: str,
        request: httpx.Request,
        response: httpx.Response,
        start: float,
        size: int,
        truncated: bool,
        cap: int,
        error: str | None = None,
    ) -> None:
        elapsed = round((time.perf_counter() - start) * 1000, 1)
        if truncated and error is None:
            error = f"body exceeded the size cap ({cap} bytes after decompression)"
        exchange = Exchange(
            method=method,
            url=redact_url(url),
            request_headers=redact_headers(request.headers),
            status=response.status_code,
            response_headers=redact_headers(response.headers, response=True),
            elapsed_ms=elapsed,
            body_bytes=size,
            error=error,
        )
        recorder.add(exchange)
        # Logged as the recorder kept it: a recorder that scrubs patient data scrubs the log too.
        exchange = recorder.exchanges[-1] if recorder.exchanges else exchange
        self._debug(
            "%s %s -> HTTP %s, %s bytes, %.0f ms%s; request headers %s; response headers %s",
            method,
            exchange.url,
            exchange.status,
            exchange.body_bytes,
            elapsed,
            " (truncated at the size cap)" if truncated else "",
            exchange.request_headers,
            exchange.response_headers,
        )

    def _debug(self, msg: str, *args: object) -> None:
        """--debug lines: built from redacted values, then scrubbed of every known secret."""
        if log.isEnabledFor(logging.DEBUG):
            # Each value is scrubbed before it is formatted: a header dict is printed as its repr,
            # which doubles a backslash, so a JSON-escaped echo (`S3cr3t\/…`) no longer matched once
            # formatted.
            args = tuple(self.secrets.scrub_data(a) if isinstance(a, str | dict | list) else a for a in args)
            log.debug("%s", self.secrets.scrub(msg % args))

    @contextlib.asynccontextmanager
    async def stream(
        self,
        url: str,
        recorder: Recorder,
        headers: dict[str, str] | None = None,
        *,
        timeout: float | None = None,
        max_body_bytes: int | None = None,
    ) -> AsyncIterator[StreamedResponse]:
        """GET a body too big to hold (bulk NDJSON): the caller reads it line by line.

        The buffered path's protections, through the same helpers: one deadline (`timeout`,
        default the fetcher's) from the first connect, across redirects, to the last byte the
        caller reads; the body decoded by ehrcheck and capped after decompression
        (`max_body_bytes`, default the fetcher's cap: the reader stops there and says
        `truncated`); up to 5 redirects (file servers often send signed storage URLs), never an
        https->http downgrade, no credential header to another origin. Each exchange is recorded,
        the last one when the block ends, with the bytes actually read."""
        cap = self.options.max_body_bytes if max_body_bytes is None else max_body_bytes
        deadline = asyncio.get_running_loop().time() + (self.options.timeout if timeout is None else timeout)
        current, hdrs = url, dict(headers or {})
        for _hop in range(6):
            start = time.perf_counter()
            try:
                request = self._build("GET", current, hdrs, None)
            except (UnicodeEncodeError, httpx.InvalidURL) as exc:
                raise FetchError(*classify_error(exc)) from None
            self._learn_url(current)
            self.secrets.add_headers(request.headers)
            try:
                response = await self._open(request, deadline)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a recorded reason
                raise self._failed("GET", current, request, None, start, exc, recorder) from None
            if response.status_code in REDIRECTS and "location" in response.headers:
                await response.aclose()
                self._record(recorder, "GET", current, request, response, start, 0, False, cap)
                hop = next_hop(current, response.headers["location"], hdrs)
                if hop.refused:
                    raise FetchError("redirects", hop.refused)
                current, hdrs = hop.url, hop.headers
                recorder = redirected(recorder)
                continue
            body = StreamedResponse(response, current, BoundedBody(response, cap, deadline))
            error: str | None = None
            try:
                yield body
            except FetchError as exc:
                failure = FetchError(exc.kind, self.secrets.scrub(str(exc))[:400])
                error = str(failure)
                raise failure from None
            finally:
                await response.aclose()
                self._record(recorder, "GET", current, request, response, start, body.bytes_read, body.truncated, cap, error)
            return
        raise FetchError("redirects", "too many redirects")


class StreamedResponse:
    """A response whose body is read incrementally; memory stays bounded by the longest line."""

    def __init__(self, response: httpx.Response, url: str, body: BoundedBody):
        self._body = body
        self.status = response.status_code
        self.headers = response.headers
        self.url = url

    @property
    def bytes_read(self) -> int:
        """Decoded bytes read so far."""
        return self._body.size

    @property
    def truncated(self) -> bool:
        """True once the body passed the size cap: reading stopped there."""
        return self._body.truncated

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    async def lines(self, max_line_bytes: int) -> AsyncIterator[bytes | None]:
        """Yield each line (without its newline); a line longer than `max_line_bytes` is
        skipped to its end and yielded as None, so one runaway line cannot exhaust memory.
        A body cut at the size cap ends early (see `truncated`); a stalled one raises
        FetchError("timeout") at the deadline."""
        buf = bytearray()
        overlong = False
        try:
            async for chunk in self._body.chunks():
                start = 0
                while True:
                    nl = chunk.find(b"\n", start)
                    piece = chunk[start:] if nl < 0 else chunk[start:nl]
                    if not overlong:
                        buf += piece
                        if len(buf) > max_line_bytes:
                            overlong, buf = True, bytearray()
                    if nl < 0:
                        break
                    yield None if overlong else bytes(buf)
                    buf, overlong = bytearray(), False
                    start = nl + 1
        except (httpx.HTTPError, TimeoutError) as exc:
            raise FetchError(*classify_error(exc)) from None
        if self.truncated:
            return  # the last line was cut at the cap: not a line the server sent whole
        if overlong:
            yield None
        elif buf:
            yield bytes(buf)
