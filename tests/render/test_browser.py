"""The HTML reports in a real browser (Debian's Chromium driven by Playwright), and --pdf.

Fails on console errors, failed resource loads (a self-contained report loads nothing) or missing
key sections; keeps screenshots under $EHRCHECK_ARTIFACTS (default .run/artifacts) for review.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ehrcheck.demo.run import run_demo
from tests.paths import ROOT, TESTS
from tests.support.cli import run

ARTIFACTS = Path(os.environ.get("EHRCHECK_ARTIFACTS", ROOT / ".run" / "artifacts"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
QUIET = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
KEY_SECTIONS = (
    "#verdict-h",
    "#scores-h",
    "svg.bars",
    "#matrix-h",
    "#matrix-detail-h",
    "#pack-interoperability",
    "#pack-hipaa",
    "#questions-h",
    "#appendix-h",
)
FIRST_SCREEN = ("#verdict-h", "#scores-h", "svg.bars", "#matrix-h", ".chips li:last-child")
AXE = TESTS / "browser" / "node_modules" / "axe-core" / "axe.min.js"
AXE_RUN = """async () => {
  const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
  return r.violations.map(v => `${v.id} (${v.impact}, ${v.nodes.length} nodes): ${v.help} e.g. ${v.nodes[0].target}`);
}"""


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: run scripts/setup as root, or `apt-get install chromium`", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=QUIET)
        yield b
        b.close()


@pytest.fixture(scope="module")
def demo_reports(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    run_demo(out)
    return out


def open_report(browser, path: Path, shot: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed load: {r.url}"))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{shot}.png"))
    return page, problems, requests


@pytest.mark.browser
@pytest.mark.parametrize("vendor", ["meadowlark-chart", "riverbend-ehr", "summit-health-cloud"])
def test_demo_report_opens_clean(browser, demo_reports, vendor):
    page, problems, requests = open_report(browser, demo_reports / vendor / "report.html", f"demo-{vendor}")
    assert problems == []
    assert requests == [(demo_reports / vendor / "report.html").resolve().as_uri()]  # nothing external
    for selector in KEY_SECTIONS:
        assert page.locator(selector).count() >= 1, f"{selector} missing from {vendor}'s report"
    verdict = page.locator("#verdict-h").inner_text()
    assert verdict.startswith("Verdict: ")
    # The verdict, the score chart and the whole capability matrix are on the first screen.
    for selector in FIRST_SCREEN:
        box = page.locator(selector).first.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 900, f"{selector} is below the first screen"
    page.close()


@pytest.mark.browser
@pytest.mark.parametrize("vendor", ["meadowlark-chart", "summit-health-cloud"])
def test_report_meets_wcag_aa_and_works_with_the_keyboard(browser, demo_reports, vendor):
    assert AXE.is_file(), f"{AXE} missing: run scripts/setup (npm ci in tests/browser)"
    page, _problems, _ = open_report(browser, demo_reports / vendor / "report.html", f"a11y-{vendor}")
    page.add_script_tag(path=str(AXE))  # inlined from disk: the report still loads nothing
    assert page.evaluate(AXE_RUN) == []
    # Keyboard: the first Tab lands on the section links, and focus is visibly outlined.
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "() => [document.activeElement.tagName, document.activeElement.getAttribute('href'), getComputedStyle(document.activeElement).outlineStyle]"
    )
    assert focused[0] == "A" and focused[1] == "#verdict-h"
    assert focused[2] != "none"
    page.keyboard.press("Enter")
    assert page.evaluate("() => location.hash") == "#verdict-h"
    page.close()


@pytest.mark.servers
@pytest.mark.browser
def test_sekmet_audit_report_opens_clean(browser, sekmet_auth_url, tmp_path):
    # A real process: Playwright's sync API owns this thread's event loop.
    proc = subprocess.run(
        [sys.executable, "-m", "ehrcheck", "audit", sekmet_auth_url, "-o", str(tmp_path), "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    page, problems, _ = open_report(browser, tmp_path / "report.html", "sekmet-auth")
    assert problems == []
    # Failures and warnings are cards; passes and open rules are compact rows; every rule has
    # its anchor, so a question or a must-have links to it.
    import json

    findings = json.loads((tmp_path / "report.json").read_text())["findings"]
    acting = sum(1 for f in findings if f["status"] in ("fail", "warn"))
    assert acting >= 10 and page.locator("article.finding").count() == acting
    for f in findings:
        assert page.locator(f"[id='{f['rule_id']}']").count() == 1, f["rule_id"]
    page.close()


@pytest.mark.browser
def test_pdf_is_a_valid_multipage_document(demo_reports, tmp_path):
    res = run("score", str(demo_reports / "riverbend-ehr" / "evidence.json"), "-o", str(tmp_path), "--pdf", "-q")
    assert res.exit_code == 0, res.output
    pdf = (tmp_path / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
    assert pages >= 2
    shutil.copy(tmp_path / "report.pdf", ARTIFACTS / "riverbend.pdf") if ARTIFACTS.is_dir() else None


def test_pdf_without_chromium_says_what_to_install(demo_reports, tmp_path, monkeypatch):
    monkeypatch.setenv("EHRCHECK_CHROMIUM", str(tmp_path / "no-such-browser"))
    res = run("score", str(demo_reports / "riverbend-ehr" / "evidence.json"), "-o", str(tmp_path / "out"), "--pdf")
    assert res.exit_code == 2
    assert "apt-get install chromium" in res.output
    assert not (tmp_path / "out").exists()  # nothing half-written


@pytest.mark.browser
def test_vendor_comparison_shares_the_design_and_meets_wcag_aa(browser, demo_reports, tmp_path):
    reports = [str(demo_reports / v / "report.json") for v in ("meadowlark-chart", "riverbend-ehr", "summit-health-cloud")]
    out = tmp_path / "comparison.html"
    proc = subprocess.run(
        [sys.executable, "-m", "ehrcheck", "compare", *reports, "-o", str(out)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    page, problems, requests = open_report(browser, out, "comparison")
    assert problems == [] and len(requests) == 1
    # One design system: the comparison carries the report's stylesheet (its custom properties).
    assert page.evaluate("() => getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()") == "#0b4f8a"
    page.add_script_tag(path=str(AXE))
    assert page.evaluate(AXE_RUN) == []
    page.close()


def pdf_pages(path: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page(?!s)", path.read_bytes()))


# Printable area of the tighter of Letter and A4 (the print stylesheet's margins: 10 mm, 12 mm).
PRINT_WIDTH_PX = round((210 - 24) / 25.4 * 96)
PRINT_HEIGHT_PX = round((279.4 - 20) / 25.4 * 96)


@pytest.mark.parametrize("profile", ["default", "hospital", "behavioral-health"])
@pytest.mark.parametrize("vendor", ["meadowlark-chart", "riverbend-ehr", "summit-health-cloud"])
def test_the_executive_summary_is_one_printed_page(browser, demo_reports, tmp_path, vendor, profile):
    """The summary alone (--format summary) prints on one page, and the report's first page is
    the same summary: it fits the printable area of Letter and of A4."""
    evidence = demo_reports / vendor / "evidence.json"
    res = run("score", str(evidence), "-o", str(tmp_path / "s.pdf"), "-f", "summary", "--profile", profile)
    assert res.exit_code == 0, res.output
    assert pdf_pages(tmp_path / "s.pdf") == 1
    res = run("score", str(evidence), "-o", str(tmp_path / "r.html"), "--profile", profile, "-q")
    assert res.exit_code == 0, res.output
    page = browser.new_page(viewport={"width": PRINT_WIDTH_PX, "height": PRINT_HEIGHT_PX})
    page.emulate_media(media="print")
    page.goto((tmp_path / "r.html").resolve().as_uri())
    bottom = page.evaluate("() => document.querySelector('.exec').getBoundingClientRect().bottom")
    assert bottom <= PRINT_HEIGHT_PX, f"the summary runs {bottom - PRINT_HEIGHT_PX:.0f} px past the first page"
    assert page.evaluate("() => getComputedStyle(document.querySelector('.exec')).breakAfter") == "page"
    a4 = page.pdf(format="A4")
    assert a4.startswith(b"%PDF-")
    if vendor == "riverbend-ehr" and profile == "hospital":
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / "s.pdf", ARTIFACTS / "summary-riverbend-hospital.pdf")
    page.close()


@pytest.mark.servers
@pytest.mark.browser
def test_a_typical_audit_prints_in_thirteen_pages_or_fewer(sekmet_auth_url, tmp_path):
    """-o x.pdf writes the PDF itself; not observed and not applicable rules are one compact table,
    so a typical audit (sekmet, anonymous) is at most 13 pages (12 until issue 19 added 17 rules an
    anonymous audit decides: 14 more findings on sekmet, one more card and vendor question)."""
    proc = subprocess.run(
        [sys.executable, "-m", "ehrcheck", "audit", sekmet_auth_url, "-o", str(tmp_path / "audit.pdf"), "-q"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    pdf = tmp_path / "audit.pdf"
    assert pdf.is_file() and pdf.read_bytes().startswith(b"%PDF-")
    assert (tmp_path / "audit.evidence.json").is_file()
    pages = pdf_pages(pdf)
    assert 2 <= pages <= 13, f"{pages} pages"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(pdf, ARTIFACTS / "sekmet-audit.pdf")


LONG_URL = (
    "https://login.vendor-with-a-long-name.example/oauth2/v2.0/authorize?response_type=code&client_id="
    "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9&redirect_uri=https%3A%2F%2Fapp.example%2Fcallback&scope="
    "launch%2Fpatient%20patient%2F*.rs%20openid%20fhirUser%20offline_access&aud=https%3A%2F%2Ffhir.example%2Fr4"
)
# Landscape printable widths (10 mm margins) of Letter and A4, in CSS px.
LANDSCAPE = {"letter": round((279.4 - 20) / 25.4 * 96), "a4": round((297 - 20) / 25.4 * 96)}
NO_WIDER = """() => { const W = document.documentElement.clientWidth; const wide = [];
  for (const e of document.querySelectorAll('body *')) { const r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > W + 1) wide.push(`${e.tagName}.${e.className} right=${Math.round(r.right)}`); }
  return {W, scroll: document.documentElement.scrollWidth, wide: wide.slice(0, 5)}; }"""


@pytest.fixture(scope="module")
def six_vendors(demo_reports, tmp_path_factory) -> list[str]:
    """Six runs: the three demo vendors and three more under long names, with long OAuth URLs in
    their findings, as real vendors' reports have."""
    out = tmp_path_factory.mktemp("six")
    paths = []
    for n, vendor in enumerate(("meadowlark-chart", "riverbend-ehr", "summit-health-cloud") * 2):
        report = json.loads((demo_reports / vendor / "report.json").read_text())
        if n >= 3:
            report["target"]["label"] = f"Vendor {n} Enterprise Cloud Electronic Health Record Suite, Ambulatory Edition"
            report["target"]["base_url"] = f"https://fhir-{n}.vendor-with-a-long-name.example/api/FHIR/R4"
            for f in report["findings"]:
                if f["status"] in ("fail", "warn"):
                    f["message"] = f"{f['message']} Authorization redirect seen: {LONG_URL}"
        path = out / f"{n}-{vendor}.json"
        path.write_text(json.dumps(report))
        paths.append(str(path))
    return paths


