"""Every failure is a message: impossible dates in YAML files, output paths that cannot be
written (found before any request is sent, so no run is wasted), and a resume file with rows
ehrcheck did not write. Each ends in exit 2 with the file (and line) and what to do; never a
traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.faults.audit import healthy
from tests.faults.server import fault_server
from tests.support.cli import run

PACK_HEAD = """pack: custom-dates
title: Dates
description: a pack with an impossible date
rules:
  - id: CUS-001
    title: A rule
    severity: low
    weight: 1
    needs: [capability]
    check: {path: capability.fhir_version, op: exists}
    pass_message: ok
    fail_message: not ok
    references: [{cite: none}]
    remediation: fix
    vendor_question: why?
"""


def assert_message(res, *fragments: str) -> None:
    assert res.exit_code == 2, res.output[-2000:]
    assert "Traceback" not in res.output
    text = " ".join(res.stderr.split())
    for fragment in fragments:
        assert fragment in text, text


@pytest.mark.parametrize(
    "flag, name, text, line",
    [
        ("--waivers", "w.yaml", "waivers:\n  - rule: HIP-001\n    reason: later\n    expires: 2026-02-30\n", 4),
        ("--pack", "p.yaml", PACK_HEAD + "    effective: 2026-02-30\n", 16),
        ("--credentials", "c.yaml", "client_id: app\nclient_secret: s3cret-value\nissued: 2026-02-30\n", 3),
        ("--credentials", "k.yaml", "bearer_token: 2026-02-30\n", 1),
    ],
)
def test_an_impossible_date_is_a_located_message(tmp_path: Path, flag, name, text, line):
    """A credentials file's value is not quoted (round 10: `bearer_token: 2026-02-30` was)."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    res = run("audit", "http://127.0.0.1:9/fhir", flag, str(path), "-o", str(tmp_path / "out"))
    assert_message(res, f"{path}:{line}", "not a real date")
    assert ("2026-02-30" in res.stderr) is (flag != "--credentials")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("command", ["audit", "probe"])
def test_an_unwritable_output_is_refused_before_any_request(tmp_path: Path, command):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    target = blocker / "out" / ("report.md" if command == "audit" else "evidence.json")
    with fault_server(healthy()) as srv:
        res = run(command, srv.base, "-o", str(target), "--timeout", "2")
        sent = list(srv.requests)
    assert_message(res, str(blocker), "is a file, not a folder")
    assert sent == []  # nothing probed: no run wasted, no evidence lost


@pytest.mark.timeout(60)
@pytest.mark.parametrize("target", ["/proc/ehrcheck-out.md", "/sys/ehrcheck-out/"])
def test_a_pseudo_filesystem_output_is_refused_before_any_request(target: str):
    """Attack round F3: permission bits allow root everywhere; /proc and /sys refuse only at write
    time, which used to be after the audit (a traceback, the evidence lost)."""
    with fault_server(healthy()) as srv:
        res = run("audit", srv.base, "-o", target, "--timeout", "2")
        sent = list(srv.requests)
    assert_message(res, "-o", "cannot write in")
    assert sent == []


@pytest.mark.timeout(60)
def test_an_unwritable_evidence_path_is_refused_before_any_request(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with fault_server(healthy()) as srv:
        res = run("audit", srv.base, "-o", str(tmp_path / "ok"), "--evidence", str(blocker / "ev.json"), "--timeout", "2")
        sent = list(srv.requests)
    assert_message(res, "--evidence", "is a file, not a folder")
    assert sent == []


def test_a_resume_row_without_its_outcome_is_a_message(tmp_path: Path):
    out = tmp_path / "scan"
    out.mkdir()
    (out / "results.jsonl").write_text(json.dumps({"url": "http://127.0.0.1:9/fhir"}) + "\n", encoding="utf-8")
    listing = tmp_path / "list.txt"
    listing.write_text("http://127.0.0.1:9/fhir\n", encoding="utf-8")
    res = run("scan", str(listing), "-o", str(out), "--resume", "-q")
    assert_message(res, f"{out / 'results.jsonl'}:1", "outcome", "--resume")
