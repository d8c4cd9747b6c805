"""Leftovers of attack round 9, and what looking for them turned up: characters that `str.isdigit`
calls digits but `int`/`float` refuse ('²', '¹'). A server's declared US Core version
`us-core-server|6.¹` made the whole audit unscorable ("this evidence cannot be scored"), a
`Retry-After: ²` was about to be read as a number, and a recorded `_count=١٢` kept a non-ASCII
value the redaction promises to keep only as a number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import CAP, ROUTES, run, scan_every_output
from tests.support.loopback import Reply, serve

US_CORE = "http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server"


@pytest.mark.timeout(90)
@pytest.mark.parametrize("version", ["6.¹", "²", "6.1.0-٣"])
def test_a_declared_version_with_digit_like_characters_is_scored(tmp_path: Path, version: str):
    """The audit ends with its reports and the version shown as the server wrote it."""
    cap = {**CAP, "instantiates": [f"{US_CORE}|{version}"]}
    with serve({**ROUTES, "/fhir/metadata": Reply(200, cap)}) as srv:
        res = run("audit", srv.base, "-o", str(tmp_path / "out"), "--timeout", "3", "-q")
    assert res.exit_code in (0, 1), res.output[-2000:]
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert any(version in json.dumps(f["observed"], ensure_ascii=False) for f in report["findings"])


def test_retry_after_is_read_only_from_ascii_digits():
    from ehrcheck.probes.authenticated.bulk import retry_after

    assert retry_after("12") == 12.0
    assert retry_after("²") is None and retry_after("١٢") is None


def test_a_recorded_count_is_kept_only_as_ascii_digits():
    from ehrcheck.http.redact import scrub_url

    assert scrub_url("https://h/fhir/Patient?_count=50") == "https://h/fhir/Patient?_count=50"
    assert scrub_url("https://h/fhir/Patient?_count=%D9%A1%D9%A2") == "https://h/fhir/Patient?_count=[redacted]"
    assert scrub_url("https://h/fhir/Patient?_count=%C2%B2") == "https://h/fhir/Patient?_count=[redacted]"


def test_a_pack_path_with_a_digit_like_part_is_missing_not_a_crash():
    from ehrcheck.engine.evaluate import MISSING, resolve

    assert resolve({"a": ["x", "y"]}, "a.1") == "y"
    assert resolve({"a": ["x", "y"]}, "a.¹") is MISSING


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_history_names_a_database_path_that_is_not_a_file_for_what_it_is(tmp_path: Path, kind: str):
    """`history --db FIFO` said "no such file" about a path that exists (exit 2 all the same)."""
    import os

    from tests.hostile.test_messages import assert_message

    db = tmp_path / "h.sqlite"
    os.mkfifo(db) if kind == "fifo" else db.mkdir()
    assert_message(run("history", "--db", str(db)), str(db), "not a regular file")


SESSION = "S3ss10nPathParam77"


def test_a_path_parameter_value_is_redacted_from_a_reported_url():
    from ehrcheck.console.debug import scrub_text
    from ehrcheck.http.redact import redact_url

    assert (
        redact_url(f"https://h/r4;jsessionid={SESSION}/Patient?_count=1") == "https://h/r4;jsessionid=[redacted]/Patient?_count=1"
    )
    assert redact_url("https://h/r4;v=1;s=2") == "https://h/r4;v=[redacted];s=[redacted]"
    assert redact_url("https://h/r4/Patient") == "https://h/r4/Patient"
    assert SESSION not in scrub_text(f"GET https://h/r4;jsessionid={SESSION}/metadata -> 200")
    assert scrub_text("GET https://h/x?access_token=&y=1") == "GET https://h/x?access_token=[redacted]&y=1"


@pytest.mark.timeout(90)
def test_a_session_in_the_audited_base_urls_path_reaches_no_output(tmp_path: Path):
    """The base URL's path parameter was a documented limit: kept in evidence.json's target, the
    reports and --debug. Now its value is redacted wherever the base URL is shown."""
    base_path = f"/fhir;jsessionid={SESSION}"
    routes = {f"{base_path}/metadata": Reply(200, CAP), f"{base_path}/Patient": ROUTES["/fhir/Patient"]}
    out = tmp_path / "out"
    with serve(routes) as srv:
        base = srv.base.replace("/fhir", base_path)
        res = run("--debug", "audit", base, "-o", str(out), "--timeout", "3")
        assert any(req[1].startswith(f"{base_path}/metadata") for req in srv.requests)  # the address was used
    assert res.exit_code in (0, 1), res.output[-2000:]
    assert SESSION not in res.output and SESSION not in res.stderr
    for path in out.iterdir():
        assert SESSION not in path.read_text(encoding="utf-8", errors="replace"), path.name
    assert "jsessionid=[redacted]" in (out / "evidence.json").read_text(encoding="utf-8")


@pytest.mark.timeout(90)
def test_a_redirects_own_user_info_is_not_sent_as_basic_credentials(tmp_path: Path):
    """A `Location: http://user:pass@other/...` made httpx send `Authorization: Basic` built from
    the server's user-info to the other host: credentials ehrcheck was never given."""
    with serve(ROUTES) as other:
        elsewhere = other.origin.replace("http://", "http://planted:Pa55word@") + "/fhir/metadata"
        first_routes = {"/fhir/metadata": Reply(302, None, {"Location": elsewhere})}
        with serve(first_routes) as srv:
            res = run("audit", srv.base, "-o", str(tmp_path / "out"), "--timeout", "3", "-q")
        followed = [headers for _, path, headers in other.requests if path.startswith("/fhir/metadata")]
    assert res.exit_code in (0, 1), res.output[-2000:]
    assert followed, "the redirect was not followed"
    assert not any(k.lower() == "authorization" for headers in followed for k in headers)
    assert "Pa55word" not in (tmp_path / "out" / "evidence.json").read_text(encoding="utf-8")


