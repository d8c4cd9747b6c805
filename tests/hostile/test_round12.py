"""Attack round 12 (black box, on the round-11 fixes): each test failed on the code before its
fix. A Bulk file's own type and junk list lines' token parameters under other names; more
credential parameter spellings and `;` as a query separator; bytes that are not UTF-8 in the base
URL; a classic exponential regex and a repetition count that overflows the parser; a published
token endpoint's user-info recorded when refused; a control character in a server-named URL; the
client_secret_basic value echoed before its first use. Cases in /tmp/attack12/results.md."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest

from tests.hostile.test_messages import PACK_HEAD, assert_message
from tests.support.cli import ROUTES, run
from tests.support.loopback import serve


def test_a_bulk_files_own_type_is_recorded_as_fhirs_word_only():
    """RB01, BT2: the per-file record (files[].type) and the finding quoting it kept a manifest's
    `type: Zzyzxfam` after round 11 cleaned output_types."""
    from ehrcheck.probes.authenticated.bulk import type_shown

    assert type_shown("Observation") == "Observation"
    assert type_shown("Zzyzxfam") == type_shown("Pat\u202eient") == type_shown("Patient ") == "[unknown type]"
    assert type_shown(5) is None


NAMES = ["private_key", "access_key", "accesskey", "client_key", "auth_key", "authkey", "pw", "sid", "sessid", "ssid",
         "ticket", "SAMLResponse", "passcode", "otp", "pin", "sas", "skey", "sharedkey", "license_key", "tok", "tkn",
         "cfid"]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_more_credential_parameter_spellings_are_dropped_and_redacted(name: str):
    """QS1: each was kept in every scan output and sent."""
    from ehrcheck.http.redact import redact_url, strip_credentials
    from ehrcheck.scan.endpoint_list import normalise_url

    url = f"https://h/r4?{name}=Leak12Value&m=1"
    assert "Leak12" not in strip_credentials(url) and "Leak12" not in redact_url(url)
    assert normalise_url(url)[0] == "https://h/r4"  # a list URL's query is dropped (round 13)


def test_a_semicolon_separated_token_is_dropped_and_redacted():
    """QS2: `?a=1;access_token=T` (a separator older servers honour) kept the token as a's value."""
    from ehrcheck.http.redact import redact_url, strip_credentials
    from ehrcheck.scan.endpoint_list import normalise_url

    url = "https://h/r4?a=1;access_token=Leak12Semi&m=2"
    for shown in (strip_credentials(url), redact_url(url), normalise_url(url)[0]):
        assert "Leak12" not in shown, shown
    assert redact_url("https://h/r4?_count=1&_type=Patient") == "https://h/r4?_count=1&_type=Patient"  # FHIR's own kept


@pytest.mark.parametrize(
    "line",
    ["?x-api-key=Leak12J bad", "?private_token=Leak12J|x", "?token\t=Leak12J", "?x=1&api key=Leak12J",
     "?sig nature=Leak12J", "?pass word=Leak12J", "?Authorization=Basic%20Leak12J bad"],
)  # fmt: skip
def test_a_junk_lines_token_parameter_under_another_spelling_is_redacted(line: str):
    """JK1: junk list lines are quoted with token-like values replaced, but only for the names of
    SECRET_PARAMS; the same judgement as for parsed URLs now applies."""
    from ehrcheck.console.debug import scrub_text
    from ehrcheck.http.redact import redact_url_text

    text = "http://127.0.0.1:9/r4" + line
    assert "Leak12J" not in redact_url_text(text) and "Leak12J" not in scrub_text(text)
    assert redact_url_text("http://h/Patient?author=Smith&_count=5") == "http://h/Patient?author=Smith&_count=5"


@pytest.mark.parametrize("command", ["audit", "probe"])
def test_a_base_url_with_bytes_that_are_not_utf8_is_a_message(tmp_path: Path, command: str):
    """UTF1: `audit $'http://127.0.0.1:PORT/r4/\\xff'` (Python reads it as a lone surrogate) ended
    in a UnicodeEncodeError traceback from httpx."""
    res = run(command, "http://127.0.0.1:9/r4/\udcff", "-o", str(tmp_path / "o"))
    assert_message(res, "BASE_URL", "not UTF-8")


@pytest.mark.parametrize(
    "pattern, why",
    [("(a?){30}a{30}", "repetition inside a repetition"), ("a{4294967296}", "too large"),
     ("x{99999999999999999999,}", "too large"), ("(?:x){4294967296}", "too large")],
)  # fmt: skip
def test_an_exponential_or_overflowing_pack_regex_is_refused_with_its_line(tmp_path: Path, pattern: str, why: str):
    """RX1: `(a?){30}a{30}` was accepted and took 38 s on 30 characters (doubling per character);
    RX2: a repetition count of 2**32 or more was a parser OverflowError traceback."""
    pack = tmp_path / "p.yaml"
    pack.write_text(
        PACK_HEAD.replace(
            "{path: capability.fhir_version, op: exists}", f"{{path: capability.software.name, op: regex, value: '{pattern}'}}"
        ),
        encoding="utf-8",
    )
    assert_message(run("rules", "check", str(pack)), str(pack), why)


