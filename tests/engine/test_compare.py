"""`ehrcheck compare`: the demo vendors, audited for real on loopback, side by side in HTML and
Markdown, ranked under a practice profile, with differences flagged."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ehrcheck.demo.run import run_demo
from ehrcheck.engine.compare import compare
from ehrcheck.models import RunResult
from tests.paths import ROOT
from tests.support.cli import run

SLUGS = ("meadowlark-chart", "riverbend-ehr", "summit-health-cloud")
PACK = ROOT / "examples" / "ci" / "practice-pack.yaml"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cmp") / "demo"
    run_demo(out, formats=("json",))
    return out


def _results(demo: Path) -> list[RunResult]:
    return [RunResult.model_validate_json((demo / s / "report.json").read_text()) for s in SLUGS]


class _Tables(HTMLParser):
    """Collects each table's rows as lists of cell texts, and checks tags are balanced."""

    VOID = {"meta", "br", "img", "input", "link", "hr", "rect", "col"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tables: list[list[list[str]]] = []
        self.row: list[str] | None = None
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}> after {self.stack[-3:]}"
        self.stack.pop()
        if tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row.append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.tables[-1].append(self.row)
            self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def test_ranked_side_by_side_html(demo: Path, tmp_path: Path):
    out = tmp_path / "comparison.html"
    res = run("compare", *(str(demo / s) for s in SLUGS), "-o", str(out))
    assert res.exit_code == 0, res.output
    text = out.read_text(encoding="utf-8")
    parser = _Tables()
    parser.feed(text)
    assert parser.stack == []
    summary = parser.tables[0]
    header = summary[0]
    # best first: the certified-ready/interoperable vendors before the siloed EMR
    assert header[1:] == ["1. Summit Health Cloud", "2. Riverbend EHR", "3. Meadowlark Chart"]
    assert all(len(row) == 4 for table in parser.tables for row in table)
    verdict = next(r for r in summary if r[0].endswith("Verdict"))
    assert "Siloed EMR" in verdict[3] and verdict[0].startswith("≠")
    # after the summary: the capability matrix and contradicted claims the runs carry, then the rules
    carried = [s for s in compare(_results(demo)).sections if not s.title.startswith(("Rules:", "Summary"))]
    assert [s.title.split(" (")[0] for s in carried] == ["Capability matrix", "Claims contradicted by the server"]
    rule_rows = [row for table in parser.tables[1 + len(carried) :] for row in table[1:]]
    reports = {s: json.loads((demo / s / "report.json").read_text()) for s in SLUGS}
    assert len(rule_rows) == len(reports[SLUGS[0]]["findings"])
    int001 = next(r for r in rule_rows if "INT-001" in r[0])
    assert "Pass" in int001[1] and "Fail" in int001[3] and int001[0].startswith("≠")
    same = [r for r in rule_rows if len({c.split(" ")[1] for c in r[1:]}) == 1 and not r[0].startswith("≠")]
    assert same, "rules every vendor shares must not be flagged as differing"
    assert "style" in text and "<script" not in text  # self-contained, offline
    assert "Summit Health Cloud: " in res.stderr and "wrote" in res.stderr


def test_markdown_is_a_github_table(demo: Path, tmp_path: Path):
    out = tmp_path / "comparison.md"
    assert run("compare", *(str(demo / s / "report.json") for s in SLUGS), "-o", str(out), "-q").exit_code == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    tables = [ln for ln in lines if ln.startswith("|")]
    assert tables and all(ln.count("|") - ln.count("\\|") == 5 for ln in tables), "every row has 4 cells"
    assert lines[0] == "# ehrcheck vendor comparison: 3 products"
    assert any(ln.startswith("1. **Summit Health Cloud**") for ln in lines)
    assert any(re.match(r"\| \*\*≠\*\* `INT-001`", ln) for ln in lines)