@pytest.mark.timeout(90)
def test_an_output_on_the_ca_bundle_is_refused_before_any_request(tmp_path: Path):
    """Every other file an audit reads was protected from its outputs; the --ca-bundle was not
    (`-o trust.md --ca-bundle trust.md` replaced the user's CA file with a report)."""
    import certifi

    from tests.hostile.test_messages import assert_message

    bundle = tmp_path / "trust.md"
    bundle.write_bytes(Path(certifi.where()).read_bytes())
    before = bundle.read_bytes()
    with serve(ROUTES) as srv:
        res = run("audit", srv.base, "-o", str(bundle), "--ca-bundle", str(bundle), "--force", "-q")
        assert_message(res, "-o", "is the --ca-bundle file")
        assert srv.requests == []
    assert bundle.read_bytes() == before


# -- the scrubber: every character escaped, every byte encoded, a secret cut by a cap ---------

PASSWORD = "Pw/Round10+Sec=ret 5151"


def _all_u(value: str, upper: bool = False) -> str:
    return "".join(f"\\u{ord(c):04X}" if upper else f"\\u{ord(c):04x}" for c in value)


def _all_pct(value: str, upper: bool = True) -> str:
    return "".join(f"%{b:02X}" if upper else f"%{b:02x}" for b in value.encode())


def test_a_secret_echoed_with_every_character_escaped_or_cut_by_a_cap_is_scrubbed():
    from ehrcheck.http.redact import Secrets

    secrets = Secrets([PASSWORD])
    for echo in (_all_u(PASSWORD), _all_u(PASSWORD, True), _all_pct(PASSWORD), _all_pct(PASSWORD, False)):
        assert secrets.scrub(f"x {echo} y") == "x [redacted] y", echo
    assert secrets.scrub("a" * 490 + PASSWORD[:10]) == "a" * 490 + "[redacted]"
    assert secrets.scrub("note: " + "b" * 60 + PASSWORD[:12] + "…") == "note: " + "b" * 60 + "[redacted]"
    assert secrets.scrub("note: " + PASSWORD[:12]) == "note: " + PASSWORD[:12]  # too short to be a capped field
    assert secrets.scrub("Pw/Roun") == "Pw/Roun"  # under eight characters: too little to matter
    assert secrets.scrub("Pw/Round10 is a tail") == "Pw/Round10 is a tail"  # not at the end: not a cut


