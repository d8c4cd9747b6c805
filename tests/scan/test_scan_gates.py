"""`ehrcheck scan` for CI: gates over the whole list (per endpoint, share passing, unreachable),
SARIF and JUnit for the list validated against their schemas, duplicates named, rows in list order
with links, and --resume --retry-unreachable. Every endpoint is a real loopback server."""

from __future__ import annotations

import json
import re
import socket
from collections import Counter
from pathlib import Path

import jsonschema
import pytest
import xmlschema
from typer.testing import CliRunner

from ehrcheck.cli import app
from ehrcheck.scan.endpoint_list import iter_endpoints
from tests.paths import ROOT
from tests.support.many_endpoints import rewrite_bundle, serve_many

SCHEMAS = ROOT / "tests" / "fixtures" / "schemas"
EPIC = ROOT / "tests" / "fixtures" / "real" / "epic-r4-endpoints.lantern-list.json"


def run(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "400"})


def rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "results.jsonl").read_text(encoding="utf-8").splitlines()]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    with serve_many() as srv:
        yield srv


@pytest.fixture(scope="module")
def epic_scan(server, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object]:
    """Epic's real directory on loopback, scanned once with every format and per-endpoint files."""
    base = tmp_path_factory.mktemp("epic")
    listing = base / "epic.json"
    listing.write_text(json.dumps(rewrite_bundle(json.loads(EPIC.read_text()), server.origin)))
    out = base / "scan"
    res = run(
        "scan", str(listing), "-o", str(out), "-j", "24", "--per-host", "24", "--timeout", "5",
        "--fail-on", "high", "-f", "html,sarif,junit", "--keep-evidence", "--reports",
    )  # fmt: skip
    return listing, out, res


def test_gated_scan_exits_1_and_sarif_lists_every_failure(epic_scan):
    _, out, res = epic_scan
    assert res.exit_code == 1, res.output
    all_rows = rows(out)
    high = {
        r["url"]: {f["rule"] for f in r["findings"] if f["status"] == "fail" and f["severity"] in ("critical", "high")}
        for r in all_rows
        if r["outcome"] == "audited"
    }
    failing = {u for u, ids in high.items() if ids}
    assert failing, "the loopback mix must have endpoints failing a high rule for this test to mean anything"
    assert f"{len(failing)} of {len(high)} audited endpoints fail --fail-on high" in res.stderr
    sarif = json.loads((out / "results.sarif").read_text())
    jsonschema.Draft4Validator(json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())).validate(sarif)
    results = sarif["runs"][0]["results"]
    rules = sarif["runs"][0]["tool"]["driver"]["rules"]
    by_endpoint: dict[str, set[str]] = {}
    for r in results:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
        by_endpoint.setdefault(r["properties"]["endpoint"], set()).add(r["ruleId"])
    for url, ids in high.items():  # every high failure of every endpoint is a SARIF result at that endpoint
        assert ids <= by_endpoint.get(url, set()), url
    expected = sum(len([f for f in r["findings"]]) for r in all_rows if r["outcome"] == "audited")
    assert len(results) == expected  # one result per endpoint and actionable finding, no more


def test_junit_has_one_suite_per_endpoint_and_one_case_per_rule(epic_scan):
    _, out, _ = epic_scan
    xmlschema.XMLSchema(str(SCHEMAS / "junit-10.xsd")).validate(str(out / "results.xml"))
    text = (out / "results.xml").read_text()
    all_rows = rows(out)
    assert text.count("<testsuite ") == len(all_rows)
    first = next(r for r in all_rows if r["outcome"] == "audited")
    evaluated = sum(len(ids) for ids in first["statuses"].values())
    suite = re.search(r'<testsuite [^>]*url="' + re.escape(first["url"]) + r'"[^>]*>(.*?)</testsuite>', text, re.DOTALL)
    assert suite and suite.group(1).count("<testcase ") == evaluated
    assert suite.group(1).count("<failure ") == len(first["statuses"].get("fail", []))


