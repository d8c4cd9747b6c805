"""Attack round 4 (an independent black-box round, then fixes): each test failed on the code
before its fix. Named pipes as input files, the user launch's listener and pasted redirects,
credentials to other origins, redacted URLs in rule checks, impossible dates and non-finite
numbers in saved runs, custom-pack regexes, run labels, scan targets with tokens, NUL bytes in
PostgreSQL history, and patient data in the anonymous probes' Location headers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.hostile.test_messages import assert_message
from tests.support.cli import run

EVIDENCE_JSON = '{"schema": "ehrcheck-evidence"}'


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "args",
    [
        ["score", "{fifo}"],
        ["compare", "{fifo}", "{fifo}"],
        ["claims", "check", "{fifo}"],
        ["rules", "check", "{fifo}"],
        ["audit", "http://127.0.0.1:9/fhir", "--waivers", "{fifo}"],
        ["audit", "http://127.0.0.1:9/fhir", "--pack", "{fifo}"],
        ["audit", "http://127.0.0.1:9/fhir", "--claims", "{fifo}"],
        ["audit", "http://127.0.0.1:9/fhir", "--chpl-file", "{fifo}"],
    ],
)
def test_a_named_pipe_nobody_writes_to_is_a_message_not_a_hang(tmp_path: Path, args):
    """open(2) of a FIFO without a writer blocks forever: `score fifo` hung until killed."""
    fifo = tmp_path / "input.fifo"
    os.mkfifo(fifo)
    argv = [a.format(fifo=fifo) for a in args]
    if argv[0] in ("audit", "score", "compare"):
        argv += ["-o", str(tmp_path / "out" / "report.md")]
    res = run(*argv)
    assert_message(res, str(fifo))


# No escape character: a run label is printable text (an ESC one is refused, tests/hostile/test_round7.py).
MARKUP = "[/][link=https://evil.example]x[/link][bold]"


@pytest.mark.timeout(60)
def test_a_run_label_and_db_path_with_markup_are_printed_as_written(tmp_path: Path):
    """`recorded run {label}` went through rich markup: `--run-label '[/]…'` recorded every row,
    then ended in a MarkupError traceback."""
    from tests.support.cli import ROUTES
    from tests.support.loopback import serve

    db = tmp_path / "[bold]history.sqlite"
    with serve(ROUTES) as srv:
        listing = tmp_path / "urls.txt"
        listing.write_text(srv.base + "\n", encoding="utf-8")
        res = run("scan", str(listing), "-o", str(tmp_path / "scan"), "--db", str(db), "--run-label", MARKUP, "--timeout", "3")
    assert res.exit_code == 0, res.output[-2000:]
    flat = res.stderr.replace("\n", "")  # rich wraps long lines
    assert "recorded run [/][link=https://evil.example]x[/link][bold] in " in flat
    assert "[bold]history.sqlite" in flat
    assert "\x1b" not in res.stderr


@pytest.mark.parametrize("fmt", ["md", "sarif"])
def test_redacted_user_info_in_urls_scores_and_renders(tmp_path: Path, fmt):
    """Redaction writes user-info as `https://[redacted]@host/`, which urlsplit refuses (brackets
    that are not an IPv6 address): an audit whose token endpoint carried user-info crashed while
    scoring (a ValueError traceback), and `score` refused its own evidence as hand-edited."""
    from tests.support.evidence import evidence

    ev = evidence(
        {
            "smart": {
                "found": True,
                "document": {
                    "token_endpoint": "https://[redacted]@127.0.0.1:9/token",
                    "authorization_endpoint": "http://[redacted]@127.0.0.1:9/authorize",
                },
            },
            "transport": {"scheme": "https", "host": "ehr.example.test"},
        },
        base_url="https://[redacted]@ehr.example.test/fhir",
    )
    path = tmp_path / "evidence.json"
    from ehrcheck.files.store import evidence_text

    path.write_text(evidence_text(ev), encoding="utf-8")
    res = run("score", str(path), "-o", str(tmp_path / f"report.{fmt}"))
    assert res.exit_code in (0, 1), res.output[-2000:]
    if fmt == "md":
        md = (tmp_path / "report.md").read_text(encoding="utf-8")
        assert "HIP-313" in md or "authorize" in md


SECRET = "S3cr3tTok-9f8e7d6c5b4a"


@pytest.mark.timeout(60)
def test_a_token_in_a_scan_list_url_reaches_no_output(tmp_path: Path):
    """`scan` dropped user-info from a list's URLs but kept `?access_token=…`: it reached
    results.jsonl, index.html, SARIF, JUnit and the history database verbatim."""
    import sqlite3

    from tests.support.cli import ROUTES
    from tests.support.loopback import serve

    out = tmp_path / "scan"
    db = tmp_path / "history.sqlite"
    with serve(ROUTES) as srv:
        listing = tmp_path / "urls.txt"
        listing.write_text(f"{srv.base}?access_token={SECRET}&_format=json\n", encoding="utf-8")
        res = run("scan", str(listing), "-o", str(out), "-f", "html,sarif,junit", "--db", str(db), "--timeout", "3")
        sent = list(srv.requests)
    assert res.exit_code == 0, res.output[-2000:]
    assert sent and all(SECRET not in path for _, path, _ in sent)
    for f in out.rglob("*"):
        if f.is_file():
            assert SECRET not in f.read_text(encoding="utf-8", errors="replace"), f
    assert f'"{srv.base}"' in (out / "results.jsonl").read_text(encoding="utf-8")  # scanned without its query
    dump = "\n".join(sqlite3.connect(db).iterdump())
    assert SECRET not in dump
    assert SECRET not in res.output


@pytest.mark.postgres
@pytest.mark.timeout(120)
def test_a_nul_in_a_servers_strings_does_not_fail_postgresql_history(tmp_path: Path, pg_admin_url):
    """PostgreSQL text cannot hold NUL: one server whose SMART capabilities held `\\x00` failed
    the recording of the whole list (`recording failed: ... cannot contain NUL`, 0 endpoints)."""
    from tests.support.cli import ROUTES
    from tests.support.loopback import Reply, serve
    from tests.support.postgres import fresh_database

    db = fresh_database(pg_admin_url, "ehrcheck_test_round4_nul")
    smart = {
        "authorization_endpoint": "https://127.0.0.1:9/authorize",
        "token_endpoint": "https://127.0.0.1:9/token",
        "capabilities": ["launch-standalone", "bad\x00capability"],
    }
    routes = {**ROUTES, "/fhir/.well-known/smart-configuration": Reply(200, smart, {"Content-Type": "application/json"})}
    with serve(routes) as srv:
        listing = tmp_path / "urls.txt"
        listing.write_text(srv.base + "\n", encoding="utf-8")
        res = run("scan", str(listing), "-o", str(tmp_path / "scan"), "--db", db, "--timeout", "3")
    assert res.exit_code == 0, res.output[-2000:]
    assert "recording failed" not in res.output
    hist = run("history", "--db", db, "-o", str(tmp_path / "history.json"))
    assert hist.exit_code == 0, hist.output[-2000:]
    assert "1 endpoint(s)" in " ".join(hist.stderr.split())


REGEX_PACK = """pack: practice
title: P
description: d
rules:
  - id: ACM-001
    title: T
    severity: medium
    weight: 5
    needs: [capability]
    check: {{path: capability.publisher, op: regex, value: '{pattern}'}}
    pass_message: p
    fail_message: f
    references: [{{cite: c, url: "https://hl7.org/x"}}]
    remediation: r
    vendor_question: q
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "pattern, why",
    [
        ("^(([a-z]+)+)+$", "repetition inside a repetition"),
        ("^(a|ab)*$", "alternation inside a repetition"),
        ("a.*b.*c.*d", "more than two unbounded repetitions"),
        ("(unclosed", "not a valid regular expression"),
    ],
)
def test_a_pack_regex_that_backtracks_or_does_not_compile_is_refused(tmp_path: Path, pattern, why):
    """`^(([a-z…]+)+)+$` against a server's publisher hung `score` (killed after 60 s); `(unclosed`
    was a re.error traceback at scoring time."""
    pack = tmp_path / "pack.yaml"
    pack.write_text(REGEX_PACK.format(pattern=pattern), encoding="utf-8")
    res = run("rules", "check", str(pack))
    assert_message(res, f"{pack}:10", "rule ACM-001", why)


