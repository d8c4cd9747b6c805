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

from tests.support.cli import CAP, ROUTES, run
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
    listing, out = tmp_path / "urls.txt", tmp_path / "s"
    with serve(ROUTES) as srv:
        lines = [f"{srv.base}?{name}=Leak{i:02d}Round11&m={i}" for i, name in enumerate(names)]
        lines.append(f"{srv.base}?access_token%253DLeak99Round11&m=99")
        listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
        res = run(
            "scan", str(listing), "-o", str(out), "-f", "html,sarif,junit", "--keep-evidence", "--reports",
            "--db", str(tmp_path / "h.sqlite"), "--workers", "1", "--timeout", "3",
        )  # fmt: skip
        sent = " ".join(path for _, path, _ in srv.requests)
    assert res.exit_code in (0, 1), res.output[-2000:]
    written = [res.output, (tmp_path / "h.sqlite").read_bytes().decode("latin-1"), sent]
    written += [p.read_text(encoding="utf-8", errors="replace") for p in out.rglob("*") if p.is_file()]
    assert "m=3" in sent  # the endpoints were audited, without their credentials
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
