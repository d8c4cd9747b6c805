"""Keep patient data out of the exchanges the authenticated probes record.

Searches carry patient ids, names and dates in their URLs (`Patient/123`, `?patient=123&date=...`)
and servers put them in paging links. The anonymous probes never send such URLs; the data probes
do, so they record through `ScrubbingRecorder`: resource ids in paths become `[id]` and query
values become `[redacted]`, except for a few parameters whose values are codes, not people.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ehrcheck.http.client import Recorder
from ehrcheck.http.redact import REDACTED, is_fact_header
from ehrcheck.models import Exchange

# Values of these say what was asked for (a LOINC code, a category, a page size), never who.
SAFE_PARAMS = frozenset(
    {"_count", "_type", "_outputFormat", "_format", "_summary", "_elements", "category", "code", "intent", "status"}
)
RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]+$")


def scrub_url(url: str, base_url: str = "") -> str:
    """`base_url`'s own path is kept as is (a base like /api/FHIR/R4 is not a type and an id)."""
    parts = urlsplit(url)
    base_path = urlsplit(base_url).path.rstrip("/") if base_url and url.startswith(base_url) else ""
    segments = parts.path[len(base_path) :].split("/")
    for i in range(1, len(segments)):
        prev, seg = segments[i - 1], segments[i]
        # `Patient/123`, `Group/diabetes-cohort/$export`: the segment after a type is an id.
        if RESOURCE_TYPE.match(prev) and seg and not seg.startswith(("$", "_")):
            segments[i] = "[id]"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, v if k in SAFE_PARAMS else REDACTED) for k, v in pairs], safe="/:$|,*[]")
    return urlunsplit((parts.scheme, parts.netloc, base_path + "/".join(segments), query, ""))


URL_HEADERS = frozenset({"location", "content-location"})


def scrub_headers(headers: dict[str, str], base_url: str) -> dict[str, str]:
    out = {}
    for name, value in headers.items():
        if name in URL_HEADERS:
            out[name] = scrub_url(value, base_url)
        else:
            out[name] = value if is_fact_header(name) or value == REDACTED else REDACTED
    return out


class ScrubbingRecorder(Recorder):
    """Records into `inner` (the probe's own recorder) with patient-identifying URL parts removed,
    from the request URL and redirect targets alike, and header values other than protocol facts."""

    def __init__(self, inner: Recorder, base_url: str):
        super().__init__()
        self.exchanges = inner.exchanges  # one list: the attempt gets exactly what was scrubbed
        self.base_url = base_url

    def add(self, exchange: Exchange) -> None:
        self.exchanges.append(
            exchange.model_copy(
                update={
                    "url": scrub_url(exchange.url, self.base_url),
                    "response_headers": scrub_headers(exchange.response_headers, self.base_url),
                }
            )
        )
