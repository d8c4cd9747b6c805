"""Attack round 13 (black box), the URL and Bulk cases: credential parameters under names no rule
had (`passphrase`, `device_code`, a token inside another parameter's value) kept in every output
of audit and scan and sent; user-info a server put in a URL it named blanking the audited address
out of the report; a Bulk manifest's `type` that is not text stopping the Bulk probe. Cases in
/tmp/attack13a/results.md of that round (G2, G5, G7)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import ROUTES, run, scan_every_output
from tests.support.loopback import serve

LEAK = "Leak13Qs"
NAMES = ["passphrase", "cred", "creds", "device_code", "user_code", "auth_code", "authorization_code",
         "oauth_verifier", "SAMLart", "totp", "mfa_code", "authn", "hash", "launch", "login_hint", "tenant"]  # fmt: skip
NESTED = [f"return_to=https%3A%2F%2Fx%2F%3Faccess_token%3D{LEAK}n1", f"next=/cb?access_token={LEAK}n2",
          f"r=%252Fcb%253Fapi_key%253D{LEAK}n3"]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_a_recorded_url_keeps_no_value_under_a_name_that_is_not_fhirs(name: str):
    """QS1/QS2: each value was printed in evidence, reports and --debug; now only FHIR's own
    parameter names keep a value, whatever the other names say."""
    from ehrcheck.http.redact import redact_url
    from ehrcheck.models import Target

    url = f"https://h/r4/Patient/$export?_type=Patient&{name}={LEAK}v&_count=5"
    for shown in (redact_url(url), Target(base_url=url).base_url):
        assert LEAK not in shown and "_type=Patient" in shown and "_count=5" in shown, shown


@pytest.mark.parametrize("pair", NESTED)
def test_a_token_inside_another_parameters_value_is_redacted(pair: str):
    from ehrcheck.http.redact import redact_url

    shown = redact_url(f"https://h/r4?_count=1&{pair}")
    assert LEAK not in shown and "_count=1" in shown, shown
    assert LEAK not in redact_url(f"https://h/r4?_since=2020&_source={pair.partition('=')[2]}")


def test_a_base_url_with_a_query_or_fragment_is_refused_unquoted(tmp_path: Path):
    """QS2: `audit 'https://h/r4?passphrase=…'` printed the value in every output, and asked
    `/r4?passphrase=…/metadata` (the query inside the path)."""
    with serve(ROUTES) as srv:
        for tail in (f"?passphrase={LEAK}1", f"#state={LEAK}2", "?"):
            for command in ("audit", "probe"):
                res = run(command, srv.base + tail, "-o", str(tmp_path / "out"), "--timeout", "3", "-q")
                assert res.exit_code == 2, res.output[-2000:]
                assert ("has a query" in res.output or "has a fragment" in res.output) and LEAK not in res.output
        assert srv.requests == []
    assert not (tmp_path / "out").exists()


def test_a_scan_lists_query_is_neither_sent_nor_written(tmp_path: Path):
    """QS1: `passphrase`, `device_code`, … in a list URL's query were sent and kept in
    results.jsonl, every report and the history database. A FHIR base has no query: it goes."""
    with serve(ROUTES) as srv:
        lines = [f"{srv.base}?{name}={LEAK}{i:02d}" for i, name in enumerate(NAMES)]
        lines += [f"{srv.base}/?{pair}" for pair in NESTED]
        lines.append(f"{srv.base} junk?passphrase={LEAK}99")  # a junk line is quoted without its query
        res, written, sent = scan_every_output(tmp_path, srv, lines)
    assert res.exit_code in (0, 1), res.output[-2000:]
    assert "/metadata" in sent and "?passphrase" not in sent
    written.append(sent)
    assert not [text[:160] for text in written if LEAK in text]


def test_user_info_a_server_names_does_not_blank_the_audited_address():
    """OX1: a Bulk status or file URL `http://127.0.0.1:PORT@other/…` (the audited host:port as
    user-info) made `127.0.0.1:PORT` a secret of the run, so the report's title, target and
    token endpoint read `http://[redacted]/r4`. User-info a server names is dropped before the
    request (round 11), so it is not a secret of the run either."""
    from ehrcheck.http.client import Fetcher, HttpOptions, Recorder

    async def fetch(url: str, base: str) -> str:
        fetcher = Fetcher.create(HttpOptions(timeout=3, retries=0, trust_env=False))
        try:
            await fetcher.get(url, Recorder(), headers={})
            return fetcher.secrets.scrub(f"report of {base}/r4")
        finally:
            await fetcher.aclose()

    with serve(ROUTES) as audited, serve(ROUTES) as other:
        hostport = audited.origin.split("://", 1)[1]
        url = other.origin.replace("://", f"://{hostport}@") + "/status/1"
        shown = asyncio.run(fetch(url, audited.origin))
    assert shown == f"report of {audited.origin}/r4"


def _vendor_with_types(types: list[Any]) -> dict[str, Any]:
    from tests.faults.audit import healthy
    from tests.faults.server import Conn, dynamic, json_reply, reply

    def export(c: Conn):
        return reply(202, b"", {"Content-Location": "/fhir/status/1"})

    def status(c: Conn):
        origin = f"http://127.0.0.1:{c.server.port}"
        return json_reply(
            {
                "transactionTime": "2026-06-01T00:00:00Z",
                "request": origin + "/fhir/Patient/$export",
                "requiresAccessToken": True,
                "error": [],
                "output": [{"type": t, "url": origin + "/files/Patient.ndjson"} for t in types],
            },
            content_type="application/json",
        )

    ndjson = reply(200, b'{"resourceType":"Patient","id":"p1"}\n', content_type="application/fhir+ndjson")
    return {**healthy(export=dynamic(export)), "/fhir/status/1": dynamic(status), "/files/Patient.ndjson": ndjson}


@pytest.mark.timeout(60)
def test_a_bulk_output_type_that_is_not_text_is_no_internal_error(tmp_path: Path):
    """BT1: `output[].type` an object or a list stopped the Bulk probe with `internal error in
    probe: TypeError: unhashable type: 'dict'`; the server's text in it is not recorded either."""
    from tests.faults.server import fault_server
    from tests.probes.authenticated.test_faults_bulk import run_bulk

    with fault_server(_vendor_with_types([{"x": "Qwertgiv13"}, ["Qwertgiv13"], "Patient"])) as srv:
        evidence, attempt = run_bulk(srv.base, tmp_path)
    assert attempt.status.value == "completed", attempt.reason
    assert len(attempt.data["patient"]["files"]) == 3
    assert "Qwertgiv13" not in evidence.model_dump_json()


