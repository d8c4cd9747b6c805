"""Checks behind the verdict's safety blockers that no single probe area owns.

See `ehrcheck.rules.checks` for the contract every check follows.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from ehrcheck.evidence.view import View
from ehrcheck.rules.checks.common import NoArgs, Outcome, check

# Where an app sends the user's credentials or its tokens, as the discovery documents name them.
AUTH_FIELDS = ("authorization_endpoint", "token_endpoint", "introspection_endpoint", "revocation_endpoint")


def _auth_urls(view: View) -> dict[str, str]:
    urls: dict[str, str] = {}
    doc = view.smart.document if view.smart else None
    if doc is not None:
        urls.update({k: v for k in AUTH_FIELDS if isinstance(v := getattr(doc, k), str)})
    security = view.capability.security if view.capability else None
    if security is not None and security.oauth_uris:
        urls.update({f"oauth-uris {k}": v for k, v in security.oauth_uris.items() if isinstance(v, str)})
    return urls


def _takes_tokens(view: View) -> list[str]:
    """Signs that the API expects an OAuth token: what it declares, or how it refuses."""
    signs = []
    if view.smart is not None and view.smart.found:
        signs.append("it publishes a SMART configuration")
    security = view.capability.security if view.capability else None
    if security is not None and security.oauth_uris:
        signs.append("its CapabilityStatement declares OAuth endpoints")
    search = view.access.patient_search if view.access else None
    if search is not None and (search.http_status in (401, 403) or search.www_authenticate):
        signs.append(f"it refused an anonymous request with HTTP {search.http_status} (asking for credentials)")
    return signs


def _scheme(url: str) -> str:
    """The URL's scheme, lower-case, for any string: urlsplit raises ValueError on a netloc with
    brackets that are not an IPv6 address, which is what redaction writes for user-info
    (`https://[redacted]@host/`) and what a server may publish, and a rule must not crash on it."""
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        head, colon, _ = url.strip().partition(":")
        return head.lower() if colon else ""


@check()
def tokens_over_tls_only(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """Tokens and credentials never cross plain HTTP: an http:// API that asks for a token, or an
    authorize/token endpoint published as http://, hands them to anyone on the path.

    The API's own scheme comes from the transport probe; the endpoints from SMART discovery and the
    CapabilityStatement's oauth-uris. Whether those hosts negotiate TLS 1.2 or later is a separate
    observation (their scheme is what is checked here)."""
    urls = _auth_urls(view)
    plain = {name: url for name, url in urls.items() if _scheme(url) == "http"}
    scheme = view.transport.scheme if view.transport else None
    if scheme == "http":
        signs = _takes_tokens(view)
        if signs:
            return Outcome("fail", {"scheme": "http", "signs": signs}, f"The API is plain HTTP, yet {'; '.join(signs)}.")
        if not plain:
            return Outcome("not_observed", {"scheme": "http"}, "The API is plain HTTP; no sign that it takes tokens was seen.")
    if plain:
        shown = ", ".join(f"{k} ({v})" for k, v in sorted(plain.items()))
        return Outcome("fail", sorted(plain), f"Published over plain HTTP: {shown}.")
    if not urls:
        return Outcome("pass", [], "The API is HTTPS and publishes no authorization endpoint over plain HTTP.")
    return Outcome("pass", sorted(urls), f"The API and its {len(urls)} authorization endpoint(s) are HTTPS.")
