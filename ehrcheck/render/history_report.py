"""`ehrcheck history` output: an HTML page (tables and inline SVG charts), Markdown, or JSON, from
the values ehrcheck.history.queries returns. Pure apart from nothing: returns text.

Every value that came from a server or a list (FHIR versions, organisation names, URLs) is
escaped for the format: HTML by the template's autoescape and svg_chart's escaping; Markdown by
`md_cell`, which neutralises links, emphasis, HTML and table pipes.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from typing import Any

from ehrcheck.inert import json_text, markdown
from ehrcheck.render.svg_chart import bars, line_chart
from ehrcheck.render.templates import environment

DIMENSION_TITLE = {
    "fhir_version": "Endpoints by FHIR version",
    "us_core": "Endpoints by US Core version declared",
    "smart": "Endpoints by SMART capability",
    "verdict": "Endpoints by verdict",
    "answers": "Endpoints by verdict answer (question=answer)",
    "outcome": "Endpoints by outcome",
}
FIELD_TITLE = {
    "outcome": "Outcome",
    "fhir_version": "FHIR version",
    "us_core": "US Core",
    "smart": "SMART capabilities",
    "verdict_label": "Verdict",
    "answers": "Verdict answers",
    "score": "Score",
    "failed": "Failed rules",
    "listed": "In the list",
}
# What inert.markdown leaves alone that still formats a history cell: emphasis, headings, lists.
_MD_EMPHASIS = re.compile(r"([*_{}()#+!~])")


def md_cell(value: Any) -> str:
    """Plain text in a Markdown table cell: no link, emphasis, HTML or column break survives. The
    one Markdown rule (ehrcheck.inert.markdown: controls, bidi and zero-width characters spelled
    out, HTML, links and bare web addresses neutralised), plus emphasis escaped. History kept its
    own copy, which blanked C0/C1 only: a server's U+202E reached history.md raw."""
    return _MD_EMPHASIS.sub(r"\\\1", markdown("" if value is None else value)).strip()


def _charts(ctx: dict[str, Any]) -> dict[str, str]:
    labels = [r.label for r in ctx["runs"]]
    out = {dim: line_chart(DIMENSION_TITLE[dim], labels, series) for dim, series in ctx["counts"].items() if series}
    per_run = ctx["availability"].per_run
    if per_run:
        out["availability"] = bars(
            "Share of endpoints that answered, per run", labels, [100 * up / n if n else 0.0 for up, n in per_run]
        )
    return out


def render_history_html(ctx: dict[str, Any]) -> str:
    template = environment().get_template("history.html.j2")
    return template.render(
        **ctx,
        charts=_charts(ctx),
        DIMENSION_TITLE=DIMENSION_TITLE,
        FIELD_TITLE=FIELD_TITLE,
        labels=[r.label for r in ctx["runs"]],
    )


def render_history_markdown(ctx: dict[str, Any]) -> str:
    runs = ctx["runs"]
    labels = [r.label for r in runs]
    lines = [f"# ehrcheck history: {md_cell(ctx['scope'])}", "", f"{len(runs)} run(s) in {md_cell(ctx['db'])}.", ""]
    if not runs:
        return "\n".join(lines + ["No runs in this window.", ""])
    lines += ["| Run | Started | List |", "|---|---|---|"]
    lines += [f"| {md_cell(r.label)} | {md_cell(r.started_at)} | {md_cell(r.list_name)} |" for r in runs]
    for dim, series in ctx["counts"].items():
        if not series:
            continue
        lines += ["", f"## {DIMENSION_TITLE[dim]}", "", "| | " + " | ".join(md_cell(x) for x in labels) + " |"]
        lines.append("|---" * (len(labels) + 1) + "|")
        lines += [f"| {md_cell(v)} | " + " | ".join(str(n) for n in counts) + " |" for v, counts in series.items()]
    av = ctx["availability"]
    lines += ["", "## Availability", ""]
    lines += [f"{av.always_up} of {av.total_endpoints} endpoints answered in every run.", ""]
    lines += ["| Run | Answered | Scanned |", "|---|---|---|"]
    lines += [f"| {md_cell(label)} | {up} | {n} |" for label, (up, n) in zip(labels, av.per_run, strict=False)]
    if av.endpoints:
        lines += [
            "",
            "Least available endpoints:",
            "",
            "| Endpoint | Organization | Answered | Runs (oldest first) |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {md_cell(e['url'])} | {md_cell(e['name'])} | {e['up']} of {e['seen']} | {' '.join(e['runs'])} |"
            for e in av.endpoints
        ]
    lines += ["", "## Changes", ""]
    if not ctx["changes"]:
        lines.append("No changes between these runs." if len(runs) > 1 else "One run: nothing to compare yet.")
    else:
        lines += ["| Endpoint | Organization | What | Change | Between |", "|---|---|---|---|---|"]
        lines += [
            f"| {md_cell(c.url)} | {md_cell(c.name)} | {FIELD_TITLE.get(c.field, c.field)} | {md_cell(c.what)} | "
            f"{md_cell(c.before_run)} → {md_cell(c.after_run)} |"
            for c in ctx["changes"]
        ]
        if ctx["changes_total"] > len(ctx["changes"]):
            lines.append(f"\n… and {ctx['changes_total'] - len(ctx['changes'])} more (narrow with --endpoint or --vendor).")
    return "\n".join(lines) + "\n"


def render_history_json(ctx: dict[str, Any]) -> str:
    av = ctx["availability"]
    doc = {
        "generator": "ehrcheck",  # first: a later run recognises the file as its own output
        "database": ctx["db"],
        "scope": ctx["scope"],
        "runs": [asdict(r) for r in ctx["runs"]],
        "counts": ctx["counts"],
        "availability": {
            "per_run": [{"answered": up, "scanned": n} for up, n in av.per_run],
            "endpoints": av.total_endpoints,
            "always_up": av.always_up,
            "least_available": av.endpoints,
        },
        "changes": [asdict(c) for c in ctx["changes"]],
        "changes_total": ctx["changes_total"],
    }
    return json_text(json.dumps(doc, indent=2, ensure_ascii=False)) + "\n"


RENDERERS = {"html": render_history_html, "md": render_history_markdown, "json": render_history_json}
