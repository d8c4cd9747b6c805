"""Patient data and secrets are scrubbed by construction: exchanges are recorded (and logged with
--debug) through one redaction path, and a secret is recognised in the encodings a server might
echo it in (percent-encoded, form-encoded, base64, JSON-escaped)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from ehrcheck.console.debug import enable_debug
from ehrcheck.http.client import Fetcher, HttpOptions, Recorder
from ehrcheck.http.redact import REDACTED, Secrets
from ehrcheck.probes.phi import ScrubbingRecorder
from tests.faults.audit import CAP, healthy
from tests.faults.server import dynamic, fault_server, json_reply, redirect, reply
from tests.support.cli import run

PHI = ("Zebediah", "Plantedname", "1931-02-03", "MRN-PLANTED-991", "planted-patient-0042")
FAST = HttpOptions(timeout=2.0, retries=0, trust_env=False)


def _fetch_scrubbed(url: str, base: str) -> tuple[list, str]:
    log = io.StringIO()
    handler = enable_debug(log)
    try:

        async def go():
            fetcher = Fetcher.create(FAST)
            inner = Recorder()
            try:
                await fetcher.get(url, ScrubbingRecorder(inner, base), headers={"Authorization": "Bearer PLANTED-bearer-77"})
            finally:
                await fetcher.aclose()
            return inner.exchanges

        exchanges = asyncio.run(go())
    finally:
        logging.getLogger("ehrcheck").removeHandler(handler)
    return exchanges, log.getvalue()


@pytest.mark.timeout(30)
def test_a_redirected_patient_search_keeps_no_patient_data():
    moved = "/fhir/r4/Patient?name=Zebediah%20Plantedname&birthdate=1931-02-03&identifier=MRN-PLANTED-991&_count=5"
    routes = {
        "/fhir/Patient": redirect(moved),
        "/fhir/r4/Patient": reply(
            200,
            b'{"resourceType": "Bundle"}',
            {
                "Content-Location": "/fhir/r4/Patient/planted-patient-0042?name=Zebediah",
                "X-Patient-Name": "Zebediah Plantedname",
            },
        ),
    }
    with fault_server(routes) as srv:
        url = srv.base + "/Patient?name=Zebediah&birthdate=1931-02-03"
        exchanges, debug = _fetch_scrubbed(url, srv.base)
    recorded = json.dumps([e.model_dump() for e in exchanges])
    for value in PHI:
        assert value not in recorded, f"{value} in the evidence"
        assert value not in debug, f"{value} in --debug"
    assert "name=" in recorded and "_count=5" in recorded  # parameter names (and safe values) kept
    assert "x-patient-name" in recorded  # the header's name is a fact; its value is not kept
    assert "GET http://127.0.0.1:" in debug  # the log is not empty


PASSWORD = "PLANTED pw/+=9f3a"  # characters that change under every encoding
USERINFO = f"auditor:{quote(PASSWORD, safe='')}"


def echoes(value: str) -> list[str]:
    return [
        quote(value, safe=""),
        quote_plus(value),
        base64.b64encode(value.encode()).decode(),
        base64.urlsafe_b64encode(value.encode()).decode().rstrip("="),
        json.dumps(value)[1:-1].replace("/", "\\/"),
    ]


@pytest.mark.timeout(60)
def test_secrets_are_scrubbed_in_every_encoding(tmp_path: Path):
    planted = echoes(PASSWORD)

    def capability(c):
        return json_reply(
            {**CAP, "publisher": " ".join(planted)},
            headers={f"X-Echo-{i}": v for i, v in enumerate(planted)},
        )

    with fault_server(healthy(metadata=dynamic(capability))) as srv:
        base = srv.base.replace("http://", f"http://{USERINFO}@")
        res = run("--debug", "audit", base, "-o", str(tmp_path / "out"), "--format", "md,json", "--timeout", "2")
    assert res.exit_code in (0, 1), res.stderr[-2000:]
    outputs = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "out").iterdir()}
    outputs["stderr"] = res.stderr
    for where, text in outputs.items():
        for value in [PASSWORD, *planted]:
            assert value not in text, f"{value!r} reached {where}"
    assert REDACTED in outputs["evidence.json"]


def test_scrubber_knows_the_encodings():
    secrets = Secrets([PASSWORD])
    for variant in echoes(PASSWORD):
        assert secrets.scrub(f"x {variant} y") == f"x {REDACTED} y", variant