@pytest.mark.timeout(90)
def test_every_character_escaped_echoes_reach_no_output(tmp_path: Path):
    """Round 10 (A10, A11, A13, K02): a server echoing a held secret with every character as a
    JSON \\uXXXX escape (in WWW-Authenticate, Server, the CapabilityStatement's text) or every
    byte percent-encoded had it kept in evidence.json, report.json/.md/.html and --debug; a
    field capped at 500 characters kept the first half of a raw echo cut by the cap."""
    cap = {
        **CAP,
        "publisher": "a" * 488 + PASSWORD,  # cut at 500: "Pw/Round10+S" remains
        "software": {"name": _all_u(PASSWORD), "version": _all_pct(PASSWORD, False)},
        "implementation": {"description": _all_u(PASSWORD, True)},
    }
    headers = {"Server": _all_u(PASSWORD), "ETag": f'"{_all_pct(PASSWORD)}"'}
    routes = {**ROUTES, "/fhir/metadata": Reply(200, cap, headers)}
    with serve(routes) as srv:
        from urllib.parse import quote

        base = srv.base.replace("http://", f"http://bob:{quote(PASSWORD, safe='')}@")
        res = run("--debug", "audit", base, "-o", str(tmp_path / "out"), "--timeout", "3")
    assert res.exit_code in (0, 1), res.output[-2000:]
    outputs = {"stderr": res.stderr, "stdout": res.stdout}
    outputs.update({p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "out").iterdir()})
    for name, text in outputs.items():
        for marker in ("Round10", "u0052\\u006f", "u0052\\\\u006f", "52%6F%75", "52%6f%75", "Pw/Round1"):
            assert marker not in text, (name, marker)


@pytest.mark.timeout(120)
def test_signed_url_and_api_key_parameters_of_a_list_reach_no_output_and_no_server(tmp_path: Path):
    """Round 10 (S02, S03): `?sig=`, `?X-Amz-Signature=`, `?key=` and a token in a parameter
    *name* (`access_token%3DTOKEN`) were kept in results.jsonl, every report, the evidence and
    the history database, and sent to the server; `api_key`, `token`… were already dropped."""
    with serve(ROUTES) as srv:
        lines = [
            f"{srv.base}?sig=Sig-Secret-1111&m=1",
            f"{srv.base.replace('/fhir', '/fhir/')}?X-Amz-Signature=Amz-Secret-2222",
            f"{srv.base}?key=Api-Key-Secret-3333&m=3",
            f"{srv.base}?access_token%3DName-Token-4444&m=4",
        ]
        res, written, sent = scan_every_output(tmp_path, srv, lines)
    assert res.exit_code in (0, 1), res.output[-2000:]
    written.append(sent)
    for secret in ("Sig-Secret", "Amz-Secret", "Api-Key-Secret", "Name-Token"):
        assert not [text[:80] for text in written if secret in text], secret


@pytest.mark.timeout(90)
@pytest.mark.parametrize("password", ["capability", "transport", "http_status"])
def test_a_secret_spelled_like_an_evidence_key_leaves_the_evidence_readable(tmp_path: Path, password: str):
    """The evidence is scrubbed of every secret as a whole document, keys included: a password
    (or a token a hostile server issues) spelled `capability` turned the probe's key into
    `[redacted]`, and the run ended in "unknown probe" instead of a report."""
    with serve(ROUTES) as srv:
        base = srv.base.replace("http://", f"http://bob:{password}@")
        res = run("audit", base, "-o", str(tmp_path / "out"), "--timeout", "3", "-q")
    assert res.exit_code in (0, 1), res.output[-2000:]
    evidence = json.loads((tmp_path / "out" / "evidence.json").read_text(encoding="utf-8"))
    assert "capability" in evidence["probes"] and "Traceback" not in res.output


