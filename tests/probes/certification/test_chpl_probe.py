"""The `chpl` probe against a CHPL served on loopback from real CHPL responses, and the
certification rules on what it records: an Active listing, a withdrawn one, one that does not
exist, a refused key, no key at all, and a CHPL file instead of the API."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest

from ehrcheck.engine.evaluate import evaluate
from ehrcheck.http.client import HttpOptions
from ehrcheck.models import Evidence
from ehrcheck.probes.certification.chpl import api_key_problem
from ehrcheck.probes.certification.inputs import certification_inputs
from ehrcheck.probes.runner import collect
from ehrcheck.rules.schema import all_rules
from tests.support.chpl_loopback import (
    ACTIVE,
    CMS_ID,
    FIXTURES,
    FULL,
    WITHDRAWN,
    chpl_requests,
    chpl_world,
)

KEY = "planted-chpl-key-7f3a9c"  # a secret that must never reach evidence
AS_OF = dt.date(2026, 6, 1)


def gather(lb, environ: dict[str, str] | None = None, **inputs) -> Evidence:
    inputs.setdefault("chpl_url", lb.origin + "/rest")
    cert = certification_inputs(environ={"CHPL_API_KEY": KEY} if environ is None else environ, **inputs)
    options = HttpOptions(timeout=5, retries=0)
    return asyncio.run(collect(lb.base, options, extra_probes=cert.probes, settings=cert.settings))


def findings(evidence: Evidence, claims: dict | None = None) -> dict[str, object]:
    evidence = Evidence.model_validate(json.loads(json.dumps(evidence.to_json_dict())))
    evidence.claims = claims
    return {f.rule_id: f for f in evaluate(evidence, all_rules(), AS_OF)}


def listing(evidence: Evidence, number: str) -> dict:
    return next(x for x in evidence.probes["chpl"].data["listings"] if x["chpl_product_number"] == number)


def test_active_listing_read_through_search_and_details() -> None:
    with chpl_world() as lb:
        ev = gather(lb, chpl_ids=[ACTIVE])
        sent = chpl_requests(lb)
    attempt = ev.probes["chpl"]
    assert attempt.status.value == "completed", attempt.reason
    x = listing(ev, ACTIVE)
    assert x["record"] == "details" and x["chpl_id"] == 9956
    assert (x["status"], x["edition"], x["cures_update"], x["certification_date"]) == ("Active", "2015", False, "2019-03-28")
    assert x["product"] == "24/7 smartEMR" and x["developer"] == "VIPA Health Solutions, LLC"
    assert "170.315 (b)(1)" in x["criteria_met"] and "170.315 (g)(10)" not in x["criteria_met"]
    assert "170.315 (a)(6)" in x["criteria_removed"]  # ONC removed it; it no longer counts
    assert x["rwt_plans_url"] and x["rwt_results_url"] is None and x["export_documentation_url"] is None
    assert x["open_nonconformities"] == 0
    # search first (it also finds a listing by an old number), then the details by CHPL's id
    paths = [p.split("?")[0] for _, p, _ in sent]
    assert paths == ["/rest/data/certification-criteria", "/rest/search/v3", "/rest/certified_products/9956/details"]
    f = findings(ev)
    assert f["CRT-001"].status.value == "pass"
    assert f["CRT-002"].status.value == "fail" and "(g)(10)" in f["CRT-002"].message
    assert f["CRT-008"].status.value == "fail"  # not updated to the Cures Update
    assert f["CRT-006"].status.value == "warn"  # a plan, no results: a warning under the 30 June 2025 discretion
    assert f["CRT-014"].status.value == "pass"  # its API docs page opens anonymously


def test_the_api_key_is_sent_as_a_header_and_never_recorded() -> None:
    with chpl_world() as lb:
        ev = gather(lb, chpl_ids=[FULL])
        sent = chpl_requests(lb)
    assert sent and all(h.get("api-key") == KEY for _, _, h in sent)
    assert all("api_key" not in p and KEY not in p for _, p, _ in sent)  # never in the URL
    text = json.dumps(ev.to_json_dict())
    assert KEY not in text
    recorded = [ex for ex in ev.probes["chpl"].exchanges if "/rest/" in ex.url]
    assert recorded and all(ex.request_headers.get("api-key") == "[redacted]" for ex in recorded)


def test_full_listing_passes_the_certification_gates_and_checks_its_links() -> None:
    with chpl_world() as lb:
        ev = gather(lb, chpl_ids=[FULL])
        origin = lb.origin
    x = listing(ev, FULL)
    assert x["cures_update"] is True and x["status"] == "Active" and x["edition"] is None
    assert x["service_base_url_list"] == f"{origin}/fhir-endpoints.json"
    links = ev.probes["chpl"].data["links"]
    assert links[f"{origin}/developers/fhir-api"]["login_required"] is False
    export = links[f"{origin}/developers/ehi-export"]
    assert export["login_required"] is True and export["final_url"].startswith(f"{origin}/login")
    f = findings(ev)
    for rule in ("CRT-001", "CRT-002", "CRT-003", "CRT-004", "CRT-008", "CRT-009", "CRT-010", "CRT-013", "CRT-014"):
        assert f[rule].status.value == "pass", (rule, f[rule].message)
    assert f["CRT-005"].status.value == "fail" and "asks for a login" in f["CRT-005"].message
    # (b)(11): the ONC-ACB's risk management summary link (45 CFR 170.523(f)(1)(xxi)), opened anonymously
    assert x["risk_management_summary_url"] == f"{origin}/developers/dsi-risk-management"
    assert links[f"{origin}/developers/dsi-risk-management"]["login_required"] is False
    assert f["CRT-016"].status.value == "pass", f["CRT-016"].message
    # CHPL's documented listing details name no (g)(10) standard versions: not observed, not guessed
    assert "g10_standards" not in x
    assert f["CRT-015"].status.value == "not_observed" and "names no standard versions" in f["CRT-015"].message
    # the listing's Bundle was fetched, validated and the audited endpoint found in it
    assert ev.probes["endpoints"].status.value == "completed"
    for rule in ("CRT-200", "CRT-201", "CRT-202", "CRT-203", "CRT-204", "CRT-205", "CRT-206"):
        assert f[rule].status.value == "pass", (rule, f[rule].message)


def test_withdrawn_listing_fails_the_gate_with_its_status() -> None:
    with chpl_world() as lb:
        ev = gather(lb, chpl_ids=[WITHDRAWN])
    x = listing(ev, WITHDRAWN)
    assert x["status"] == "Withdrawn by Developer" and x["decertification_date"] == "2021-07-19"
    f = findings(ev)
    assert f["CRT-001"].status.value == "fail" and "Withdrawn by Developer" in f["CRT-001"].message
    assert f["CRT-003"].status.value == "fail"
    # the withdrawn listing names no service-base-URL list, so there is no Bundle to judge
    assert ev.probes["endpoints"].status.value == "skipped"
    assert f["CRT-202"].status.value == "not_observed" and "names no service base URL list" in f["CRT-202"].message


def test_a_number_chpl_does_not_know_is_recorded_as_not_found() -> None:
    with chpl_world() as lb:
        ev = gather(lb, chpl_ids=["15.04.04.1932.WebC.84.01.0.221117"])
    x = listing(ev, "15.04.04.1932.WebC.84.01.0.221117")
    assert x["found"] is False and "HTTP 404" in x["reason"]
    f = findings(ev)
    assert f["CRT-001"].status.value == "fail" and "not found on CHPL" in f["CRT-001"].message


def test_chpl_failing_is_not_observed_not_a_missing_listing() -> None:
    from tests.support.loopback import Reply

    failing = Reply(500, {"error": "Internal Server Error"}, {"Content-Type": "application/json"})
    with chpl_world(extra={"/rest/search/v3": failing, f"/rest/certified_products/{ACTIVE}/details": failing}) as lb:
        ev = gather(lb, chpl_ids=[ACTIVE])
    attempt = ev.probes["chpl"]
    assert attempt.status.value == "error" and "HTTP 500" in attempt.reason
    f = findings(ev)
    assert f["CRT-001"].status.value == "not_observed" and "HTTP 500" in f["CRT-001"].message


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_is_an_error_naming_the_http_status(status: int) -> None:
    with chpl_world(key_status=status) as lb:
        ev = gather(lb, chpl_ids=[ACTIVE])
    attempt = ev.probes["chpl"]
    assert attempt.status.value == "error"
    assert f"HTTP {status}" in attempt.reason and "CHPL_API_KEY" in attempt.reason
    assert api_key_problem(ev) == attempt.reason
    assert KEY not in json.dumps(ev.to_json_dict())


def test_no_key_means_no_chpl_traffic_and_a_hint() -> None:
    with chpl_world() as lb:
        ev = gather(lb, environ={}, chpl_ids=[ACTIVE])
        assert not chpl_requests(lb)
    assert ev.probes["chpl"].status.value == "skipped"
    f = findings(ev)
    for rule in ("CRT-001", "CRT-002", "CRT-014"):
        assert f[rule].status.value == "not_observed"
        assert "set CHPL_API_KEY" in f[rule].message and "--chpl-file" in f[rule].message


def test_a_chpl_search_page_file_is_read_offline() -> None:
    with chpl_world() as lb:
        ev = gather(lb, environ={}, chpl_ids=[ACTIVE], chpl_file=FIXTURES / "real/chpl-search-page.json")
        assert not chpl_requests(lb)
    data = ev.probes["chpl"].data
    assert data["source"] == "file" and data["file"] == "chpl-search-page.json"
    x = listing(ev, ACTIVE)
    assert x["record"] == "search" and x["status"] == "Active" and len(x["criteria_met"]) == 47
    assert "export_documentation_url" not in x  # a search row does not carry it
    f = findings(ev)
    assert f["CRT-001"].status.value == "pass"
    assert f["CRT-005"].status.value == "not_observed"


def test_cms_certification_id_is_verified_and_must_cover_the_listing() -> None:
    claims = {"certification": {"cms_ehr_certification_id": CMS_ID.lower()}}
    with chpl_world() as lb:
        good = gather(lb, chpl_ids=[FULL], claims=claims)
        other = gather(lb, chpl_ids=[ACTIVE], claims=claims)
    record = good.probes["chpl"].data["certification_id"]
    assert record == {"id": CMS_ID, "valid": True, "year": "2015 Cures Update", "products": [FULL]}
    assert findings(good, claims)["CRT-007"].status.value == "pass"
    bad = findings(other, claims)["CRT-007"]
    assert bad.status.value == "fail" and "none of the audited listings" in bad.message


def test_claims_are_compared_with_chpl() -> None:
    claims = {
        "product": {"chpl_product_numbers": [WITHDRAWN]},
        "certification": {"certified_criteria": ["170.315 (g)(10)", "170.315 (b)(10)"], "cures_update": True},
    }
    with chpl_world() as lb:
        ev = gather(lb, chpl_ids=[ACTIVE], claims=claims)
    assert [x["chpl_product_number"] for x in ev.probes["chpl"].data["listings"]] == [ACTIVE, WITHDRAWN]
    finding = findings(ev, claims)["CRT-207"]
    assert finding.status.value == "fail"
    for part in ("(g)(10)", "(b)(10)", "Cures Update", f"{WITHDRAWN} is Withdrawn by Developer"):
        assert part in finding.message, part


def test_concurrent_checks_are_recorded_in_request_order_not_answer_order() -> None:
    """The listing's documentation links and the endpoint sample are fetched concurrently; their
    exchanges were recorded as the answers came, so two runs against the same server wrote
    differently ordered evidence. The first link and the first endpoint answer last here."""
    from dataclasses import replace

    from tests.support.chpl_loopback import chpl_routes

    routes = chpl_routes("http://127.0.0.1:9")  # the two below name no origin
    slow = {p: replace(routes[p], delay=0.4) for p in ("/developers/dsi-risk-management", "/fhir/metadata")}
    with chpl_world(extra=slow) as lb:
        ev = gather(lb, chpl_ids=[FULL])
    links = [x.status for x in ev.probes["chpl"].exchanges][-4:]
    assert links == [200, 302, 200, 200], links  # dsi-risk-management, ehi-export -> /login, fhir-api
    sample = [x.elapsed_ms >= 400 for x in ev.probes["endpoints"].exchanges if x.status == 200][-2:]
    assert sample == [True, False], ev.probes["endpoints"].exchanges  # /fhir (slow), then /pediatrics/fhir


def test_a_documentation_link_carrying_the_chpl_key_is_not_opened() -> None:
    """Round 10 (note): a listing naming `…/fhir-api?api_key=<our key>` made ehrcheck open that
    address, so the key travelled to whatever host the listing named. Links carrying a credential
    ehrcheck holds are not opened, and say so."""
    from tests.support.chpl_loopback import chpl_routes, fixture
    from tests.support.loopback import Reply, serve

    routes: dict = {}
    with serve(routes, prefix="/fhir") as lb:
        routes.update(chpl_routes(lb.origin))
        text = json.dumps(fixture("chpl/details-99001-active-full.json", lb.origin))
        doc = json.loads(text.replace("/developers/fhir-api", f"/developers/fhir-api?api_key={KEY}"))
        routes[f"/rest/certified_products/{FULL}/details"] = Reply(200, doc, {"Content-Type": "application/json"})
        ev = gather(lb, chpl_ids=[FULL])
        opened = [path for _, path, _ in lb.requests if path.startswith("/developers/")]
    assert opened and not any(KEY in path for path in opened), opened
    links = ev.probes["chpl"].data["links"]
    refused = [v for k, v in links.items() if "fhir-api" in k]
    assert refused and refused[0]["reachable"] is None and "carries a credential" in refused[0]["problem"]
    assert KEY not in ev.model_dump_json()
