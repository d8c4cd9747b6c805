"""The panel of expected verdicts (tests/verdicts/panel.yaml): every target served on 127.0.0.1,
audited for real, and checked against its reviewed row and the verdict invariants."""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from pathlib import Path
from typing import Any

import pytest
import yaml

from ehrcheck.engine.compare import compare
from ehrcheck.engine.scorecard import score_evidence
from ehrcheck.http.client import HttpOptions
from ehrcheck.models import Evidence, RunResult
from ehrcheck.probes.runner import collect
from tests.faults.certs import server_context
from tests.paths import REAL
from tests.support.loopback import Reply, serve
from tests.verdicts.invariants import broken

PANEL = yaml.safe_load((Path(__file__).parent / "panel.yaml").read_text(encoding="utf-8"))["targets"]
UNAUTHORIZED = Reply(
    401, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "login"}]}, {"WWW-Authenticate": "Bearer"}
)
CANONICAL_HOSTS = ("hl7.org", "fhir-registry.smarthealthit.org", "terminology.hl7.org", "docs.smarthealthit.org", "DSTU2")
READ = [{"code": "read"}, {"code": "search-type"}]


def _load(name: str, origin: str) -> dict:
    """A recorded response with its absolute URLs pointed at the loopback server."""
    text = (REAL / name).read_text(encoding="utf-8")

    def swap(match: re.Match) -> str:
        return match.group(0) if match.group(1).endswith(CANONICAL_HOSTS) else origin

    return json.loads(re.sub(r"https?://([A-Za-z0-9.\-]+)(?::\d+)?", swap, text))


