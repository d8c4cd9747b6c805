"""The values that flow through ehrcheck: probe attempts, evidence, findings, scores.

Data flows one way: probes -> Evidence -> rules -> Findings -> scoring -> renderers.
Every arrow is a plain value defined here; nothing in this module does I/O.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

EVIDENCE_SCHEMA = "ehrcheck.evidence"
EVIDENCE_SCHEMA_VERSION = 1


class AttemptStatus(str, Enum):
    completed = "completed"
    error = "error"
    skipped = "skipped"


class Exchange(BaseModel):
    """One HTTP request/response pair, with secrets already redacted. Never holds bodies."""

    model_config = ConfigDict(extra="forbid")

    method: str
    url: str
    request_headers: dict[str, str] = Field(default_factory=dict)
    status: int | None = None
    response_headers: dict[str, str] = Field(default_factory=dict)
    elapsed_ms: float | None = None
    body_bytes: int | None = None
    error: str | None = None


class ProbeAttempt(BaseModel):
    """What one probe found: its outcome, the facts it extracted and the exchanges it made."""

    model_config = ConfigDict(extra="forbid")

    status: AttemptStatus
    reason: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    exchanges: list[Exchange] = Field(default_factory=list)
    duration_ms: float | None = None


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str
    label: str | None = None


class Evidence(BaseModel):
    """The versioned evidence document that `probe` writes and `score` reads."""

    model_config = ConfigDict(extra="forbid")

    schema_: str = Field(EVIDENCE_SCHEMA, alias="schema")
    schema_version: int = EVIDENCE_SCHEMA_VERSION
    tool_version: str
    target: Target
    started_at: str
    finished_at: str
    options: dict[str, Any] = Field(default_factory=dict)
    probes: dict[str, ProbeAttempt] = Field(default_factory=dict)
    claims: dict[str, Any] | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class Status(str, Enum):
    passed = "pass"
    fail = "fail"
    warn = "warn"
    not_observed = "not_observed"
    unverified = "unverified"
    not_applicable = "not_applicable"


class Severity(str, Enum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"


SEVERITY_ORDER = {s: i for i, s in enumerate(Severity)}


class Reference(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cite: str
    url: str | None = None


class WaiverNote(BaseModel):
    """A finding the user has accepted for now (`--waivers FILE`): it stays in every report,
    marked, and no longer trips `--fail-on`."""

    model_config = ConfigDict(extra="forbid")

    reason: str
    expires: str  # ISO date


class Finding(BaseModel):
    """The result of one rule against one evidence document."""

    model_config = ConfigDict(extra="forbid")

    rule_id: str
    pack: str
    title: str
    status: Status
    severity: Severity
    weight: float
    message: str
    observed: Any = None
    references: list[Reference] = Field(default_factory=list)
    remediation: str = ""
    vendor_question: str = ""
    probes: list[str] = Field(default_factory=list)
    gate: str | None = None
    waiver: WaiverNote | None = None


class PackScore(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pack: str
    title: str
    score: float | None
    low: float
    high: float
    counts: dict[str, int]


class Verdict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: str  # siloed_emr | interoperable_ehr | certified_ehr_ready | unknown
    label: str
    sentence: str
    facts: list[str]


class CertificationSummary(BaseModel):
    """The report's certification section: the CHPL listings, the claims they contradict and the
    service-base-URL Bundle (see ehrcheck/certification_summary.py)."""

    model_config = ConfigDict(extra="forbid")

    chpl: str  # how CHPL was consulted, or why not
    listings: list[dict[str, Any]] = Field(default_factory=list)
    certification_id: dict[str, Any] | None = None
    contradictions: list[str] = Field(default_factory=list)
    claims_compared: bool = False
    endpoints: dict[str, Any] | None = None
    endpoints_note: str = ""
    bundle_findings: list[dict[str, Any]] = Field(default_factory=list)


class RunResult(BaseModel):
    """Everything a renderer needs; renderers are pure functions of this."""

    model_config = ConfigDict(extra="forbid")

    tool_version: str
    target: Target
    as_of: str
    evidence_started_at: str
    evidence_finished_at: str
    profile: str
    findings: list[Finding]
    packs: list[PackScore]
    overall: PackScore
    verdict: Verdict
    probe_summary: dict[str, dict[str, Any]]
    certification: CertificationSummary | None = None
    # The authenticated tier's token checks, per-profile US Core results and bulk export
    # (see ehrcheck/auth_summary.py); None when no credentials were given.
    authenticated: dict[str, Any] | None = None
