"""`--debug`: detailed, redacted diagnostics on stderr.

Debug lines are built from already-redacted values and scrubbed of the run's known secrets where
they are written (http.Fetcher, probes.base); this handler adds a last, stateless pass for the
shapes a secret takes in free text (user-info in a URL, a bearer token, a token query parameter),
so that a shared CI log stays safe to share.
"""

from __future__ import annotations

import logging
import re
import sys

from ehrcheck.http.redact import REDACTED, REDACTED_USERINFO, TEXT_PARAMS, text_param
from ehrcheck.inert import visible

_PATTERNS = (
    (re.compile(r"(?<=://)[^/@\s]+@"), REDACTED_USERINFO + "@"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 " + REDACTED),
    (TEXT_PARAMS, text_param),  # the one pattern redact_url_text uses
)


def scrub_text(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class _ScrubbingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # Lines quote server headers and bodies: control characters are spelled out, line by line.
        return "\n".join(visible(line) for line in scrub_text(super().format(record)).split("\n"))


def enable_debug(stream=None) -> logging.Handler:
    """Send ehrcheck's debug log to stderr (or `stream`); returns the handler so a caller (a test)
    can remove it again."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_ScrubbingFormatter("debug: %(name)s: %(message)s"))
    logger = logging.getLogger("ehrcheck")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    return handler
