"""Attack round 7 (an independent black-box round, then fixes): each test failed on the code
before its fix. A server's raw UTF-8-encoded surrogate crashing a scan, a --run-label that its
own --resume refused, and the other failures recorded in /tmp/attack7/results.md of that round."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run

# `ED A0 80` is U+D800 encoded as if it were a character: not valid UTF-8, but json.loads
# decodes bytes with 'surrogatepass', so it became a lone surrogate no UTF-8 writer can encode.
RAW_SURROGATE = b"\xed\xa0\x80"


def test_a_raw_encoded_surrogate_in_server_json_becomes_a_replacement_character():
    from ehrcheck.files.limits import json_loads

    assert json_loads(b'{"a": "x' + RAW_SURROGATE + b'y"}') == {"a": "x\ufffdy"}
    assert json_loads(b'{"a": "x\\ud800"}') == {"a": "x\ufffd"}  # the escape, as before
    assert json_loads('{"a": "plain"}') == {"a": "plain"}


@pytest.mark.timeout(90)
def test_a_scan_survives_a_raw_surrogate_in_a_servers_smart_configuration(tmp_path: Path):
    """`scan` died with a UnicodeEncodeError traceback writing results.jsonl after the first
    endpoint whose CapabilityStatement carried the raw bytes (the `\\ud800` escape was handled)."""
    from tests.support.cli import CAP, ROUTES
    from tests.support.loopback import Reply, serve

    smart = {"issuer": "https://issuer.invalid", "capabilities": ["launch-standalone", "invented@@"]}
    body = json.dumps(smart).encode().replace(b"@@", RAW_SURROGATE)  # quoted in a finding's message
    routes = {
        **ROUTES,
        "/fhir/metadata": Reply(200, CAP),
        "/fhir/.well-known/smart-configuration": Reply(200, body, {"Content-Type": "application/json"}),
    }
    out, listing = tmp_path / "scan", tmp_path / "urls.txt"
    with serve(routes) as srv:
        listing.write_text(srv.base + "\n", encoding="utf-8")
        res = run("scan", str(listing), "-o", str(out), "--timeout", "3", "--workers", "1", "-q")
    assert res.exit_code in (0, 1), res.output[-2000:]
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["outcome"] for r in rows] == ["audited"]
    assert "invented\ufffd" in json.dumps(rows[0]["findings"], ensure_ascii=False)
