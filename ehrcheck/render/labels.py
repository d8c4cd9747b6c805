"""The words and symbols every output uses for statuses, and the small formatting helpers they
share: one home, so a terminal summary, a report and a JUnit file never name a status differently."""

from __future__ import annotations

import json
from typing import Any

from ehrcheck.models import SEVERITY_ORDER, Finding

STATUS_LABEL = {
    "pass": "Pass",
    "fail": "Fail",
    "warn": "Warning",
    "not_observed": "Not observed",
    "unverified": "Claimed, unverified",
    "not_applicable": "Not applicable",
}
STATUS_ICON = {
    "pass": "✔",
    "fail": "✖",
    "warn": "▲",
    "not_observed": "?",
    "unverified": "~",
    "not_applicable": "–",
}
STATUS_ORDER = {"fail": 0, "warn": 1, "unverified": 2, "not_observed": 3, "pass": 4, "not_applicable": 5}


def ordered_findings(findings: list[Finding]) -> list[Finding]:
    """Worst first: status, then severity, then id — stable for diffs."""
    return sorted(
        findings,
        key=lambda f: (STATUS_ORDER[f.status.value], SEVERITY_ORDER[f.severity], f.rule_id),
    )


def observed_text(value: Any, limit: int = 300) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def md_cell(text: Any) -> str:
    """Text made inert for one Markdown table cell: the one rule lives in `ehrcheck.inert.markdown`
    (pipes and newlines kept in the cell; HTML, links, images and control characters neutralised)."""
    from ehrcheck.inert import markdown

    return markdown(text)


def score_text(score: float | None, low: float, high: float) -> str:
    if score is None:
        return f"not scored (range {low:.0f}–{high:.0f})"
    if round(low) == round(high):
        return f"{score:.0f}"
    return f"{score:.0f} (range {low:.0f}–{high:.0f})"


# Evidence strength (ehrcheck.models.Strength), weakest to strongest, as every report names it.
def pack_score_text(pack: Any) -> str:
    """A PackScore as reports print it: a pack that could not be judged says what it needs, and
    never shows a number (a 0 drawn for a pack nobody could check would be a false verdict)."""
    if pack.not_judged and pack.pack != "overall":
        return pack.not_judged
    text = score_text(pack.score, pack.low, pack.high)
    if pack.pack == "overall" and pack.not_judged:
        text += f"; not counted: {pack.not_judged}"
    return text


MATRIX_LABEL = {
    "verified": "Verified",
    "observed": "Observed",
    "declared": "Declared",
    "claimed": "Claimed",
    "contradicted": "Contradicted",
    "missing": "Missing",
    "unknown": "Not judged",
}
MATRIX_BADGE = {
    "verified": "pass",
    "observed": "pass",
    "declared": "unverified",
    "claimed": "unverified",
    "contradicted": "fail",
    "missing": "warn",
    "unknown": "not_observed",
}
STRENGTH_MEANING = {
    "declared": "a document the product publishes lists it (CapabilityStatement, SMART discovery, CHPL listing); nothing came back yet",
    "observed": "a probe got a real answer: data, or a refusal of the right kind",
    "verified": "the authenticated checks got data that conforms (US Core structure and mandatory elements, valid Bulk files)",
    "claimed": "only the vendor says so (claims file)",
    "contradicted": "the sources disagree: a claim against the evidence, or a declaration against what was observed",
    "missing": "looked for and not there",
    "unknown": "could not be looked for (the hint says what it needs)",
}
CLAIM_LABEL = {
    "contradicted": "Contradicted",
    "falls_short": "Falls short",
    "unverified": "Unverified",
    "partly_verified": "Partly verified",
    "verified": "Verified",
}
CLAIM_BADGE = {
    "verified": "pass",
    "partly_verified": "warn",
    "contradicted": "fail",
    "unverified": "unverified",
    "falls_short": "warn",
}
REASON_LABEL = {
    "contradicted": "contradicts your claim",
    "failed": "failed",
    "warning": "warning",
    "partly_verified": "only partly shown",
    "unverified": "please confirm",
    "not_observed": "not observed, please answer",
}
