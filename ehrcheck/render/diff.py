"""Renderers for `ehrcheck diff`: a RunDiff -> Markdown (a template, like the other reports) or JSON. Pure.

Markdown is for people: scores as the reports print them (whole numbers, so 38 and not 37.7),
the change between the printed numbers, statuses and change classes in words. JSON is for
machines: exact scores, status and class keys.
"""

from __future__ import annotations

import dataclasses
import json

from ehrcheck.engine.diff import DIRECTION_LABEL, RunDiff, ScoreDelta
from ehrcheck.inert import json_text
from ehrcheck.render.labels import STATUS_LABEL
from ehrcheck.render.templates import environment


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def _change(s: ScoreDelta) -> str:
    """The change between the two numbers as printed, so the row's arithmetic reads right."""
    if s.old is None or s.new is None:
        return "—"
    change = int(f"{s.new:.0f}") - int(f"{s.old:.0f}")
    return f"{change:+d}" if change else "0"


def _status(value: str | None) -> str:
    return "—" if value is None else STATUS_LABEL.get(value, value)


def render_diff_markdown(d: RunDiff) -> str:
    return (
        environment()
        .get_template("diff.md.j2")
        .render(d=d, number=_number, change=_change, status=_status, DIRECTION_LABEL=DIRECTION_LABEL)
    )


def render_diff_json(d: RunDiff) -> str:
    # "generator" first: a later run recognises the file as its own output and may replace it
    data = {"generator": "ehrcheck", **dataclasses.asdict(d)}
    data["regressions"] = len(d.regressions)
    data["new_findings"] = len(d.new_findings)
    data["unchanged"] = d.unchanged
    for s, obj in zip(data["scores"], d.scores, strict=True):
        s["delta"] = obj.delta
    return json_text(json.dumps(data, indent=2, ensure_ascii=False)) + "\n"
