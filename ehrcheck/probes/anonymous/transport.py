"""Transport security: TLS version, legacy protocol acceptance, certificate health, HSTS, http->https.

The handshakes use the standard library's ssl module in a worker thread: httpx does not expose the
negotiated protocol or let us pin one protocol version per connection. The same survey is run on
the other hosts an app is sent to (the authorize and token endpoints SMART discovery and the
CapabilityStatement publish here; Bulk file servers in the bulk probe): (g)(10) and (d)(9) ask for
TLS 1.2 or later on every connection, not only the FHIR base. A handshake sends no credential.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import re
import select
import ssl
import time
import warnings
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlsplit

from ehrcheck.http.client import FetchError, Recorder
from ehrcheck.http.origins import origin, origin_text
from ehrcheck.http.tunnel import Proxy, TunnelError, connect, proxy_for
from ehrcheck.probes.base import ProbeContext, ProbeError

LEGACY = {"TLSv1.0": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1}
# Errors raised by our own OpenSSL when it cannot even offer a legacy version.
LOCAL_REFUSALS = ("NO_PROTOCOLS_AVAILABLE", "no protocols available", "UNSUPPORTED_PROTOCOL_VERSION")


class Unreachable(Exception):
    """The TCP connection itself failed (DNS, refused, timeout): there was no TLS to observe."""


def _handshake(host: str, port: int, ctx: ssl.SSLContext, sni: str | None, timeout: float, proxy: Proxy | None = None):
    """One TLS handshake that takes at most `timeout` seconds in all, inside the proxy's CONNECT
    tunnel when one applies (never around it).

    The socket's own timeout only bounds each read, so a server dripping its handshake a byte at a
    time could hold this (uncancellable) worker thread for hours; hence non-blocking I/O against
    one deadline."""
    deadline = time.monotonic() + timeout
    try:
        raw = connect(host, port, timeout, proxy)
    except TunnelError as exc:
        raise Unreachable(str(exc)) from None
    with raw:
        raw.setblocking(False)
        with ctx.wrap_socket(raw, server_hostname=sni, do_handshake_on_connect=False) as tls:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"the TLS handshake took longer than {timeout:g} s")
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    select.select([tls], [], [], remaining)
                except ssl.SSLWantWriteError:
                    select.select([], [tls], [], remaining)
            return tls.version(), tls.cipher(), tls.getpeercert(binary_form=True)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, (ssl.SSLEOFError, ConnectionError)):
        return "the server closed the connection during the handshake"
    text = str(exc) or exc.__class__.__name__
    return re.sub(r"\s*\(_ssl\.c:\d+\)", "", text)[:200]


def _cert_facts(der: bytes | None, host: str, now: dt.datetime) -> dict[str, Any]:
    if not der:
        return {}
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cert = x509.load_der_x509_certificate(der)

    def name(n: x509.Name) -> str:
        cn = n.get_attributes_for_oid(NameOID.COMMON_NAME)
        org = n.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        parts = [str(a.value) for a in (org or [])] + [str(a.value) for a in (cn or [])]
        return ", ".join(parts) or n.rfc4514_string()

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = san.get_values_for_type(x509.DNSName)
        ip_names = [str(i) for i in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        dns_names, ip_names = [], []
    not_after = cert.not_valid_after_utc
    return {
        "subject": name(cert.subject),
        "issuer": name(cert.issuer),
        "self_signed": cert.issuer == cert.subject,
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": not_after.isoformat(),
        "days_left": (not_after - now).days,
        "san_dns": sorted(dns_names),
        "san_ip": sorted(ip_names),
        "hostname_match": _hostname_matches(host, dns_names, ip_names),
        "key_type": cert.public_key().__class__.__name__.replace("_", "").replace("PublicKey", ""),
        "key_bits": _key_bits(cert.public_key()),
        "signature_hash": _signature_hash(cert),
    }


def _key_bits(key: Any) -> int | None:
    """The public key's size: the RSA modulus, the EC curve, Ed25519/Ed448 by name."""
    size = getattr(key, "key_size", None)
    if isinstance(size, int):
        return size
    return {"Ed25519PublicKey": 256, "Ed448PublicKey": 456}.get(type(key).__name__.lstrip("_"))


