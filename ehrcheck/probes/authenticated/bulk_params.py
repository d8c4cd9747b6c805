"""Bulk Data kick-off parameters (Bulk Data Access IG v1.0.1 §Query Parameters): `_outputFormat`,
`_type` and `_since`, each in an export of its own so a refusal names the parameter, on the
export (g)(10) certifies (`Group/[id]/$export`, else `Patient/$export`).

- `_outputFormat=application/fhir+ndjson` (the format every server must support) must start an
  export that completes;
- `_type` with the types the plain export produced: the manifest may list no other type;
- `_since` set to this probe's clock at kick-off: no line of the export may have been last
  updated before it (a server that ignores `_since` sends everything it has).

The exports are run by the Bulk probe's own `export` (kick-off, polling, files, delete), passed
in as `run_export`, so the same limits and token rules apply.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")

NDJSON = "application/fhir+ndjson"
MAX_TYPES = 2

RunExport = Callable[[str, "str | None"], Awaitable[dict[str, Any]]]


def _outcome(part: dict[str, Any]) -> dict[str, Any]:
    kick = part.get("kickoff") or {}
    status = part.get("status") or {}
    return {"kickoff_status": kick.get("http_status"), "accepted": bool(kick.get("accepted")), "state": status.get("state")}


async def kickoff_parameters(path: str, plain_export: dict[str, Any] | None, run_export: RunExport) -> dict[str, Any]:
    """`path` is the export to vary (`Group/[id]/$export`, else `Patient/$export`);
    `plain_export` is what it gave without parameters."""
    out: dict[str, Any] = {}
    fmt = await run_export(f"{path}?_outputFormat={quote(NDJSON, safe='')}", None)
    out["output_format"] = {"requested": NDJSON, **_outcome(fmt)}

    # Only names shaped like FHIR resource types go back into a URL: the manifest is the server's text.
    listed = ((plain_export or {}).get("manifest") or {}).get("output_types") or []
    plain = [t for t in listed if isinstance(t, str) and RESOURCE_TYPE.fullmatch(t)]
    wanted = (["Patient"] if "Patient" in plain else []) + [t for t in plain if t != "Patient"]
    wanted = wanted[:MAX_TYPES]
    if wanted:
        typed = await run_export(f"{path}?_type={','.join(wanted)}", None)
        got = (typed.get("manifest") or {}).get("output_types") or []
        out["type"] = {
            "requested": wanted,
            **_outcome(typed),
            "output_types": got,
            "unexpected_types": sorted(set(got) - set(wanted)),
        }
    else:
        out["type"] = {"requested": [], "note": "the plain export listed no output type to filter on"}

    since = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    recent = await run_export(f"{path}?_since={quote(since, safe=':')}", since)
    files = recent.get("files") or []
    out["since"] = {
        "requested": since,
        **_outcome(recent),
        "files": len(files),
        "lines": sum(f.get("lines") or 0 for f in files),
        "updated_before_since": sum(f.get("updated_before_since") or 0 for f in files),
    }
    return out
