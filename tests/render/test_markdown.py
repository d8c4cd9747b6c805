"""Markdown output has one escaping rule, in one place: the `md` filter (render.labels.md_cell, which is ehrcheck.inert.markdown)
keeps hostile text inside its table cell. The diff and the demo index are templates like the
reports, so they get it too."""

from __future__ import annotations

from ehrcheck.engine.diff import RunDiff, ScoreDelta, SetChange, StatusChange
from ehrcheck.render.diff import render_diff_markdown
from ehrcheck.render.labels import md_cell
from tests.paths import ROOT

HOSTILE = "Clinic | Pro\n| injected | row |"


def test_md_cell_keeps_text_in_one_cell():
    assert md_cell(HOSTILE) == "Clinic \\| Pro \\| injected \\| row \\|"
    assert md_cell(42) == "42"


def test_diff_markdown_keeps_hostile_names_inside_their_cells():
    d = RunDiff(
        old_name=HOSTILE,
        new_name="B",
        old_when="2026-06-01T00:00:00Z",
        new_when="2026-06-02T00:00:00Z",
        verdict=("Siloed EMR", "Interoperable EHR"),
        scores=(ScoreDelta(HOSTILE, 10.0, 12.6), ScoreDelta("Overall", None, 50.0)),
        statuses=(StatusChange("INT-001", HOSTILE, "high", "fail", "pass", "improved"),),
        fingerprint=(SetChange("resources", ("Patient", "Observation"), ("Group",)),),
    )
    text = render_diff_markdown(d)
    lines = text.splitlines()
    assert lines[0] == "# ehrcheck diff: Clinic \\| Pro \\| injected \\| row \\| → B"
    score_rows = [line for line in lines if line.startswith("| Clinic")]
    assert score_rows == ["| Clinic \\| Pro \\| injected \\| row \\| | 10 | 13 | +3 |"]  # as the reports round
    assert "| Overall | — | 50 | — |" in lines
    assert "| Improved | `INT-001` Clinic \\| Pro \\| injected \\| row \\| | high | Fail | Pass |" in lines
    assert "- **resources**: added `Patient`, `Observation`; removed `Group`" in lines
    assert "**Verdict changed:** Siloed EMR → Interoperable EHR" in lines
    assert text.endswith("removed `Group`\n")


def test_no_markdown_template_escapes_on_its_own():
    templates = sorted((ROOT / "reports" / "templates").glob("*.md.j2"))
    assert len(templates) >= 6
    for path in templates:
        assert 'replace("|"' not in path.read_text(encoding="utf-8"), f"{path.name}: use the md filter"
