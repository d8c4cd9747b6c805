"""Attack round 11 (black box), the credential and origin cases: the Basic header built from the
user's own user-info echoed in the encodings every other secret is matched in; a token echoed by
the very answer that issued it on that answer's --debug line; user-info a server put in a URL it
named (an issuer, a status or file URL, an introspection endpoint) sent as Basic credentials; a
cookie set through a URL with user-info followed to another port. Cases in /tmp/attack11/results.md
of that round."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.support.cli import CAP, ROUTES, run, scan_every_output
from tests.support.loopback import Reply, serve

PASSWORD = "UPa11pass99Gg"
BLOB = base64.b64encode(f"u:{PASSWORD}".encode()).decode()


def _echoes(value: str) -> list[str]:
    raw = value.encode()
    return [
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "".join(f"\\u{ord(c):04x}" for c in value),
        "".join(f"\\u{ord(c):04X}" for c in value),
        "".join(f"%{b:02x}" for b in raw),
    ]


def test_the_basic_header_built_from_user_info_is_scrubbed_in_every_encoding():
    from ehrcheck.http.redact import Secrets

    secrets = Secrets([f"Basic {BLOB}"])
    for echo in _echoes(BLOB):
        assert secrets.scrub(f"x {echo} y") == "x [redacted] y", echo


@pytest.mark.timeout(90)
def test_an_echo_of_the_basic_header_reaches_no_output(tmp_path: Path):
    """Round 11 (A02, A04-A07): the Basic value ehrcheck builds from the base URL's user-info,
    echoed base64-encoded, \\u-escaped or every byte percent-encoded, was kept in evidence.json,
    report.json and --debug (only the user-info itself was matched in those encodings)."""
    echoes = _echoes(BLOB)
    cap = {**CAP, "publisher": echoes[0], "software": {"name": echoes[2], "version": echoes[4]}}
    routes = {**ROUTES, "/fhir/metadata": Reply(200, cap, {"Server": echoes[3], "ETag": f'"{echoes[1]}"'})}
    with serve(routes) as srv:
        base = srv.base.replace("http://", f"http://u:{PASSWORD}@")
        res = run("--debug", "audit", base, "-o", str(tmp_path / "out"), "--timeout", "3")
    assert res.exit_code in (0, 1), res.output[-2000:]
    written = [res.stderr, res.stdout] + [p.read_text(encoding="utf-8") for p in (tmp_path / "out").iterdir()]
    for echo in echoes:
        assert not any(echo[:24] in text or echo[:24].replace("\\", "\\\\") in text for text in written), echo


def _creds(tmp_path: Path, token_endpoint: str) -> Path:
    path = tmp_path / "creds.yaml"
    path.write_text(
        f"client_id: app\nclient_secret: Cs-Round11-Secret\ntoken_endpoint: {token_endpoint}\nscope: system/*.read\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.timeout(90)
def test_a_token_echoed_by_the_answer_that_issues_it_is_not_on_its_debug_line(tmp_path: Path):
    """Round 11 (A03): --debug logged the token endpoint's answer (headers included) before the
    token it issued was known as a secret, so a header echoing it was printed raw on that line."""
    token = "Tok-Round11-" + "q" * 24
    issued = {"access_token": token, "token_type": "bearer", "expires_in": 300, "scope": "system/*.read"}
    routes = {**ROUTES, "/token": Reply(200, issued, {"Server": f"P {token} Q"})}
    with serve(routes, prefix="") as srv:
        res = run(
            "--debug", "audit", srv.base + "/fhir", "--credentials", str(_creds(tmp_path, srv.origin + "/token")),
            "-o", str(tmp_path / "out"), "--timeout", "3",
        )  # fmt: skip
        asked = [path for _, path, _ in srv.requests if path == "/token"]
    assert asked, "the token endpoint was not asked"
    assert res.exit_code in (0, 1), res.output[-2000:]
    assert token not in res.stderr and token[:20] not in res.stderr


@pytest.mark.timeout(90)
def test_user_info_a_server_puts_in_a_url_it_names_is_never_sent(tmp_path: Path):
    """Round 11 (C01, U01, L02): a SMART configuration naming its issuer as
    http://u:PASSWORD@other/… made ehrcheck send `Authorization: Basic` built from the server's
    user-info to that host; the same held for Bulk status and file URLs and an introspection
    endpoint. Only the user-info of the base URL the user gave is ever sent."""
    with serve({}) as other:
        issuer = other.origin.replace("http://", f"http://u2:{PASSWORD}@") + "/iss"
        smart = {
            "issuer": issuer,
            "authorization_endpoint": other.origin + "/authorize",
            "token_endpoint": other.origin + "/token",
            "capabilities": ["launch-standalone"],
        }
        routes = {**ROUTES, "/fhir/.well-known/smart-configuration": Reply(200, smart)}
        with serve(routes) as srv:
            res = run("audit", srv.base, "-o", str(tmp_path / "out"), "--timeout", "3", "-q")
        seen = list(other.requests)
    assert res.exit_code in (0, 1), res.output[-2000:]
    assert any(path.startswith("/iss") for _, path, _ in seen), seen  # the issuer was asked
    assert not any("authorization" in headers for _, _, headers in seen), seen


@pytest.mark.timeout(90)
def test_a_cookie_set_through_a_url_with_user_info_stays_on_its_origin(tmp_path: Path):
    """Round 11 (C02, C04): with user-info in the base URL, the cookie's port was read from the
    Host value (`u:pw@127.0.0.1:PORT`, no port to http.cookiejar), so the cookie was not pinned
    and followed a redirect to another port of the same host."""
    with serve(ROUTES) as other:
        routes = {
            "/fhir/metadata": Reply(200, CAP, {"Set-Cookie": "sess=Cookie-Round11-8888; Path=/"}),
            "/fhir/Patient": Reply(302, None, {"Location": other.origin + "/fhir/Patient"}),
        }
        with serve(routes) as srv:
            base = srv.base.replace("http://", f"http://u:{PASSWORD}@")
            res = run("audit", base, "-o", str(tmp_path / "out"), "--timeout", "3", "-q")
        elsewhere = [headers.get("cookie") for _, _, headers in other.requests]
    assert res.exit_code in (0, 1), res.output[-2000:]
    assert elsewhere and not any(elsewhere), elsewhere
    evidence = json.loads((tmp_path / "out" / "evidence.json").read_text(encoding="utf-8"))
    assert PASSWORD not in json.dumps(evidence)


@pytest.mark.timeout(120)
def test_other_spellings_of_credential_parameters_reach_no_output_and_no_server(tmp_path: Path):
    """Round 11 (S02, S03): `subscription-key`, `x-api-key`, `AccessToken`, `oauth_signature`,
    `jwt`, `pwd`, a doubly encoded `access_token%253D…`, `client_secret+` (a trailing space) and
    `access_token.` were kept in every scan output and the history database, and sent."""
    names = [
        "subscription-key", "x-api-key", "api-key", "pwd", "sessionid", "jwt", "assertion", "access-token",
        "AccessToken", "oauth_token", "oauth_signature", "private_token", "client_secret+", "access_token.",
    ]  # fmt: skip
    with serve(ROUTES) as srv:
        lines = [f"{srv.base}?{name}=Leak{i:02d}Round11&m={i}" for i, name in enumerate(names)]
        lines.append(f"{srv.base}?access_token%253DLeak99Round11&m=99")
        res, written, sent = scan_every_output(tmp_path, srv, lines)
    assert res.exit_code in (0, 1), res.output[-2000:]
    written.append(sent)
    assert "/metadata" in sent and "m=" not in sent  # audited, without their queries (round 13)
    assert not [text[:120] for text in written if "Round11" in text]


@pytest.mark.timeout(120)
def test_a_read_back_target_loses_its_path_parameter_values(tmp_path: Path):
    """Round 11 (CM2): compare/diff of report.json files whose target.base_url carried
    `;jsessionid=VALUE` printed the value in the comparison's title, headings and notice."""
    with serve(ROUTES) as srv:
        for name in ("A", "B"):
            res = run("audit", srv.base, "-o", str(tmp_path / name), "--timeout", "3", "-q", "--label", name)
            assert res.exit_code in (0, 1), res.output[-2000:]
    for name in ("A", "B"):
        for file in ("report.json", "evidence.json"):
            path = tmp_path / name / file
            doc = json.loads(path.read_text(encoding="utf-8"))
            doc["target"]["base_url"] = doc["target"]["base_url"] + ";jsessionid=JSa11sess99x"
            path.write_text(json.dumps(doc), encoding="utf-8")
    for command, output in (("compare", "c.html"), ("diff", "d.md")):
        res = run(command, str(tmp_path / "A"), str(tmp_path / "B"), "-o", str(tmp_path / output), "-q")
        assert res.exit_code in (0, 1), res.output[-2000:]
        assert "JSa11sess99x" not in (tmp_path / output).read_text(encoding="utf-8") + res.output


