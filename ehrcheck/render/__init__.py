"""Renderers: pure functions from a RunResult to the text of a report.

`RENDERERS` maps a format name to its function and file extension; adding a format means adding a
line here, never an if/elif elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..models import SEVERITY_ORDER, Finding, RunResult
from ..resources import data_dir

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


@dataclass(frozen=True)
class Renderer:
    fn: Callable[[RunResult], str]
    extension: str


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


def score_text(score: float | None, low: float, high: float) -> str:
    if score is None:
        return f"not scored (range {low:.0f}–{high:.0f})"
    if round(low) == round(high):
        return f"{score:.0f}"
    return f"{score:.0f} (range {low:.0f}–{high:.0f})"


@lru_cache(maxsize=1)
def _env():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("templates"))),
        # Escape HTML only: Markdown is plain text, and &#34; there would be visible noise.
        autoescape=lambda name: bool(name) and name.endswith((".html.j2", ".html")),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md"] = lambda text: str(text).replace("|", "\\|").replace("\n", " ")
    env.globals.update(
        STATUS_LABEL=STATUS_LABEL,
        STATUS_ICON=STATUS_ICON,
        observed_text=observed_text,
        score_text=score_text,
        ordered_findings=ordered_findings,
    )
    return env


MATRIX_LABEL = {"observed": "Observed", "claimed": "Claimed", "contradicted": "Contradicted", "missing": "Missing", "unknown": "Not judged"}
MATRIX_BADGE = {"observed": "pass", "claimed": "unverified", "contradicted": "fail", "missing": "warn", "unknown": "not_observed"}
CLAIM_LABEL = {"contradicted": "Contradicted", "falls_short": "Falls short", "unverified": "Unverified", "verified": "Verified"}
CLAIM_BADGE = {"verified": "pass", "contradicted": "fail", "unverified": "unverified", "falls_short": "warn"}
REASON_LABEL = {"contradicted": "contradicts your claim", "failed": "failed", "warning": "warning", "unverified": "please confirm"}


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
    from ..matrix import tally

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


def render_json(result: RunResult) -> str:
    return json.dumps(result.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


def render_markdown(result: RunResult) -> str:
    return _env().get_template("report.md.j2").render(**_context(result))


def render_html(result: RunResult) -> str:
    return _env().get_template("report.html.j2").render(**_context(result))


def render_junit(result: RunResult) -> str:
    from .junit import render_junit as render

    return render(result)


def render_sarif(result: RunResult) -> str:
    from .sarif import render_sarif as render

    return render(result)


RENDERERS: dict[str, Renderer] = {
    "html": Renderer(render_html, "html"),
    "md": Renderer(render_markdown, "md"),
    "json": Renderer(render_json, "json"),
    "junit": Renderer(render_junit, "xml"),
    "sarif": Renderer(render_sarif, "sarif"),
}
