"""Attack round 3 (an independent black-box round, then fixes): each test failed on the code
before its fix. Output paths that are device nodes or pipes, user files that never end, foreign
text with control characters in HTML, GFM autolinks in Markdown, bad option values, and resume
rows of the wrong types."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.faults.audit import healthy
from tests.faults.server import fault_server
from tests.hostile.test_messages import assert_message
from tests.support.cli import run
from tests.support.loopback import Reply, serve


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["device", "fifo"])
@pytest.mark.parametrize("command", ["audit", "probe"])
def test_an_output_that_is_a_device_or_pipe_is_refused_and_kept(tmp_path: Path, kind, command):
    """`probe -o /dev/full` as root used to rename the evidence over the device node itself
    (found by replacing /dev/full with a regular file). A node of our own stands in for it."""
    target = tmp_path / ("out.json" if command == "probe" else "report.md")
    if kind == "fifo":
        os.mkfifo(target)
    else:
        if os.geteuid() != 0:
            pytest.fail("creating a character device needs root; the test machine runs as root")
        os.mknod(target, 0o666 | stat.S_IFCHR, os.makedev(1, 7))  # what /dev/full is
    with fault_server(healthy()) as srv:
        res = run(command, srv.base, "-o", str(target), "--timeout", "2")
        sent = list(srv.requests)
    assert_message(res, str(target), "not a regular file")
    assert sent == []  # refused before probing
    mode = os.lstat(target).st_mode
    assert stat.S_ISFIFO(mode) if kind == "fifo" else stat.S_ISCHR(mode)


def test_write_atomic_never_replaces_a_pipe(tmp_path: Path):
    from ehrcheck.errors import UserInputError
    from ehrcheck.files.store import write_atomic

    pipe = tmp_path / "evidence.json"
    os.mkfifo(pipe)
    with pytest.raises(UserInputError, match="FIFO"):
        write_atomic(pipe, "{}")
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode)


def test_claims_init_under_a_file_is_a_message(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    res = run("claims", "init", "-o", str(blocker / "vendor.yaml"))
    assert_message(res, str(blocker), "is a file, not a folder")


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "args, fragment",
    [
        (["claims", "check", "/dev/zero"], "/dev/zero"),
        (["rules", "check", "/dev/zero"], "/dev/zero"),
        (["audit", "http://127.0.0.1:9/fhir", "--waivers", "/dev/zero"], "--waivers /dev/zero"),
        (["audit", "http://127.0.0.1:9/fhir", "--claims", "/dev/zero"], "--claims /dev/zero"),
        (["audit", "http://127.0.0.1:9/fhir", "--credentials", "/dev/zero"], "--credentials /dev/zero"),
        (["audit", "http://127.0.0.1:9/fhir", "--chpl-file", "/dev/zero"], "--chpl-file /dev/zero"),
        (["score", "/dev/zero"], "/dev/zero"),
    ],
)
def test_a_file_that_never_ends_is_refused_at_the_cap(tmp_path: Path, args, fragment):
    """stat() says 0 bytes for a device: the size check passed and the read ran out of memory
    (a MemoryError traceback)."""
    res = run(*args, "-o", str(tmp_path / "out")) if args[0] in ("audit", "score") else run(*args)
    assert_message(res, fragment, "ehrcheck reads at most")


def test_a_private_key_file_that_never_ends_is_refused(tmp_path: Path):
    creds = tmp_path / "creds.yaml"
    creds.write_text("client_id: app\nprivate_key_file: /dev/zero\n", encoding="utf-8")
    res = run("audit", "http://127.0.0.1:9/fhir", "--credentials", str(creds), "-o", str(tmp_path / "out"))
    assert_message(res, f"{creds}:2: private_key_file", "ehrcheck reads at most")  # the path is a value: not shown


# Foreign text that a terminal or a GitHub Markdown view would act on.
HOSTILE = "\x1b[2J\x9b31m <script>x</script> https://evil.example/auto www.evil.example"


def hostile_server_routes():
    from tests.support.cli import CAP, ROUTES

    cap = {**CAP, "software": {"name": HOSTILE, "version": "1"}, "publisher": HOSTILE}
    return {**ROUTES, "/fhir/metadata": Reply(200, cap)}


@pytest.mark.timeout(60)
def test_control_characters_from_servers_and_labels_are_spelled_out_in_html(tmp_path: Path):
    """Autoescape leaves ESC and C1 alone: `cat report.html` replayed them to the terminal."""
    with serve(hostile_server_routes()) as srv:
        res = run("audit", srv.base, "-o", str(tmp_path / "out"), "--label", HOSTILE, "-f", "html,summary", "--timeout", "3")
    assert res.exit_code in (0, 1), res.output[-2000:]
    for name in ("report.html", "summary.html"):
        page = (tmp_path / "out" / name).read_text(encoding="utf-8")
        assert "\x1b" not in page and "\x9b" not in page, name
        assert "\\x1b[2J" in page  # still shown, as the terminal shows it
        assert "<script>x" not in page


def test_history_charts_spell_out_control_characters():
    from ehrcheck.render.svg_chart import bars, line_chart

    svg = bars("t", [HOSTILE], [50.0]) + line_chart("t", [HOSTILE], {HOSTILE: [1]})
    assert "\x1b" not in svg and "\x9b" not in svg and "<script" not in svg
    assert "\\x1b" in svg


def test_markdown_neutralises_github_autolinks():
    from ehrcheck.inert import markdown

    text = markdown("see https://evil.example/auto, HTTP://x.example, ftp://f.example and www.evil.example")
    # GitHub's autolink extension needs `scheme://` or `www.` as written; an escaped `:` or `.`
    # renders as the same character, but no link (checked against cmark-gfm by hand).
    assert text == "see https\\://evil.example/auto, HTTP\\://x.example, ftp\\://f.example and www\\.evil.example"


@pytest.mark.timeout(60)
def test_report_md_has_no_bare_links_from_foreign_text(tmp_path: Path):
    import re

    with serve(hostile_server_routes()) as srv:
        res = run("audit", srv.base, "-o", str(tmp_path / "report.md"), "--label", HOSTILE, "--timeout", "3")
    assert res.exit_code in (0, 1), res.output[-2000:]
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "https\\://evil.example/auto" in md
    assert not re.search(r"https://evil\.example|(?<![\\])www\.evil", md)


PHI_NAME = "Marigold-Quincewhistle-PHI"


@pytest.mark.timeout(60)
def test_custom_response_headers_of_anonymous_answers_lose_their_values(tmp_path: Path):
    """On the anonymous probes' requests every response header used to be recorded verbatim, so
    a server's own `X-Patient-Name` reached evidence.json and --debug."""
    from tests.support.cli import CAP, ROUTES

    headers = {"X-Patient-Name": PHI_NAME, "Strict-Transport-Security": "max-age=31536000"}
    routes = {
        **ROUTES,
        "/fhir/metadata": Reply(200, CAP, headers),
        "/fhir/Patient": Reply(401, {"resourceType": "OperationOutcome", "issue": []}, {"WWW-Authenticate": "Bearer", **headers}),
    }
    evidence = tmp_path / "evidence.json"
    with serve(routes) as srv:
        res = run("--debug", "probe", srv.base, "-o", str(evidence), "--timeout", "3")
    assert res.exit_code == 0, res.output[-2000:]
    text = evidence.read_text(encoding="utf-8")
    assert PHI_NAME not in text and PHI_NAME not in res.output
    recorded = [ex["response_headers"] for p in json.loads(text)["probes"].values() for ex in p.get("exchanges", [])]
    assert any(h.get("x-patient-name") == "[redacted]" for h in recorded)  # the name, never the value
    assert any(h.get("strict-transport-security") == "max-age=31536000" for h in recorded)  # facts kept


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("http://127.0.0.1:9/fhir\x01\x7f", "contains a control character"),
        ("http://127.0.0.1:9/fh ir", "contains a control character or a space"),
        ("http://127.0.0.1:99999/fhir", "Port out of range"),
        ("http://alice:pw-s3cret@127.0.0.1:99999/fhir", "Port out of range"),
        ("http:///fhir", "has no host name"),
    ],
)
@pytest.mark.parametrize("command", ["audit", "probe"])
def test_an_unusable_base_url_is_named_before_anything_runs(tmp_path: Path, command, url, fragment):
    """Control characters used to reach the probes ("could not be reached", "internal error in
    probe"); a port out of range surfaced as "unhandled errors in a TaskGroup"."""
    res = run(command, url, "-o", str(tmp_path / ("out" if command == "audit" else "e.json")), "--timeout", "1")
    assert_message(res, "BASE_URL", fragment)
    assert "pw-s3cret" not in res.output
    assert "\x01" not in res.output and "\x7f" not in res.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "e.json").exists()  # nothing written


