"""Attack round 5 (an independent black-box round, then fixes): each test failed on the code
before its fix. A Bulk status URL that redirects to another origin, patient data in the URL a
redirect leads to, saved scan rows with huge numbers, deep nesting, lone surrogates or
credentials, a resume file that is a device or a FIFO, raw bidi characters in history Markdown,
empty credentials files, duplicate YAML keys, and output paths that would overwrite a user's file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.faults.audit import healthy
from tests.faults.server import dynamic, fault_server, json_reply, reply
from tests.hostile.test_messages import assert_message
from tests.hostile.test_origins import TOKEN, _collect
from tests.support.cli import run

PHI_ID = "pt-ZQ4471"
PHI_DOB = "1931-07-19"


@pytest.mark.timeout(60)
def test_a_status_url_that_redirects_to_another_origin_is_not_followed(tmp_path: Path):
    """The status URL was on the audited origin, but answered 307 to another one: the poll
    followed it (without the token), took the manifest that host served, and then sent the
    bearer token to the file servers *it* named (`token_sent_to_file_origins` listed them)."""
    from ehrcheck.probes.authenticated import bulk

    with fault_server({}) as elsewhere:
        manifest = {
            "transactionTime": "2026-06-01T00:00:00Z",
            "request": "x",
            "requiresAccessToken": True,
            "output": [{"type": "Patient", "url": elsewhere.origin + "/files/Patient.ndjson"}],
        }
        elsewhere_routes = {
            "/status/1": json_reply(manifest, content_type="application/json"),
            "/files/Patient.ndjson": reply(
                200, b'{"resourceType":"Patient","id":"p1"}\n', content_type="application/fhir+ndjson"
            ),
        }
        with fault_server(elsewhere_routes) as storage:
            vendor = {
                **healthy(export=dynamic(lambda c: reply(202, b"", {"Content-Location": "/fhir/status/r"}))),
                "/fhir/status/r": reply(307, b"", {"Location": storage.origin + "/status/1"}),
            }
            with fault_server(vendor) as srv:
                evidence, result = _collect(
                    srv.base, tmp_path, f"auth_method: bearer\nbearer_token: {TOKEN}\n", {"bulk": bulk.probe_bulk}
                )
            contacted = list(storage.requests)
    assert contacted == [], contacted  # neither polled there nor any file fetched from its manifest
    patient = evidence.probes["bulk"].data["patient"]
    assert patient["status_url_refused"].startswith("not polled: the status URL is on another origin")
    assert not patient.get("token_sent_to_file_origins")
    assert next(f for f in result.findings if f.rule_id == "INT-316").status.value == "fail"


@pytest.mark.timeout(60)
def test_patient_data_in_the_url_a_redirect_leads_to_is_scrubbed(tmp_path: Path):
    """`/metadata` answered 302 to `/Patient/<id>?name=…&birthdate=…`: the Location header was
    scrubbed, but the request that followed it was recorded with its URL as sent, so the id, name
    and birth date reached evidence.json, report.html/report.json and --debug (docs/security.md
    §5 names exactly this redirect)."""
    from tests.support.cli import ROUTES
    from tests.support.loopback import Reply, serve

    target = f"/fhir/Patient/{PHI_ID}?name=Quixotebottom&birthdate={PHI_DOB}"
    routes = {**ROUTES, "/fhir/metadata": Reply(302, b"", {"Location": target})}
    out = tmp_path / "out"
    with serve(routes) as srv:
        res = run("--debug", "audit", srv.base, "-o", str(out), "-f", "html,json", "--timeout", "3")
    assert res.exit_code in (0, 1), res.output[-2000:]
    for f in out.iterdir():
        text = f.read_text(encoding="utf-8")
        for planted in (PHI_ID, PHI_DOB, "Quixotebottom"):
            assert planted not in text, (f.name, planted)
    for planted in (PHI_ID, PHI_DOB, "Quixotebottom"):
        assert planted not in res.output
    assert "/fhir/Patient/[id]?name=[redacted]&birthdate=[redacted]" in (out / "evidence.json").read_text(encoding="utf-8")


def _finished_scan(tmp_path: Path) -> tuple[Path, Path, list[dict]]:
    """A real finished scan of one loopback endpoint: (list file, output folder, its rows)."""
    from tests.support.cli import ROUTES
    from tests.support.loopback import serve

    out = tmp_path / "scan"
    with serve(ROUTES) as srv:
        listing = tmp_path / "urls.txt"
        listing.write_text(srv.base + "\n", encoding="utf-8")
        res = run("scan", str(listing), "-o", str(out), "--timeout", "3", "--workers", "1")
    assert res.exit_code in (0, 1), res.output[-2000:]
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    return listing, out, rows


def _resume(listing: Path, out: Path, rows: list[dict], extra: str = "") -> object:
    text = "".join(json.dumps(r) + "\n" for r in rows) + extra
    (out / "results.jsonl").write_text(text, encoding="utf-8")
    return run("scan", str(listing), "-o", str(out), "--resume", "-f", "html,sarif,junit", "--timeout", "3", "--workers", "1")


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "edit, expect",
    [
        # A 5,000-digit score parses as its text; lax validation took it for a float, then
        # `score_sum += "999…"` was a TypeError traceback.
        ({"score": "BIG"}, "results.jsonl:1: a result row `ehrcheck scan` never writes (field 'score'"),
        # `[` 10,000 deep: a RecursionError traceback in the resume reader. Now a junk line (a
        # warning; its endpoint, here no longer served, is audited again).
        ({"deep": "DEEP"}, "results.jsonl:1: not a result row"),
        # A JSON `\ud800` escape: a UnicodeEncodeError traceback in the SARIF writer.
        ({"reason": "SURROGATE", "name": "SURROGATE"}, None),
    ],
)
def test_resume_rows_with_huge_numbers_deep_nesting_or_lone_surrogates_never_crash(tmp_path: Path, edit, expect):
    listing, out, rows = _finished_scan(tmp_path)
    for key, marker in edit.items():
        rows[0][key] = marker
    text = json.dumps(rows[0])
    text = text.replace('"BIG"', "9" * 5000).replace('"DEEP"', "[" * 10000 + "]" * 10000)
    text = text.replace('"SURROGATE"', '"x\\ud800y"')
    (out / "results.jsonl").write_text(text + "\n", encoding="utf-8")
    res = run("scan", str(listing), "-o", str(out), "--resume", "-f", "html,sarif,junit", "--timeout", "3", "--workers", "1")
    assert "Traceback" not in res.output
    if expect and "DEEP" in edit.values():
        assert expect in " ".join(res.stderr.split())
    elif expect:
        assert_message(res, expect)
    else:
        assert res.exit_code in (0, 1), res.output[-2000:]
        for name in ("index.html", "results.sarif", "results.xml"):
            assert (out / name).read_text(encoding="utf-8")


@pytest.mark.timeout(60)
def test_a_resume_row_whose_url_carries_credentials_is_refused(tmp_path: Path):
    """ehrcheck strips user-info and token parameters from a list's URLs, but a resume row was
    taken as written: its password and access_token reached index.html, SARIF and JUnit."""
    listing, out, rows = _finished_scan(tmp_path)
    rows.append({**rows[0], "url": "http://user:PLANTED-pw-4471@127.0.0.1:9/fhir?access_token=PLANTED-tok-4471"})
    res = _resume(listing, out, rows)
    assert_message(res, "results.jsonl:2: a result row `ehrcheck scan` never writes (field 'url'")
    for f in out.rglob("*"):
        if f.is_file() and f.name != "results.jsonl":
            assert "PLANTED" not in f.read_text(encoding="utf-8", errors="replace"), f


@pytest.mark.timeout(60)
@pytest.mark.parametrize("node", ["device", "fifo"])
def test_a_resume_file_that_is_a_device_or_a_fifo_is_a_message_not_a_hang(tmp_path: Path, node):
    """`results.jsonl` a symlink to /dev/zero read forever; a FIFO nobody writes blocked the open."""
    listing = tmp_path / "urls.txt"
    listing.write_text("http://127.0.0.1:9/fhir\n", encoding="utf-8")
    out = tmp_path / "scan"
    out.mkdir()
    results = out / "results.jsonl"
    if node == "device":
        results.symlink_to("/dev/zero")
    else:
        os.mkfifo(results)
    res = run("scan", str(listing), "-o", str(out), "--resume", "--timeout", "2", "--workers", "1")
    assert_message(res, f"{results}: not a regular file")


@pytest.mark.timeout(60)
def test_bidi_and_zero_width_characters_from_a_server_are_spelled_out_in_history_markdown(tmp_path: Path):
    """history.md had its own cell escaper, which blanked C0/C1 controls only: a SMART capability
    holding U+202E (right-to-left override) or U+200B reached the Markdown raw (report.md spells
    both out), and a bare `www.` address in it became a link on GitHub."""
    from tests.support.cli import ROUTES
    from tests.support.loopback import Reply, serve

    smart = {
        "authorization_endpoint": "https://127.0.0.1:9/authorize",
        "token_endpoint": "https://127.0.0.1:9/token",
        "capabilities": ["launch-standalone", "\u202eevil\u202c", "zero\u200bwidth", "www.evil.example"],
    }
    routes = {**ROUTES, "/fhir/.well-known/smart-configuration": Reply(200, smart, {"Content-Type": "application/json"})}
    db = tmp_path / "history.sqlite"
    with serve(routes) as srv:
        listing = tmp_path / "urls.txt"
        listing.write_text(srv.base + "\n", encoding="utf-8")
        res = run("scan", str(listing), "-o", str(tmp_path / "scan"), "--db", str(db), "--timeout", "3", "--workers", "1")
    assert res.exit_code == 0, res.output[-2000:]
    out = tmp_path / "history.md"
    hist = run("history", "--db", str(db), "-o", str(out))
    assert hist.exit_code == 0, hist.output[-2000:]
    text = out.read_text(encoding="utf-8")
    for raw in ("\u202e", "\u202c", "\u200b"):
        assert raw not in text
    assert "\\\\u202eevil\\\\u202c" in text  # spelled out, its backslash escaped as report.md does
    assert "www.evil" not in text


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["empty", "comments", "devnull", "fifo"])
def test_an_empty_credentials_file_is_refused_before_any_request(tmp_path: Path, kind):
    """`--credentials` naming an empty file, /dev/null or a FIFO nobody writes was taken as "no
    credentials": the audit ran anonymously, exit 0, and the authenticated checks the user asked
    for silently vanished from the report."""
    from tests.support.cli import ROUTES
    from tests.support.loopback import serve

    path = tmp_path / "creds.yaml"
    if kind == "empty":
        path.write_text("", encoding="utf-8")
    elif kind == "comments":
        path.write_text("# client_secret: to be filled in\n", encoding="utf-8")
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path = Path("/dev/null")
    with serve(ROUTES) as srv:
        res = run("audit", srv.base, "--credentials", str(path), "-o", str(tmp_path / "out"), "--timeout", "3")
        sent = list(srv.requests)
    assert_message(res, f"--credentials {path}: the file is empty")
    assert sent == []
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "flag, text, key",
    [
        (
            "--waivers",
            "waivers:\n  - rule: HIP-010\n    rule: HIP-011\n    target: '*'\n    reason: r\n    expires: 2099-01-01\n",
            "rule",
        ),
        ("--pack", "pack: p\ntitle: a\ntitle: b\ndescription: d\nrules: []\n", "title"),
        ("--credentials", "client_id: c\nclient_secret: first-secret-1\nclient_secret: other-secret-2\n", "client_secret"),
    ],
)
def test_a_key_given_twice_in_a_yaml_file_is_refused(tmp_path: Path, flag, text, key):
    """PyYAML keeps the last of two equal keys without a word: a waiver naming `rule:` twice waived
    the second rule while the file read as the first; packs and credentials did the same (exit 0).
    Claims files already refused it."""
    path = tmp_path / "input.yaml"
    path.write_text(text, encoding="utf-8")
    if flag == "--credentials":
        res = run("audit", "http://127.0.0.1:9/fhir", flag, str(path), "-o", str(tmp_path / "out"), "--timeout", "2")
    else:
        from ehrcheck.files.store import evidence_text
        from tests.support.evidence import evidence

        ev = tmp_path / "evidence.json"
        ev.write_text(evidence_text(evidence({})), encoding="utf-8")
        res = run("score", str(ev), flag, str(path), "-o", str(tmp_path / "report.md"))
    assert_message(res, f"input.yaml:3: '{key}' given twice in one mapping (first on line 2)")
    assert "secret-" not in res.output


@pytest.mark.parametrize("command", ["probe", "audit"])
def test_an_evidence_path_ending_in_a_slash_never_overwrites_a_file(tmp_path: Path, command):
    """`probe URL -o notes/` (a folder meant) dropped the "/" and, `notes` being the user's file,
    overwrote it with evidence (exit 0); `audit --evidence notes/` did the same."""
    notes = tmp_path / "notes"
    notes.write_text("the user's own notes\n", encoding="utf-8")
    if command == "probe":
        res = run("probe", "http://127.0.0.1:9/fhir", "-o", f"{notes}/", "--timeout", "2")
        flag = "-o"
    else:
        res = run("audit", "http://127.0.0.1:9/fhir", "-o", str(tmp_path / "r.md"), "--evidence", f"{notes}/", "--timeout", "2")
        flag = "--evidence"
    assert_message(res, f"{flag} {notes}/: ends with / (a folder)")
    assert notes.read_text(encoding="utf-8") == "the user's own notes\n"


@pytest.mark.timeout(60)
def test_an_output_folder_never_loses_a_file_ehrcheck_did_not_write(tmp_path: Path):
    """`audit URL -o notes/`, the folder holding the user's own report.md and evidence.json,
    replaced both (exit 0): the --force guard only recognised another target's ehrcheck report."""
    from tests.support.cli import ROUTES
    from tests.support.loopback import serve

    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "report.md").write_text("# my own notes\n", encoding="utf-8")
    with serve(ROUTES) as srv:
        res = run("audit", srv.base, "-o", f"{folder}/", "--timeout", "3")
        sent = list(srv.requests)
        assert_message(res, "report.md there was not written by ehrcheck", "--force")
        assert sent == []  # refused before the first request
        assert (folder / "report.md").read_text(encoding="utf-8") == "# my own notes\n"
        # ehrcheck's own reports in that folder are replaced as before, and --force still wins.
        again = run("audit", srv.base, "-o", f"{folder}/", "--timeout", "3", "--force")
        assert again.exit_code in (0, 1), again.output[-2000:]
        rerun = run("audit", srv.base, "-o", f"{folder}/", "--timeout", "3")
        assert rerun.exit_code in (0, 1), rerun.output[-2000:]