def test_profile_ranking_recomputes_the_overall_score(demo: Path):
    results = _results(demo)
    c = compare(results, "default")
    assert [col.rank for col in c.columns] == [1, 2, 3]
    assert [col.name for col in c.columns][-1] == "Meadowlark Chart"
    for col, r in ((col, next(r for r in results if r.target.label == col.name)) for col in c.columns):
        assert col.overall.score == r.overall.score  # same profile: same overall as the reports
    with pytest.raises(ValueError, match="unknown profile"):
        compare(results, "no-such-profile")


def test_custom_pack_rules_appear_in_the_comparison(demo: Path, tmp_path: Path):
    res = run("compare", *(str(demo / s / "evidence.json") for s in SLUGS), "--pack", str(PACK), "-o", "-", "-f", "json", "-q")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    titles = [s["title"] for s in data["sections"]]
    assert "Rules: Our clients' extra requirements" in titles
    summary = next(s for s in data["sections"] if s["title"] == "Summary")
    assert any(r["label"] == "Our clients' extra requirements" for r in summary["rows"])


def test_matrix_and_claims_sections_when_runs_carry_them(demo: Path):
    # runs without the matrix and claims issue 3 adds (nor claims findings) show neither section
    results = [
        r.model_copy(update={"matrix": [], "claims": [], "findings": [f for f in r.findings if "claims" not in f.probes]})
        for r in _results(demo)
    ]
    assert not any(s.title.startswith("Capability matrix") for s in compare(results).sections)  # absent: no section
    rows = [
        [{"key": "portal", "capability": "Patient portal", "state": state, "marks": "EHR", "evidence": why}]
        for state, why in (
            ("observed", "standalone launch"),
            ("missing", "no SMART configuration"),
            ("observed", "standalone launch"),
        )
    ]
    claims = [
        [{"key": "INT-900", "claim": "SMART App Launch 2.0", "status": "verified", "observed": "permission-v2 listed"}],
        [{"key": "INT-900", "claim": "SMART App Launch 2.0", "status": "contradicted", "observed": "no permission-v2"}],
        [{"key": "INT-901", "claim": "Bulk export", "status": "unverified", "observed": ""}],
    ]
    carrying = [r.model_copy(update={"matrix": m, "claims": c}) for r, m, c in zip(results, rows, claims, strict=True)]
    c = compare(carrying)
    matrix = next(s for s in c.sections if s.title.startswith("Capability matrix"))
    assert matrix.rows[0].label == "Patient portal" and matrix.rows[0].differs
    contradicted = next(s for s in c.sections if s.title.startswith("Claims contradicted"))
    assert [r.label for r in contradicted.rows] == ["SMART App Launch 2.0"]  # never-contradicted claims stay out
    by_vendor = {col.name: cell.text for col, cell in zip(c.columns, contradicted.rows[0].cells, strict=True)}
    assert sorted(by_vendor.values()) == ["Contradicted", "Verified", "—"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["one.json"], "at least two runs"),
        (["a.json", "b.json", "-o", "out.txt"], "give a file ending in .html, .md, .json or .pdf"),
    ],
)
def test_usage_errors(args: list[str], message: str):
    res = run("compare", *args)
    assert res.exit_code == 2 and message in res.output


def test_bad_inputs_are_named(demo: Path, tmp_path: Path):
    broken = tmp_path / "broken.json"
    broken.write_text("{\n  nope\n}")
    res = run("compare", str(demo / SLUGS[0]), str(broken), "-o", str(tmp_path / "c.html"))
    assert res.exit_code == 2 and f"{broken}:2:" in res.output
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"hello": "world"}))
    res = run("compare", str(demo / SLUGS[0]), str(other), "-o", str(tmp_path / "c.html"))
    assert res.exit_code == 2 and "neither a report.json" in res.output
    # never overwrite an input
    target = demo / SLUGS[0] / "report.json"
    before = target.read_bytes()
    res = run("compare", str(target), str(demo / SLUGS[1]), "-o", str(target))
    assert res.exit_code == 2 and target.read_bytes() == before
