"""The values that flow through ehrcheck: probe attempts, evidence, findings, scores.

Data flows one way: probes -> Evidence -> rules -> Findings -> scoring -> renderers.
Every arrow is a plain value defined here; nothing in this module does I/O.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any, Literal
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

EVIDENCE_SCHEMA = "ehrcheck.evidence"
# Bump when the JSON changes shape, and teach files/store.py to read the older version. Version 1
# is the shape ehrcheck/evidence/ models; files written before those models existed are version 1 too.
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

    @field_validator("base_url")
    @classmethod
    def _without_credentials(cls, url: str) -> str:
        """The URL as ehrcheck records it: user-info and token-like parameters redacted. A probe
        writes it so (`redact_url`); an evidence or report.json file edited to carry a password or
        a token in `target.base_url` had it printed in every report `score`, `diff` and
        `compare` wrote, so it is redacted here too, wherever a Target is read."""
        from ehrcheck.http.redact import REDACTED, REDACTED_USERINFO, query_pairs, redact_path_params, redacted_pair

        # By hand, not urlsplit: evidence from before has `https://[redacted]@host`, which
        # urlsplit refuses (brackets that are not an IPv6 address).
        scheme, sep, rest = url.partition("://")
        cut = min((i for i in (rest.find(ch) for ch in "/?#") if i >= 0), default=len(rest))
        userinfo, at, host = rest[:cut].rpartition("@")
        if at and userinfo not in (REDACTED_USERINFO, REDACTED):
            rest = f"{REDACTED_USERINFO}@{host}{rest[cut:]}"
        rest, hash_, fragment = rest.partition("#")  # `#access_token=…`: the implicit grant's place
        path, qmark, query = rest.partition("?")

        def redacted(params: str, safe: str) -> str:
            pairs = query_pairs(params)
            if any(redacted_pair(k, v) != (k, v) for k, v in pairs):
                return urlencode([redacted_pair(k, v) for k, v in pairs], safe=safe)
            return params

        query, fragment = redacted(query, "/:$|,*"), redacted(fragment, "/:$|,*[]")
        return f"{scheme}{sep}{redact_path_params(path)}{qmark}{query}{hash_}{fragment}"


def real_timestamp(value: str) -> str:
    """`value` when it is an ISO 8601 date and time the calendar accepts (`2026-02-30T…` is
    not): evidence and report.json say when they were gathered, and the default `--as-of` is
    taken from it, so an impossible one is refused rather than silently read as today."""
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a real date and time (YYYY-MM-DDTHH:MM:SSZ)") from None
    return value


def real_date(value: str) -> str:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a real date (YYYY-MM-DD)") from None
    return value


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

    @field_validator("started_at", "finished_at")
    @classmethod
    def _real_time(cls, value: str) -> str:
        return real_timestamp(value)

    # Each probe's data as its model, parsed once (ehrcheck/evidence/registry.py `typed_data`).
    _typed_data: dict[Any, Any] | None = PrivateAttr(default=None)

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

    @field_validator("url")
    @classmethod
    def _web_address(cls, value: str | None) -> str | None:
        # Reports turn this into a link: a custom pack must not smuggle javascript: or data: in.
        if value is not None and not value.lower().startswith(("https://", "http://")):
            raise ValueError("must be an http:// or https:// address")
        return value


class WaiverNote(BaseModel):
    """A finding the user has accepted for now (`--waivers FILE`): it stays in every report,
    marked, and no longer trips `--fail-on`."""

    model_config = ConfigDict(extra="forbid")

    reason: str
    expires: str  # ISO date


# How strong a piece of evidence is, weakest first (docs/rules.md, "Evidence strength"):
#   declared   a document the product publishes lists it (CapabilityStatement, SMART discovery, CHPL)
#   observed   a probe got a real answer: data, or a refusal of the right kind
#   verified   the authenticated probes got conforming data
#   claimed    only the vendor says so (claims file)
#   contradicted  claims against evidence, or declared against observed
#   missing    looked for, not there;  unknown  could not be looked for
Strength = Literal["declared", "observed", "verified", "claimed", "contradicted", "missing", "unknown"]
STRENGTH_ORDER = {"unknown": 0, "missing": 0, "contradicted": 0, "claimed": 1, "declared": 2, "observed": 3, "verified": 4}

ClaimOutcome = Literal["verified", "partly_verified", "contradicted", "unverified", "falls_short"]


class ClaimCheck(BaseModel):
    """How a finding judged a vendor claim: verified (everything the claim implies was seen),
    partly_verified (some of it; `missing` names the rest), contradicted by what a probe observed,
    unverified (claimed, not observed), or falls_short (the vendor's own answer misses the mark)."""

    model_config = ConfigDict(extra="forbid")

    path: str  # claims.standards.smart_app_launch
    claimed: str  # the answer as the vendor gave it, as text
    outcome: ClaimOutcome
    missing: list[str] = Field(default_factory=list)  # what a partly verified claim lacks


class Finding(BaseModel):
    """The result of one rule against one evidence document."""

    # Frozen: evaluate.py shares one Finding among endpoints when it holds nothing of them, so a
    # change must be a model_copy, never an assignment.
    model_config = ConfigDict(extra="forbid", frozen=True)

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
    claim: ClaimCheck | None = None
    # From a proposed rule (the HIPAA Security Rule NPRM): reported, never scored or gated as law.
    proposed: bool = False


class PackScore(BaseModel):
    # no NaN or infinity: a hand-edited report.json with `"score": NaN` crashed `diff`
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    pack: str
    title: str
    score: float | None
    low: float
    high: float
    counts: dict[str, int]
    # Why the pack has no score although it has rules: "needs --chpl-id or --chpl-file" when
    # its critical rules could not be observed, or "proposed rule, not in force". Empty = judged.
    not_judged: str = ""


class VerdictFact(BaseModel):
    """One reason behind a verdict answer, tied to the finding it rests on."""

    model_config = ConfigDict(extra="forbid")

    text: str
    rule_id: str  # a finding of the same run
    status: Status  # that finding's status: problems name failed findings, support passed ones
    strength: Strength


class VerdictAnswer(BaseModel):
    """The answer to one verdict question, with its reasons."""

    model_config = ConfigDict(extra="forbid")

    question: str
    answer: str  # a stable key per question (see ehrcheck/engine/verdict.py)
    label: str  # the answer in plain words
    sentence: str = ""  # the answer as the verdict sentence puts it
    strength: Strength | None = None
    reasons: list[VerdictFact] = Field(default_factory=list)


class Verdict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # unsafe | siloed_emr | limited_ehr | outdated_ehr | interoperable_ehr | certified_ehr_ready | unknown
    level: str
    label: str
    sentence: str
    facts: list[str]
    meaning: str = ""  # what the verdict means for the chosen practice profile, in plain words
    reasons: list[VerdictFact] = Field(default_factory=list)  # the facts, with the findings behind them
    # The separate questions the label, sentence and facts are generated from (engine/verdict.py).
    shares: VerdictAnswer | None = None
    safe: VerdictAnswer | None = None
    certification: VerdictAnswer | None = None
    evidence: VerdictAnswer | None = None


class MatrixRow(BaseModel):
    """One row of the EMR-vs-EHR capability matrix."""

    model_config = ConfigDict(extra="forbid")

    key: str
    capability: str
    state: Strength  # how strong the evidence for the capability is
    marks: Literal["EHR", "EMR", "unknown"]
    evidence: str = ""  # what was observed: the resource, operation or finding
    claimed: str = ""  # what the vendor claims about it
    note: str = ""  # why the row marks an EMR or an EHR


class ClaimRow(BaseModel):
    """One line of the claims-versus-observed table."""

    model_config = ConfigDict(extra="forbid")

    key: str  # the rule id, stable across runs
    rule_id: str
    claim: str  # the claim's label, e.g. "SMART App Launch"
    path: str
    claimed: str
    observed: str
    status: ClaimOutcome
    missing: list[str] = Field(default_factory=list)


class ProfileRequirement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule_id: str
    title: str
    status: Status
    met: Literal["met", "unmet", "open", "not_applicable"]


class PracticeProfile(BaseModel):
    """The practice profile a run was scored under, and how the product fares against it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    title: str
    description: str
    pack_weights: dict[str, float]
    requirements: list[ProfileRequirement] = Field(default_factory=list)


class VendorQuestion(BaseModel):
    """A question for the vendor, from a failed, contradicted, warned or unverified finding."""

    model_config = ConfigDict(extra="forbid")

    rule_id: str
    title: str
    question: str
    reason: Literal["contradicted", "failed", "warning", "unverified", "partly_verified", "not_observed"]
    detail: str = ""


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
    matrix: list[MatrixRow] = Field(default_factory=list)
    claims: list[ClaimRow] = Field(default_factory=list)
    practice: PracticeProfile | None = None
    vendor_questions: list[VendorQuestion] = Field(default_factory=list)
    certification: CertificationSummary | None = None
    # The authenticated tier's token checks, per-profile US Core results and bulk export
    # (see ehrcheck/auth_summary.py); None when no credentials were given.
    authenticated: dict[str, Any] | None = None
    # The "User launches" section (engine/launch_summary.py): present in every report, saying how
    # to run a launch when none ran.
    launch: dict[str, Any] | None = None

    @field_validator("as_of")
    @classmethod
    def _real_day(cls, value: str) -> str:
        return real_date(value)

    @field_validator("evidence_started_at", "evidence_finished_at")
    @classmethod
    def _real_time(cls, value: str) -> str:
        return real_timestamp(value)
