"""Round 7's residuals: a user's file that starts exactly like an ehrcheck report (a copy of one
with their notes added) was replaced without --force, because only the file's head was asked;
and `diff -o x.html` wrote Markdown into a file every other command reads as HTML.

Each test failed on the code before files/written.py (the record of what ehrcheck wrote) and the
diff suffix check."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.test_messages import assert_message
from tests.support.cli import run


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ehrcheck.demo.run import run_demo

    out = tmp_path_factory.mktemp("written") / "demo"
    run_demo(out, formats=("json",))
    return out


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of this test's own, so no other test's writes are in its record."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("EHRCHECK_CACHE_DIR", str(folder))
    return folder


@pytest.mark.parametrize(("fmt", "suffix"), [("md", "md"), ("json", "json"), ("html", "html"), ("sarif", "sarif")])
def test_a_report_with_the_users_notes_added_is_not_replaced(demo: Path, tmp_path: Path, cache: Path, fmt, suffix):
    evidence = str(demo / "riverbend-ehr" / "evidence.json")
    report = tmp_path / f"mine.{suffix}"
    assert run("score", evidence, "-o", str(report), "-f", fmt, "-q").exit_code in (0, 1)
    assert run("score", evidence, "-o", str(report), "-f", fmt, "-q").exit_code in (0, 1)  # its own: replaced
    edited = report.read_bytes() + b"\nMy notes from the vendor call.\n"
    report.write_bytes(edited)
    assert_message(run("score", evidence, "-o", str(report), "-f", fmt, "-q"), "was not written by ehrcheck")
    assert report.read_bytes() == edited
    assert run("score", evidence, "-o", str(report), "-f", fmt, "--force", "-q").exit_code in (0, 1)
    assert b"My notes" not in report.read_bytes()


def test_a_copy_of_a_report_is_not_ehrcheck_s_own_where_it_was_not_written(demo: Path, tmp_path: Path, cache: Path):
    """The head is the same byte for byte, but ehrcheck never wrote that path."""
    evidence = str(demo / "riverbend-ehr" / "evidence.json")
    first, copy = tmp_path / "a.md", tmp_path / "b.md"
    assert run("score", evidence, "-o", str(first), "-q").exit_code in (0, 1)
    copy.write_bytes(first.read_bytes())
    assert_message(run("score", evidence, "-o", str(copy), "-q"), "was not written by ehrcheck")


def test_a_report_folder_with_an_edited_evidence_file_is_not_replaced(demo: Path, tmp_path: Path, cache: Path):
    folder = tmp_path / "out"
    evidence = str(demo / "meadowlark-chart" / "evidence.json")
    assert run("score", evidence, "-o", f"{folder}/", "-q").exit_code in (0, 1)
    assert run("score", evidence, "-o", f"{folder}/", "-q").exit_code in (0, 1)
    report = folder / "report.md"
    report.write_text(report.read_text(encoding="utf-8") + "\n<!-- reviewed by J. -->\n", encoding="utf-8")
    assert_message(run("score", evidence, "-o", f"{folder}/", "-q"), "report.md there was not written by ehrcheck")
    assert "reviewed by J." in report.read_text(encoding="utf-8")


def test_a_users_own_pdf_is_not_taken_as_ehrcheck_s(tmp_path: Path, cache: Path):
    """A PDF cannot say who made it: every `%PDF` file used to count as ehrcheck's own."""
    from ehrcheck.cli.output import _written_by_ehrcheck
    from ehrcheck.files.written import remember

    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.7\n% the practice's signed contract\n")
    assert not _written_by_ehrcheck(pdf)
    remember([pdf])  # as print_pdf does after Chromium wrote it
    assert _written_by_ehrcheck(pdf)
    pdf.write_bytes(pdf.read_bytes() + b"% annotated\n")
    assert not _written_by_ehrcheck(pdf)


