"""Attack round 9 (an independent black-box round, then fixes): each test failed on the code
before its fix. Two outputs of one run (or an output and an input) on one file, credentials kept
in an endpoint list's junk lines, in a URL's fragment, in a hand-made history database's rows,
in a lower-case percent-encoded echo and in a `--debug` header line, and a lone surrogate in a
claims file; the cases are in /tmp/attack9/results.md of that round."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.hostile.test_messages import assert_message
from tests.support.cli import CAP, ROUTES, run
from tests.support.loopback import Reply, serve

PASSWORD = "Pw/Round9+Sec=ret 4242"  # a "/", a "+", a "=" and a space: every encoding differs


# -- outputs: one file each, never an input --------------------------------------------------


@pytest.mark.timeout(90)
@pytest.mark.parametrize("evidence", ["same.md", "out/report.md"])
def test_the_evidence_and_a_report_of_one_audit_on_one_file_are_refused(tmp_path: Path, evidence: str):
    """`audit URL -o same.md --evidence same.md` (or `-o out/ --evidence out/report.md`) wrote
    the evidence and then the report over it: exit 0, and the run's evidence was gone."""
    output = "same.md" if evidence == "same.md" else "out/"
    with serve(ROUTES) as srv:
        res = run("audit", srv.base, "-o", str(tmp_path / output), "--evidence", str(tmp_path / evidence), "-q")
        assert_message(res, "--evidence", "is also -o", "give each its own path")
        assert srv.requests == []  # refused before the first request
    assert not (tmp_path / evidence).exists()


@pytest.mark.timeout(90)
def test_score_does_not_write_over_the_evidence_it_reads(tmp_path: Path):
    """`probe URL -o e.json` then `score e.json -o e.json`: ehrcheck's own earlier output is
    replaced without --force, so the only copy of the evidence became a report.json."""
    evidence = tmp_path / "e.json"
    with serve(ROUTES) as srv:
        assert run("probe", srv.base, "-o", str(evidence), "--timeout", "3", "-q").exit_code == 0
    before = evidence.read_bytes()
    res = run("score", str(evidence), "-o", str(tmp_path / "." / "e.json"), "-q")
    assert_message(res, "is the evidence file this command reads")
    assert evidence.read_bytes() == before


@pytest.mark.timeout(120)
def test_compare_does_not_write_over_a_run_it_reads(tmp_path: Path):
    """`compare A/ B/ -o A/report.json` replaced A's report with the comparison (a folder was
    only compared with -o by its own name); `diff A/ B/` then refused A."""
    with serve(ROUTES) as srv:
        for name in ("A", "B"):
            res = run("audit", srv.base, "-o", str(tmp_path / name), "--timeout", "3", "-q", "--label", name)
            assert res.exit_code in (0, 1), res.output[-2000:]
    before = (tmp_path / "A" / "report.json").read_bytes()
    for target in ("report.json", "evidence.json"):
        res = run("compare", str(tmp_path / "A"), str(tmp_path / "B"), "-o", str(tmp_path / "A" / target), "-q")
        assert_message(res, "is a run this command reads")
        res = run("diff", str(tmp_path / "A"), str(tmp_path / "B"), "-o", str(tmp_path / "A" / target), "-q")
        assert_message(res, "is a run this command reads")
    assert (tmp_path / "A" / "report.json").read_bytes() == before


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["index.html", "results.jsonl", "run.json"])
def test_a_scans_history_database_is_not_one_of_its_own_files(tmp_path: Path, name: str):
    """`scan LIST -o s/ --db s/index.html` ended with index.html written over the history
    database (history lost); `--db s/results.jsonl` wrote rows and database into one file."""
    listing, out = tmp_path / "urls.txt", tmp_path / "s"
    with serve(ROUTES) as srv:
        listing.write_text(srv.base + "\n", encoding="utf-8")
        res = run("scan", str(listing), "-o", str(out), "--db", str(out / name), "--workers", "1", "--timeout", "3", "-q")
        assert_message(res, "--db", "so one output would replace the other")
        assert srv.requests == []
        res = run("scan", str(listing), "-o", str(out), "--db", str(listing), "--workers", "1", "--timeout", "3", "-q")
        assert_message(res, "is the endpoint list")
    assert listing.read_text(encoding="utf-8").endswith("/fhir\n")