def _signature_hash(cert: Any) -> str | None:
    """The hash the issuer signed the certificate with (sha256, sha1...); "intrinsic" for Ed25519
    and Ed448, which hash inside the algorithm; None when the library cannot name it."""
    try:
        algorithm = cert.signature_hash_algorithm
    except Exception:  # noqa: BLE001 - an unknown signature OID is reported as unnamed, not a crash
        return None
    return algorithm.name if algorithm is not None else "intrinsic"


def _hostname_matches(host: str, dns_names: list[str], ip_names: list[str]) -> bool:
    try:
        return str(ipaddress.ip_address(host)) in ip_names
    except ValueError:
        pass
    host = host.lower().rstrip(".")
    for pattern in dns_names:
        pattern = pattern.lower().rstrip(".")
        if pattern == host:
            return True
        if pattern.startswith("*.") and "." in host and host.split(".", 1)[1] == pattern[2:]:
            return True
    return False


def _tls_survey(host: str, port: int, verify_ctx: ssl.SSLContext, timeout: float, proxy: Proxy | None = None) -> dict[str, Any]:
    """Blocking: one verified handshake, a fallback unverified one, then the legacy versions.

    A server that only speaks TLS 1.0/1.1 fails the modern handshake; its certificate and version
    are then read through the newest legacy version it accepts, so that it is reported as what
    it is (a legacy-only server) rather than as a server we could not survey."""
    now = dt.datetime.now(dt.UTC)
    sni = None if _is_ip(host) else host
    facts: dict[str, Any] = {}
    version = cipher = der = None
    try:
        version, cipher, der = _handshake(host, port, verify_ctx, host, timeout, proxy)
        facts.update(verified=True, verify_error=None)
    except ssl.SSLCertVerificationError as exc:
        facts.update(verified=False, verify_error=exc.verify_message or str(exc))
        relaxed = ssl.create_default_context()
        relaxed.check_hostname = False
        relaxed.verify_mode = ssl.CERT_NONE
        version, cipher, der = _handshake(host, port, relaxed, sni, timeout, proxy)
    except (ssl.SSLError, OSError) as exc:  # Unreachable is not an OSError: it propagates
        facts.update(verified=None, verify_error=None, modern_error=_reason(exc))
    legacy: dict[str, str] = {}
    for label, version_enum in LEGACY.items():
        legacy[label] = _try_legacy(host, port, sni, version_enum, timeout, proxy)
    facts["legacy"] = legacy
    # A TLS 1.2 handshake offering only static-RSA suites: accepted means clients may end up without
    # forward secrecy (the modern handshake above never offers them, so it cannot tell).
    facts["static_kx"] = _try_context(host, port, sni, _static_kx_context(), timeout, proxy)
    if version is None:
        accepted = [label for label in LEGACY if legacy[label] == "accepted"]
        if not accepted:
            return {"error": f"no TLS handshake succeeded: {facts['modern_error']}", "legacy": legacy}
        ctx = _legacy_context(LEGACY[accepted[-1]])
        assert ctx is not None  # it was just accepted with this very context
        version, cipher, der = _handshake(host, port, ctx, sni, timeout, proxy)
    facts["negotiated_version"] = version
    facts["client_offered_tls13"] = bool(ssl.HAS_TLSv1_3) and facts.get("verified") is not None
    facts["cipher"] = cipher[0] if cipher else None
    facts["cipher_bits"] = cipher[2] if cipher else None
    try:
        facts["certificate"] = _cert_facts(der, host, now)
    except ValueError as exc:  # a certificate our parser rejects is itself a fact
        facts["certificate"] = {"parse_error": str(exc)[:200]}
    return facts


def _legacy_context(version: ssl.TLSVersion) -> ssl.SSLContext | None:
    """An unverified context pinned to one legacy version, or None if our OpenSSL cannot offer it."""
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with warnings.catch_warnings():  # pinning a deprecated version is the point of this test
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = version
            ctx.maximum_version = version
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        return None
    return ctx


