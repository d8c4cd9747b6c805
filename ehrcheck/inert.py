"""Foreign text made inert: one sanitiser for the terminal, one for Markdown.

Servers and users' files (claims, packs, waivers, endpoint lists, labels) supply text that ends
up on stderr and in report.md. Such text is data, never instructions: on the terminal it must not
be read as rich markup (`[/]` would crash the print; `[link=…]` would plant a link) nor carry
escape sequences the terminal obeys (clear the screen, recolour, retitle the window); in Markdown
it must not become HTML, a link, an image or a table cell of its own. HTML reports rely on
jinja2's autoescape instead.
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, bidi overrides and isolates (which reorder what the reader sees),
# zero-width characters, line/paragraph separators, the BOM, and lone surrogates.
_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# What Markdown reads as syntax that could become HTML, a link, an image or a new table cell.
_MARKDOWN_SYNTAX = re.compile(r"([\\\[\]<>|`])")


def _spell(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _SHORT:
        return _SHORT[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: object) -> str:
    """`text` with every control or invisible character spelled out (`\\x1b`, `\\u202e`)."""
    return _INVISIBLE.sub(_spell, str(text))


def terminal(text: object, keep_newlines: bool = False) -> str:
    """`text` safe to interpolate into a rich markup string: controls spelled out, markup escaped.
    `keep_newlines` for messages that are several lines by design (each line is still inert)."""
    from rich.markup import escape

    if keep_newlines:
        return "\n".join(escape(visible(line)) for line in str(text).split("\n"))
    return escape(visible(text))


def markdown(text: object) -> str:
    """`text` as one inert piece of a Markdown line or table cell: controls spelled out (newlines
    become spaces), and every character that could open HTML, a link, an image, a code span or a
    cell backslash-escaped, so it reads the same in a renderer and stays readable as plain text."""
    flat = re.sub(r"[\r\n]+", " ", str(text))
    return _MARKDOWN_SYNTAX.sub(r"\\\1", visible(flat))
