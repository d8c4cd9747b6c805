"""Cookies go back only to the origin that set them.

RFC 6265 scopes a cookie by host alone (not scheme or port), and a `Domain` attribute widens it
to every host under that domain; so a session a FHIR server sets on 127.0.0.1:8443 would follow a
redirect to another port of the same host, or to a sibling host the server named. A server's
session is a credential of that origin: here it is pinned to the exact scheme, host and port
that set it.
"""

from __future__ import annotations

from http.cookiejar import Cookie, DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def _port(request: Any) -> str | None:
    """The request's port as a string, from its full URL: http.cookiejar reads it from the Host
    value, which a URL with user-info (`u:pw@host:8443`) turns into no port at all."""
    try:
        parts = urlsplit(request.get_full_url())
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    return str(port) if port else None


class OriginCookiePolicy(DefaultCookiePolicy):
    def __init__(self) -> None:
        # DomainStrictNonDomain: a cookie without a Domain goes back to that host only, not its subdomains
        super().__init__(strict_ns_domain=DefaultCookiePolicy.DomainStrictNonDomain)

    def set_ok(self, cookie: Cookie, request: Any) -> bool:
        port = _port(request)
        if port is None or not super().set_ok(cookie, request):
            return False
        parts = urlsplit(request.get_full_url())
        # Pin it: the host that set it (any Domain attribute dropped), its port, and https only
        # when it came over https.
        cookie.domain, cookie.domain_specified, cookie.domain_initial_dot = (parts.hostname or "").lower(), False, False
        cookie.port, cookie.port_specified = port, True
        cookie.secure = cookie.secure or parts.scheme == "https"
        return True

    def return_ok_port(self, cookie: Cookie, request: Any) -> bool:
        return cookie.port is not None and cookie.port == _port(request)
