"""The jinja2 environment the HTML and Markdown templates share (reports, comparisons, scan index)."""

from __future__ import annotations

from functools import lru_cache

from ehrcheck.render.labels import (
    STATUS_ICON,
    STATUS_LABEL,
    STRENGTH_MEANING,
    md_cell,
    observed_text,
    ordered_findings,
    pack_score_text,
    score_text,
)
from ehrcheck.resources import data_dir


@lru_cache(maxsize=1)
def environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("templates"))),
        # Escape HTML only: Markdown is plain text, and &#34; there would be visible noise.
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False, default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md"] = md_cell
    env.globals.update(
        STATUS_LABEL=STATUS_LABEL,
        STATUS_ICON=STATUS_ICON,
        observed_text=observed_text,
        score_text=score_text,
        pack_score=pack_score_text,
        STRENGTH_MEANING=STRENGTH_MEANING,
        ordered_findings=ordered_findings,
    )
    return env