@pytest.mark.timeout(90)
def test_a_servers_session_cookie_goes_back_to_its_own_origin_only(tmp_path: Path):
    """Round 10 (C06): a cookie set by the FHIR origin was sent to another port of the same host
    on a redirect (cookies are scoped by host, not port, in RFC 6265). Now pinned to the exact
    origin that set it; that origin still gets it back."""
    with serve(ROUTES) as other:
        routes = {
            "/fhir/metadata": Reply(200, CAP, {"Set-Cookie": "sess=Cookie-Secret-7777; Path=/; Domain=127.0.0.1"}),
            "/fhir/Patient": Reply(302, None, {"Location": other.origin + "/fhir/Patient"}),
            "/fhir/.well-known/smart-configuration": Reply(302, None, {"Location": other.origin + "/fhir/x"}),
        }
        with serve(routes) as srv:
            res = run("audit", srv.base, "-o", str(tmp_path / "out"), "--timeout", "3", "-q")
            own = [headers.get("cookie") for _, _, headers in srv.requests]
        elsewhere = [headers.get("cookie") for _, _, headers in other.requests]
    assert res.exit_code in (0, 1), res.output[-2000:]
    assert elsewhere and not any(elsewhere), elsewhere
    assert "sess=Cookie-Secret-7777" in own  # kept for the origin that set it


@pytest.mark.timeout(90)
@pytest.mark.parametrize("section", ["", "app:\n  client_id: a\n  redirect_uri: http://127.0.0.1:9/cb\n  "])
def test_an_output_on_the_private_key_the_credentials_name_is_refused(tmp_path: Path, section: str):
    """Round 10 (P04): `--evidence k.pem --force`, where the credentials file's private_key_file
    is k.pem, replaced the private key with the evidence (and the run still used it)."""
    from tests.hostile.test_messages import assert_message

    key = tmp_path / "k.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nnot read before the refusal\n", encoding="utf-8")
    creds = tmp_path / "c.yaml"
    creds.write_text(f"client_id: backend\n{section}private_key_file: k.pem\n", encoding="utf-8")
    with serve(ROUTES) as srv:
        res = run("audit", srv.base, "--credentials", str(creds), "-o", str(tmp_path / "r.md"),
                  "--evidence", str(key), "--force", "-q")  # fmt: skip
        assert_message(res, "--evidence", "a private key file the credentials name")
        assert srv.requests == []
    assert key.read_text(encoding="utf-8").startswith("-----BEGIN PRIVATE KEY-----")


@pytest.mark.timeout(120)
def test_an_endless_paste_is_read_in_bounded_memory(tmp_path: Path):
    """Round 10 (L01): `launch --no-browser < /dev/zero` read one endless "line" whole: 1.9 GB
    after 12 s and growing until the launch timeout. Now read a capped chunk at a time, given up
    past 8 MB without a line end, and the launch ends at its timeout with its message."""
    import subprocess
    import sys
    import time

    from tests.paths import ROOT
    from tests.support.launch import free_port
    from tests.support.smart_fake import CLIENT_SECRET, fake_smart

    creds = tmp_path / "creds.yaml"
    creds.write_text(
        f"app:\n  client_id: fake-app\n  client_secret: {CLIENT_SECRET}\n  redirect_uri: http://127.0.0.1:{free_port()}/callback\n",
        encoding="utf-8",
    )
    peak_kb = 0
    with fake_smart() as fake, open("/dev/zero", "rb") as zero:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ehrcheck", "launch", fake.fhir_base, "--credentials", str(creds), "--no-browser",
             "--launch-timeout", "4", "-o", str(tmp_path / "o")],
            cwd=ROOT, stdin=zero, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        status = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:  # this child's own high-water mark, not every child's of pytest
            try:
                hwm = next(line for line in status.read_text().splitlines() if line.startswith("VmHWM:"))
                peak_kb = max(peak_kb, int(hwm.split()[1]))
            except (OSError, StopIteration, ValueError):
                pass
            time.sleep(0.1)
        err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 2, err[-2000:]
    assert "no longer reading it" in err and "Traceback" not in err
    assert 0 < peak_kb < 400 * 1024, peak_kb


