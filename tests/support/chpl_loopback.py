"""A CHPL API, a vendor's documentation site and its FHIR endpoints, all on one loopback server.

The CHPL routes answer with the real CHPL responses in tests/fixtures/real (a search page and the
certification-criteria list) and with listing details built from CHPL's documented fields in
tests/fixtures/chpl. `{{ORIGIN}}` in those documents becomes this server's address, so every link
a probe follows (API docs, EHI export docs, the service-base-URL Bundle, each endpoint's
/metadata) comes back here.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.loopback import Loopback, Reply, serve

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ACTIVE = "15.04.04.2916.smar.07.01.1.190328"  # real, Active, 2015 Edition, no (g)(10)
WITHDRAWN = "15.02.02.3007.A056.01.00.0.180214"  # real, Withdrawn by Developer in 2021
FULL = "15.99.99.9999.Test.01.00.1.250102"  # fictional, Active, Cures Update, Base EHR + (g)(10)
CMS_ID = "2025CGJ1F3L7D47"
CAPABILITY = {
    "resourceType": "CapabilityStatement",
    "status": "active",
    "kind": "instance",
    "fhirVersion": "4.0.1",
    "format": ["json"],
    "rest": [{"mode": "server", "resource": [{"type": "Patient", "interaction": [{"code": "read"}]}]}],
}
DOCS_PAGE = "<!doctype html><html><head><title>FHIR API</title></head><body><h1>Developer documentation</h1></body></html>"
LOGIN_PAGE = (
    "<!doctype html><html><body><form method='post' action='/login'>"
    "<input name='user'><input type=\"password\" name='pw'></form></body></html>"
)


def fixture(relative: str, origin: str = "") -> Any:
    return json.loads((FIXTURES / relative).read_text(encoding="utf-8").replace("{{ORIGIN}}", origin))


def html(status: int, body: str, **headers: str) -> Reply:
    return Reply(status, body, {"Content-Type": "text/html; charset=utf-8", **headers})


def chpl_routes(origin: str, key_status: int = 200) -> dict[str, Reply | list[Reply]]:
    """CHPL at /rest, the vendor's docs and Bundle, and two FHIR endpoints (/fhir, /pediatrics/fhir)."""
    if key_status != 200:
        refused = Reply(key_status, {"error": "Invalid API Key"}, {"Content-Type": "application/json"})
        rest = {p: refused for p in ("/rest/data/certification-criteria", "/rest/search/v3")}
    else:
        rest = {
            "/rest/data/certification-criteria": Reply(
                200, fixture("real/chpl-certification-criteria.json"), {"Content-Type": "application/json"}
            ),
            "/rest/search/v3": Reply(200, fixture("real/chpl-search-page.json"), {"Content-Type": "application/json"}),
            "/rest/certified_products/9956/details": Reply(
                200, fixture("chpl/details-9956-active.json", origin), {"Content-Type": "application/json"}
            ),
            "/rest/certified_products/9261/details": Reply(
                200, fixture("chpl/details-9261-withdrawn.json", origin), {"Content-Type": "application/json"}
            ),
            f"/rest/certified_products/{FULL}/details": Reply(
                200, fixture("chpl/details-99001-active-full.json", origin), {"Content-Type": "application/json"}
            ),
            "/rest/certification-ids/verify": Reply(
                200, {"results": [{"id": CMS_ID, "valid": True}]}, {"Content-Type": "application/json"}
            ),
            f"/rest/certification-ids/{CMS_ID}": Reply(
                200,
                {
                    "ehrCertificationId": CMS_ID,
                    "year": "2015 Cures Update",
                    "products": [{"id": 99001, "chplProductNumber": FULL}],
                },
                {"Content-Type": "application/json"},
            ),
        }
    return {
        **rest,
        # documentation the listings link
        "/api/api_client.php": html(200, DOCS_PAGE),
        "/developers/fhir-api": html(200, DOCS_PAGE),
        "/developers/ehi-export": html(302, "", Location="/login?next=/developers/ehi-export"),
        "/developers/dsi-risk-management": html(200, DOCS_PAGE),
        "/login": html(200, LOGIN_PAGE),
        # the fictional listing's service-base-URL Bundle and the endpoints it names
        "/fhir-endpoints.json": Reply(200, fixture("chpl/service-base-urls-hti1.json", origin)),
        "/fhir/metadata": Reply(200, CAPABILITY),
        "/pediatrics/fhir/metadata": Reply(200, CAPABILITY),
        "/fhir/Patient": Reply(401, {"resourceType": "OperationOutcome", "issue": []}, {"WWW-Authenticate": "Bearer"}),
    }


@contextlib.contextmanager
def chpl_world(key_status: int = 200, extra: dict[str, Reply] | None = None) -> Iterator[Loopback]:
    """The server, its FHIR base at /fhir and CHPL at `<origin>/rest`."""
    routes: dict[str, Reply | list[Reply]] = {}
    with serve(routes, prefix="/fhir") as lb:
        routes.update(chpl_routes(lb.origin, key_status))
        routes.update(extra or {})
        yield lb


def chpl_requests(lb: Loopback) -> list[tuple[str, str, dict[str, str]]]:
    return [r for r in lb.requests if r[1].startswith("/rest/")]