def test_a_credential_in_a_list_urls_path_parameter_is_neither_sent_nor_written(tmp_path: Path):
    """QS1 line 21 (`/r4/;access_token=…/x`): kept in every scan output and sent, under the
    Limit for a list's path parameters; one whose name is a credential's goes now."""
    from ehrcheck.scan.endpoint_list import normalise_url

    assert normalise_url(f"http://h/r4;jsessionid={LEAK}") == ("http://h/r4", "")
    assert normalise_url(f"http://h/r4/;access_token={LEAK}/x;v=2") == ("http://h/r4//x;v=2", "")
    with serve(ROUTES) as srv:
        res, written, sent = scan_every_output(tmp_path, srv, [f"{srv.base};JSESSIONID={LEAK}p"])
    assert res.exit_code in (0, 1), res.output[-2000:]
    assert "/metadata" in sent
    written.append(sent)
    assert not [text[:160] for text in written if LEAK in text]


def test_a_settings_address_is_not_a_secret():
    """Round 13 (note): the credentials' `token_endpoint` became a secret of the run (its key
    holds "token"), so --debug read `POST [redacted]`; the secret values beside it still are."""
    from ehrcheck.http.redact import Secrets

    secrets = Secrets()
    secrets.add_settings({"token_endpoint": "https://auth.example/token", "private_key_file": "/k/app-key.pem",
                          "client_secret": "Sec13retValue", "api_key": "Key13Value99"})  # fmt: skip
    shown = secrets.scrub("POST https://auth.example/token with /k/app-key.pem Sec13retValue Key13Value99")
    assert shown == "POST https://auth.example/token with /k/app-key.pem [redacted] [redacted]", shown