def test_a_bulk_manifests_output_types_are_fhirs_own_words():
    """Round 11 (B01): a manifest's output[].type 'Zzyzxfam' (a planted surname) was recorded in
    output_types and quoted in INT-31x messages in every report."""
    from ehrcheck.probes.authenticated.bulk import manifest_facts

    manifest = {
        "transactionTime": "2026-01-01T00:00:00Z",
        "request": "https://h/fhir/Patient/$export",
        "requiresAccessToken": True,
        "output": [{"type": "Patient", "url": "https://h/f/1.ndjson"}, {"type": "Zzyzxfam", "url": "https://h/f/2.ndjson"}],
    }
    assert manifest_facts(manifest, "https://h/fhir/Patient/$export")["output_types"] == ["Patient", "[unknown type]"]


def test_a_json_input_of_millions_of_tiny_values_is_refused_before_parsing(tmp_path: Path):
    """Round 11 (BG1): a 36 MB --chpl-file of four million `{"id":1}` (under the 256 MB cap) took
    1.36 GB to parse before it was refused; the count of objects and values is bounded first."""
    from ehrcheck.errors import UserInputError
    from ehrcheck.files.limits import MAX_JSON_CONTAINERS, read_user_json

    path = tmp_path / "chpl.json"
    path.write_text("[" + ",".join(['{"id":1}'] * (MAX_JSON_CONTAINERS + 1)) + "]", encoding="utf-8")
    with pytest.raises(UserInputError) as refused:
        read_user_json(path, f"--chpl-file {path}", "a CHPL document")
    assert "objects and arrays" in str(refused.value) and str(path) in str(refused.value)


