"""Planted secrets and planted patient data never reach any output.

A hostile vendor server echoes every credential it receives back into its answers: into the
CapabilityStatement, the SMART document, response headers, a redirect's query string, a
Retry-After header. The audit is run through the real CLI with every output format, to stdout,
with --debug, and the evidence is re-scored; every byte written anywhere is then searched for the
planted values. The same server hands out a patient record without authentication: only counts,
element names and hashed ids may be kept, unless --include-phi is given.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from ehrcheck.http.redact import REDACTED, Secrets
from ehrcheck.probes.runner import collect
from ehrcheck.render import RENDERERS
from tests.faults.audit import CAP, FAST, SMART, healthy
from tests.faults.server import Conn, dynamic, fault_server, json_reply, redirect, reply
from tests.support.cli import run

USER = "ehr-auditor"
PASSWORD = "PLANTED-userinfo-pw-7f3a"  # in the base URL, so httpx sends it as Basic auth
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
SERVER_COOKIE = "PLANTED-session-cookie-51c2"
PHI = {
    "id": "planted-patient-id-0042",
    "name": "Zebediah Plantedname",
    "birthDate": "1931-02-03",
    "mrn": "MRN-PLANTED-991",
    "line": "42 Planted Lane",
}
SECRETS = (PASSWORD, BASIC, SERVER_COOKIE)
PHI_VALUES = tuple(PHI.values())

PATIENT_BUNDLE = {
    "resourceType": "Bundle",
    "type": "searchset",
    "total": 1,
    "entry": [
        {
            "resource": {
                "resourceType": "Patient",
                "id": PHI["id"],
                "identifier": [{"system": "urn:mrn", "value": PHI["mrn"]}],
                "name": [{"text": PHI["name"]}],
                "birthDate": PHI["birthDate"],
                "address": [{"line": [PHI["line"]]}],
            }
        }
    ],
}


def echo(c: Conn) -> str:
    """Everything secret the client sent, as a careless or hostile server would repeat it."""
    auth = c.request.headers.get("authorization", "")
    decoded = base64.b64decode(auth.split(" ", 1)[1]).decode() if auth.startswith("Basic ") else ""
    return f"{auth} {decoded}"


def hostile_routes() -> dict:
    def capability(c: Conn):
        leaky = {
            **CAP,
            "publisher": f"Acme {echo(c)}",
            "software": {"name": "EHR", "version": echo(c)},
            "implementation": {"description": f"debug: {echo(c)}", "url": f"https://x.example/?token={echo(c)}"},
        }
        return json_reply(leaky, headers={"X-Echo": echo(c), "Set-Cookie": f"sid={SERVER_COOKIE}"})

    def smart(c: Conn):
        # The issuer is this same loopback server (the openid probe follows it), carrying the echo.
        return json_reply(
            {**SMART, "issuer": f"{c.server.origin}/oidc?echo={echo(c)}", "echo": echo(c)},
            content_type="application/json",
            headers={"X-Echo": echo(c)},
        )

    def openid_busy(c: Conn):
        # No credential is sent to the issuer, but the SMART document's echo came along in the
        # issuer URL; it comes back in a header the probe quotes in its reason.
        echoed = parse_qs(urlsplit(c.request.path).query)["echo"][0]
        return reply(503, "busy", {"Retry-After": echoed.split()[-1]})

    routes = healthy(
        metadata=dynamic(lambda c: redirect(f"/fhir/r4/metadata?access_token={echo(c).split()[-1]}")),
        smart=dynamic(smart),
        patient=json_reply(PATIENT_BUNDLE),
    )
    routes["/fhir/r4/metadata"] = dynamic(capability)
    routes["/oidc"] = dynamic(openid_busy)
    return routes


def with_userinfo(base: str) -> str:
    return base.replace("http://", f"http://{USER}:{PASSWORD}@")


def assert_clean(where: str, text: str, include_phi: bool = False) -> None:
    for value in SECRETS:
        assert value not in text, f"secret {value!r} leaked into {where}"
    if not include_phi:
        for value in PHI_VALUES:
            assert value not in text, f"patient data {value!r} leaked into {where}"


@pytest.mark.timeout(120)
def test_planted_secrets_and_phi_reach_no_output(tmp_path: Path):
    formats = ",".join(RENDERERS)  # every format, including those added after this test was written
    with fault_server(hostile_routes()) as srv:
        base = with_userinfo(srv.base)
        audit = run("--debug", "audit", base, "-o", str(tmp_path / "out"), "--format", formats, "--timeout", "2")
        stdout_json = run("audit", base, "-o", "-", "--format", "json", "--timeout", "2")
        probe = run("--debug", "probe", base, "-o", str(tmp_path / "ev.json"), "--timeout", "2")
        sent = [r.headers.get("authorization", "") for r in srv.requests]
    assert audit.exit_code in (0, 1), audit.output
    assert any(BASIC in h for h in sent)  # the credential really was sent, and really echoed

    outputs = {p.name: p.read_text() for p in (tmp_path / "out").iterdir()}
    assert {f"report.{RENDERERS[f].extension}" for f in RENDERERS} | {"evidence.json"} <= set(outputs)
    outputs["stdout (-o -)"] = stdout_json.stdout
    outputs["stderr with --debug (audit)"] = audit.stderr
    outputs["stderr with --debug (probe)"] = probe.stderr
    outputs["probe evidence"] = (tmp_path / "ev.json").read_text()
    for fmt in RENDERERS:  # and once more from saved evidence, offline
        rescored = run("score", str(tmp_path / "ev.json"), "-o", "-", "--format", fmt)
        outputs[f"score -o - --format {fmt}"] = rescored.stdout + rescored.stderr
    for where, text in outputs.items():
        assert_clean(where, text)

    # The debug log is not empty: it shows each request, redacted.
    assert "debug: ehrcheck.http.client: GET http://redacted@127.0.0.1:" in audit.stderr
    assert f"authorization': '{REDACTED}'" in audit.stderr
    # The evidence keeps the facts without the data: counts, element names, hashed ids.
    evidence = json.loads(outputs["evidence.json"])
    assert evidence["target"]["base_url"].startswith("http://redacted@127.0.0.1:")
    search = evidence["probes"]["access"]["data"]["patient_search"]
    assert search["patient_entries"] == 1 and search["returned_patient_data"] is True
    assert search["patient_elements_present"] == ["address", "birthDate", "identifier", "name"]
    assert len(search["patient_id_hashes"]) == 1 and search["patient_id_hashes"][0].startswith("hmac:")
    assert "phi" not in search
    assert "--include-phi" not in audit.stderr  # no warning when not asked


@pytest.mark.timeout(60)
def test_include_phi_keeps_patient_data_and_warns(tmp_path: Path):
    with fault_server(hostile_routes()) as srv:
        res = run("probe", srv.base, "-o", str(tmp_path / "ev.json"), "--include-phi", "--timeout", "2")
    assert res.exit_code == 0, res.output
    assert "--include-phi" in res.stderr and "PHI" in res.stderr
    search = json.loads((tmp_path / "ev.json").read_text())["probes"]["access"]["data"]["patient_search"]
    assert search["phi"]["patient_ids"] == [PHI["id"]]
    assert search["phi"]["resources"][0]["name"] == [{"text": PHI["name"]}]


@pytest.mark.timeout(60)
def test_a_probe_that_crashes_quoting_a_secret_leaks_nothing():
    # A bug in a probe whose exception message quotes the credential: the runner's extension
    # point is the real way another probe joins a run.
    async def buggy(ctx, recorder):
        raise RuntimeError(f"unexpected header {ctx.fetcher.secrets.scrub('x')} Basic {BASIC} / {PASSWORD}")

    with fault_server(hostile_routes()) as srv:
        evidence = asyncio.run(collect(with_userinfo(srv.base), FAST, extra_probes={"buggy": buggy}))
    attempt = evidence.probes["buggy"]
    assert attempt.status.value == "error" and attempt.reason.startswith("internal error in probe: RuntimeError")
    assert_clean("evidence of a crashing probe", evidence.model_dump_json())


def test_secrets_scrubber():
    secrets = Secrets(["short"])  # too short to scrub safely: ignored
    secrets.add("Bearer tok-123456789")
    secrets.add_url("https://u:p%40ss-word-99@h.example/fhir?api_key=key-abcdef&x=1")
    secrets.add_settings({"chpl_api_key": "chpl-key-000111", "chpl_numbers": ["15.04.04.1234.Abcd.01.00.1.200101"]})
    text = "Bearer tok-123456789 / tok-123456789 / p@ss-word-99 / key-abcdef / chpl-key-000111 / short"
    assert secrets.scrub(text) == f"{REDACTED} / {REDACTED} / {REDACTED} / {REDACTED} / {REDACTED} / short"
    assert "15.04.04.1234" in secrets.scrub("15.04.04.1234.Abcd.01.00.1.200101")  # not a secret
    assert secrets.scrub_data({"k-abcdef": ["key-abcdef", 3]}) == {"k-abcdef": [REDACTED, 3]}