@pytest.mark.timeout(90)
def test_a_servers_own_words_in_an_anonymous_answer_are_not_recorded(tmp_path: Path):
    """Round 10 (A03): the anonymous Patient search's Bundle had an entry whose resourceType was a
    patient's surname, recorded verbatim (`entry_types`); the same held for a Patient's element
    names and an OperationOutcome's issue codes. Only FHIR's own words are recorded now."""
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"resource": {"resourceType": "Zzyzxfam", "id": "x1"}},
            {"resource": {"resourceType": "Patient", "id": "p1", "name": [{"family": "Doe"}], "Qwertgiv": True}},
        ],
    }
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "Plkjhstreet"}]}
    routes = {
        **ROUTES,
        "/fhir/Patient": Reply(200, bundle),
        "/fhir/Patient/ehrcheck-no-such-resource-7f3a": Reply(404, outcome),
        "/fhir/Patient/$export": Reply(200, {"resourceType": "Wxyzmrn"}),
    }
    with serve(routes) as srv:
        res = run("audit", srv.base, "-o", str(tmp_path / "out"), "--timeout", "3")
    assert res.exit_code in (0, 1), res.output[-2000:]
    evidence = json.loads((tmp_path / "out" / "evidence.json").read_text(encoding="utf-8"))
    search = evidence["probes"]["access"]["data"]["patient_search"]
    assert search["entry_types"] == ["Patient", "[unknown type]"]
    assert search["patient_elements_present"] == ["[other]", "name"]
    assert evidence["probes"]["access"]["data"]["unknown_read"]["issue_codes"] == ["[other]"]
    written = [res.output] + [p.read_text(encoding="utf-8") for p in (tmp_path / "out").iterdir()]
    for marker in ("Zzyzxfam", "Qwertgiv", "Plkjhstreet", "Wxyzmrn"):
        assert not any(marker in text for text in written), marker


def test_evidence_to_dash_is_refused_not_written_to_a_file_named_dash(tmp_path: Path, monkeypatch):
    """Round 10 (P06): `audit -o - --evidence - -f md` saved the evidence in a file named `-`."""
    from tests.hostile.test_messages import assert_message

    monkeypatch.chdir(tmp_path)
    with serve(ROUTES) as srv:
        assert_message(
            run("audit", srv.base, "-o", "-", "--evidence", "-", "-f", "md"), "--evidence -", "ehrcheck probe URL -o -"
        )
        assert srv.requests == []
        res = run("probe", srv.base, "-o", "-", "--timeout", "3", "-q")
    assert res.exit_code == 0 and json.loads(res.stdout)["probes"]["capability"]["status"] == "completed"
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("digits", ["١٢", "１２", "²"])
def test_identifiers_and_versions_take_ascii_digits_only(digits: str):
    """Round 10 (LIMIT, closed): `--shard ١/٢`, a CHPL product number and a claimed version
    (`４.0.1`) in other scripts' digits were accepted: a shard or version nobody means, and a
    CHPL number sent to CHPL as typed."""
    from ehrcheck.claims.schema import _version
    from ehrcheck.errors import UserInputError
    from ehrcheck.probes.certification.chpl_number import parse_product_number
    from ehrcheck.scan.shard import parse_shard

    with pytest.raises(UserInputError):
        parse_shard(f"{digits[0]}/2")
    with pytest.raises(ValueError):
        parse_product_number(f"15.04.04.2891.Abcd.{digits}.01.1.220101")
    with pytest.raises(ValueError):
        _version(f"{digits[0]}.0.1")
    assert parse_shard("1/2") is not None and _version("4.0.1") == "4.0.1"
    assert parse_product_number("15.04.04.2891.Abcd.12.01.1.220101").legacy is False
