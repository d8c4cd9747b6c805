"""Why endpoints could not be reached, and whether the cause is more likely on the auditor's side
(this machine's network, DNS, proxy or TLS-intercepting middlebox) than on the endpoints'.

A directory lists many hosts. When most of them fail the same way — every name unresolvable,
every certificate untrusted, every connection refused or timed out — the cause is near the
auditor, and one line naming it is worth more than a thousand rows of "could not be reached".
Pure: the reasons are the one-line texts the HTTP client writes (ehrcheck.http.client).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# (what the client's reason says, kind); first match wins
_MARKERS = (
    ("could not be resolved", "dns"),
    ("certificate verify failed", "tls_untrusted"),
    ("tls handshake failed", "tls"),
    ("timed out", "timeout"),
    ("connection refused", "refused"),
    ("could not connect", "connect"),
)
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy")
DEFAULT_EARLY_STOP = 20
MOST = 0.8  # share of unreachable endpoints one cause must explain to be named


def failure_kind(reason: str | None) -> str:
    low = (reason or "").lower()
    return next((kind for marker, kind in _MARKERS if marker in low), "other")


def proxy_in_use(env: Mapping[str, str] | None = None) -> str | None:
    """'host:port (from VARIABLE)' of the proxy httpx would use; never its credentials."""
    env = os.environ if env is None else env
    for name in PROXY_VARIABLES:
        value = (env.get(name) or "").strip()
        if value:
            try:
                parts = urlsplit(value if "://" in value else f"http://{value}")
                where = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
            except ValueError:
                where = "an unparsable address"
            return f"{where} (from {name})"
    return None


def cause_line(kind: str, failed: int, total: int, proxy: str | None) -> str:
    """One line: how many failed, how, and the likely cause on the auditor's side."""
    share = f"{failed} of {total} endpoints"
    if proxy and kind in ("refused", "connect", "timeout", "other"):
        return (
            f"{share} could not be reached through the proxy {proxy}: it is down, refuses connections or is "
            "the wrong address — check HTTPS_PROXY, or list hosts to reach directly in NO_PROXY"
        )
    return {
        "dns": f"{share} failed DNS: this machine cannot resolve their host names — check its network connection "
        "and DNS, or set HTTPS_PROXY (and NO_PROXY) if it must go through a proxy",
        "tls_untrusted": f"{share} presented certificates this machine does not trust: a TLS-intercepting proxy or "
        "antivirus is likely — pass its CA certificate with --ca-bundle",
        "tls": f"{share} failed the TLS handshake: a proxy or firewall may be interfering with TLS — check the network "
        "path, or pass a proxy's CA with --ca-bundle",
        "timeout": f"{share} timed out: a firewall may be dropping outbound connections, or a proxy is required "
        "(set HTTPS_PROXY) — or raise --timeout",
        "refused": f"{share} refused the connection: outbound connections may be blocked here, or a proxy is "
        "required (set HTTPS_PROXY)",
        "connect": f"{share} could not be connected to: check this machine's network, or set HTTPS_PROXY if a proxy is required",
    }.get(kind, f"{share} could not be reached, most for the same reason: check this machine's network and proxy")


def common_cause(kinds: Mapping[str, int], done: int, proxy: str | None) -> str | None:
    """The line to show when most endpoints (half or more) failed, most of them (80%) the same way."""
    failed = sum(kinds.values())
    if not kinds or done < 3 or failed * 2 < done:
        return None
    kind, n = max(kinds.items(), key=lambda kv: (kv[1], kv[0]))
    if n < MOST * failed:
        return None
    return cause_line(kind, failed, done, proxy)


@dataclass
class EarlyStop:
    """Stop the scan when the first `first` endpoints all failed, mostly the same way, across more
    than one host: a dead network costs seconds, not the whole list. 0 never stops."""

    first: int = DEFAULT_EARLY_STOP
    proxy: str | None = None
    seen: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    hosts: set[str] = field(default_factory=set)
    off: bool = False

    def __call__(self, row: dict[str, Any]) -> str | None:
        if self.off or self.first <= 0:
            return None
        if row.get("outcome") != "unreachable":
            self.off = True  # something answered: the network works
            return None
        self.seen += 1
        self.kinds[row.get("failure_kind") or failure_kind(row.get("reason"))] += 1
        self.hosts.add(urlsplit(str(row.get("url", ""))).netloc)
        if self.seen < self.first:
            return None
        self.off = True
        kind, n = self.kinds.most_common(1)[0]
        if len(self.hosts) < 2 or n < MOST * self.seen:
            return None  # one host down, or failures of many kinds: the endpoints' problem, not ours
        return cause_line(kind, self.seen, self.seen, self.proxy)