def test_duplicates_are_named_and_rows_follow_the_list_with_links(epic_scan, server):
    listing, out, res = epic_scan
    assert "11 entries repeat an address listed earlier" in res.stderr
    assert "265 entries, 11 repeated addresses merged" in res.stderr
    by_url = {r["url"]: r for r in rows(out)}
    kalamazoo = [r for r in by_url.values() if len(r.get("listed_by") or []) == 7]
    assert len(kalamazoo) == 1
    names = [x["name"] for x in kalamazoo[0]["listed_by"]]
    assert "Bronson Healthcare Group" in names and "Kalamazoo College Student Health Center" in names
    html = (out / "index.html").read_text()
    assert "Listed 7 times, by:" in html and "Bronson Healthcare Group" in html
    # index rows in list order, whatever order the audits finished in
    listed = [e.url for e in iter_endpoints(listing, lambda _m: None)]
    shown = re.findall(r'<tr><th scope="row">[^<]*<span class="cell-note"><code>([^<]+)</code>', html)
    assert shown == listed
    for r in by_url.values():
        assert (out / r["evidence"]).is_file() and f'href="{r["evidence"]}"' in html
        if r["outcome"] == "audited":
            assert (out / r["report"]).is_file() and f'href="{r["report"]}"' in html
    assert "Verdict</th>" in html  # a verdict table when there are verdicts


def test_share_passing_and_per_endpoint_score_gates(epic_scan, tmp_path: Path):
    """Gates judge the rows already written: --resume over a finished scan probes nothing."""
    listing, out, _ = epic_scan
    scores = sorted(r["score"] or 0 for r in rows(out) if r["outcome"] == "audited")
    cut = scores[len(scores) // 2]
    below = sum(1 for s in scores if s < cut)
    passing = 100 * (len(scores) - below) / len(scores)
    assert 0 < below < len(scores)
    args = ("scan", str(listing), "-o", str(out), "--resume", "-q", "--fail-under", f"{cut:g}")
    failed = run(*args)
    assert failed.exit_code == 1 and f"{below} of {len(scores)} audited endpoints fail --fail-under" in failed.stderr
    assert run(*args, "--min-passing", f"{int(passing)}%").exit_code == 0
    assert run(*args, "--min-passing", f"{int(passing) + 1}%").exit_code == 1
    zero = run(*args, "--exit-zero")
    assert zero.exit_code == 0 and "--exit-zero" in zero.stderr and "fail --fail-under" in zero.stderr


def test_unreachable_threshold_and_retry_on_resume(server, tmp_path: Path):
    dead = [closed_port(), closed_port()]
    listing = tmp_path / "list.txt"
    urls = [server.url(1), server.url(2)] + [f"http://127.0.0.1:{p}/fhir" for p in dead]
    listing.write_text("\n".join(urls) + "\n")
    out = tmp_path / "scan"
    res = run("scan", str(listing), "-o", str(out), "--timeout", "2", "--max-unreachable", "1")
    assert res.exit_code == 1 and "2 of 4 endpoints could not be audited" in res.stderr and "--max-unreachable 1" in res.stderr
    base = ("scan", str(listing), "-o", str(out), "--resume", "-q")
    assert run(*base, "--max-unreachable", "2").exit_code == 0
    assert run(*base, "--max-unreachable", "50%").exit_code == 0
    assert run(*base, "--max-unreachable", "49%").exit_code == 1
    # one of the dead endpoints comes up; plain --resume leaves its row alone, --retry-unreachable audits it
    with serve_many(port=dead[0]):
        again = run(*base)
        assert Counter(r["outcome"] for r in rows(out)) == {"audited": 2, "unreachable": 2}
        assert again.exit_code == 0
        retried = run("scan", str(listing), "-o", str(out), "--resume", "--retry-unreachable", "--timeout", "2")
    assert retried.exit_code == 0, retried.output
    assert "retrying 2 endpoint(s)" in retried.stderr
    final = rows(out)
    assert sorted(r["url"] for r in final) == sorted(urls)  # still one row per endpoint
    assert Counter(r["outcome"] for r in final) == {"audited": 3, "unreachable": 1}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--max-unreachable", "lots"), "--max-unreachable: 'lots' is not a number"),
        (("--min-passing", "150%"), "--min-passing: '150%' is a percentage, at most 100"),
        (("--retry-unreachable",), "--retry-unreachable goes with --resume"),
        (("--shard", "3/2"), "--shard: '3/2' is not i/n"),
        (("--shard", "1/2", "--db", "h.sqlite"), "--shard with --db needs --run-label"),
        (("--format", "pdf"), "--format: 'pdf'"),
        (("--fail-on", "severe"), "unknown severity 'severe'"),
    ],
)
def test_bad_gate_options_are_exit_2_before_any_probe(tmp_path: Path, args, message):
    listing = tmp_path / "list.txt"
    listing.write_text("https://fhir.example.invalid/r4\n")
    res = run("scan", str(listing), "-o", str(tmp_path / "o"), *args)
    assert res.exit_code == 2 and message in res.output, res.output
    assert "Traceback" not in res.output and not (tmp_path / "o" / "results.jsonl").exists()