def test_every_huge_number_in_a_claims_file_is_located(tmp_path: Path):
    """It used to be the first one only, at column 1, and no other problem was reported."""
    claims = tmp_path / "vendor.yaml"
    claims.write_text(
        "claims_version: 1\nhipaa:\n  automatic_logoff_minutes: "
        + "7" * 5000
        + "\n  rpo_hours: "
        + "8" * 5000
        + "\n  rto_hours: x\n",
        encoding="utf-8",
    )
    res = run("claims", "check", str(claims))
    assert_message(res, "3 problems")
    assert f"{claims}:3:29: hipaa.automatic_logoff_minutes: a number with more than 4000 digits" in res.stderr
    assert f"{claims}:4:14: hipaa.rpo_hours: a number with more than 4000 digits" in res.stderr
    assert f"{claims}:5:14: hipaa.rto_hours:" in res.stderr


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--timeout", "nan"], "--timeout must be more than 0 seconds"),
        (["--timeout", "inf"], "--timeout must be more than 0 seconds"),
        (["--timeout", "1e9"], "at most 3600 seconds"),
        (["--credentials", "CREDS", "--bulk-timeout", "inf"], "--bulk-timeout must be more than 0 seconds"),
    ],
)
def test_durations_that_void_every_deadline_are_refused(tmp_path: Path, args, fragment):
    """`--timeout inf` ran an audit with no deadline and no budget; nan was blamed on the server."""
    creds = tmp_path / "creds.yaml"
    creds.write_text("bearer_token: abcdefgh-token\n", encoding="utf-8")
    args = [str(creds) if a == "CREDS" else a for a in args]
    with fault_server(healthy()) as srv:
        res = run("audit", srv.base, "-o", str(tmp_path / "out"), *args)
        sent = list(srv.requests)
    assert_message(res, fragment)
    assert sent == []


