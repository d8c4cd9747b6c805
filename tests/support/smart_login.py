"""A person at a browser, over plain HTTP: follow an authorization URL through the test SMART
stack's login and consent forms (tests/authserver/smart.mjs) to the app's redirect URI.

Used in-process by the launch tests, and as a `BROWSER` command (`python -m tests.support.smart_login
URL`): Python's `webbrowser`, which ehrcheck uses to open the system browser, runs `$BROWSER` with the
URL, so the CLI tests exercise the real "open the browser" path. Only follows 127.0.0.1 URLs.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

import httpx

FORM = re.compile(r'<form method="post" action="([^"]+)">', re.IGNORECASE)
USER = os.environ.get("EHRCHECK_TEST_LOGIN_USER", "patient")
PASSWORD = os.environ.get("EHRCHECK_TEST_LOGIN_PASSWORD", "patient-pass")


def follow(
    url: str,
    user: str = USER,
    password: str = PASSWORD,
    *,
    stop: Callable[[str], bool] | None = None,
    client: httpx.Client | None = None,
) -> str:
    """Walk redirects and forms from `url`; sign in as `user` and allow whatever is asked.
    Returns the last URL reached (or the first one `stop` accepts, without requesting it)."""
    own = client is None
    c = client or httpx.Client(follow_redirects=False, timeout=15)
    try:
        method, data = "GET", None
        for _ in range(30):
            if stop is not None and stop(url):
                return url
            if urlsplit(url).hostname != "127.0.0.1":
                raise AssertionError(f"refusing to leave loopback: {url}")
            r = c.request(method, url, data=data)
            method, data = "GET", None
            if r.is_redirect:
                url = urljoin(url, r.headers["location"])
                continue
            m = FORM.search(r.text) if "html" in r.headers.get("content-type", "") else None
            if m is None:
                return url
            action = urljoin(url, m.group(1))
            method = "POST"
            data = {"username": user, "password": password} if 'name="username"' in r.text else {}
            url = action
        raise AssertionError("too many steps")
    finally:
        if own:
            c.close()


def main() -> int:
    follow(sys.argv[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
