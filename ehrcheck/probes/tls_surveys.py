"""One TLS survey per host:port for all of a scan's audits in one process.

The transport probe's survey (a verified handshake, then TLS 1.0, 1.1 and static-RSA attempts:
four handshakes, several network round trips, in a thread of the event loop's small default
pool) observes the host:port, not the endpoint, so endpoints that share a vendor host got the
same answer four handshakes at a time. (On loopback its CPU is small: docs/benchmarks.md.) Here the
first audit to ask surveys it; audits asking meanwhile wait for that survey, and later ones reuse
its result for SURVEY_SECONDS. Only a completed survey is shared: one that raised (the host could
not be reached, the proxy refused) is each audit's own, so a passing fault is not spread to a
host's other endpoints. Each audit gets its own copy of the result.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

SURVEY_SECONDS = 60.0  # how long one survey answers for its host:port
MAX_SURVEYS = 1024  # kept at once; the oldest go first


class TlsSurveys:
    def __init__(self, seconds: float = SURVEY_SECONDS, max_surveys: int = MAX_SURVEYS):
        self._seconds = seconds
        self._max = max_surveys
        self._done: dict[Hashable, tuple[float, dict[str, Any]]] = {}
        self._running: dict[Hashable, asyncio.Future[dict[str, Any]]] = {}

    async def survey(self, key: Hashable, run: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        """`run()`'s result for `key`, surveyed once while it is fresh."""
        kept = self._done.get(key)
        if kept is not None and time.monotonic() < kept[0]:
            return copy.deepcopy(kept[1])
        running = self._running.get(key)
        if running is not None:
            try:
                return copy.deepcopy(await asyncio.shield(running))
            except Exception:  # noqa: BLE001 - that audit's failure is its own: survey for ourselves
                return await run()
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            result = await run()
        except BaseException as exc:
            future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("the survey was cancelled"))
            future.exception()  # retrieved: a failure nobody waited for is not "never retrieved"
            raise
        finally:
            del self._running[key]
        future.set_result(result)
        self._keep(key, result)
        return copy.deepcopy(result)

    def _keep(self, key: Hashable, result: dict[str, Any]) -> None:
        self._done.pop(key, None)
        while len(self._done) >= self._max:
            del self._done[next(iter(self._done))]
        self._done[key] = (time.monotonic() + self._seconds, copy.deepcopy(result))
