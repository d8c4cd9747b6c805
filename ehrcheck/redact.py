"""Keep secrets out of evidence, reports and logs.

Headers that carry credentials are replaced wholesale; URLs lose userinfo and secret-looking query
parameters. Everything that writes an Exchange goes through here.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "[redacted]"

SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "x-auth-token",
        "x-amz-security-token",
    }
)

SECRET_PARAMS = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "client_secret",
        "client_assertion",
        "code",
        "code_verifier",
        "id_token",
        "password",
        "refresh_token",
        "token",
    }
)


def redact_headers(headers: dict[str, str] | object) -> dict[str, str]:
    items = headers.items() if hasattr(headers, "items") else []
    out: dict[str, str] = {}
    for key, value in items:
        k = str(key).lower()
        out[k] = REDACTED if k in SECRET_HEADERS else str(value)
    return dict(sorted(out.items()))


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = REDACTED + "@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, REDACTED if k.lower() in SECRET_PARAMS else v) for k, v in pairs], safe="/:$|,*"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
