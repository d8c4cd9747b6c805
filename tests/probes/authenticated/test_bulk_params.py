"""Attack round M1: the manifest's `output[].type` is the server's text; only names shaped like FHIR
resource types go back into the `_type` kick-off URL, so one hostile string cannot cost the whole
Bulk probe (httpx refuses a URL with control characters)."""

from __future__ import annotations

import asyncio
from typing import Any

from ehrcheck.probes.authenticated.bulk_params import kickoff_parameters


def test_only_resource_type_names_reach_the_type_parameter() -> None:
    asked: list[str] = []

    async def run_export(url: str, _since: str | None) -> dict[str, Any]:
        asked.append(url)
        return {"kickoff": {"http_status": 202, "accepted": True}, "status": {"state": "complete"}, "manifest": {}}

    plain = {"manifest": {"output_types": ["Patient", "\x1b[2J[bold]<script>", "Observation", 42]}}
    out = asyncio.run(kickoff_parameters("Group/g1/$export", plain, run_export))
    typed = [u for u in asked if "_type=" in u]
    assert typed == ["Group/g1/$export?_type=Patient,Observation"]
    assert out["type"]["requested"] == ["Patient", "Observation"]
    assert all("\x1b" not in u and "<" not in u for u in asked)
