"""`--tx-server URL`: codes the offline checks could not judge, asked of a FHIR terminology
server with `ValueSet/$validate-code` (FHIR R4 §ValueSet $validate-code).

Only (value set, system, code) triples are sent: no resource, no id, and never the FHIR server's
token (the terminology server is another origin). At most MAX_LOOKUPS distinct triples. When the
server cannot be reached or does not answer with a Parameters resource, the codes stay *not
checked* and the outage is recorded: a terminology server being down says nothing about the
audited API.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from ehrcheck.http.client import FetchError, Recorder
from ehrcheck.probes.base import ProbeContext, parse_json

MAX_LOOKUPS = 60
GIVE_UP_AFTER = 3  # consecutive failures before the server is taken as down


def _result(doc: Any) -> bool | None:
    if not isinstance(doc, dict) or doc.get("resourceType") != "Parameters":
        return None
    for p in doc.get("parameter") or []:
        if isinstance(p, dict) and p.get("name") == "result" and isinstance(p.get("valueBoolean"), bool):
            return p["valueBoolean"]
    return None


async def validate_codes(
    ctx: ProbeContext, rec: Recorder, tx_url: str, triples: list[tuple[str, str, str]]
) -> tuple[dict[tuple[str, str, str], bool], dict[str, Any]]:
    """({triple: valid}, facts). Triples the server did not judge are left out of the first."""
    base = tx_url.rstrip("/")
    results: dict[tuple[str, str, str], bool] = {}
    facts: dict[str, Any] = {"server": base, "requests": 0, "answered": 0, "unavailable": False, "statuses": {}}
    failures = 0
    for vs, system, code in triples[:MAX_LOOKUPS]:
        url = f"{base}/ValueSet/$validate-code?" + urlencode({"url": vs, "system": system, "code": code})
        facts["requests"] += 1
        try:
            resp = await ctx.fetcher.get(url, rec, headers={"Accept": "application/fhir+json"})
        except FetchError as exc:
            facts["error"] = str(exc)[:200]
            failures += 1
        else:
            facts["statuses"][str(resp.status)] = facts["statuses"].get(str(resp.status), 0) + 1
            doc, _ = parse_json(resp)
            verdict = _result(doc) if resp.status == 200 else None
            if verdict is None:
                failures += 1
            else:
                failures = 0
                facts["answered"] += 1
                results[(vs, system, code)] = verdict
        if failures >= GIVE_UP_AFTER:
            facts["unavailable"] = True
            break
    facts["not_asked"] = max(0, len(triples) - facts["requests"])
    return results, facts