def test_a_refused_token_endpoints_user_info_is_not_recorded():
    """TL2: a published token endpoint with user-info, refused (plain http under https), was
    recorded and shown in the reports with its password."""
    from ehrcheck.http.redact import shown_url as _shown

    assert _shown("http://u:Leak12Pw@127.0.0.1:9/token") == "http://redacted@127.0.0.1:9/token"
    assert _shown("http://[::1/token") == "[not a URL]"


def test_a_control_character_in_a_server_named_url_fails_that_request_with_a_message():
    """CC1: a token endpoint, issuer or next link with ESC or DEL ended its probe in 'internal
    error in probe: InvalidURL' (9 findings for a token endpoint)."""
    from ehrcheck.http.client import Fetcher, FetchError, HttpOptions, Recorder

    async def attempt(url: str) -> str:
        fetcher = Fetcher.create(HttpOptions(timeout=3, retries=0))
        try:
            await fetcher.get(url, Recorder())
        except FetchError as exc:
            return f"{exc.kind}: {exc}"
        finally:
            await fetcher.aclose()
        return "sent"

    with serve(ROUTES) as srv:
        for url in (srv.base + "/meta\x1bdata", srv.base + "/x\x7f"):
            assert asyncio.run(attempt(url)).startswith("url: the server named an address"), url


def test_the_client_secret_basic_value_is_a_secret_before_it_is_first_sent():
    """RA04: a server echoing base64(client_id:secret) \\u-escaped in its first answers had it on
    the --debug lines before the first token request."""
    from ehrcheck.http.redact import Secrets
    from ehrcheck.probes.authenticated.credentials import Credentials, Secret

    creds = Credentials(client_id="app", method="client_secret_basic", client_secret=Secret("Cs-Round12-Secret"))
    blob = base64.b64encode(b"app:Cs-Round12-Secret").decode()
    echo = "".join(f"\\u{ord(c):04x}" for c in blob)
    assert Secrets(creds.secrets()).scrub(f"x {echo} y") == "x [redacted] y"


def test_scan_to_dash_is_refused_not_a_folder_named_dash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """DA2: `scan LIST -o -` wrote a folder literally named `-` (as demo and probe did before)."""
    monkeypatch.chdir(tmp_path)
    listing = tmp_path / "l.txt"
    listing.write_text("http://127.0.0.1:9/r4\n", encoding="utf-8")
    assert_message(run("scan", str(listing), "-o", "-"), "-o -", "a scan writes a folder")
    assert not (tmp_path / "-").exists()


@pytest.mark.timeout(120)
def test_a_capability_statement_of_hundreds_of_thousands_of_tiny_entries_is_refused_unparsed(tmp_path: Path):
    """BC1: a 19.4 MB statement (under the body cap) of 440,000 tiny entries peaked at 3.3 GB;
    a 1.8 MB one at 375 MB. A statement is refused past 20,000 objects and arrays (real ones
    hold a few thousand), before it is parsed, summarised or validated."""
    import json

    from tests.support.cli import CAP
    from tests.support.loopback import Reply

    cap = {**CAP, "rest": [{"mode": "server", "resource": [{"type": "Patient"}] * 40_000}]}
    with serve({**ROUTES, "/fhir/metadata": Reply(200, cap)}) as srv:
        res = run("audit", srv.base, "-o", str(tmp_path / "out"), "--timeout", "5", "-q")
    assert res.exit_code in (0, 1, 2), res.output[-2000:]
    assert "Traceback" not in res.output
    evidence = json.loads((tmp_path / "out" / "evidence.json").read_text(encoding="utf-8"))
    assert "more than a CapabilityStatement ever does" in json.dumps(evidence["probes"]["capability"])


@pytest.mark.parametrize("flag", ["--min-passing", "--max-unreachable"])
def test_scan_gate_numbers_take_ascii_digits_only(tmp_path: Path, flag: str):
    """Round 12 (LIMIT, closed): `--min-passing ５%` (fullwidth) was accepted as 5% while every
    other numeric flag refused other scripts' digits."""
    listing = tmp_path / "l.txt"
    listing.write_text("http://127.0.0.1:9/r4\n", encoding="utf-8")
    assert_message(run("scan", str(listing), "-o", str(tmp_path / "s"), flag, "５%"), flag, "is not a number")


def test_demo_help_offers_only_the_formats_demo_writes():
    """Round 11 note: `demo --help` listed pdf, which `demo -f pdf` refuses."""
    res = run("demo", "--help")
    assert res.exit_code == 0 and "summary" in res.output and "pdf" not in res.output.lower()
