"""The jinja2 environment the HTML and Markdown templates share (reports, comparisons, scan index)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from markupsafe import Markup

from ehrcheck.inert import html_text, markdown
from ehrcheck.render.labels import (
    STATUS_ICON,
    STATUS_LABEL,
    STRENGTH_MEANING,
    observed_text,
    ordered_findings,
    pack_score_text,
    score_text,
)
from ehrcheck.resources import data_dir


class MarkdownText(str):
    """Text already made inert for Markdown."""


def _finalize(context, value):
    if value is None or isinstance(value, MarkdownText):
        return value
    name = str(context.name or "")
    if name.endswith(".md.j2"):
        return markdown(value)
    if name.endswith(".html.j2") and isinstance(value, str) and not isinstance(value, Markup):
        # Autoescape handles < > & and quotes; control characters it leaves alone are spelled out
        # (Markup is markup a template or filter built: its foreign parts were escaped already).
        return html_text(value)
    return value


def _bytecode_cache():
    """Compiled templates kept between runs: compiling them cost ~0.25 s of every audit.

    jinja2 checks each entry against its template's source; the key prefix adds what else shapes
    the compiled code (jinja2's version and this module, where the environment's options live).
    """
    import jinja2

    from ehrcheck.files.cache import cache_dir, fingerprint

    folder = cache_dir("templates")
    if folder is None:
        return None
    key = fingerprint(jinja2.__version__, Path(__file__).read_bytes())

    class QuietCache(jinja2.FileSystemBytecodeCache):
        """A cache that cannot be read or written is no cache, never a failed report."""

        def load_bytecode(self, bucket):
            try:
                super().load_bytecode(bucket)
            except Exception:  # noqa: BLE001 - an unreadable entry is compiled afresh
                bucket.reset()

        def dump_bytecode(self, bucket):
            try:
                super().dump_bytecode(bucket)
            except OSError:
                pass  # a full disk or a removed folder: this run compiled; the next will again

    return QuietCache(str(folder), pattern=f"{key}-%s.cache")


@lru_cache(maxsize=1)
def environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("templates"))),
        bytecode_cache=_bytecode_cache(),
        # Escape HTML only: Markdown is plain text, and &#34; there would be visible noise.
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False, default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        finalize=jinja2.pass_context(_finalize),
    )
    # Markdown has no autoescape: every {{ value }} in a .md template is made inert here (HTML,
    # links, images, code spans and cells neutralised, controls spelled out); `| md` does the same
    # explicitly and marks the result so it is not escaped twice.
    env.filters["md"] = lambda text: text if isinstance(text, MarkdownText) else MarkdownText(markdown(text))
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