def _static_kx_context() -> ssl.SSLContext | None:
    """An unverified TLS 1.2 context offering only suites with a static RSA key exchange (no
    forward secrecy), or None if our OpenSSL has none left to offer."""
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers("kRSA:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        return None
    return ctx


def _try_legacy(
    host: str, port: int, sni: str | None, version: ssl.TLSVersion, timeout: float, proxy: Proxy | None = None
) -> str:
    """'accepted', 'rejected' or 'untestable' (our own OpenSSL cannot offer that version)."""
    return _try_context(host, port, sni, _legacy_context(version), timeout, proxy)


def _try_context(
    host: str, port: int, sni: str | None, ctx: ssl.SSLContext | None, timeout: float, proxy: Proxy | None = None
) -> str:
    """'accepted', 'rejected' or 'untestable' (our own OpenSSL cannot offer what `ctx` asks)."""
    if ctx is None:
        return "untestable"
    try:
        _handshake(host, port, ctx, sni, timeout, proxy)
        return "accepted"
    except ssl.SSLError as exc:
        if any(marker in str(exc) for marker in LOCAL_REFUSALS) and "alert" not in str(exc).lower():
            return "untestable"
        return "rejected"
    except (ConnectionError, OSError, Unreachable):
        return "rejected"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


# Distinct hosts surveyed beyond the FHIR base: a hostile discovery document or manifest naming
# a hundred hosts must not send ehrcheck on a tour (each survey is up to four handshakes).
MAX_HOSTS = 4
# Where an app is sent with the user's password or its tokens, as SMART discovery names them, and
# the oauth-uris extension's names for the same two endpoints.
SMART_AUTH_FIELDS = {"authorization_endpoint": "authorize", "token_endpoint": "token"}
OAUTH_URI_FIELDS = {"authorize": "authorize", "token": "token"}


def _proxy(ctx: ProbeContext, host: str, port: int) -> Proxy | None:
    """The proxy HTTPS_PROXY/NO_PROXY set for this host, as the HTTP client applies them."""
    return proxy_for("https", host, port, trust_env=ctx.fetcher.options.trust_env)


async def tls_survey(ctx: ProbeContext, host: str, port: int) -> dict[str, Any]:
    """`_tls_survey` off the event loop; once per host:port for a scan's audits (ctx.tls_surveys:
    one scan, one environment, so the proxy that applies follows from the host:port)."""

    def run() -> Awaitable[dict[str, Any]]:
        verify_ctx = ctx.ssl_context_factory() if ctx.ssl_context_factory else ssl.create_default_context()
        return asyncio.to_thread(_tls_survey, host, port, verify_ctx, ctx.timeout, _proxy(ctx, host, port))

    if ctx.tls_surveys is None:
        return await run()
    return await ctx.tls_surveys.survey((host, port, ctx.timeout), run)


async def _survey_host(ctx: ProbeContext, host: str, port: int) -> dict[str, Any]:
    try:
        return {"tls": await tls_survey(ctx, host, port)}
    except Unreachable as exc:
        return {"unreachable": str(exc)}
    except (OSError, ssl.SSLError) as exc:
        return {"tls": {"error": f"TLS handshake failed: {_reason(exc)}"}}


async def survey_hosts(ctx: ProbeContext, urls: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """(role, url) pairs -> one entry per distinct scheme://host:port, in order of first mention.

    Each https host other than the FHIR base's is surveyed once, concurrently, at most MAX_HOSTS
    of them; the base's own host:port is marked `same_as_base` (the transport probe surveys it);
    plain http is recorded, not surveyed (there is no TLS to observe). Only the origin is kept:
    never a path or query, which for a Bulk file can be a capability URL."""
    base = origin(ctx.base_url)
    groups: dict[tuple[str, str, int], tuple[str, list[str]]] = {}
    for role, url in urls:
        scheme, host, port = origin(url.strip()) if isinstance(url, str) else ("", "", None)
        if scheme not in ("http", "https") or not host or port is None:
            continue  # relative or unparseable: no host to survey
        _, roles = groups.setdefault((scheme, host, port), (origin_text(url.strip()), []))
        if role not in roles:
            roles.append(role)
    entries: list[dict[str, Any]] = []
    surveyed: list[tuple[dict[str, Any], str, int]] = []
    for (scheme, host, port), (text, roles) in groups.items():
        entry: dict[str, Any] = {"origin": text, "roles": roles}
        if scheme == "http":
            entry["skipped"] = "plain http: there is no TLS to survey"
        elif (scheme, host, port) == base:
            entry["same_as_base"] = True
        elif len(surveyed) >= MAX_HOSTS:
            entry["skipped"] = f"not surveyed: only the first {MAX_HOSTS} distinct hosts are"
        else:
            surveyed.append((entry, host, port))
        entries.append(entry)
    results = await asyncio.gather(*(_survey_host(ctx, host, port) for _, host, port in surveyed))
    for (entry, _, _), result in zip(surveyed, results, strict=True):
        entry.update(result)
    return entries


def _auth_urls(smart: dict[str, Any], capability: dict[str, Any]) -> list[tuple[str, str]]:
    """The authorize and token endpoints published by SMART discovery and the oauth-uris extension."""
    urls: list[tuple[str, str]] = []
    document = smart.get("document")
    if isinstance(document, dict):
        urls += [(role, document[f]) for f, role in SMART_AUTH_FIELDS.items() if isinstance(document.get(f), str)]
    security = capability.get("security")
    oauth = security.get("oauth_uris") if isinstance(security, dict) else None
    if isinstance(oauth, dict):
        urls += [(role, oauth[f]) for f, role in OAUTH_URI_FIELDS.items() if isinstance(oauth.get(f), str)]
    return urls


async def probe_transport(ctx: ProbeContext, recorder: Recorder) -> dict[str, Any]:
    parts = urlsplit(ctx.base_url)
    host = parts.hostname or ""
    facts: dict[str, Any] = {"scheme": parts.scheme, "host": host}
    if parts.scheme != "https":
        facts["tls"] = None
        facts["auth_hosts"] = await _auth_hosts(ctx, (await ctx.result("capability")).data)
        return facts
    port = parts.port or 443
    try:
        facts["tls"] = await tls_survey(ctx, host, port)
    except Unreachable as exc:
        raise ProbeError(f"{host}:{port}: {exc}") from None
    except (OSError, ssl.SSLError) as exc:
        facts["tls"] = {"error": f"TLS handshake failed: {_reason(exc)}"}

    capability = await ctx.result("capability")
    hsts = None
    for ex in capability.exchanges:
        if ex.url.startswith("https://") and ex.status is not None:
            hsts = ex.response_headers.get("strict-transport-security")
            break
    facts["hsts"] = {"header": hsts, "max_age": _hsts_max_age(hsts)} if hsts else {"header": None}

    if parts.port in (None, 443):
        http_url = f"http://{parts.netloc}{parts.path}/metadata"
        try:
            resp = await ctx.fetcher.get(http_url, recorder, follow_redirects=False)
            location = resp.headers.get("location", "")
            facts["http_redirect"] = {
                "status": resp.status,
                "redirects_to_https": resp.status in (301, 302, 307, 308) and location.startswith("https://"),
                "serves_content": resp.status == 200,
            }
        except FetchError as exc:
            if exc.kind in ("connection_refused", "timeout", "connect"):
                # Refused or silently dropped: either way nothing is served in clear text.
                facts["http_redirect"] = {"status": None, "error": str(exc), "http_closed": True}
            else:  # something answered on port 80, but not in HTTP: that proves nothing either way
                facts["http_redirect"] = {"status": None, "error": str(exc), "untested": f"http:// gave no usable answer: {exc}"}
    else:
        facts["http_redirect"] = {"status": None, "untested": "non-standard port"}

    facts["auth_hosts"] = await _auth_hosts(ctx, capability.data)
    return facts


async def _auth_hosts(ctx: ProbeContext, capability: dict[str, Any]) -> list[dict[str, Any]]:
    smart = await ctx.result("smart") if ctx.runs("smart") else None
    return await survey_hosts(ctx, _auth_urls(smart.data if smart else {}, capability))


def _hsts_max_age(header: str | None) -> int | None:
    for part in (header or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "max-age":
            try:
                return int(value.strip().strip('"'))
            except ValueError:
                return None
    return None
