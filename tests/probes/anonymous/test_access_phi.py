"""Attack round F2: an anonymous Patient search that the server redirects to a URL carrying patient
data (names, birth dates, identifiers) leaves none of it in the evidence, the reports or --debug."""

from __future__ import annotations

import logging
from pathlib import Path

from tests.support.cli import CAP, run
from tests.support.loopback import Reply, serve

PHI = ("PHISMITHNAME", "1961-02-03", "SSN999887777")
BUNDLE = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {"resourceType": "Patient", "id": "p1"}}]}


def test_a_redirected_patient_search_keeps_no_patient_data(tmp_path: Path, caplog) -> None:
    routes = {
        "/fhir/metadata": Reply(200, CAP),
        "/fhir/Patient": Reply(
            302, None, {"Location": "/fhir/Found?name=PHISMITHNAME&birthdate=1961-02-03&identifier=SSN999887777"}
        ),
        "/fhir/Found": Reply(200, BUNDLE),
    }
    out = tmp_path / "out"
    with serve(routes) as srv, caplog.at_level(logging.DEBUG, logger="ehrcheck"):
        res = run("--debug", "audit", srv.base, "-o", str(out), "-f", "html,md,json,junit,sarif")
    assert res.exit_code in (0, 1), res.output
    texts = {p.name: p.read_text(encoding="utf-8") for p in out.iterdir()}
    texts["stderr"] = res.stderr + caplog.text
    assert "evidence.json" in texts and "report.html" in texts
    for name, text in texts.items():
        for value in PHI:
            assert value not in text, (name, value)
