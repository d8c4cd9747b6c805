"""Where a credential may go: the one policy every probe that holds a token asks.

A hostile server names URLs for ehrcheck to call (a Bulk status URL, a file URL, a token
endpoint). A token or secret is sent only to the audited FHIR origin and the token endpoint the
server advertises, and only over https; plain http is allowed only from a loopback base to a
loopback host (a test server on the same machine), and the evidence then says so.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the default port filled in; ('', '', None) for a URL that does
    not parse."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "", "", None
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), port or DEFAULT_PORTS.get(scheme)


def origin_text(url: str) -> str:
    """`scheme://host:port`, for the evidence: never a path, a query or user-info."""
    scheme, host, port = origin(url)
    if not scheme or not host:
        return "(unparseable URL)"
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" + ("" if port == DEFAULT_PORTS.get(scheme) else f":{port}")


def same_origin(a: str, b: str) -> bool:
    return origin(a) == origin(b) and origin(a)[0] != ""


def is_loopback(url: str) -> bool:
    host = origin(url)[1]
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def transport_refusal(url: str, base_url: str) -> str | None:
    """Why a credential may not travel to `url` (None when it may): https, or plain http only
    between loopback hosts (and never below an https base)."""
    scheme = origin(url)[0]
    if scheme == "https":
        return None
    if scheme != "http":
        return f"refused: {origin_text(url)} is not an http(s) URL"
    if origin(base_url)[0] == "https":
        return f"refused: {origin_text(url)} is plain http under an https FHIR base; the credential would cross the network in clear text"
    if not (is_loopback(url) and is_loopback(base_url)):
        return f"refused: {origin_text(url)} is plain http and not on this machine; the credential would cross the network in clear text"
    return None


def credential_refusal(token_url: str, base_url: str) -> str | None:
    """Why no client secret, assertion or token request goes to `token_url` (None when it may)."""
    why = transport_refusal(token_url, base_url)
    return None if why is None else why.replace("refused: ", "refused: the token endpoint ", 1)


def api_key_refusal(url: str) -> str | None:
    """Why this machine's own API key (CHPL's) may not go to `url` (None when it may): the same
    rule, with this machine as the sender, so plain http only to a loopback host."""
    return transport_refusal(url, "http://127.0.0.1/")