def test_a_ca_bundle_without_certificates_is_a_message(tmp_path: Path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", encoding="utf-8")
    res = run("audit", "http://127.0.0.1:9/fhir", "-o", str(tmp_path / "out"), "--ca-bundle", str(bundle))
    assert_message(res, f"--ca-bundle {bundle}", "not a PEM file of CA certificates")


@pytest.mark.parametrize(
    "row, fragment",
    [
        ({"url": "http://127.0.0.1:9/fhir", "outcome": "audited", "findings": 5}, "field 'findings'"),
        ({"url": "http://127.0.0.1:9/fhir", "outcome": "audited", "verdict": {"level": 1}}, "field 'verdict.level'"),
    ],
)
def test_a_resume_row_of_the_wrong_shape_is_a_message(tmp_path: Path, row, fragment):
    out = tmp_path / "scan"
    out.mkdir()
    (out / "results.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    listing = tmp_path / "list.txt"
    listing.write_text("http://127.0.0.1:9/fhir\n", encoding="utf-8")
    res = run("scan", str(listing), "-o", str(out), "--resume", "-q")
    assert_message(res, f"{out / 'results.jsonl'}:1", fragment, "--resume")


def test_junk_rows_never_reach_the_overview(tmp_path: Path):
    """A row whose url is not text, or with no url at all, used to crash index.html (jinja2
    UndefinedError) after the whole scan ran."""
    out = tmp_path / "scan"
    out.mkdir()
    (out / "results.jsonl").write_text('{"index": "zero", "url": 5, "outcome": "audited"}\n{"index": 1e999}\n', encoding="utf-8")
    listing = tmp_path / "list.txt"
    listing.write_text("http://127.0.0.1:9/fhir\n", encoding="utf-8")
    res = run("scan", str(listing), "-o", str(out), "--resume", "--timeout", "1")
    assert res.exit_code == 2, res.output[-2000:]  # the one endpoint is unreachable
    assert "not a result row" in res.stderr
    assert (out / "index.html").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["scan", "/dev/zero"], "/dev/zero: not a regular file"),
        (
            ["audit", "http://127.0.0.1:9/fhir", "--endpoints-bundle", "/dev/zero"],
            "--endpoints-bundle /dev/zero: not a regular file",
        ),
        (["audit", "http://127.0.0.1:9/fhir", "--ca-bundle", "/dev/zero"], "--ca-bundle /dev/zero: not a regular file"),
    ],
)
def test_a_device_given_as_a_file_is_called_what_it_is(tmp_path: Path, args, message):
    """These said "no such file" about a path that exists."""
    res = run(*args, "-o", str(tmp_path / "out"))
    assert_message(res, message)