@pytest.mark.parametrize(
    "field, value",
    [
        ("bearer_token", "BRa11tok\\u0000zz"),
        ("bearer_token", "BRa11tok\\u00e9\\u202e77"),
        ("client_secret", "CSa11\\u000bsecret"),
    ],
)
def test_a_credential_a_header_cannot_carry_is_refused_at_load_unquoted(tmp_path: Path, field: str, value: str):
    """Round 11 (BT1, BT2): a bearer token holding a NUL was sent, failed in h11, and the error
    quoted the whole token as a bytes repr (missed by the scrubber) in every report; a non-ASCII
    one ended each probe in an internal error with tracebacks under --debug."""
    from tests.hostile.test_messages import assert_message

    creds = tmp_path / "c.yaml"
    creds.write_text(f'client_id: app\n{field}: "{value}"\n', encoding="utf-8")
    with serve(ROUTES) as srv:
        res = run("audit", srv.base, "--credentials", str(creds), "-o", str(tmp_path / "out"), "-q")
        assert srv.requests == []
    assert_message(res, str(creds), field, "not shown")
    assert "BRa11" not in res.stderr and "CSa11" not in res.stderr


@pytest.mark.parametrize("key", ["AKa11key\x0b77", "AKa11kéy77", "AKa11 key77"])
def test_a_chpl_key_a_header_cannot_carry_is_refused_unquoted(tmp_path: Path, key: str):
    """Round 11 (CK1): CHPL_API_KEY with a vertical tab reached the reports as a bytes repr in the
    'Illegal header value' error; with a non-ASCII letter, --debug printed a traceback."""
    from tests.hostile.test_messages import assert_message

    with serve(ROUTES) as srv:
        res = run("audit", srv.base, "--chpl-id", "15.04.04.1932.WebC.84.01.0.221117", "-o", str(tmp_path / "o"), "-q",
                  env={"CHPL_API_KEY": key})  # fmt: skip
        assert srv.requests == []
    assert_message(res, "CHPL_API_KEY", "not shown")
    assert "AKa11" not in res.stderr


def test_a_header_value_http_forbids_fails_the_request_with_a_reason_that_quotes_nothing():
    """A server-issued token with a NUL or a non-ASCII letter (no load-time check can see it)
    failed with h11's `Illegal header value b'Bearer …'`, the token quoted, or an internal error."""
    import asyncio

    from ehrcheck.http.client import Fetcher, FetchError, HttpOptions, Recorder

    async def attempt(token: str) -> str:
        fetcher = Fetcher.create(HttpOptions(timeout=3, retries=0))
        try:
            with serve(ROUTES) as srv:
                await fetcher.get(srv.base + "/metadata", Recorder(), headers={"Authorization": f"Bearer {token}"})
        except FetchError as exc:
            return str(exc)
        finally:
            await fetcher.aclose()
        return "sent"

    for token in ("Tok\x00Round11zz", "Tok\u00e9Round11zz"):
        reason = asyncio.run(attempt(token))
        assert "not allow" in reason and "Round11" not in reason, reason