def test_an_accepted_pack_regex_searches_a_bounded_text():
    from ehrcheck.engine.evaluate import apply_op
    from ehrcheck.rules.schema import REGEX_SUBJECT_CHARS, OpCheck

    check = OpCheck(path="capability.publisher", op="regex", value="^a.*b$")
    assert apply_op(check, {"capability": {"publisher": "a-b"}})[0]
    long_text = "a" + "x" * REGEX_SUBJECT_CHARS + "b"  # the b lies past the part searched
    assert not apply_op(check, {"capability": {"publisher": long_text}})[0]


@pytest.mark.timeout(120)
def test_launch_tokens_never_go_to_a_revocation_or_introspection_endpoint_on_another_origin():
    """A SMART configuration naming revocation and introspection on a third origin got the
    access token, the refresh token and the client secret posted there (security.md: only the
    FHIR origin and the token endpoint's)."""
    from tests.support.launch import HttpPerson, app, findings, run_launch
    from tests.support.smart_fake import CLIENT_SECRET, fake_smart

    scope = "openid fhirUser launch/patient offline_access patient/*.rs"
    with fake_smart("revoke_elsewhere") as fake:
        ev = run_launch(fake.fhir_base, app("fake-app", CLIENT_SECRET, scope=scope), HttpPerson())
        posted = list(fake.posted)
    assert ev.probes["launch"].status.value == "completed", ev.probes["launch"].reason
    assert "/token" in posted
    assert "/revoke" not in posted and "/introspect" not in posted
    got = findings(ev, "HIP-405", "HIP-406")
    for rule in ("HIP-405", "HIP-406"):
        assert got[rule].status.value == "not_observed"
        assert "neither the FHIR server's nor the token endpoint's origin" in (got[rule].message or "")


