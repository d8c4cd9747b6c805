"""Renderers for `ehrcheck compare`: a Comparison -> HTML, Markdown or JSON text. Pure."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

from ehrcheck.engine.compare import Comparison, _score_text
from ehrcheck.inert import json_text
from ehrcheck.render.templates import environment


def _template(name: str, comparison: Comparison) -> str:
    env = environment()
    template = env.get_template(name)
    return template.render(c=comparison, score_cell=_score_text)


def render_comparison_html(comparison: Comparison) -> str:
    return _template("compare.html.j2", comparison)


def render_comparison_md(comparison: Comparison) -> str:
    return _template("compare.md.j2", comparison)


def render_comparison_json(comparison: Comparison) -> str:
    def plain(obj: object) -> object:
        if hasattr(obj, "model_dump"):
            return obj.model_dump(mode="json")
        raise TypeError(type(obj).__name__)

    # "generator" first: a later run recognises the file as its own output and may replace it
    data = {"generator": "ehrcheck", **dataclasses.asdict(comparison)}
    for section, sec in zip(data["sections"], comparison.sections, strict=True):
        for row, r in zip(section["rows"], sec.rows, strict=True):
            row["differs"] = r.differs
    return json_text(json.dumps(data, indent=2, ensure_ascii=False, default=plain)) + "\n"


COMPARISON_RENDERERS: dict[str, Callable[[Comparison], str]] = {
    "html": render_comparison_html,
    "md": render_comparison_md,
    "json": render_comparison_json,
}
