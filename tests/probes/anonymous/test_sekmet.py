"""Audits of a real FHIR server (sekmet-fhir) on loopback: open, and with SMART auth enforced."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from ehrcheck.http.client import HttpOptions
from ehrcheck.probes.runner import collect
from tests.support.cli import run

pytestmark = pytest.mark.servers  # every test here talks to the loopback servers scripts/test starts


def _collect(url: str):
    return asyncio.run(collect(url, HttpOptions(timeout=10)))


def test_open_sekmet_evidence(sekmet_open_url):
    ev = _collect(sekmet_open_url)
    cap = ev.probes["capability"]
    assert cap.status.value == "completed"
    assert cap.data["fhir_version"] == "4.0.1"
    assert cap.data["resource_count"] >= 50
    assert "export" in cap.data["system_operations"]
    assert cap.data["validation"]["valid"] is True
    assert cap.data["implementation_url_is_base"] is True  # sekmet is configured with its own base_url
    smart = ev.probes["smart"]
    assert smart.data["found"] is True
    assert "permission-v2" in smart.data["capabilities"]
    assert ev.probes["openid"].status.value == "skipped"  # sekmet publishes no issuer
    access = ev.probes["access"].data
    # The open server hands out patients to anyone: the evidence keeps counts, never the data.
    assert access["patient_search"]["http_status"] == 200
    assert access["patient_search"]["returned_patient_data"] is True
    assert access["patient_search"]["total"] >= 10
    assert access["bulk_export"]["started_without_auth"] is True
    assert access["bulk_export"]["cancel_status"] == 202  # the job we started was cancelled
    assert access["unknown_read"]["http_status"] == 404  # an id no server holds
    assert access["unknown_read"]["body_resource_type"] == "OperationOutcome"
    assert cap.data["format_param"]["json_statement"] is True  # _format=json beats Accept: application/fhir+xml
    raw = ev.model_dump_json()
    patients = httpx.get(f"{sekmet_open_url}/Patient?_count=5", headers={"Accept": "application/fhir+json"}).json()
    for entry in patients["entry"]:
        patient = entry["resource"]
        for name in patient.get("name", []):
            assert name["family"] not in raw  # no patient resource content in evidence
        assert patient["id"] not in raw
        if patient.get("birthDate"):
            assert f'"{patient["birthDate"]}"' not in raw  # element names may appear, values never


def test_auth_sekmet_refuses_anonymous_access(sekmet_auth_url):
    ev = _collect(sekmet_auth_url)
    access = ev.probes["access"].data
    assert access["patient_search"]["http_status"] == 401
    assert access["patient_search"]["www_authenticate"] is True
    assert access["patient_search"]["returned_patient_data"] is False
    assert access["bulk_export"]["http_status"] in (401, 403)
    assert access["unknown_read"]["http_status"] == 401  # refused before any lookup: INT-051 does not apply
    assert "SMART-on-FHIR" in ev.probes["capability"].data["security"]["services"]


def test_audit_cli_against_sekmet_and_rescore(sekmet_open_url, sekmet_auth_url, tmp_path: Path):
    results = {}
    for name, url in (("open", sekmet_open_url), ("auth", sekmet_auth_url)):
        out = tmp_path / name
        res = run("audit", url, "-o", str(out), "--format", "html,md,json")
        assert res.exit_code == 0, res.output
        assert "Verdict:" in res.output
        for ext in ("html", "md", "json"):
            assert (out / f"report.{ext}").stat().st_size > 500
        rescored = tmp_path / f"{name}-rescored.json"
        res = run("score", str(out / "evidence.json"), "-o", str(rescored), "-q")
        assert res.exit_code == 0
        a = json.loads((out / "report.json").read_text())
        assert a["findings"] == json.loads(rescored.read_text())["findings"]
        results[name] = a
    by_id = {name: {f["rule_id"]: f for f in r["findings"]} for name, r in results.items()}
    # Anonymous patient data on the open server must be a critical failure the auth server avoids.
    critical_open = {rid for rid, f in by_id["open"].items() if f["status"] == "fail" and f["severity"] == "critical"}
    critical_auth = {rid for rid, f in by_id["auth"].items() if f["status"] == "fail" and f["severity"] == "critical"}
    assert critical_open - critical_auth, "the open server's anonymous PHI access was not flagged"
    assert results["auth"]["packs"][3]["score"] > results["open"]["packs"][3]["score"]  # hipaa