def _synthetic_r4(origin: str) -> dict:
    """A small R4 server statement: Patient and a few clinical resources, SMART OAuth endpoints."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-01-01",
        "kind": "instance",
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "software": {"name": "panel test server"},
        "rest": [
            {
                "mode": "server",
                "security": {
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ],
                    "extension": [
                        {
                            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                            "extension": [
                                {"url": "authorize", "valueUri": f"{origin}/auth/authorize"},
                                {"url": "token", "valueUri": f"{origin}/auth/token"},
                            ],
                        }
                    ],
                },
                "resource": [
                    {"type": t, "interaction": READ, "searchParam": [{"name": "patient", "type": "reference"}]}
                    for t in ("Patient", "Condition", "Observation", "AllergyIntolerance", "MedicationRequest")
                ],
            }
        ],
    }


def _routes(target: dict[str, Any], origin: str) -> dict[str, Any]:
    spec = target["serve"]
    routes: dict[str, Any] = {}
    if spec["kind"] == "real":
        routes["/fhir/metadata"] = Reply(200, _load(spec["metadata"], origin))
        if spec.get("smart"):
            routes["/fhir/.well-known/smart-configuration"] = Reply(
                200, _load(spec["smart"], origin), {"Content-Type": "application/json"}
            )
        if spec.get("gate") == "401":
            routes["/fhir/Patient"] = UNAUTHORIZED
            routes["/fhir/Patient/$export"] = UNAUTHORIZED
        return routes
    behaviour = spec["behaviour"]
    if behaviour == "nothing":
        return routes
    routes["/fhir/metadata"] = Reply(200, _synthetic_r4(origin))
    if behaviour == "login":
        routes["/fhir/Patient"] = UNAUTHORIZED
        routes["/fhir/Patient/$export"] = UNAUTHORIZED
    elif behaviour == "login_page":
        routes["/fhir/Patient"] = Reply(302, b"", {"Location": "/login"})
        routes["/fhir/Patient/$export"] = Reply(302, b"", {"Location": "/login"})
        routes["/login"] = Reply(200, b"<html><body>Sign in</body></html>", {"Content-Type": "text/html"})
    elif behaviour == "open":
        patient = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Test"}], "birthDate": "1970-01-01"}
        routes["/fhir/Patient"] = Reply(200, {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": patient}]})
    return routes


def _served(target: dict[str, Any], tls_ca: Any) -> tuple[Evidence, RunResult]:
    https = target["serve"].get("scheme", "https") == "https"
    routes: dict[str, Any] = {}
    context = server_context(tls_ca) if https else None
    client = ssl.create_default_context()
    tls_ca.configure_trust(client)
    with serve(routes, ssl_context=context) as srv:
        routes.update(_routes(target, srv.origin))
        evidence = asyncio.run(collect(srv.base, HttpOptions(timeout=5, retries=0, verify=client)))
        hosts = {re.match(r"https?://([^/]+)", ex.url).group(1) for a in evidence.probes.values() for ex in a.exchanges}  # type: ignore[union-attr]
    assert hosts <= {srv.origin.split("//")[1]}, f"traffic left loopback: {hosts}"
    return evidence, score_evidence(evidence)


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Evidence, RunResult]]:
    from ehrcheck.demo.run import run_demo

    out = tmp_path_factory.mktemp("demo")
    run_demo(out, formats=("json",), console=None)
    return {
        d.name: (
            Evidence.model_validate_json((d / "evidence.json").read_text()),
            RunResult.model_validate_json((d / "report.json").read_text()),
        )
        for d in out.iterdir()
        if (d / "report.json").is_file()
    }


def _check(target: dict[str, Any], evidence: Evidence, result: RunResult) -> None:
    want = target["expect"]
    v = result.verdict
    got = {
        "level": v.level,
        "shares": v.shares.answer if v.shares else None,
        "safe": v.safe.answer if v.safe else None,
        "certification": v.certification.answer if v.certification else None,
        "evidence": v.evidence.answer if v.evidence else None,
    }
    wrong = {k: (want[k], got[k]) for k in got if k in want and want[k] != got[k]}
    findings = {f.rule_id: f.status.value for f in result.findings}
    wrong.update({rid: (s, findings.get(rid)) for rid, s in (want.get("findings") or {}).items() if findings.get(rid) != s})
    matrix = {m.key: m.state for m in result.matrix}
    wrong.update({key: (s, matrix.get(key)) for key, s in (want.get("matrix") or {}).items() if matrix.get(key) != s})
    assert not wrong, f"{target['name']}: (expected, got) {wrong}; verdict: {v.label}: {v.sentence}"
    assert not broken(evidence, result), broken(evidence, result)


def _ids(kind: str) -> list[Any]:
    return [pytest.param(t, id=t["name"]) for t in PANEL if t["serve"]["kind"] == kind]


def test_the_panel_is_reviewed_and_large_enough() -> None:
    assert len(PANEL) >= 12
    for t in PANEL:
        assert t.get("law", "").strip(), f"{t['name']}: say which text the expectation rests on"
        assert {"level"} <= set(t["expect"]), t["name"]
    real = {t["serve"].get("metadata") for t in PANEL if t["serve"]["kind"] == "real"}
    recorded = {p.name for p in REAL.glob("*.metadata.json")}
    assert recorded <= real, f"every recorded vendor statement is on the panel: missing {recorded - real}"


@pytest.mark.parametrize("target", _ids("real") + _ids("synthetic"))
def test_loopback_target(target: dict[str, Any], tls_ca: Any) -> None:
    evidence, result = _served(target, tls_ca)
    _check(target, evidence, result)


@pytest.mark.parametrize("target", _ids("demo"))
def test_demo_target(target: dict[str, Any], demo_runs: dict[str, tuple[Evidence, RunResult]]) -> None:
    _check(target, *demo_runs[target["name"]])


@pytest.mark.servers
@pytest.mark.parametrize("target", _ids("sekmet"))
def test_sekmet_target(target: dict[str, Any], sekmet_open_url: str, sekmet_auth_url: str) -> None:
    url = sekmet_open_url if target["serve"]["mode"] == "open" else sekmet_auth_url
    evidence = asyncio.run(collect(url, HttpOptions(timeout=10)))
    _check(target, evidence, score_evidence(evidence))


def test_compare_ranks_a_limited_api_below_products_that_declare_patients(tls_ca: Any) -> None:
    """The Azure statement declares no Patient: it must not outrank an API that does."""
    by_name = {t["name"]: t for t in PANEL}
    results = [_served(by_name[n], tls_ca)[1] for n in ("azure-r4-401", "cerner-dstu2-401", "r4-login-redirect")]
    ranked = [c.verdict_level for c in compare(results).columns]
    assert ranked == ["interoperable_ehr", "outdated_ehr", "limited_ehr"]


def test_a_pack_that_could_not_be_judged_says_so_and_draws_no_score(tls_ca: Any) -> None:
    """Without --chpl-id or --chpl-file the certification pack is not judged: no 0 drawn."""
    from ehrcheck.render import RENDERERS

    _evidence, result = _served(next(t for t in PANEL if t["name"] == "cerner-dstu2-401"), tls_ca)
    cert = next(p for p in result.packs if p.pack == "certification")
    assert (cert.score, cert.not_judged) == (None, "not judged: needs --chpl-id or --chpl-file")
    assert result.overall.score is not None and "Certification (CEHRT)" in result.overall.not_judged
    md = RENDERERS["md"].fn(result)
    assert "| Certification (CEHRT) | not judged: needs --chpl-id or --chpl-file |" in md
    assert "## Certification (CEHRT) — not judged: needs --chpl-id or --chpl-file" in md
    # The verdict does not overclaim: the certification answer names what was not observed.
    assert result.verdict.certification is not None
    assert result.verdict.certification.answer == "not_ready"


def test_without_chpl_a_product_that_passes_every_observable_gate_is_not_called_certified(
    demo_runs: dict[str, tuple[Evidence, RunResult]],
) -> None:
    evidence, _ = demo_runs["summit-health-cloud"]
    probes = {k: v for k, v in evidence.probes.items() if k not in ("chpl", "endpoints")}
    result = score_evidence(evidence.model_copy(update={"probes": probes}))
    v = result.verdict
    assert v.level == "interoperable_ehr" and v.certification is not None
    assert v.certification.answer == "not_judged"
    assert "could check" in v.sentence and "--chpl-id or --chpl-file" in v.sentence
    assert {r.rule_id for r in v.certification.reasons} >= {"CRT-001", "CRT-002"}
    assert not broken(evidence, result)
