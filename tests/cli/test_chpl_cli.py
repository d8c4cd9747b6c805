"""`ehrcheck audit` with CHPL as a user drives it: a certification section in the report, clear
errors with exit code 2 for bad numbers, files and keys, and the key never written anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import cli
from tests.support.chpl_loopback import (
    ACTIVE,
    FIXTURES,
    FULL,
    WITHDRAWN,
    chpl_requests,
    chpl_world,
)

KEY = "planted-chpl-key-cli-51e2"


def run(*args: str, key: str | None = KEY):
    return cli.run(*args, env={"CHPL_API_KEY": key if key is not None else ""})


def all_text(folder: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*")) if p.is_file())


def test_audit_shows_the_certification_section(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    claims = tmp_path / "claims.yaml"
    claims.write_text(
        "claims_version: 1\ncertification:\n  certified_criteria: ['170.315 (g)(10)', '170.315 (b)(10)', '170.315 (e)(3)']\n",
        encoding="utf-8",
    )
    with chpl_world() as lb:
        res = run(
            "audit", lb.base, "-o", str(out), "--chpl-id", FULL, "--chpl-url", lb.origin + "/rest", "--claims", str(claims), "-q"
        )
    assert res.exit_code == 0, res.output
    md = (out / "report.md").read_text(encoding="utf-8")
    section = md.split("## Certification (CHPL) and service base URLs", 1)[1].split("\n## ", 1)[0]
    assert f"`{FULL}`" in section and "**Active** since 2025-01-02" in section
    assert "(g)(10)" in section and "(b)(10)" in section  # the criteria certified
    assert "claimed as certified but not on an Active listing: (e)(3)" in section  # the contradiction
    assert "2 Endpoints (2 distinct addresses), 3 Organizations" in section
    assert "The audited endpoint is in the list" in section
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="certification-h"' in html and FULL in html
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["certification"]["listings"][0]["status"] == "Active"
    assert KEY not in all_text(out)


def test_probe_then_score_gives_the_same_certification_findings(tmp_path: Path) -> None:
    with chpl_world() as lb:
        a = run(
            "audit",
            lb.base,
            "-o",
            str(tmp_path / "a"),
            "--format",
            "json",
            "--chpl-id",
            ACTIVE,
            "--chpl-id",
            WITHDRAWN,
            "--chpl-url",
            lb.origin + "/rest",
            "-q",
        )
    assert a.exit_code == 0, a.output
    res = run("score", str(tmp_path / "a" / "evidence.json"), "-o", str(tmp_path / "b.json"), "-q", key=None)
    assert res.exit_code == 0, res.output
    first = json.loads((tmp_path / "a" / "report.json").read_text())
    again = json.loads((tmp_path / "b.json").read_text())
    assert first["certification"] == again["certification"]
    crt = lambda r: {f["rule_id"]: f["status"] for f in r["findings"] if f["rule_id"].startswith("CRT")}  # noqa: E731
    assert crt(first) == crt(again) and crt(first)["CRT-001"] == "pass"


def test_without_a_key_the_rules_say_how_to_supply_one(tmp_path: Path) -> None:
    with chpl_world() as lb:
        res = run(
            "audit", lb.base, "-o", str(tmp_path / "r.json"), "--chpl-id", ACTIVE, "--chpl-url", lb.origin + "/rest", key=None
        )
        assert not chpl_requests(lb)
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "r.json").read_text())
    crt1 = next(f for f in report["findings"] if f["rule_id"] == "CRT-001")
    assert crt1["status"] == "not_observed" and "set CHPL_API_KEY" in crt1["message"]
    assert "CHPL could not be consulted" in report["certification"]["chpl"]


def test_with_no_chpl_input_the_section_says_what_to_give(tmp_path: Path) -> None:
    with chpl_world() as lb:
        res = run("audit", lb.base, "-o", str(tmp_path / "r.md"), "-q")
    assert res.exit_code == 0, res.output
    md = (tmp_path / "r.md").read_text()
    assert "No CHPL listing was looked up: give --chpl-id NUMBER with CHPL_API_KEY set, or --chpl-file FILE." in md


def test_a_refused_key_exits_2_naming_the_status(tmp_path: Path) -> None:
    with chpl_world(key_status=401) as lb:
        res = run("audit", lb.base, "-o", str(tmp_path / "rep"), "--chpl-id", ACTIVE, "--chpl-url", lb.origin + "/rest")
    assert res.exit_code == 2
    assert "CHPL rejected the API key (HTTP 401 Unauthorized): check CHPL_API_KEY" in res.output
    assert "Traceback" not in res.output and KEY not in res.output
    assert (tmp_path / "rep" / "evidence.json").is_file() and not (tmp_path / "rep" / "report.html").exists()
    assert KEY not in all_text(tmp_path / "rep")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--chpl-id", "15.04.04.193.WebC.84.01.0.221117"],
            "--chpl-id: '15.04.04.193.WebC.84.01.0.221117' is not a CHPL product number: part 4 (developer code)",
        ),
        (["--chpl-id", "15.04.04"], "has 3 dot-separated parts, a CHPL product number has 9"),
        (["--chpl-url", "chpl.example.test"], "--chpl-url 'chpl.example.test' must start with http:// or https://"),
        (["--chpl-file", "{tmp}/nope.json"], "cannot read"),
        (["--chpl-file", "{tmp}/bad.json"], "bad.json:2:1: not valid JSON"),
        (["--chpl-file", "{tmp}/other.json"], "not a CHPL listing document"),
        (["--chpl-file", str(FIXTURES / "real/chpl-search-page.json")], "holds 100 listings; say which with --chpl-id"),
        (["--claims", "{tmp}/claims.yaml"], "'CHP-1' is not a CHPL product number"),
    ],
)
def test_bad_inputs_exit_2_before_any_request(tmp_path: Path, args: list[str], expected: str) -> None:
    (tmp_path / "bad.json").write_text('{"results":\n}', encoding="utf-8")
    (tmp_path / "other.json").write_text('{"resourceType": "Bundle"}', encoding="utf-8")
    (tmp_path / "claims.yaml").write_text(
        f"claims_version: 1\nproduct:\n  chpl_product_numbers: ['{ACTIVE}', 'CHP-1']\n", encoding="utf-8"
    )
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    with chpl_world() as lb:
        res = run("audit", lb.base, "-o", str(tmp_path / "rep"), *args)
        assert not lb.requests, "bad input must be refused before probing"
    assert res.exit_code == 2, res.output
    assert expected in " ".join(res.output.split()), res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "rep").exists()


def test_probe_also_refuses_a_bad_key_and_the_report_marks_removed_criteria(tmp_path: Path) -> None:
    with chpl_world(key_status=403) as lb:
        res = run("probe", lb.base, "-o", str(tmp_path / "ev.json"), "--chpl-id", ACTIVE, "--chpl-url", lb.origin + "/rest", "-q")
    assert res.exit_code == 2 and "HTTP 403 Forbidden" in res.output
    assert KEY not in (tmp_path / "ev.json").read_text()
    with chpl_world() as lb:
        res = run("audit", lb.base, "-o", str(tmp_path / "r.md"), "--chpl-id", ACTIVE, "--chpl-url", lb.origin + "/rest", "-q")
    assert res.exit_code == 0, res.output
    md = (tmp_path / "r.md").read_text()
    assert "(a)(5), (a)(6) (removed by ONC)," in md


def test_chpl_file_audit_offline(tmp_path: Path) -> None:
    doc = json.loads((FIXTURES / "chpl/details-9261-withdrawn.json").read_text())
    (tmp_path / "listing.json").write_text(json.dumps(doc), encoding="utf-8")
    with chpl_world() as lb:
        res = run("audit", lb.base, "-o", str(tmp_path / "r.json"), "--chpl-file", str(tmp_path / "listing.json"), "-q", key=None)
        assert not chpl_requests(lb)
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["certification"]["chpl"].startswith("Read from the CHPL file listing.json")
    crt1 = next(f for f in report["findings"] if f["rule_id"] == "CRT-001")
    assert crt1["status"] == "fail" and "Withdrawn by Developer" in crt1["message"]
