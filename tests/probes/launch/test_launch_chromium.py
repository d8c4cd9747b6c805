"""A standalone launch with the sign-in done in headless Chromium (Debian's, driven by Playwright),
as a person would: the login form, the consent page, and the browser's own redirect back to
ehrcheck's loopback listener. The launch runs in a worker thread; this thread owns the browser."""

from __future__ import annotations

import queue
import shutil
import threading

import pytest

from tests.support.launch import app, findings, run_launch

pytestmark = [pytest.mark.servers, pytest.mark.browser]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
QUIET = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class ChromiumPerson:
    """Hands each authorization URL to the test's thread, which opens it in the browser."""

    def __init__(self):
        self.urls: queue.Queue[str | None] = queue.Queue()

    def authorize(self, url, purpose, deliver):
        self.urls.put(url)

    def await_ehr_launch(self, launch_uri):  # pragma: no cover - standalone only here
        raise AssertionError("standalone test")


def test_standalone_launch_signed_in_through_chromium(smart_url):
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: run scripts/setup as root, or `apt-get install chromium`", pytrace=False)
    from playwright.sync_api import sync_playwright

    person, result = ChromiumPerson(), {}
    registration = app()

    def launch():
        try:
            result["evidence"] = run_launch(f"{smart_url}/fhir", registration, person, uscore=True, timeout=60)
        finally:
            person.urls.put(None)

    worker = threading.Thread(target=launch, daemon=True)
    worker.start()
    signed_in = consented = 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=QUIET)
        page = browser.new_context().new_page()  # one browser session: the second sign-in is remembered
        while (url := person.urls.get(timeout=90)) is not None:
            page.goto(url)
            while not page.url.startswith(registration.redirect_uri):
                if page.locator("input[name=username]").count():
                    page.fill("input[name=username]", "patient")
                    page.fill("input[name=password]", "patient-pass")
                    page.click("button[type=submit]")
                    signed_in += 1
                elif page.get_by_role("button", name="Allow").count():
                    page.get_by_role("button", name="Allow").click()
                    consented += 1
                page.wait_for_load_state()
            assert "ehrcheck received the authorization" in page.content()
        browser.close()
    worker.join(30)
    ev = result["evidence"]
    assert ev.probes["launch"].status.value == "completed", ev.probes["launch"].reason
    assert signed_in == 1 and consented == 6  # one login for the session, a consent per authorization
    got = findings(ev, "PRT-400", "PRT-402", "INT-402", "INT-403", "HIP-401", "HIP-407", "HIP-408")
    assert {r: f.status.value for r, f in got.items()} == dict.fromkeys(got, "pass"), {r: f.message for r, f in got.items()}
