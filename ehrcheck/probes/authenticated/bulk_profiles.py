"""Bulk NDJSON lines judged against US Core, one line at a time: each resource of a US Core type
is held to its profile's mandatory elements and terminology bindings (uscore_judge), and only
counts are kept, so memory stays bounded by the number of profiles however long the file is.
Must-support coverage is the US Core probe's business (a Bulk file is not a patient's chart).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ehrcheck.probes.authenticated.uscore_judge import Judge
from ehrcheck.probes.authenticated.uscore_profiles import conformance

MAX_PROFILES_SHOWN = 20


def line_judge(version: str) -> Judge:
    """Every profile of the version; each line goes to the most specific one it fits."""
    return Judge(version, conformance(version)["profiles"], dedupe=False, collect_tx=False)


def line_summary(judge: Judge) -> dict[str, Any]:
    profiles: dict[str, Any] = {}
    for pid, tally in sorted(judge.tallies.items()):
        if not tally.resources:
            continue
        codes = {eid: row["failed"] for eid, row in sorted(tally.terminology.items()) if row["failed"]}
        bad = sorted({c for row in tally.terminology.values() if row["failed"] for c in row["bad_codes"]})
        profiles[pid] = {
            "resources": tally.resources,
            "resources_missing_mandatory": tally.missing_mandatory,
            "mandatory_violations": dict(sorted(tally.violations.items())),
            "codes_failed": codes,
            "bad_codes": bad[:3],
        }
        if len(profiles) >= MAX_PROFILES_SHOWN:
            break
    return {
        "version": judge.version,
        "checked": judge.judged,
        "failed": judge.failed,
        "unassigned": sum(judge.unassigned.values()),
        "profiles": profiles,
    }


def _instant(text: Any) -> dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def updated_before(resource: dict[str, Any], since: str) -> bool:
    """meta.lastUpdated earlier than `since` (a resource without one cannot be judged)."""
    updated = _instant((resource.get("meta") or {}).get("lastUpdated") if isinstance(resource.get("meta"), dict) else None)
    limit = _instant(since)
    return updated is not None and limit is not None and updated < limit
