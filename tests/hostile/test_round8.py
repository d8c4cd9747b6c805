"""Attack round 8 (an independent black-box round, then fixes): each test failed on the code
before its fix. `probe -o` and `scan -o` replacing the user's own files, and a hand-made history
database crashing `ehrcheck history`; the cases are in /tmp/attack8/results.md of that round."""

from __future__ import annotations

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
