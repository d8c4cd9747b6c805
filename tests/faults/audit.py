"""A healthy vendor to break one route at a time, and a one-call audit over loopback."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from ehrcheck.engine.scorecard import score_evidence
from ehrcheck.http.client import HttpOptions
from ehrcheck.models import Evidence, Finding, RunResult
from ehrcheck.probes.runner import collect

from .server import Fault, json_reply

CAP: dict[str, Any] = {
    "resourceType": "CapabilityStatement",
    "status": "active",
    "date": "2026-01-01",
    "kind": "instance",
    "fhirVersion": "4.0.1",
    "format": ["json"],
    "rest": [
        {
            "mode": "server",
            "security": {"service": [{"coding": [{"code": "SMART-on-FHIR"}]}]},
            "resource": [{"type": "Patient", "interaction": [{"code": "read"}, {"code": "search-type"}]}],
        }
    ],
}
SMART: dict[str, Any] = {
    "authorization_endpoint": "https://auth.vendor.example/authorize",
    "token_endpoint": "https://auth.vendor.example/token",
    "capabilities": ["launch-standalone", "client-public", "context-standalone-patient", "permission-patient"],
    "code_challenge_methods_supported": ["S256"],
}
UNAUTHORIZED = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "login"}]}

# Fast and bounded: one retry, short waits, and never a proxy from the environment.
FAST = HttpOptions(timeout=1.0, retries=1, backoff=0.01, retry_after_cap=0.5, trust_env=False)


def healthy(prefix: str = "/fhir", **replace: Fault) -> dict[str, Fault]:
    """A well-behaved vendor; `replace` swaps routes by short name (metadata, smart, patient, export)."""
    routes = {
        "metadata": json_reply(CAP),
        "smart": json_reply(SMART, content_type="application/json"),
        "patient": json_reply(UNAUTHORIZED, 401, {"WWW-Authenticate": "Bearer"}),
        "export": json_reply(UNAUTHORIZED, 401, {"WWW-Authenticate": "Bearer"}),
    }
    routes.update(replace)
    paths = {
        "metadata": "/metadata",
        "smart": "/.well-known/smart-configuration",
        "patient": "/Patient",
        "export": "/Patient/$export",
    }
    return {prefix + paths[name]: fault for name, fault in routes.items()}


@dataclass
class Audit:
    evidence: Evidence
    result: RunResult

    def finding(self, rule_id: str) -> Finding:
        return next(f for f in self.result.findings if f.rule_id == rule_id)

    def attempt(self, probe_id: str):
        return self.evidence.probes[probe_id]


def run_audit(base: str, options: HttpOptions = FAST, **kwargs: Any) -> Audit:
    evidence = asyncio.run(collect(base, options, **kwargs))
    return Audit(evidence, score_evidence(evidence))