@pytest.mark.timeout(120)
def test_a_stream_of_wrong_pastes_is_answered_a_bounded_number_of_times(tmp_path: Path):
    """Round 11 (L03): `yes WRONG-URL | ehrcheck launch --no-browser` answered each line with a
    refusal: 6.3 MB of stderr in 12 s, ~150 MB at the default timeout."""
    import subprocess
    import sys

    from tests.paths import ROOT
    from tests.support.launch import free_port
    from tests.support.smart_fake import CLIENT_SECRET, fake_smart

    port = free_port()
    creds = tmp_path / "creds.yaml"
    creds.write_text(
        f"app:\n  client_id: fake-app\n  client_secret: {CLIENT_SECRET}\n  redirect_uri: http://127.0.0.1:{port}/callback\n",
        encoding="utf-8",
    )
    wrong = f"http://127.0.0.1:{port}/callback?code=x&state=not-ours\n" * 500
    with fake_smart() as fake:
        proc = subprocess.run(
            [sys.executable, "-m", "ehrcheck", "launch", fake.fhir_base, "--credentials", str(creds), "--no-browser",
             "--launch-timeout", "3", "-o", str(tmp_path / "o")],
            cwd=ROOT, input=wrong, capture_output=True, text=True, timeout=100,
        )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    refusals = proc.stderr.count("not the redirect of this request")
    assert 1 <= refusals <= 10, refusals
    assert "further refused lines are not reported" in proc.stderr


@pytest.mark.timeout(120)
def test_a_session_in_an_endpoint_bundles_address_reaches_no_output(tmp_path: Path):
    """Round 11 (EB1): an Endpoint Bundle address with `;jsessionid=VALUE` was kept in the
    endpoint sample's evidence and quoted in every report's finding text."""
    from tests.paths import FIXTURES

    with serve(ROUTES) as srv:
        text = (FIXTURES / "chpl" / "service-base-urls-hti1.json").read_text(encoding="utf-8")
        text = text.replace("{{ORIGIN}}/pediatrics/fhir", srv.origin + "/pediatrics/fhir;jsessionid=SKa11eb03q")
        bundle = tmp_path / "eb.json"
        bundle.write_text(text.replace("{{ORIGIN}}", srv.origin), encoding="utf-8")
        out = tmp_path / "out"
        res = run("audit", srv.base, "--endpoints-bundle", str(bundle), "-o", str(out), "-f", "md,json,html",
                  "--timeout", "3", "-q")  # fmt: skip
        asked = [path for _, path, _ in srv.requests if "jsessionid" in path]
    assert res.exit_code in (0, 1), res.output[-2000:]
    assert asked  # the address was used as published
    for path in out.iterdir():
        assert "SKa11eb03q" not in path.read_text(encoding="utf-8"), path.name


def test_a_pasted_redirect_parsers_disagree_on_or_with_a_parameter_twice_is_refused():
    """Round 11 (LP1, and a LIMIT): `http://127.0.0.1:1\\@127.0.0.1:9/callback?…` is host 1 to a
    browser and host 9 to urlsplit, and was accepted as on the redirect URI; a redirect with
    `code` twice was accepted with the last one."""
    import asyncio

    from ehrcheck.probes.launch.listener import Listener

    async def scenario() -> list[bool]:
        listener = Listener("http://127.0.0.1:9/callback")
        fut = listener.expect("st4te")
        answers = [
            listener.deliver(url, pasted=True)
            for url in (
                "http://127.0.0.1:1\\@127.0.0.1:9/callback?code=planted&state=st4te",
                "http://u:p@127.0.0.1:9/callback?code=planted&state=st4te",
                "http://127.0.0.1:9/callback?code=planted&code=other&state=st4te",
                "http://127.0.0.1:9/callback?code=good-code&state=st4te",
            )
        ]
        assert (await fut).code.reveal() == "good-code"
        return answers

    assert asyncio.run(scenario()) == [False, False, False, True]


def test_a_secret_cut_by_a_cap_in_lower_case_percent_encoding_is_scrubbed():
    """Round 11 (CUT1): a cap cutting an every-byte `%xx` echo in lower-case hex left its first
    characters (only the upper-case form was compared for a cut tail)."""
    from ehrcheck.http.redact import Secrets

    secret = "CSa11+Sec/ret=Zq9xKp"
    lower = "".join(f"%{b:02x}" for b in secret.encode())
    assert Secrets([secret]).scrub("a" * 480 + lower[:20]) == "a" * 480 + "[redacted]"
