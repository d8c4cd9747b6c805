"""Keep patient data out of the exchanges the authenticated probes record.

Searches carry patient ids, names and dates in their URLs (`Patient/123`, `?patient=123&date=...`)
and servers put them in paging links. The anonymous probes never send such URLs; the data probes
do, so they record through `ScrubbingRecorder`: resource ids in paths become `[id]` and query
values become `[redacted]`, except for a few parameters whose values are codes, not people.
"""

from __future__ import annotations

from ehrcheck.http.client import Recorder
from ehrcheck.http.redact import REDACTED, URL_HEADERS, is_fact_header, scrub_url
from ehrcheck.models import Exchange


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

    def fork(self) -> Recorder:
        return ScrubbingRecorder(Recorder(), self.base_url)

    def add(self, exchange: Exchange) -> None:
        self.exchanges.append(
            exchange.model_copy(
                update={
                    "url": scrub_url(exchange.url, self.base_url),
                    "response_headers": scrub_headers(exchange.response_headers, self.base_url),
                }
            )
        )
