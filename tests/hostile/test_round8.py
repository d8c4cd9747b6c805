"""Attack round 8 (an independent black-box round, then fixes): each test failed on the code
before its fix. `probe -o` and `scan -o` replacing the user's own files, and a hand-made history
database crashing `ehrcheck history`; the cases are in /tmp/attack8/results.md of that round."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.hostile.test_messages import assert_message
from tests.support.cli import run

MINE = '{"my": "own notes"}\n'


@pytest.mark.timeout(90)
def test_probe_does_not_replace_the_users_own_file_without_force(tmp_path: Path):
    """`probe -o notes.json` overwrote the user's file: every other command's -o refuses that."""
    from tests.support.cli import ROUTES
    from tests.support.loopback import serve

    mine = tmp_path / "notes.json"
    mine.write_text(MINE, encoding="utf-8")
    with serve(ROUTES) as srv:
        res = run("probe", srv.base, "-o", str(mine), "--timeout", "3", "-q")
        assert_message(res, "notes.json", "was not written by ehrcheck", "--force")
        assert mine.read_text(encoding="utf-8") == MINE
        ours = tmp_path / "evidence.json"
        assert run("probe", srv.base, "-o", str(ours), "--timeout", "3", "-q").exit_code == 0
        assert run("probe", srv.base, "-o", str(ours), "--timeout", "3", "-q").exit_code == 0  # its own: replaced
        assert run("probe", srv.base, "-o", str(mine), "--timeout", "3", "-q", "--force").exit_code == 0
    assert mine.read_text(encoding="utf-8").startswith('{\n  "schema": "ehrcheck.evidence"')


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("fmt", "name"), [("html", "index.html"), ("html,sarif", "results.sarif"), ("html,junit", "results.xml")]
)
def test_scan_does_not_replace_the_users_own_files_in_its_folder(tmp_path: Path, fmt: str, name: str):
    """`scan LIST -o FOLDER` rewrote the user's own FOLDER/index.html (and results.sarif/.xml) at
    the end of the scan without a word; `audit -o FOLDER` refuses that unless --force."""
    from tests.support.cli import ROUTES
    from tests.support.loopback import serve

    out, listing = tmp_path / "scan", tmp_path / "urls.txt"
    out.mkdir()
    mine = out / name
    mine.write_text(MINE, encoding="utf-8")
    with serve(ROUTES) as srv:
        listing.write_text(srv.base + "\n", encoding="utf-8")
        res = run("scan", str(listing), "-o", str(out), "-f", fmt, "--timeout", "3", "--workers", "1", "-q")
        assert_message(res, name, "was not written by ehrcheck", "--force")
        assert mine.read_text(encoding="utf-8") == MINE
        assert not (out / "results.jsonl").exists()  # refused before anything was probed
        res = run("scan", str(listing), "-o", str(out), "-f", fmt, "--timeout", "3", "--workers", "1", "-q", "--force")
        assert res.exit_code in (0, 1), res.output[-2000:]
        # Its own files are replaced on --resume without --force.
        res = run("scan", str(listing), "-o", str(out), "-f", fmt, "--timeout", "3", "--workers", "1", "-q", "--resume")
        assert res.exit_code in (0, 1), res.output[-2000:]
    assert mine.read_text(encoding="utf-8") != MINE


@pytest.fixture(scope="module")
def history_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database a scan recorded, to be edited by hand."""
    from tests.support.cli import ROUTES
    from tests.support.loopback import serve

    base = tmp_path_factory.mktemp("round8")
    db, listing = base / "h.sqlite", base / "urls.txt"
    with serve(ROUTES) as srv:
        listing.write_text(srv.base + "\n", encoding="utf-8")
        res = run("scan", str(listing), "-o", str(base / "scan"), "--db", str(db), "--timeout", "3", "--workers", "1", "-q")
    assert res.exit_code in (0, 1), res.output[-2000:]
    return db


def _edited(history_db: Path, tmp_path: Path, *sql: tuple[str, tuple[object, ...]]) -> Path:
    db = tmp_path / "edited.sqlite"
    shutil.copy(history_db, db)
    conn = sqlite3.connect(db)
    for statement, args in sql:
        conn.execute(statement, args)
    conn.commit()
    conn.close()
    return db


@pytest.mark.timeout(60)
@pytest.mark.parametrize("suffix", ["html", "md", "json"])
def test_a_count_that_is_not_a_number_in_a_history_database_is_exit_2(history_db: Path, tmp_path: Path, suffix: str):
    """SQLite keeps any value in any column: `run_counts.n = 'many'` was a ValueError traceback."""
    db = _edited(history_db, tmp_path, ("INSERT INTO run_counts VALUES (1, 'outcome', 'unreachable', 'many')", ()))
    res = run("history", "--db", str(db), "-o", str(tmp_path / f"h.{suffix}"), "-q")
    assert_message(res, "edited.sqlite", "'many', not a number")
    assert not (tmp_path / f"h.{suffix}").exists()