# -- credentials in text that never parsed as a URL ----------------------------------------


@pytest.mark.timeout(120)
def test_a_junk_line_of_an_endpoint_list_is_quoted_without_its_credentials(tmp_path: Path):
    """A list line skipped as junk was quoted whole, on stderr and in index.html's "List lines
    skipped": `http://user:PASSWORD@host/fh ir` (a space), a port out of range, a broken IPv6
    literal and `?access_token=…&x=<` kept the password and the token the list reader strips
    from every line it can parse."""
    junk = [
        "http://bob:Junk-Pass-1111@127.0.0.1:9/fh ir",
        "http://bob:Junk-Pass-2222@127.0.0.1:99999/fhir",
        "https://bob:Junk-Pass-3333@[::1/fhir",
        "http://127.0.0.1:9/fhir?access_token=Junk-Token-4444&x=<",
        "ftp://bob:Junk-Pass-5555@127.0.0.1/fhir#id_token=Junk-Token-6666",
    ]
    listing, out = tmp_path / "urls.txt", tmp_path / "s"
    with serve(ROUTES) as srv:
        listing.write_text("\n".join([srv.base, *junk]) + "\n", encoding="utf-8")
        res = run("scan", str(listing), "-o", str(out), "-f", "html,sarif,junit", "--workers", "1", "--timeout", "3")
    assert res.exit_code in (0, 1), res.output[-2000:]
    assert "urls.txt:2: skipped 'http://redacted@127.0.0.1:9/fh ir'" in res.stderr
    written = res.output + "".join(p.read_text(encoding="utf-8") for p in out.iterdir() if p.is_file())
    assert "skipped" in (out / "index.html").read_text(encoding="utf-8")
    for secret in ("Junk-Pass", "Junk-Token"):
        assert secret not in written


def test_a_token_in_a_urls_fragment_is_redacted():
    """`audit 'https://host/r4#access_token=…'` (where OAuth's implicit grant puts a token) kept
    it in evidence.json, every report's title and "Probing …"; so did an evidence or report.json
    file read back with it in `target.base_url`."""
    from ehrcheck.http.redact import Secrets, redact_url
    from ehrcheck.models import Target

    url = "https://u:Frag-Pass-1@h.example/r4?x=1#access_token=Frag-Token-2&state=ok"
    for shown in (redact_url(url), Target(base_url=url).base_url):
        assert "Frag-Pass-1" not in shown and "Frag-Token-2" not in shown, shown
        assert shown.endswith("#access_token=[redacted]&state=[redacted]"), shown  # round 13: no value but FHIR's
    assert redact_url("https://h.example/r4#section-2") == "https://h.example/r4#section-2"
    secrets = Secrets()
    secrets.add_url(url)
    assert secrets.scrub("echo Frag-Token-2") == "echo [redacted]"


# -- the scrubber: the encodings a server echoes in -----------------------------------------


def test_a_secret_percent_encoded_in_lower_case_hex_is_scrubbed():
    """`%2f` and `%2F` are the same encoding (RFC 3986 §2.1), but only `quote()`'s upper case was
    matched: a server echoing the client secret as `Pw%2fRound9%2bSec%3dret%204242` in a header
    the evidence keeps (ETag, Server) had it in evidence.json and --debug."""
    from urllib.parse import quote, quote_plus

    from ehrcheck.http.redact import Secrets

    secrets = Secrets([PASSWORD])
    for encoded in (quote(PASSWORD, safe=""), quote_plus(PASSWORD), quote(PASSWORD)):
        lower = __import__("re").sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), encoded)
        assert lower != encoded
        assert secrets.scrub(f"etag: {lower}!") == "etag: [redacted]!", lower
    assert secrets.scrub("Pw%2fround9") == "Pw%2fround9"  # the letters themselves stay case-sensitive