def test_a_comparison_of_six_vendors_fits_the_window_and_the_page(browser, six_vendors, tmp_path):
    html, pdf = tmp_path / "comparison.html", tmp_path / "comparison.pdf"
    client = "Elm Street Family Practice"
    for target in (html, pdf):
        res = run("compare", *six_vendors, "-o", str(target), "--client", client, "--profile", "solo")
        assert res.exit_code == 0, res.output
    text = html.read_text()
    assert client in text and "Solo practice" in text
    assert text.count('class="why"') == 6 and "Why first:" in text
    # Beyond four vendors, each table shows a group of them: never six columns in one table.
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(html.resolve().as_uri())
    assert (
        page.evaluate("() => Math.max(...[...document.querySelectorAll('table.compare thead tr')].map(r => r.cells.length))") == 5
    )
    assert page.locator("caption", has_text="Products 5–6 of 6").count() >= 1
    screen = page.evaluate(NO_WIDER)
    assert screen["wide"] == [] and screen["scroll"] <= screen["W"], screen
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("table.compare").nth(-1).screenshot(path=str(ARTIFACTS / "comparison-rules-table.png"))
    # Printed landscape on Letter and on A4: no element wider than the printable width.
    page.emulate_media(media="print")
    for paper, width in LANDSCAPE.items():
        page.set_viewport_size({"width": width, "height": 700})
        printed = page.evaluate(NO_WIDER)
        assert printed["wide"] == [] and printed["scroll"] <= printed["W"], (paper, printed)
    page.screenshot(path=str(ARTIFACTS / "comparison-first-page.png"))
    assert page.evaluate("() => getComputedStyle(document.querySelector('table.compare thead')).display") == "table-header-group"
    page.close()
    # The PDF itself: landscape pages (width > height), more than one.
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and pdf_pages(pdf) >= 2
    box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", data)
    assert box is not None and float(box.group(1)) > float(box.group(2))
    shutil.copy(pdf, ARTIFACTS / "comparison-six-vendors.pdf")


def test_why_a_ranks_above_b_names_the_decisive_findings(six_vendors):
    from ehrcheck.engine.compare import compare
    from ehrcheck.models import RunResult

    results = [RunResult.model_validate_json(Path(p).read_text()) for p in six_vendors[:3]]
    c = compare(results, "default")
    first, second, third = c.columns
    assert first.why.startswith(first.verdict_label) and "no other product ranks above it" in first.why
    # A different verdict: the reason names the lower vendor's decisive findings by rule id.
    assert second.why.startswith(f"{first.name} ranks above: its verdict is {first.verdict_label}")
    assert re.search(r"\((INT|PRT|CRT|HIP)-\d{3}\)", second.why)
    assert third.why.startswith(f"{second.name} ranks above")