@pytest.mark.timeout(60)
def test_a_blob_in_a_history_database_is_read_as_text(history_db: Path, tmp_path: Path):
    """A BLOB (a surrogate's bytes among them) came back as bytes: `-o h.json` was a TypeError
    traceback ("Object of type bytes is not JSON serializable")."""
    db = _edited(
        history_db,
        tmp_path,
        ("INSERT INTO runs (id, label, started_at) VALUES (2, ?, '2099-01-01T00:00:00Z')", (b"night\xed\xa0\x80",)),
        ("UPDATE results SET name = ?", (b"\xff\xfeclinic",)),
    )
    res = run("history", "--db", str(db), "-o", str(tmp_path / "h.json"), "-q")
    assert res.exit_code == 0, res.output[-2000:]
    text = (tmp_path / "h.json").read_text(encoding="utf-8")
    assert "night\\ufffd" in text or "night\ufffd" in text


@pytest.mark.timeout(90)
def test_the_endpoint_sample_sends_no_credential_a_bundle_address_carries(tmp_path: Path):
    """security.md §9: the sample's `GET [address]/metadata` is anonymous. An address with
    user-info got a Basic header built from it, an `access_token` in its query was sent (with
    `/metadata` appended after the query) and kept in the evidence."""
    import json

    from tests.support.cli import CAP, ROUTES
    from tests.support.loopback import Reply, serve

    with serve({"/ep/metadata": Reply(200, CAP)}, prefix="/ep") as other, serve(ROUTES) as srv:
        host = other.origin.split("://", 1)[1]
        address = f"http://bob:Bob-Pass-5151@{host}/ep?access_token=Tok-Query-6161&x=1"
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {
                    "resource": {
                        "resourceType": "Endpoint",
                        "status": "active",
                        "connectionType": {"code": "hl7-fhir-rest"},
                        "address": address,
                    }
                }
            ],
        }
        listing = tmp_path / "endpoints.json"
        listing.write_text(json.dumps(bundle), encoding="utf-8")
        evidence = tmp_path / "evidence.json"
        res = run("probe", srv.base, "--endpoints-bundle", str(listing), "-o", str(evidence), "--timeout", "3", "-q")
        assert res.exit_code == 0, res.output[-2000:]
    assert [(m, p) for m, p, _h in other.requests] == [("GET", "/ep/metadata")]  # a FHIR base has no query
    assert not any("authorization" in h or "cookie" in h for _m, _p, h in other.requests)
    text = evidence.read_text(encoding="utf-8")
    for secret in ("Bob-Pass-5151", "Tok-Query-6161", "Qm9i"):
        assert secret not in text


@pytest.mark.parametrize(
    ("link", "kept"),
    [
        ("/fhir/Patient?PHIXQJSMITH=1", "/fhir/Patient?[param]=[redacted]"),
        ("/fhir/Patient?_count=1&PHIXQJSMITH", "/fhir/Patient?_count=1&[param]=[redacted]"),
        ("/fhir/Patient?_count=PHIXQJSMITH", "/fhir/Patient?_count=[redacted]"),
        ("/fhir/metadata?PHIXQJSMITH", "/fhir/metadata?[param]=[redacted]"),
        ("/fhir/Observation?code:PHIXQJSMITH=1&subject:Phixqjsmith=2", "/fhir/Observation?[param]=[redacted]&[param]=[redacted]"),
        (
            "/fhir/Observation?patient=7&category=laboratory&_count=10",
            "/fhir/Observation?patient=[redacted]&category=laboratory&_count=10",
        ),
    ],
)
def test_a_servers_own_parameter_names_are_not_kept_in_recorded_urls(link: str, kept: str):
    """A server's Location, Content-Location or Bundle `next` link `Patient?PHIXQJSMITH=1` kept
    the parameter name (only values were redacted), and `_count=PHIXQJSMITH` its value: both
    reached evidence.json, report.html, report.json and --debug. Only FHIR's own names are kept."""
    from ehrcheck.http.redact import scrub_url

    assert scrub_url("http://127.0.0.1:9" + link) == "http://127.0.0.1:9" + kept


@pytest.mark.parametrize("command", ["history", "scan"])
def test_a_libpq_key_value_string_given_as_db_is_refused_without_printing_it(tmp_path: Path, command: str):
    """`--db 'host=… password=…'` was taken as a SQLite file name and echoed, password and all."""
    (tmp_path / "u.txt").write_text("http://127.0.0.1:9/r4\n", encoding="utf-8")
    target = "host=127.0.0.1 port=9 password=Pg-Secret-7373 dbname=ehr"
    args = ["history", "--db", target, "-o", str(tmp_path / "h.md")]
    if command == "scan":
        args = ["scan", str(tmp_path / "u.txt"), "-o", str(tmp_path / "s"), "--db", target]
    res = run(*args, "-q")
    assert_message(res, "--db", "connection string is not taken")
    assert "Pg-Secret-7373" not in res.output
    assert not list(tmp_path.glob("host=*"))
