"""From findings to the claims-versus-observed table and the questions for the vendor (pure)."""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from pathlib import Path

from ehrcheck.models import SEVERITY_ORDER, ClaimRow, Finding, Status, VendorQuestion

SCHEMA = Path(__file__).resolve().parent / "schema.py"

OUTCOME_ORDER = {"contradicted": 0, "falls_short": 1, "partly_verified": 2, "unverified": 3, "verified": 4}
REASON_ORDER = {"contradicted": 0, "failed": 1, "partly_verified": 2, "warning": 3, "unverified": 4, "not_observed": 5}
# Rules not observed still become questions when this serious: without a claims file the BAA,
# encryption at rest, breach notice and audit controls would otherwise never be asked about.
ASK_WHEN_NOT_OBSERVED = ("critical", "high")


@lru_cache(maxsize=1)
def _labels() -> dict[str, str]:
    """`section.field` -> its label (claims/schema.py's title) for every titled claims field.

    Building the ~50 claims models costs ~15 ms of a `score` run that needs only these strings,
    so they are kept in the per-user cache (files/cache.py), keyed by the schema's source and
    pydantic's and Python's versions; without a cache they are read from the models."""
    import pydantic

    from ehrcheck.files.cache import cache_dir, fingerprint, write_atomically

    folder = cache_dir("claims")
    entry = folder / f"{fingerprint(SCHEMA.read_bytes(), pydantic.VERSION, sys.version)}.json" if folder else None
    if entry is not None:
        try:
            cached = json.loads(entry.read_bytes())
            if isinstance(cached, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in cached.items()):
                return cached
        except (OSError, ValueError):
            pass  # missing or damaged: built below
    from ehrcheck.claims.schema import SECTIONS

    labels = {
        f"{section}.{name}": info.title
        for section, model in SECTIONS.items()
        for name, info in model.model_fields.items()
        if info.title
    }
    if entry is not None:
        try:
            write_atomically(entry, json.dumps(labels, sort_keys=True).encode("utf-8"))
        except OSError:
            pass  # no room: the next run reads the models again
    return labels


def label(path: str) -> str:
    """The human label of a claims path, e.g. 'SMART App Launch'; the path itself if unknown
    (the field's title in claims/schema.py, read without building the claims models)."""
    parts = path.split(".")
    if parts and parts[0] == "claims":
        parts = parts[1:]
    if len(parts) == 2:
        found = _labels().get(".".join(parts))
        if found:
            return found
    return path.removeprefix("claims.")


def _settled(findings: list[Finding]) -> set[str]:
    """Claim paths a probe verified (wholly or partly) or contradicted."""
    return {
        f.claim.path
        for f in findings
        if f.claim is not None and f.claim.outcome in ("verified", "partly_verified", "contradicted")
    }


def claims_table(findings: list[Finding]) -> list[ClaimRow]:
    """One row per finding that judged a vendor claim: contradicted first, verified last. Where a
    probe settled a claim, rules that could only take the vendor's word for it add no row."""
    settled = _settled(findings)
    rows = [
        ClaimRow(
            key=f.rule_id,
            rule_id=f.rule_id,
            claim=label(f.claim.path),
            path=f.claim.path.removeprefix("claims."),
            claimed=f.claim.claimed,
            observed=f.message,
            status=f.claim.outcome,
            missing=list(f.claim.missing),
        )
        for f in findings
        if f.claim is not None and not (f.claim.outcome == "unverified" and f.claim.path in settled)
    ]
    return sorted(rows, key=lambda r: (OUTCOME_ORDER[r.status], r.rule_id))


def _reason(f: Finding) -> str | None:
    if f.status == Status.fail:
        return "contradicted" if f.claim is not None and f.claim.outcome == "contradicted" else "failed"
    if f.status == Status.warn:
        return "partly_verified" if f.claim is not None and f.claim.outcome == "partly_verified" else "warning"
    if f.status == Status.unverified:
        return "unverified"
    if f.status == Status.not_observed and f.severity.value in ASK_WHEN_NOT_OBSERVED:
        return "not_observed"
    return None


def vendor_questions(findings: list[Finding]) -> list[VendorQuestion]:
    """A question for every failed, contradicted, warned or unverified finding, and for every
    critical or high one that was not observed, most serious first. A claim a probe verified or contradicted needs no "please confirm" question from a rule
    that could only take the vendor's word for it; the same question is asked once."""
    settled = _settled(findings)
    picked: list[tuple[str, Finding]] = []
    for f in findings:
        reason = _reason(f)
        if reason is None or not f.vendor_question:
            continue
        if reason == "unverified" and f.claim is not None and f.claim.path in settled:
            continue
        picked.append((reason, f))
    picked.sort(key=lambda rf: (REASON_ORDER[rf[0]], SEVERITY_ORDER[rf[1].severity], rf[1].rule_id))
    seen: set[str] = set()
    out = []
    for reason, f in picked:
        if f.vendor_question in seen:
            continue
        seen.add(f.vendor_question)
        out.append(VendorQuestion(rule_id=f.rule_id, title=f.title, question=f.vendor_question, reason=reason, detail=f.message))
    return out
