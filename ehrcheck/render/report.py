"""The HTML and Markdown audit reports: one template context, built from a RunResult, for both."""

from __future__ import annotations

from typing import Any

from ehrcheck.models import Finding, RunResult, Status
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


CARD_STATUSES = (Status.fail, Status.warn)  # what a manager acts on: one card each
OPEN_STATUSES = (Status.not_observed, Status.unverified, Status.not_applicable)  # one compact table
TOP_QUESTIONS = 5  # on the executive summary; the full list follows the findings


def observe_hint(f: Finding) -> str:
    """What would observe an open finding: the flag or file it needs, in words a person acts on."""
    from ehrcheck.engine.verdict import needs_text

    if f.status == Status.not_applicable:
        return "Nothing: it does not apply to this product"
    if f.status == Status.unverified:
        return "Evidence from the vendor, or a probe that can see it" + (f" ({needs_text(f)})" if needs_text(f) else "")
    needs = needs_text(f)
    return f"A run that {needs}" if needs else "A run in which its probe completes (see the appendix)"


def _open_rows(result: RunResult) -> list[dict[str, Any]]:
    """Open findings, one row per shared reason: 31 rules that all need credentials are one row
    naming the 31 rules, not 31 cards."""
    order = {p.pack: i for i, p in enumerate(result.packs)}
    open_findings = [f for f in ordered_findings(result.findings) if f.status in OPEN_STATUSES]
    open_findings.sort(key=lambda f: (OPEN_STATUSES.index(f.status), order.get(f.pack, len(order))))
    groups: dict[tuple[str, str], list[Finding]] = {}
    for f in open_findings:
        groups.setdefault((f.status.value, observe_hint(f)), []).append(f)
    rows = []
    for (status, observe), members in groups.items():
        # One reason for all: said once. Different reasons (each claim says what the vendor
        # stated): each beside its rule.
        shared = len({f.message for f in members}) == 1
        rows.append({"status": status, "why": members[0].message if shared else "", "observe": observe, "findings": members})
    return rows


def _context(result: RunResult) -> dict[str, Any]:
    from ehrcheck.engine.matrix import tally

    by_pack = {p.pack: ordered_findings([f for f in result.findings if f.pack == p.pack]) for p in result.packs}
    cards = {k: [f for f in v if f.status in CARD_STATUSES] for k, v in by_pack.items()}
    passed = {k: [f for f in v if f.status == Status.passed] for k, v in by_pack.items()}
    questions = _questions(result)
    counts: dict[str, int] = {}
    for c in result.claims:
        counts[c.status] = counts.get(c.status, 0) + 1
    return {
        "r": result,
        "by_pack": by_pack,
        "cards": cards,
        "cards_ids": {f.rule_id for v in cards.values() for f in v},
        "passed": passed,
        "open_rows": _open_rows(result),
        "open_count": {k: sum(1 for f in v if f.status in OPEN_STATUSES) for k, v in by_pack.items()},
        "questions": questions,
        "top_questions": questions[:TOP_QUESTIONS],
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


def render_summary_html(result: RunResult) -> str:
    """The one-page executive summary alone (`--format summary`): the first page of the report."""
    return environment().get_template("summary.html.j2").render(**_context(result))
