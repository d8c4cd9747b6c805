"""Attack round 7 (an independent black-box round, then fixes): each test failed on the code
before its fix. A server's raw UTF-8-encoded surrogate crashing a scan, a --run-label that its
own --resume refused, and the other failures recorded in /tmp/attack7/results.md of that round."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.hostile.test_messages import assert_message
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


@pytest.mark.timeout(90)
@pytest.mark.parametrize("label", ["night\x1b[2J", "night\u202e", "a\u200bb", "", "x" * 201])
def test_a_run_label_its_own_resume_would_refuse_is_refused_up_front(tmp_path: Path, label: str):
    """`scan --run-label $'a\\x1bb'` ran, recorded into the database and wrote run.json, and then
    every `--resume` refused that run.json ("field 'label' must be the run's label"): the scan
    could not be continued into the same history run. The label is now checked before anything."""
    from tests.support.cli import ROUTES
    from tests.support.loopback import serve

    out, db, listing = tmp_path / "scan", tmp_path / "h.sqlite", tmp_path / "urls.txt"
    with serve(ROUTES) as srv:
        listing.write_text(srv.base + "\n", encoding="utf-8")
        res = run("scan", str(listing), "-o", str(out), "--db", str(db), "--run-label", label, "--timeout", "3")
        assert not srv.requests
    assert_message(res, "--run-label", "1 to 200 printable characters")
    assert "\x1b" not in res.output
    assert not out.exists() and not db.exists()


@pytest.mark.timeout(120)
def test_a_run_label_with_markup_is_resumed_into_the_same_run(tmp_path: Path):
    from tests.support.cli import ROUTES
    from tests.support.loopback import serve

    out, db, listing = tmp_path / "scan", tmp_path / "h.sqlite", tmp_path / "urls.txt"
    with serve(ROUTES) as srv:
        listing.write_text(srv.base + "\n", encoding="utf-8")
        first = run("scan", str(listing), "-o", str(out), "--db", str(db), "--run-label", "n[/]<b>", "--timeout", "3", "-q")
        again = run("scan", str(listing), "-o", str(out), "--db", str(db), "--resume", "--timeout", "3", "-q")
    assert first.exit_code in (0, 1) and again.exit_code in (0, 1), again.output[-2000:]
    runs = json.loads(run("history", "--db", str(db), "-f", "json", "-q").stdout)["runs"]
    assert [r["label"] for r in runs] == ["n[/]<b>"]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://scanner:Pg-Secret-4242@[::1:5432/ehr",  # urlsplit refuses it; libpq quotes it
        "postgresql://scanner@[::1:5432/ehr?password=Pg-Secret-4242",
        "postgresql://scanner:Pg%2DSecret%2D4242@[::1:5432/ehr",
    ],
)
def test_a_database_password_is_not_printed_when_the_url_cannot_be_parsed(tmp_path: Path, url: str):
    """docs/ci.md: a password in the --db URL is never printed. libpq's message for a URL it
    cannot parse quotes the URL whole, and the scrubber found the password with urlsplit,
    which refuses exactly those URLs, so `history --db` printed it on stderr."""
    pytest.importorskip("psycopg")
    for args in (
        ["history", "--db", url, "-o", str(tmp_path / "h.md")],
        ["scan", str(tmp_path / "u.txt"), "-o", str(tmp_path / "scan"), "--db", url],
    ):
        (tmp_path / "u.txt").write_text("http://127.0.0.1:9/r4\n", encoding="utf-8")
        res = run(*args, "-q")
        assert_message(res, "--db", "cannot connect to PostgreSQL")
        assert "Pg-Secret-4242" not in res.output and "Pg%2DSecret" not in res.output, res.output


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ehrcheck.demo.run import run_demo

    out = tmp_path_factory.mktemp("round7") / "demo"
    run_demo(out, formats=("json",))
    return out


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["evidence.json", "report.json"])
def test_credentials_in_an_edited_target_url_never_reach_a_report(demo: Path, tmp_path: Path, name: str):
    """An evidence (or report.json) file edited so `target.base_url` carries user-info and a
    token parameter had both printed in every format `score` wrote and in `diff`; ehrcheck
    itself only ever writes that URL redacted."""
    password, token = "Pw-Edited-7731", "Tok-Edited-99123"
    data = json.loads((demo / "meadowlark-chart" / name).read_text(encoding="utf-8"))
    data["target"]["base_url"] = f"https://alice:{password}@fhir.example/r4?access_token={token}&client_secret={token}x"
    edited = tmp_path / "edited" / name
    edited.parent.mkdir()
    edited.write_text(json.dumps(data), encoding="utf-8")
    outputs: list[Path] = []
    if name == "evidence.json":
        out = tmp_path / "scored"
        res = run("score", str(edited), "-o", str(out), "-f", "html,md,json,sarif,junit,summary", "-q")
        assert res.exit_code in (0, 1), res.output[-2000:]
        outputs += list(out.iterdir())
    for cmd in ("diff", "compare"):
        target = tmp_path / f"{cmd}.md"
        res = run(cmd, str(edited), str(demo / "riverbend-ehr" / name), "-o", str(target), "-q")
        assert res.exit_code in (0, 1), res.output[-2000:]
        assert password not in res.output and token not in res.output
        outputs.append(target)
    for f in outputs:
        text = f.read_text(encoding="utf-8")
        assert password not in text and token not in text, f.name
    assert "redacted@fhir.example" in (tmp_path / "diff.md").read_text(encoding="utf-8")


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "name, text",
    [
        ("notes.md", "# My notes on ehrcheck\n\nkeep these\n"),
        ("notes.md", "ehrcheck readiness report draft, by hand\n"),
        ("notes.json", '{"tool": "ehrcheck", "mine": "keep these"}\n'),
        ("notes.html", "<!-- ehrcheck -->\n<p>keep these</p>\n"),
        ("notes.xml", '<?xml version="1.0"?>\n<!-- ehrcheck --><mine/>\n'),
        ("notes.sarif", '{"tool": "ehrcheck"}\n'),
    ],
)
def test_a_users_file_that_merely_names_ehrcheck_is_not_replaced(demo: Path, tmp_path: Path, name: str, text: str):
    """A file counted as ehrcheck's own when "ehrcheck" appeared anywhere in its first 4 KB, so
    the user's notes *about* ehrcheck were replaced without --force, as a single -o file and in
    an output folder. Now only the head each format actually starts with counts."""
    ev = str(demo / "meadowlark-chart" / "evidence.json")
    mine = tmp_path / name
    mine.write_text(text, encoding="utf-8")
    assert_message(run("score", ev, "-o", str(mine)), "was not written by ehrcheck", "--force")
    assert mine.read_text(encoding="utf-8") == text
    folder = tmp_path / "out"
    folder.mkdir()
    report = folder / ("report" + Path(name).suffix)
    report.write_text(text, encoding="utf-8")
    fmt = {".md": "md", ".json": "json", ".html": "html", ".xml": "junit", ".sarif": "sarif"}[report.suffix]
    assert_message(run("score", ev, "-o", f"{folder}/", "-f", fmt), "was not written by ehrcheck")
    assert report.read_text(encoding="utf-8") == text


@pytest.mark.timeout(120)
def test_every_file_ehrcheck_writes_is_still_known_as_its_own(demo: Path, tmp_path: Path):
    from ehrcheck.cli.output import _written_by_ehrcheck

    a, b = demo / "meadowlark-chart", demo / "riverbend-ehr"
    written = []
    for fmt, suffix in (
        ("html", "html"),
        ("md", "md"),
        ("json", "json"),
        ("sarif", "sarif"),
        ("junit", "xml"),
        ("summary", "html"),
    ):
        path = tmp_path / f"score-{fmt}.{suffix}"
        assert run("score", str(a / "evidence.json"), "-o", str(path), "-f", fmt, "-q").exit_code in (0, 1)
        written.append(path)
    for cmd in ("compare", "diff"):
        for suffix in ("md", "json", "html"):
            path = tmp_path / f"{cmd}.{suffix}"
            if run(cmd, str(a), str(b), "-o", str(path), "-q").exit_code in (0, 1):
                written.append(path)
    written += [a / "evidence.json", demo / "index.md"]
    for path in written:
        assert path.is_file() and _written_by_ehrcheck(path), path.name


@pytest.mark.timeout(180)
def test_demo_does_not_replace_the_users_files_without_force(tmp_path: Path):
    """`ehrcheck demo -o FOLDER` replaced the user's own FOLDER/index.md (and a vendor folder's
    report.md) without a word; every other command refuses that unless --force."""
    out = tmp_path / "demo"
    (out / "meadowlark-chart").mkdir(parents=True)
    for mine in (out / "index.md", out / "meadowlark-chart" / "report.md"):
        mine.write_text("# my own notes\n", encoding="utf-8")
        res = run("demo", "-o", str(out), "-f", "md", "-q")
        assert_message(res, mine.name, "was not written by ehrcheck", "--force")
        assert mine.read_text(encoding="utf-8") == "# my own notes\n"
        mine.unlink()
    (out / "index.md").write_text("# my own notes\n", encoding="utf-8")
    assert run("demo", "-o", str(out), "-f", "md", "-q", "--force").exit_code == 0
    assert (out / "index.md").read_text(encoding="utf-8").startswith("# ehrcheck demo")
    assert run("demo", "-o", str(out), "-f", "md", "-q").exit_code == 0  # its own files: replaced


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "pattern",
    [r"\w*\w*!", r"\w{0,9000}\w{0,9000}!", r".*SMART.*v2", r"\w{0,100}\w{0,100}\w{0,100}!", r"(a*)\1!", r"(?m)^.*a.*b"],
)
def test_a_pack_regex_two_repetitions_make_slow_is_refused(tmp_path: Path, pattern: str):
    """`\\w*\\w*!` passed `rules check` (only more than two unbounded repetitions were refused),
    and `score` with it over a 10,000-character publisher ran past 90 s (about ten minutes of
    CPU: a search tries every start, then every split between the two)."""
    from tests.hostile.test_round4 import REGEX_PACK

    pack = tmp_path / "pack.yaml"
    pack.write_text(REGEX_PACK.format(pattern=pattern), encoding="utf-8")
    assert_message(run("rules", "check", str(pack)), f"{pack}:10", "rule ACM-001", "can take minutes on server text")


@pytest.mark.parametrize(
    "pattern", [r"SMART.*v2", r"^.*SMART.*v2", r"v\d+\.\d+", r"\w+@\w+", r"\d{4}-\d{2}-\d{2}", r"(?i)launch-(standalone|ehr)"]
)
def test_the_usual_pack_regexes_are_still_accepted(pattern: str):
    from ehrcheck.rules.schema import regex_problem

    assert regex_problem(pattern) is None
