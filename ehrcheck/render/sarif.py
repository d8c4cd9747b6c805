"""SARIF 2.1.0: failed and warned findings as results, every rule evaluated as a rule descriptor.

Choices (documented in docs/ci.md):
- Results are the actionable findings only (fail, warn); passes and not-observed rules would be
  hundreds of alerts nobody can act on. Their counts are in the run's properties.
- A waived finding stays a result, with an external, accepted suppression carrying the reason.
- Code scanning (GitHub) accepts only repository-relative locations, so the location is the
  endpoint written as a path (`fhir.vendor.example/r4`, a port as `_8443`); the full URL is in
  the result's properties and its logical location.
- `partialFingerprints` hash the rule id and the endpoint, so an alert keeps its identity across runs.
- Deterministic: sorted rules and results; the only timestamp is `invocations[0].endTimeUtc`,
  when the evidence was gathered.
Validated in tests against the OASIS SARIF 2.1.0 JSON schema.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from ehrcheck.inert import json_text
from ehrcheck.models import Finding, Reference, RunResult, Severity, Status
from ehrcheck.render.labels import observed_text

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://github.com/ehrcheck/ehrcheck"
LEVEL = {
    Severity.critical: "error",
    Severity.high: "error",
    Severity.medium: "warning",
    Severity.low: "note",
    Severity.info: "note",
}
# GitHub ranks security alerts by this number (0-10) on rules tagged "security".
SECURITY_SEVERITY = {
    Severity.critical: "9.5",
    Severity.high: "8.0",
    Severity.medium: "5.5",
    Severity.low: "3.0",
    Severity.info: "0.0",
}
SECURITY_PACKS = ("hipaa",)
ACTIONABLE = (Status.fail, Status.warn)


def endpoint_path(base_url: str) -> str:
    """The endpoint as a repository-relative path: host[_port]/path, percent-encoded."""
    try:
        parts = urlsplit(base_url)
        host = (parts.hostname or "endpoint") + (f"_{parts.port}" if parts.port else "")
    except ValueError:  # `https://[redacted]@host/`, a port out of range: hand-edited evidence
        return "endpoint"
    path = parts.path.strip("/")
    return quote(f"{host}/{path}" if path else host, safe="/._-~")


def _fingerprint(rule_id: str, base_url: str) -> str:
    return hashlib.sha256(f"{rule_id}|{base_url.rstrip('/')}".encode()).hexdigest()[:32]


class RuleText(Protocol):
    """What a rule descriptor is written from: a Finding (an audit) or a Rule (a scan) has it all."""

    @property
    def pack(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def severity(self) -> Severity: ...
    @property
    def references(self) -> Sequence[Reference]: ...
    @property
    def remediation(self) -> str: ...
    @property
    def vendor_question(self) -> str: ...


def _help(f: RuleText) -> tuple[str, str]:
    # Pack text may come from a user's custom pack: inert in the Markdown a code-scanning UI renders.
    from ehrcheck.inert import markdown

    basis_text = "; ".join(r.cite for r in f.references)
    basis_md = "; ".join(f"[{markdown(r.cite)}]({r.url})" if r.url else markdown(r.cite) for r in f.references)
    text = f"Fix: {f.remediation}\nAsk the vendor: {f.vendor_question}\nBasis: {basis_text}"
    md = f"**Fix:** {markdown(f.remediation)}\n\n**Ask the vendor:** {markdown(f.vendor_question)}\n\n**Basis:** {basis_md}"
    return text, md


def _rule(f: Finding) -> dict[str, Any]:
    return rule_descriptor(f.rule_id, f)


def rule_descriptor(rule_id: str, f: RuleText) -> dict[str, Any]:
    """The SARIF reportingDescriptor of one rule."""
    text, md = _help(f)
    tags = ["ehrcheck", f.pack] + (["security"] if f.pack in SECURITY_PACKS else [])
    props: dict[str, Any] = {"tags": tags, "pack": f.pack, "severity": f.severity.value}
    if f.pack in SECURITY_PACKS:
        props["security-severity"] = SECURITY_SEVERITY[f.severity]
    rule: dict[str, Any] = {
        "id": rule_id,
        "shortDescription": {"text": f.title},
        "fullDescription": {"text": f.title},
        "help": {"text": text, "markdown": md},
        "defaultConfiguration": {"level": LEVEL[f.severity]},
        "properties": props,
    }
    url = next((r.url for r in f.references if r.url), None)
    if url:
        rule["helpUri"] = url
    return rule


def _result(f: Finding, index: int, result: RunResult) -> dict[str, Any]:
    base = result.target.base_url
    level = LEVEL[f.severity]
    if f.status == Status.warn and level == "error":
        level = "warning"  # the rule itself says this falls short only softly
    props: dict[str, Any] = {"status": f.status.value, "severity": f.severity.value, "pack": f.pack, "endpoint": base}
    if f.observed is not None:
        props["observed"] = observed_text(f.observed)
    if f.vendor_question:
        props["vendorQuestion"] = f.vendor_question
    out: dict[str, Any] = {
        "ruleId": f.rule_id,
        "ruleIndex": index,
        "kind": "fail",
        "level": level,
        "message": {"text": f.message or f.title},
        "locations": [
            {
                "physicalLocation": {"artifactLocation": {"uri": endpoint_path(base)}},
                "logicalLocations": [{"fullyQualifiedName": base, "kind": "resource"}],
            }
        ],
        "partialFingerprints": {"ehrcheckFinding/v1": _fingerprint(f.rule_id, base)},
        "properties": props,
    }
    if f.waiver is not None:
        out["suppressions"] = [
            {"kind": "external", "status": "accepted", "justification": f"{f.waiver.reason} (waived until {f.waiver.expires})"}
        ]
    return out


def sarif_log(result: RunResult) -> dict[str, Any]:
    findings = sorted(result.findings, key=lambda f: f.rule_id)
    index = {f.rule_id: i for i, f in enumerate(findings)}
    results = [_result(f, index[f.rule_id], result) for f in findings if f.status in ACTIONABLE]
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.status.value] = counts.get(f.status.value, 0) + 1
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "ehrcheck",
                "version": result.tool_version,
                "informationUri": INFORMATION_URI,
                "rules": [_rule(f) for f in findings],
            }
        },
        # Separates one endpoint's alerts from another's when several are uploaded to one repo.
        "automationDetails": {"id": f"ehrcheck/{endpoint_path(result.target.base_url)}/"},
        "invocations": [_invocation(result.evidence_finished_at)],
        "results": results,
        "properties": {
            "target": result.target.base_url,
            "label": result.target.label,
            "verdict": {"level": result.verdict.level, "label": result.verdict.label, "sentence": result.verdict.sentence},
            "overall": {"score": result.overall.score, "low": result.overall.low, "high": result.overall.high},
            "packs": {p.pack: {"score": p.score, "low": p.low, "high": p.high} for p in result.packs},
            "profile": result.profile,
            "rulesAsOf": result.as_of,
            "statusCounts": dict(sorted(counts.items())),
        },
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def _invocation(finished_at: str) -> dict[str, Any]:
    """SARIF wants an ISO 8601 UTC date-time ending in Z; evidence already uses that form."""
    out: dict[str, Any] = {"executionSuccessful": True}
    if finished_at:
        out["endTimeUtc"] = finished_at if finished_at.endswith("Z") else finished_at.replace("+00:00", "Z")
    return out


def render_sarif(result: RunResult) -> str:
    return json_text(json.dumps(sarif_log(result), indent=2, ensure_ascii=False)) + "\n"
