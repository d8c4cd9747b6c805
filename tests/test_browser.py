"""The HTML reports in a real browser (Debian's Chromium driven by Playwright), and --pdf.

Fails on console errors, failed resource loads (a self-contained report loads nothing) or missing
key sections; keeps screenshots under $EHRCHECK_ARTIFACTS (default .run/artifacts) for review.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ehrcheck.cli import app
from ehrcheck.demo import run_demo

ARTIFACTS = Path(os.environ.get("EHRCHECK_ARTIFACTS", Path(__file__).resolve().parents[1] / ".run" / "artifacts"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
QUIET = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
KEY_SECTIONS = ("#verdict-h", "#scores-h", "svg.bars", "#pack-interoperability", "#pack-hipaa", "#questions-h", "#appendix-h")


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


@pytest.mark.parametrize("vendor", ["meadowlark-chart", "riverbend-ehr", "summit-health-cloud"])
def test_demo_report_opens_clean(browser, demo_reports, vendor):
    page, problems, requests = open_report(browser, demo_reports / vendor / "report.html", f"demo-{vendor}")
    assert problems == []
    assert requests == [(demo_reports / vendor / "report.html").resolve().as_uri()]  # nothing external
    for selector in KEY_SECTIONS:
        assert page.locator(selector).count() >= 1, f"{selector} missing from {vendor}'s report"
    verdict = page.locator("#verdict-h").inner_text()
    assert verdict.startswith("Verdict: ")
    # The verdict and the score chart are on the first screen.
    for selector in ("#verdict-h", "svg.bars"):
        box = page.locator(selector).first.bounding_box()
        assert box is not None and box["y"] < 900, f"{selector} is below the first screen"
    page.close()


def test_sekmet_audit_report_opens_clean(browser, sekmet_auth_url, tmp_path):
    # A real process: Playwright's sync API owns this thread's event loop.
    proc = subprocess.run([sys.executable, "-m", "ehrcheck", "audit", sekmet_auth_url, "-o", str(tmp_path), "-q"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    page, problems, _ = open_report(browser, tmp_path / "report.html", "sekmet-auth")
    assert problems == []
    assert page.locator(".finding").count() >= 40
    page.close()


def test_pdf_is_a_valid_multipage_document(demo_reports, tmp_path):
    res = CliRunner().invoke(
        app, ["score", str(demo_reports / "riverbend-ehr" / "evidence.json"), "-o", str(tmp_path), "--pdf", "-q"]
    )
    assert res.exit_code == 0, res.output
    pdf = (tmp_path / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
    assert pages >= 2
    shutil.copy(tmp_path / "report.pdf", ARTIFACTS / "riverbend.pdf") if ARTIFACTS.is_dir() else None


def test_pdf_without_chromium_says_what_to_install(demo_reports, tmp_path, monkeypatch):
    monkeypatch.setenv("EHRCHECK_CHROMIUM", str(tmp_path / "no-such-browser"))
    res = CliRunner().invoke(app, ["score", str(demo_reports / "riverbend-ehr" / "evidence.json"), "-o", str(tmp_path / "out"), "--pdf"])
    assert res.exit_code == 2
    assert "apt-get install chromium" in res.output
    assert not (tmp_path / "out").exists()  # nothing half-written