@pytest.mark.timeout(60)
def test_the_launch_listener_ends_odd_connections_without_a_traceback():
    """A client that left a half-sent request open until ehrcheck stopped, or sent a 70 KB
    request line, made asyncio print 'Exception in callback … Traceback' (a cancelled handler,
    a ValueError from readline) on stderr, with or without --debug."""
    import asyncio
    import socket

    from ehrcheck.probes.launch.listener import Listener

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    logged: list[dict] = []

    async def scenario() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: logged.append(ctx))
        listener = Listener(f"http://127.0.0.1:{port}/callback")
        await listener.start()
        _, half = await asyncio.open_connection("127.0.0.1", port)
        half.write(b"GET /callback?code=x HTTP/1.1\r\nHost: x\r\n")  # never finished
        reader, long = await asyncio.open_connection("127.0.0.1", port)
        long.write(b"GET /callback?x=" + b"A" * 70_000 + b" HTTP/1.1\r\n\r\n")
        await long.drain()
        assert await reader.read() == b""  # closed without an answer
        await asyncio.sleep(0.2)
        await listener.close()
        half.close()
        long.close()

    asyncio.run(scenario())
    assert logged == []


def test_a_garbled_pasted_code_is_refused_and_the_launch_keeps_waiting():
    """A pasted redirect whose code held bytes stdin could not decode (lone surrogates) or a NUL
    was accepted; the token request then failed to encode it ('internal error in probe:
    UnicodeEncodeError') and the launch was wasted."""
    import asyncio

    from ehrcheck.probes.launch.listener import Listener

    async def scenario() -> tuple[bool, bool, bool, str]:
        listener = Listener("http://127.0.0.1:9/callback")
        fut = listener.expect("st4te")
        garbled = listener.deliver("http://127.0.0.1:9/callback?code=\udcff\udcfe\x00&state=st4te")
        escape = listener.deliver("http://127.0.0.1:9/callback?code=ab%1B%5B2J&state=st4te")
        good = listener.deliver("http://127.0.0.1:9/callback?code=good-code&state=st4te")
        callback = await fut
        return garbled, escape, good, callback.code.reveal() if callback.code else ""

    assert asyncio.run(scenario()) == (False, False, True, "good-code")