@pytest.mark.timeout(90)
def test_a_debug_line_scrubs_a_json_escaped_echo_in_a_kept_header(tmp_path: Path):
    """`--debug` printed the response headers as a dict's repr, which doubles a backslash, and
    scrubbed the formatted line: a server echoing the password JSON-escaped (`Pw\\/Round9…`) in
    its ETag (a header whose value is kept) had it printed in full."""
    escaped = json.dumps(PASSWORD)[1:-1].replace("/", "\\/")
    assert escaped != PASSWORD
    routes = {
        "/fhir/metadata": Reply(200, CAP, {"ETag": f'"{escaped}"', "Server": escaped}),
        **{k: v for k, v in ROUTES.items() if k != "/fhir/metadata"},
    }
    with serve(routes) as srv:
        host = srv.base.split("://", 1)[1]
        from urllib.parse import quote

        base = f"http://bob:{quote(PASSWORD, safe='')}@{host}"
        res = run("--debug", "probe", base, "-o", str(tmp_path / "e.json"), "--timeout", "3")
    assert res.exit_code == 0, res.output[-2000:]
    assert "debug: ehrcheck.http.client: GET" in res.stderr
    for text in (res.stderr, (tmp_path / "e.json").read_text(encoding="utf-8")):
        assert "Round9" not in text and "4242" not in text


# -- hand-made files ---------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_history_prints_no_credentials_of_a_hand_made_row(tmp_path: Path):
    """A history database edited to hold `http://user:PASSWORD@host/r4?access_token=…` as a
    result's URL had both printed by `ehrcheck history` in every format (a report.json read back
    that way prints neither; a scan never records them)."""
    listing, db = tmp_path / "urls.txt", tmp_path / "h.sqlite"
    with serve(ROUTES) as srv:
        listing.write_text(srv.base + "\n", encoding="utf-8")
        for n in (1, 2):
            res = run(
                "scan", str(listing), "-o", str(tmp_path / f"s{n}"), "--db", str(db), "--workers", "1", "--timeout", "3", "-q"
            )
            assert res.exit_code in (0, 1), res.output[-2000:]
    edited = tmp_path / "edited.sqlite"
    shutil.copy(db, edited)
    conn = sqlite3.connect(edited)
    conn.execute(
        "UPDATE results SET url = ? WHERE run_id = 2", ("http://bob:Hist-Pass-7777@127.0.0.1:9/r4?access_token=Hist-Token-8888",)
    )
    conn.commit()
    conn.close()
    for suffix in ("html", "md", "json"):
        out = tmp_path / f"h.{suffix}"
        res = run("history", "--db", str(edited), "-o", str(out), "-q")
        assert res.exit_code == 0, res.output[-2000:]
        text = out.read_text(encoding="utf-8")
        assert "127.0.0.1:9/r4" in text  # the row is shown...
        assert "Hist-Pass-7777" not in text and "Hist-Token-8888" not in text  # ...without its credentials
    res = run("history", "--db", str(edited))
    assert "Hist-Pass-7777" not in res.output and "Hist-Token-8888" not in res.output


def test_a_lone_surrogate_in_a_claims_file_is_a_message_not_a_traceback(tmp_path: Path):
    """A YAML `"\\ud800"` escape in `standards.fhir_version` was a UnicodeEncodeError traceback
    (pydantic cannot encode a lone surrogate), in `claims check` and `audit --claims` alike:
    surrogates become U+FFFD before validation, as in every other file ehrcheck reads."""
    claims = tmp_path / "claims.yaml"
    claims.write_text('claims_version: 1\nstandards:\n  fhir_version: "x\\ud800"\n', encoding="utf-8")
    res = run("claims", "check", str(claims))
    assert_message(res, "claims.yaml:3:17: standards.fhir_version", "is not a version")
