"""The one way tests build evidence and findings by hand (no network): probes that completed with
the data given, probes that errored, and findings with only the fields a test cares about.

Evidence goes through `Evidence.model_validate`, the same validation a saved evidence file gets, so a
test cannot build a document that `ehrcheck score` would refuse.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ehrcheck.models import AttemptStatus, ClaimCheck, Evidence, Finding, ProbeAttempt, Severity, Status

BASE_URL = "https://ehr.example.test/fhir"
STARTED = "2026-06-01T00:00:00Z"
FINISHED = "2026-06-01T00:00:01Z"


def attempt(data: Mapping[str, Any] | None = None, **fields: Any) -> ProbeAttempt:
    """A probe that completed with `data` (any other ProbeAttempt field may be given)."""
    return ProbeAttempt(status=AttemptStatus.completed, data=dict(data or {}), **fields)


def failed_attempt(reason: str = "connection refused") -> ProbeAttempt:
    """A probe that errored: the rules that read it see it as not observed."""
    return ProbeAttempt(status=AttemptStatus.error, reason=reason)


def evidence(
    probes: Mapping[str, Mapping[str, Any] | ProbeAttempt] | None = None,
    claims: Mapping[str, Any] | None = None,
    *,
    errored: Iterable[str] = (),
    base_url: str = BASE_URL,
    started_at: str = STARTED,
    finished_at: str = FINISHED,
    tool_version: str = "test",
) -> Evidence:
    """Evidence whose `probes` completed (a dict is the probe's data; a ProbeAttempt is kept as
    is) and whose `errored` probes failed."""
    attempts = {k: v if isinstance(v, ProbeAttempt) else attempt(v) for k, v in (probes or {}).items()}
    attempts.update({k: failed_attempt() for k in errored})
    return Evidence.model_validate(
        {
            "tool_version": tool_version,
            "target": {"base_url": base_url},
            "started_at": started_at,
            "finished_at": finished_at,
            "probes": attempts,
            "claims": dict(claims) if claims is not None else None,
        }
    )


def finding(
    rule_id: str,
    status: Status,
    weight: float = 1.0,
    *,
    pack: str = "interoperability",
    severity: Severity = Severity.high,
    claim_outcome: str | None = None,
    claim_path: str = "claims.x.y",
    question: str | None = None,
    **fields: Any,
) -> Finding:
    """A finding with placeholder text; `claim_outcome` attaches a claim check with that outcome."""
    claim = ClaimCheck.model_validate({"path": claim_path, "claimed": "yes", "outcome": claim_outcome}) if claim_outcome else None
    return Finding(
        rule_id=rule_id,
        pack=pack,
        title=fields.pop("title", f"title {rule_id}"),
        status=status,
        severity=severity,
        weight=weight,
        message=fields.pop("message", f"message {rule_id}"),
        vendor_question=question or f"question {rule_id}?",
        claim=claim,
        **fields,
    )