def _saved_run(tmp_path: Path) -> tuple[Path, Path]:
    """An evidence file and the report.json scored from it."""
    from ehrcheck.files.store import evidence_text
    from tests.support.evidence import evidence

    ev = tmp_path / "evidence.json"
    ev.write_text(evidence_text(evidence({}, errored=["capability"])), encoding="utf-8")
    report = tmp_path / "report.json"
    res = run("score", str(ev), "-o", str(report))
    assert res.exit_code in (0, 1), res.output[-2000:]
    return ev, report


@pytest.mark.parametrize("field, value", [("started_at", "2026-02-30T00:00:00Z"), ("finished_at", "garbage")])
def test_evidence_with_an_impossible_time_is_refused(tmp_path: Path, field, value):
    """`started_at: 2026-02-30…` was scored (exit 0) against today's rules, the as-of date
    silently falling back to today, and the report printed the impossible date."""
    import json

    ev, _ = _saved_run(tmp_path)
    doc = json.loads(ev.read_text(encoding="utf-8"))
    doc[field] = value
    ev.write_text(json.dumps(doc), encoding="utf-8")
    res = run("score", str(ev), "-o", str(tmp_path / "again.md"))
    assert_message(res, str(ev), field, value)


@pytest.mark.parametrize(
    "edit, fragment",
    [
        (lambda r: r["overall"].update(score="NaN"), "overall.score"),
        (lambda r: r["packs"][0].update(high=float("inf")), "packs.0.high"),
        (lambda r: r.update(as_of="2026-02-30"), "as_of"),
        (lambda r: r.update(evidence_started_at="2026-13-01T00:00:00Z"), "evidence_started_at"),
    ],
)
@pytest.mark.parametrize("command", ["diff", "compare"])
def test_a_report_json_with_non_finite_scores_or_impossible_dates_is_refused(tmp_path: Path, edit, fragment, command):
    """`diff` crashed on a report.json whose score was NaN (ValueError: invalid literal for
    int() ... 'nan', a traceback) and `compare` printed 'overall inf'; impossible dates passed."""
    import json

    _, report = _saved_run(tmp_path)
    doc = json.loads(report.read_text(encoding="utf-8"))
    edit(doc)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    res = run(command, str(bad), str(report), "-o", str(tmp_path / "out.md"))
    assert_message(res, str(bad), fragment)


PHI_ID = "Zebediah-Quux-PHI-19450321"


@pytest.mark.timeout(60)
def test_patient_data_in_location_headers_of_anonymous_answers_is_scrubbed(tmp_path: Path):
    """The anonymous probes recorded `Content-Location: /Patient/<id>?birthdate=…` and
    `Location: /x?patient=<id>` as sent (only token parameters were redacted): the patient id
    and birth date reached evidence.json and --debug."""
    from tests.support.cli import CAP, ROUTES
    from tests.support.loopback import Reply, serve

    where = {"Content-Location": f"/fhir/Patient/{PHI_ID}?birthdate=1945-03-21&_format=json"}
    routes = {
        **ROUTES,
        "/fhir/metadata": Reply(200, CAP, where),
        "/fhir/Patient": Reply(401, {"resourceType": "OperationOutcome", "issue": []}, {"Location": f"/x?patient={PHI_ID}"}),
    }
    evidence = tmp_path / "evidence.json"
    with serve(routes) as srv:
        res = run("--debug", "probe", srv.base, "-o", str(evidence), "--timeout", "3")
    assert res.exit_code == 0, res.output[-2000:]
    text = evidence.read_text(encoding="utf-8")
    for planted in (PHI_ID, "1945-03-21"):
        assert planted not in text and planted not in res.output
    assert "/fhir/Patient/[id]?birthdate=[redacted]&_format=json" in text


