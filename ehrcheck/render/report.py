"""The HTML and Markdown audit reports: one template context, built from a RunResult, for both."""

from __future__ import annotations

from typing import Any

from ehrcheck.models import RunResult
from ehrcheck.render.labels import CLAIM_BADGE, CLAIM_LABEL, MATRIX_BADGE, MATRIX_LABEL, REASON_LABEL, ordered_findings
from ehrcheck.render.templates import environment


def _questions(result: RunResult) -> list[dict[str, Any]]:
    """The run's vendor questions with the finding details the reports print beside them."""
    by_id = {f.rule_id: f for f in result.findings}
    return [
        {
            "rule_id": q.rule_id,
            "title": q.title,
            "vendor_question": q.question,
            "reason": q.reason,
            "reason_label": REASON_LABEL[q.reason],
            "detail": q.detail,
            "remediation": by_id[q.rule_id].remediation if q.rule_id in by_id else "",
            "references": by_id[q.rule_id].references if q.rule_id in by_id else [],
        }
        for q in result.vendor_questions
    ]


def email_text(result: RunResult) -> str:
    """The vendor questions as plain text a practice manager can paste into an email."""
    name = result.target.label or result.target.base_url
    lines = [f"Questions about {name} (from an ehrcheck audit of {result.target.base_url}, rules as of {result.as_of}):", ""]
    lines += [f"{i}. {q.question}" for i, q in enumerate(result.vendor_questions, 1)]
    return "\n".join(lines) + "\n"


def _context(result: RunResult) -> dict[str, Any]:
    from ehrcheck.engine.matrix import tally

    by_pack = {p.pack: ordered_findings([f for f in result.findings if f.pack == p.pack]) for p in result.packs}
    counts: dict[str, int] = {}
    for c in result.claims:
        counts[c.status] = counts.get(c.status, 0) + 1
    return {
        "r": result,
        "by_pack": by_pack,
        "questions": _questions(result),
        "email_text": email_text(result),
        "matrix_tally": tally(result.matrix),
        "claim_counts": {k: counts[k] for k in CLAIM_LABEL if k in counts},
        "MATRIX_LABEL": MATRIX_LABEL,
        "MATRIX_BADGE": MATRIX_BADGE,
        "CLAIM_LABEL": CLAIM_LABEL,
        "CLAIM_BADGE": CLAIM_BADGE,
    }


def render_markdown(result: RunResult) -> str:
    return environment().get_template("report.md.j2").render(**_context(result))


def render_html(result: RunResult) -> str:
    return environment().get_template("report.html.j2").render(**_context(result))
