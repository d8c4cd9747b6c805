"""Attack round 13 (black box): each test failed on the code before its fix. The CHPL API key sent
over plain http off this machine; Bulk structure problems quoting a server's unknown element names
and resource types; credentials a token endpoint hands over besides the tokens; credentials-file
errors quoting the value they reject. Cases in /tmp/attack13a/results.md of that round."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.support.chpl_loopback import ACTIVE, chpl_world

CHPL_KEY = "AKa13chplkey77Hh"


@pytest.mark.timeout(60)
def test_the_chpl_key_is_not_sent_over_plain_http_off_this_machine(monkeypatch: pytest.MonkeyPatch):
    """PX9 (G1): `--chpl-url http://198.51.100.7/rest` got the key in clear on every request. The
    loopback server stands in as the HTTP proxy through which such a host is reached, so nothing
    leaves this machine while the test shows what would have been sent."""
    from ehrcheck.http.client import HttpOptions
    from ehrcheck.probes.certification.inputs import certification_inputs
    from ehrcheck.probes.runner import collect

    with chpl_world() as proxy:  # it answers the CHPL paths whatever host a request names
        monkeypatch.setenv("HTTP_PROXY", proxy.origin)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        for name in ("http_proxy", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        cert = certification_inputs(
            chpl_ids=[ACTIVE], chpl_url="http://chpl.example.invalid/rest", environ={"CHPL_API_KEY": CHPL_KEY}
        )
        ev = asyncio.run(collect(proxy.base, HttpOptions(timeout=5, retries=0), extra_probes=cert.probes, settings=cert.settings))
        carried = [path for _, path, headers in proxy.requests if CHPL_KEY in json.dumps(headers)]
    assert not carried, carried
    attempt = ev.probes["chpl"]
    assert attempt.status.value == "error", attempt
    assert "plain http and not on this machine" in (attempt.reason or "") and "CHPL" in (attempt.reason or "")
    assert CHPL_KEY not in ev.model_dump_json()


def test_the_chpl_key_still_goes_to_https_and_to_a_loopback_chpl():
    from ehrcheck.http.origins import api_key_refusal

    assert api_key_refusal("https://chpl.healthit.gov/rest") is None
    assert api_key_refusal("http://127.0.0.1:9/rest") is None
    assert api_key_refusal("http://localhost:9/rest") is None
    assert "not on this machine" in (api_key_refusal("http://198.51.100.7/rest") or "")