@pytest.mark.parametrize(
    "token, refused",
    [
        ("http://127.0.0.1:9/token", True),  # plain http under an https base
        ("http://auth.example.test/token", True),
        ("https://auth.example.test/token", False),
    ],
)
def test_a_user_launch_never_starts_against_a_plain_http_token_endpoint(token, refused):
    """`launch` against an https base whose SMART configuration named an http token endpoint
    posted every code, PKCE verifier and the confidential app's Basic secret there in clear text
    (the backend-credentials probes refused the same endpoint)."""
    import asyncio
    from types import SimpleNamespace

    from ehrcheck.probes.base import ProbeError
    from ehrcheck.probes.launch.probe import find_endpoints

    doc = {"authorization_endpoint": "https://ehr.example.test/authorize", "token_endpoint": token}

    async def result(name: str):
        data = {"document": doc} if name == "smart" else {}
        return SimpleNamespace(status=SimpleNamespace(value="completed"), data=data)

    ctx = SimpleNamespace(result=result, base_url="https://ehr.example.test/fhir")
    if refused:
        with pytest.raises(ProbeError, match="refused: the token endpoint"):
            asyncio.run(find_endpoints(ctx))  # type: ignore[arg-type]
    else:
        assert asyncio.run(find_endpoints(ctx)).token == token  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["json", "sarif", "junit"])
def test_c1_and_bidi_characters_from_a_server_are_escaped_in_json_and_xml_files(tmp_path: Path, fmt):
    """C01: report.json, SARIF and JUnit kept a server's raw U+009B (C1 CSI, an escape sequence to
    some terminals) and U+202E (right-to-left override); `cat report.json` then obeyed them. JSON
    now carries them as \\u escapes (the same data once parsed), XML spells them out."""
    import gzip
    import json

    text = gzip.decompress((Path(__file__).parents[1] / "files" / "evidence_v1" / "demo-meadowlark-chart.json.gz").read_bytes())
    evidence = json.loads(text)
    hostile = "Meadow\u009b31m\u202elark\u200b"
    planted = json.loads(json.dumps(evidence).replace("Meadowlark", hostile))
    assert json.dumps(planted) != json.dumps(evidence), "the plant must land somewhere"
    source = tmp_path / "evidence.json"
    source.write_text(json.dumps(planted, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / f"out.{'xml' if fmt == 'junit' else fmt}"
    res = run("score", str(source), "-o", str(out), "-f", fmt, "-q")
    assert res.exit_code in (0, 1), res.output
    raw = out.read_text(encoding="utf-8")
    for ch in ("\u009b", "\u202e", "\u200b"):
        assert ch not in raw, (fmt, repr(ch))
    if fmt == "json":
        assert hostile in json.dumps(json.loads(raw), ensure_ascii=False), "the data itself is kept, only written escaped"


def test_json_text_round_trips_and_leaves_nothing_raw():
    import json

    from ehrcheck.inert import json_text

    value = {"k\u202e": ["\u0085\u009b[2J", "\u2028\u2029\ufeff\u061c\u2066x\u2069", "plain é"]}
    text = json_text(json.dumps(value, ensure_ascii=False))
    assert json.loads(text) == value
    assert all(ch not in text for ch in "\u0085\u009b\u202e\u2028\u2029\ufeff\u061c\u2066\u2069")
    assert "é" in text
