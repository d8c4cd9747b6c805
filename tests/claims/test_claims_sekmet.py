"""Done-when for vendor claims: audit the live sekmet server (on loopback) with a claims file that
overstates it; the HTML and Markdown reports show the contradictions, the capability matrix first,
and the questions for the vendor. An honest file about the same server verifies instead."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest

from tests.support.cli import run

pytestmark = pytest.mark.servers  # every test here talks to the loopback servers scripts/test starts

# What sekmet's open instance really offers: FHIR R4 over plain HTTP, SMART permission-v2 for
# backend clients, $export; no US Core profiles, no standalone patient launch, no login.
OVERSTATED = """\
claims_version: 1
product: {vendor: Sekmet Labs, product: Sekmet FHIR, hosting: cloud}
standards: {fhir_version: 4.0.1, us_core: 6.1.0, smart_app_launch: 2.0.0, bulk_data: 1.0.1, uscdi: v3}
portal: {offered: yes, view_download_transmit: yes, third_party_app_access: yes}
hipaa: {baa_offered: yes, tls_minimum: "1.2", unique_user_ids: yes}
"""
HONEST = """\
claims_version: 1
standards: {fhir_version: 4.0.1, us_core: no, smart_app_launch: 2.0.0, bulk_data: 1.0.1}
portal: {third_party_app_access: no}
"""
CONTRADICTED = {"INT-101", "INT-104", "PRT-100", "HIP-100", "HIP-101"}
VERIFIED = {"INT-100", "INT-103"}
# sekmet lists permission-v2 but no launch, authorization_code grant or PKCE: "SMART 2.0.0" is only
# partly verified (it used to be "verified" on permission-v2 alone).
PARTLY = {"INT-102"}
AS_OF = "2026-06-01"  # judged on a fixed day, whatever the clock says


def _audit(url: str, claims_text: str, tmp_path: Path, name: str) -> Path:
    claims = tmp_path / f"{name}.yaml"
    claims.write_text(claims_text, encoding="utf-8")
    out = tmp_path / name
    res = run("audit", url, "--claims", str(claims), "--profile", "small-group", "--as-of", AS_OF, "-o", str(out), "-q")
    assert res.exit_code == 0, res.output
    return out


def test_overstated_claims_against_sekmet(sekmet_open_url: str, tmp_path: Path):
    out = _audit(sekmet_open_url, OVERSTATED, tmp_path, "overstated")
    report = json.loads((out / "report.json").read_text())
    outcome = {c["rule_id"]: c["status"] for c in report["claims"]}
    assert {r for r, s in outcome.items() if s == "contradicted"} == CONTRADICTED
    assert {r for r, s in outcome.items() if s == "verified"} == VERIFIED
    assert {r for r, s in outcome.items() if s == "partly_verified"} == PARTLY
    smart = next(c for c in report["claims"] if c["rule_id"] == "INT-102")
    assert "authorization_code grant" in smart["missing"] and "PKCE S256" in smart["missing"]
    findings = {f["rule_id"]: f for f in report["findings"]}
    assert "plain HTTP" in findings["HIP-100"]["message"]
    assert "launch-standalone" in findings["PRT-100"]["message"]
    assert "declares no US Core profile" in findings["INT-101"]["message"]
    matrix = {m["key"]: m for m in report["matrix"]}
    assert matrix["patient_portal"]["state"] == "contradicted"
    assert matrix["hipaa_program"]["state"] == "contradicted"
    assert matrix["demographics"]["state"] == "observed"
    questions = report["vendor_questions"]
    assert {q["rule_id"] for q in questions if q["reason"] == "contradicted"} == CONTRADICTED
    assert questions[0]["reason"] == "contradicted"
    assert "contradicted by its server 5 times" in report["verdict"]["meaning"]
    # The evidence keeps the validated claims, so `score` reproduces the report offline.
    evidence = json.loads((out / "evidence.json").read_text())
    assert evidence["claims"]["standards"]["us_core"] == "6.1.0"
    rescored = tmp_path / "rescored.json"
    res = run("score", str(out / "evidence.json"), "--profile", "small-group", "--as-of", AS_OF, "-o", str(rescored), "-q")
    assert res.exit_code == 0 and json.loads(rescored.read_text())["claims"] == report["claims"]

    md = (out / "report.md").read_text()
    assert (
        md.index("**Verdict:")
        < md.index("## EMR or EHR? Capability matrix")
        < md.index("## Vendor claims versus what was observed")
    )
    assert "| Patient portal and patients' apps | Contradicted | EMR |" in md
    assert "| US Core | 6.1.0 | Contradicted |" in md
    assert "(contradicts your claim)" in md.split("## What to ask the vendor")[1]

    page = (out / "report.html").read_text()
    assert (
        page.index('id="verdict-h"')
        < page.index('id="matrix-h"')
        < page.index('id="claims-h"')
        < page.index('id="pack-interoperability"')
        < page.index('id="questions-h"')
    )
    assert '<th scope="row">Minimum TLS version</th><td>1.2</td><td><span class="badge badge-fail">Contradicted</span>' in page
    assert "contradicts your claim" in page
    email = page.split('<pre class="email">')[1].split("</pre>")[0]
    assert html.unescape(email).startswith("Questions about ")
    assert len([line for line in email.splitlines() if line[:1].isdigit()]) == len(questions)


def test_honest_claims_against_sekmet_are_verified(sekmet_open_url: str, tmp_path: Path):
    out = _audit(sekmet_open_url, HONEST, tmp_path, "honest")
    report = json.loads((out / "report.json").read_text())
    # Honest is not the same as enough: "no US Core" falls short of certification in 2026.
    assert {c["rule_id"]: c["status"] for c in report["claims"]} == {
        **{r: "verified" for r in VERIFIED},
        **{r: "partly_verified" for r in PARTLY},
        "CRT-102": "falls_short",
    }
    assert not [q for q in report["vendor_questions"] if q["reason"] == "contradicted"]
    findings = {f["rule_id"]: f["status"] for f in report["findings"]}
    assert findings["INT-101"] == findings["PRT-100"] == "not_applicable"  # "no" is nothing to verify
