"""Renderers for `ehrcheck diff`: a RunDiff -> Markdown (a template, like the other reports) or JSON. Pure."""

from __future__ import annotations

import dataclasses
import json

from ehrcheck.engine.diff import RunDiff
from ehrcheck.render.templates import environment


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def render_diff_markdown(d: RunDiff) -> str:
    return environment().get_template("diff.md.j2").render(d=d, number=_number)


def render_diff_json(d: RunDiff) -> str:
    data = dataclasses.asdict(d)
    data["regressions"] = len(d.regressions)
    data["unchanged"] = d.unchanged
    for s, obj in zip(data["scores"], d.scores, strict=True):
        s["delta"] = obj.delta
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