def test_without_a_cache_folder_the_head_decides_as_documented(demo: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("EHRCHECK_CACHE_DIR", "off")
    evidence = str(demo / "riverbend-ehr" / "evidence.json")
    report, notes = tmp_path / "r.md", tmp_path / "notes.md"
    assert run("score", evidence, "-o", str(report), "-q").exit_code in (0, 1)
    assert run("score", evidence, "-o", str(report), "-q").exit_code in (0, 1)
    notes.write_text("# notes\n", encoding="utf-8")
    assert_message(run("score", evidence, "-o", str(notes), "-q"), "was not written by ehrcheck")


def test_the_record_survives_damage_and_is_compacted(tmp_path: Path, cache: Path, monkeypatch):
    from ehrcheck.files import written

    files = []
    for i in range(6):
        path = tmp_path / f"f{i}.md"
        path.write_text(f"# ehrcheck readiness report {i}\n", encoding="utf-8")
        files.append(path)
    written.remember(files[:3])
    record = cache / "written" / "files.jsonl"
    with record.open("ab") as fh:
        fh.write(b'{"p": 1}\nnot json\n\xff\xfe\n')  # damaged lines are skipped, not fatal
    monkeypatch.setattr(written, "_COMPACT_AT", 1)
    monkeypatch.setattr(written, "_KEEP", 4)
    written.remember(files[3:])
    assert [written.recorded_as_ours(p) for p in files] == [False, False, True, True, True, True]
    assert len(record.read_text(encoding="ascii").splitlines()) == 4


@pytest.mark.parametrize("name", ["d.html", "d.sarif", "d.xml", "d.pdf"])
def test_diff_refuses_a_file_name_of_another_format(demo: Path, tmp_path: Path, name: str):
    target = tmp_path / name
    res = run("diff", str(demo / "riverbend-ehr"), str(demo / "meadowlark-chart"), "-o", str(target))
    assert_message(res, f"-o {target}: a diff is written as md or json")
    assert not target.exists()


def test_diff_writes_the_format_its_file_name_says(demo: Path, tmp_path: Path, cache: Path):
    a, b = str(demo / "riverbend-ehr"), str(demo / "meadowlark-chart")
    assert run("diff", a, b, "-o", str(tmp_path / "d.json"), "-q").exit_code == 0
    assert (tmp_path / "d.json").read_text(encoding="utf-8").startswith("{")
    assert run("diff", a, b, "-o", str(tmp_path / "d.md"), "-q").exit_code == 0
    assert (tmp_path / "d.md").read_text(encoding="utf-8").startswith("# ehrcheck diff")
    assert_message(run("diff", a, b, "-o", str(tmp_path / "e.md"), "-f", "json"), "this --format is json")


@pytest.mark.timeout(90)
def test_probe_and_audit_evidence_files_do_not_replace_the_users_files(tmp_path: Path, cache: Path):
    """`probe -o notes.json` and `audit --evidence notes.json` (or the report.evidence.json beside
    `-o report.md`) replaced a file of the user's without a word: only check_writable ran."""
    from tests.support.cli import ROUTES
    from tests.support.loopback import serve

    notes = tmp_path / "notes.json"
    beside = tmp_path / "report.evidence.json"
    for path in (notes, beside):
        path.write_text('{"my": "notes"}\n', encoding="utf-8")
    with serve(dict(ROUTES)) as srv:
        assert_message(run("probe", srv.base, "-o", str(notes), "--timeout", "3", "-q"), "was not written by ehrcheck", "--force")
        res = run("audit", srv.base, "-o", str(tmp_path / "r.md"), "--evidence", str(notes), "--timeout", "3", "-q")
        assert_message(res, "--evidence", "was not written by ehrcheck")
        assert_message(run("audit", srv.base, "-o", str(tmp_path / "report.md"), "--timeout", "3", "-q"), str(beside))
        assert notes.read_text(encoding="utf-8") == beside.read_text(encoding="utf-8") == '{"my": "notes"}\n'
        assert not (tmp_path / "r.md").exists() and not (tmp_path / "report.md").exists()  # refused before probing
        assert run("probe", srv.base, "-o", str(tmp_path / "e.json"), "--timeout", "3", "-q").exit_code == 0
        assert run("probe", srv.base, "-o", str(tmp_path / "e.json"), "--timeout", "3", "-q").exit_code == 0  # its own
        assert run("probe", srv.base, "-o", str(notes), "--timeout", "3", "--force", "-q").exit_code == 0
    assert "my" not in notes.read_text(encoding="utf-8")


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    ("name", "fmt"), [("index.html", "html"), ("results.sarif", "sarif"), ("results.xml", "junit"), ("run.json", "html")]
)
def test_a_scan_does_not_replace_the_users_files_in_its_folder(tmp_path: Path, cache: Path, name: str, fmt: str):
    """A scan into a folder holding the user's own index.html (or run.json...) replaced it."""
    from tests.support.cli import ROUTES
    from tests.support.loopback import serve

    out, listing = tmp_path / "scan", tmp_path / "urls.txt"
    out.mkdir()
    mine = out / name
    mine.write_text("my own file\n", encoding="utf-8")
    with serve(dict(ROUTES)) as srv:
        listing.write_text(srv.base + "\n", encoding="utf-8")
        args = ("scan", str(listing), "-o", str(out), "-f", fmt, "--timeout", "3", "--workers", "1", "-q")
        assert_message(run(*args), name, "not written by", "--force")
        assert mine.read_text(encoding="utf-8") == "my own file\n"
        assert not (out / "results.jsonl").exists()  # refused before any endpoint was audited
        assert run(*args, "--force").exit_code in (0, 1)
    assert mine.read_text(encoding="utf-8") != "my own file\n"


@pytest.mark.timeout(90)
def test_a_scan_replaces_its_own_outputs_on_resume(tmp_path: Path, cache: Path):
    from tests.support.cli import ROUTES
    from tests.support.loopback import serve

    out, listing = tmp_path / "scan", tmp_path / "urls.txt"
    with serve(dict(ROUTES)) as srv:
        listing.write_text(srv.base + "\n", encoding="utf-8")
        args = ("scan", str(listing), "-o", str(out), "-f", "html,sarif,junit", "--timeout", "3", "--workers", "1", "-q")
        assert run(*args).exit_code in (0, 1)
        assert run(*args, "--resume").exit_code in (0, 1)
        (out / "index.html").write_text((out / "index.html").read_text(encoding="utf-8") + "<!-- mine -->", encoding="utf-8")
        assert_message(run(*args, "--resume"), "index.html there was not written by ehrcheck")
