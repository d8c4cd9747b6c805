"""Bounds that hold: a whole audit ends within its documented time budget however slowly (but in
time) a server answers; numbers of any size parse; users' YAML files are capped in size."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ehrcheck.http.client import HttpOptions
from ehrcheck.probes.runner import audit_budget, collect
from tests.faults.audit import healthy
from tests.faults.server import Conn, dynamic, fault_server, reply
from tests.support.cli import run

HUGE = "9" * 5000  # past Python's 4,300-digit limit for int()


@pytest.mark.timeout(60)
def test_a_huge_number_is_still_valid_json(tmp_path: Path):
    body = f'{{"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1", "status": "active", "kind": "instance", "format": ["json"], "rest": [], "x-count": {HUGE}, "x-float": 1{HUGE}.5}}'
    with fault_server(healthy(metadata=reply(200, body))) as srv:
        res = run("probe", srv.base, "-o", str(tmp_path / "ev.json"), "--timeout", "2")
    assert res.exit_code == 0, res.stderr[-2000:]
    import json

    evidence = json.loads((tmp_path / "ev.json").read_text())
    assert evidence["probes"]["capability"]["data"]["found"] is True
    scored = run("score", str(tmp_path / "ev.json"), "-o", str(tmp_path / "r.json"))
    assert scored.exit_code in (0, 1), scored.stderr[-2000:]


@pytest.mark.parametrize(
    "flag, name, first",
    [
        ("--claims", "claims.yaml", "claims_version: 1\n"),
        ("--waivers", "waivers.yaml", "waivers: []\n"),
        ("--pack", "pack.yaml", "pack: big\n"),
        ("--credentials", "creds.yaml", "client_id: app\n"),
    ],
)
def test_users_yaml_files_are_capped_in_size(tmp_path: Path, flag, name, first):
    path = tmp_path / name
    with path.open("w", encoding="utf-8") as fh:  # a comment block: cheap to write, costly to parse
        fh.write(first)
        fh.write(("# " + "x" * 1022 + "\n") * 3 * 1024)
    res = run("audit", "http://127.0.0.1:9/fhir", flag, str(path), "-o", str(tmp_path / "out"))
    assert res.exit_code == 2, res.output[-2000:]
    text = " ".join(res.stderr.split())
    assert str(path) in text and "at most" in text and "Traceback" not in res.output


@pytest.mark.timeout(60)
def test_a_slow_but_in_time_server_cannot_stretch_an_audit_past_its_budget():
    def slow(c: Conn):
        async def fault(conn: Conn) -> None:
            await asyncio.sleep(0.4)  # always in time for the 1 s --timeout
            await reply(200, b"{}")(conn)

        return fault

    async def many_requests(ctx, recorder):
        for _ in range(1000):  # a probe whose fixed request count, at 0.4 s each, is far past budget
            await ctx.fetcher.get(ctx.url("slow"), recorder)
        return {}

    options = HttpOptions(timeout=1.0, retries=0, trust_env=False)
    with fault_server({**healthy(), "/fhir/slow": dynamic(slow)}) as srv:
        evidence = asyncio.run(collect(srv.base, options, extra_probes={"many": many_requests}, budget=3.0))
    attempt = evidence.probes["many"]
    assert attempt.status.value == "error" and "time budget" in attempt.reason
    assert evidence.probes["capability"].status.value == "completed"  # what finished in time is kept


def test_the_audit_budget_is_a_documented_multiple_of_the_timeout():
    assert audit_budget(10.0, None) == 12 * 10.0
    assert audit_budget(1.0, None) == 60.0  # never less than a minute
    assert audit_budget(10.0, 120.0) == 12 * 10.0 + 120.0
