"""Attack round 6 (an independent black-box round, then fixes): each test failed on the code
before its fix. Patient data in the parts of a redirect's path the scrubber did not know (a
version id, a lower-case type, an encoded slash, a segment after the id), a scan's run.json that
could not be read silently starting a second history run, and a single output file of the user's
replaced without --force."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ehrcheck.demo.run import run_demo
from tests.hostile.test_messages import assert_message
from tests.support.cli import run

NAME = "Zyxwvutsrq"
DOB = "1911-11-11"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "location",
    [
        f"/fhir/Patient/{NAME}/_history/{DOB}",  # the version id after _history
        f"/fhir/patient/{NAME}",  # a type in lower case
        f"/fhir/Patient%2F{NAME}",  # an encoded slash: one segment
        f"/fhir/DocumentReference/x/{NAME}",  # a segment after the id
        f"/fhir/Patient/x/{NAME}",
        f"/fhir/Patient/$x{NAME}",  # not an operation FHIR defines
    ],
)
def test_patient_data_anywhere_in_a_redirect_path_is_scrubbed(tmp_path: Path, location: str):
    """Only the segment right after an exact-case resource type became `[id]`: the rest of the
    path a server redirected to reached evidence.json, report.json, report.html and --debug."""
    from tests.support.cli import ROUTES
    from tests.support.loopback import Reply, serve

    routes = {**ROUTES, "/fhir/metadata": Reply(302, b"", {"Location": location})}
    out = tmp_path / "out"
    with serve(routes) as srv:
        res = run("--debug", "audit", srv.base, "-o", str(out), "-f", "html,json", "--timeout", "3")
    assert res.exit_code in (0, 1, 2), res.output[-2000:]
    for f in out.iterdir():
        text = f.read_text(encoding="utf-8")
        for planted in (NAME, DOB):
            assert planted not in text, (f.name, planted)
    for planted in (NAME, DOB):
        assert planted not in res.output
    assert "[id]" in (out / "evidence.json").read_text(encoding="utf-8")


def test_the_words_of_a_fhir_path_survive_scrubbing():
    """What the scrubber keeps, so evidence still says what was asked: types, _history, known
    operations, discovery paths and the audited base path."""
    from ehrcheck.http.redact import scrub_url

    assert scrub_url("https://h/api/FHIR/R4/Group/g-17/$export?_type=Patient&since=x#f") == (
        "https://h/api/FHIR/R4/Group/[id]/$export?_type=Patient&since=[redacted]"
    )
    assert scrub_url("https://u:pw@h/r4/Patient/7/_history/2") == "https://h/r4/Patient/[id]/_history/[id]"
    assert scrub_url("https://h/r4/.well-known/smart-configuration") == "https://h/r4/.well-known/smart-configuration"
    assert scrub_url("https://h/files/x9/Patient.ndjson") == "https://h/[id]/[id]/Patient.ndjson"
    assert scrub_url("https://h/files/Smith.ndjson") == "https://h/[id]/[id]"
    base = "https://h/interconnect-x/api/FHIR/R4"
    assert scrub_url(base + "/Patient/7/Observation", base) == base + "/Patient/[id]/Observation"
    # a base that only starts the same way is not the base: its extra segment is scrubbed
    assert scrub_url(base + "x/Patient", base) == "https://h/[id]/api/FHIR/[id]/Patient"


def _scan_into_db(tmp_path: Path) -> tuple[Path, Path, Path]:
    from tests.support.cli import ROUTES
    from tests.support.loopback import serve

    out, db = tmp_path / "scan", tmp_path / "history.sqlite"
    listing = tmp_path / "urls.txt"
    with serve(ROUTES) as srv:
        listing.write_text(srv.base + "\n", encoding="utf-8")
        res = run("scan", str(listing), "-o", str(out), "--db", str(db), "--timeout", "3", "--workers", "1")
    assert res.exit_code in (0, 1), res.output[-2000:]
    return listing, out, db


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    "text",
    [
        '{"label": ["a"], "started_at": "2026-02-30", "shard": "zz"}\n',
        "not json at all\n",
        '["a list"]\n',
        '{"label": "run\\u001b[2J"}\n',
    ],
)
def test_a_run_file_that_cannot_be_read_stops_a_resumed_scan(tmp_path: Path, text: str):
    """`scan --resume --db` over a run.json it could not read overwrote it with a new label and
    recorded the rest of the scan as a second history run (the rows twice in `history`)."""
    listing, out, db = _scan_into_db(tmp_path)
    (out / "run.json").write_text(text, encoding="utf-8")
    res = run("scan", str(listing), "-o", str(out), "--resume", "--db", str(db), "--timeout", "3", "--workers", "1")
    assert_message(res, "run.json")
    assert "remove it to record the rest of the scan as a new history run" in res.output
    assert (out / "run.json").read_text(encoding="utf-8") == text  # left as the user has it
    runs = json.loads(run("history", "--db", str(db), "-f", "json", "-q").stdout)["runs"]
    assert len(runs) == 1


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("round6") / "demo"
    run_demo(out, formats=("json",))
    return out


def _commands(demo: Path, target: Path) -> dict[str, list[str]]:
    a, b = demo / "meadowlark-chart", demo / "riverbend-ehr"
    ev = str(a / "evidence.json")
    return {
        "score md": ["score", ev, "-o", str(target.with_suffix(".md"))],
        "score json": ["score", ev, "-o", str(target.with_suffix(".json"))],
        "score html": ["score", ev, "-o", str(target.with_suffix(".html"))],
        "score sarif": ["score", ev, "-o", str(target.with_suffix(".sarif"))],
        "score junit": ["score", ev, "-o", str(target.with_suffix(".xml"))],
        "compare md": ["compare", str(a), str(b), "-o", str(target.with_suffix(".md")), "-q"],
        "compare json": ["compare", str(a), str(b), "-o", str(target.with_suffix(".json")), "-q"],
        "compare html": ["compare", str(a), str(b), "-o", str(target.with_suffix(".html")), "-q"],
        "diff md": ["diff", str(a), str(b), "-o", str(target.with_suffix(".md")), "-q"],
        "diff json": ["diff", str(a), str(b), "-o", str(target.with_suffix(".json")), "-q"],
    }


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "name",
    [
        "score md",
        "score json",
        "score html",
        "score sarif",
        "score junit",
        "compare md",
        "compare json",
        "compare html",
        "diff md",
        "diff json",
    ],
)
def test_a_single_output_file_of_the_users_is_not_replaced_without_force(demo: Path, tmp_path: Path, name: str):
    """`-o report.md`, report.md being the user's own notes (or a link to them), was replaced
    without a word; now it is refused unless --force, while ehrcheck's own earlier output is
    replaced as before (each format's head says it was ehrcheck's)."""
    args = _commands(demo, tmp_path / "mine")[name]
    path = Path(args[args.index("-o") + 1])
    path.write_text("my own notes\n", encoding="utf-8")
    res = run(*args)
    assert_message(res, "was not written by ehrcheck", "--force")
    assert path.read_text(encoding="utf-8") == "my own notes\n"

    link = path.with_name("link" + path.suffix)
    link.symlink_to(path)
    args_link = [str(link) if a == str(path) else a for a in args]
    assert_message(run(*args_link), "is a symbolic link")
    assert link.is_symlink() and path.read_text(encoding="utf-8") == "my own notes\n"

    forced = run(*args, "--force")
    assert forced.exit_code in (0, 1), forced.output[-2000:]
    assert path.read_text(encoding="utf-8") != "my own notes\n"
    again = run(*args)  # its own output: replaced without --force
    assert again.exit_code in (0, 1), again.output[-2000:]


@pytest.mark.timeout(120)
def test_history_refuses_a_users_file_before_reading_the_database(tmp_path: Path):
    listing, out, db = _scan_into_db(tmp_path)
    for suffix in (".md", ".json", ".html"):
        mine = tmp_path / f"mine{suffix}"
        mine.write_text("my own notes\n", encoding="utf-8")
        assert_message(run("history", "--db", str(db), "-o", str(mine)), "was not written by ehrcheck")
        assert mine.read_text(encoding="utf-8") == "my own notes\n"
        assert run("history", "--db", str(db), "-o", str(mine), "--force", "-q").exit_code == 0
        assert run("history", "--db", str(db), "-o", str(mine), "-q").exit_code == 0  # its own: replaced


@pytest.mark.timeout(60)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_a_surrogate_encoded_in_the_bytes_never_reaches_a_writer(tmp_path: Path, encoding: str):
    """Found in review after round 6: json.loads decodes bytes with 'surrogatepass', so a
    CapabilityStatement carrying the UTF-8 *encoding* of a surrogate (ED A0 80), or a UTF-16
    body, decoded to a lone surrogate that the pre-check (JSON escapes only) let through."""
    from tests.support.cli import CAP, ROUTES
    from tests.support.loopback import Reply, serve

    text = json.dumps({**CAP, "software": {"name": "Chart@@"}}).replace("@@", "\ud800", 1)
    body = text.encode(encoding, "surrogatepass")
    routes = {**ROUTES, "/fhir/metadata": Reply(200, body, {"Content-Type": "application/fhir+json"})}
    out = tmp_path / "out"
    with serve(routes) as srv:
        res = run("audit", srv.base, "-o", str(out), "-f", "html,md,json", "--timeout", "3")
    assert res.exit_code in (0, 1), res.output[-2000:]
    assert "Traceback" not in res.output
    assert "Chart\ufffd" in (out / "evidence.json").read_text(encoding="utf-8")


def test_a_scan_row_reads_the_same_through_the_fast_path():
    """load_line checks a UTF-8 row's depth and surrogates on its text; bytes json.loads reads
    otherwise take the walk. Both must agree with the walk on every kind of row."""
    from ehrcheck.files.limits import MAX_DEPTH, json_loads, too_deep, without_lone_surrogates
    from ehrcheck.scan.results import load_line

    deep_ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    deep_bad = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    lines = [
        '{"a": "x\\ud800y", "b": ["\\\\ud800"]}',
        '{"s": "[[[[[[ not brackets \\" ]]]", "n": 1e999}',
        '{"s": "' + "[" * 70 + '", "t": ["]]"]}',  # brackets in strings, no escaped quote
        '{"s": "' + "[" * 70 + '\\\\", "v": ' + deep_bad + "}",  # an escaped backslash before the quote
        '{"v": ' + deep_ok + "}",
        '{"v": ' + deep_bad + "}",
        '{"k\\udc00": [{"x": "\\u00e9"}]}',
    ]
    for line in lines:
        for raw in (line, line.encode(), line.encode("utf-16"), b"\xef\xbb\xbf" + line.encode()):
            value = json_loads(raw)
            expected = "deep" if too_deep(value) else without_lone_surrogates(value)
            try:
                got = load_line(raw)
            except ValueError:
                got = "deep"
            assert got == expected, (line, raw[:10])
