"""Foreign text made inert: one sanitiser for the terminal, one for Markdown, one for JSON files.

Servers and users' files (claims, packs, waivers, endpoint lists, labels) supply text that ends
up on stderr and in report.md. Such text is data, never instructions: on the terminal it must not
be read as rich markup (`[/]` would crash the print; `[link=…]` would plant a link) nor carry
escape sequences the terminal obeys (clear the screen, recolour, retitle the window); in Markdown
it must not become HTML, a link, an image or a table cell of its own. HTML reports rely on
jinja2's autoescape for markup, and on `html_text` for the control characters autoescape leaves
alone (a raw ESC in a report.html is the same escape sequence once the file is `cat` to a terminal).
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, bidi overrides and isolates (which reorder what the reader sees),
# zero-width characters, line/paragraph separators, the BOM, and lone surrogates.
_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# What Markdown reads as syntax that could become HTML, a link, an image or a new table cell.
_MARKDOWN_SYNTAX = re.compile(r"([\\\[\]<>|`])")
# GitHub's autolink extension turns bare `https://…` and `www.…` into links; an escaped `:` or `.`
# is consumed by the parser before the extension can see the pattern (the text reads the same).
_AUTOLINK_SCHEME = re.compile(r"(?i)\b(https?|ftp)(:)(?=//)")
_AUTOLINK_WWW = re.compile(r"(?i)(?<![\w.\\/])(www)(\.)")


def _spell(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _SHORT:
        return _SHORT[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: object) -> str:
    """`text` with every control or invisible character spelled out (`\\x1b`, `\\u202e`)."""
    return _INVISIBLE.sub(_spell, str(text))


_INVISIBLE_BUT_WHITESPACE = re.compile(_INVISIBLE.pattern.replace(r"\x00-\x1f", r"\x00-\x08\x0b\x0c\x0e-\x1f"))


def html_text(text: object) -> str:
    """`text` for an HTML page: controls and invisible characters spelled out as `visible` does,
    but newlines and tabs kept (HTML lays them out as spaces; a `<pre>` keeps them)."""
    return _INVISIBLE_BUT_WHITESPACE.sub(_spell, str(text))


# What json.dumps(ensure_ascii=False) leaves raw (it escapes C0 itself) that a terminal may obey or
# that reorders what a reader sees: DEL, C1 controls, bidi and zero-width characters, separators, BOM.
_JSON_RAW = re.compile(r"[\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def json_text(serialised: str) -> str:
    """Serialised JSON with those characters written as `\\uXXXX` escapes: the same data once
    parsed, but inert when evidence.json, report.json, SARIF or results.jsonl is printed."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", serialised)


def terminal(text: object, keep_newlines: bool = False) -> str:
    """`text` safe to interpolate into a rich markup string: controls spelled out, markup escaped.
    `keep_newlines` for messages that are several lines by design (each line is still inert)."""
    from rich.markup import escape

    if keep_newlines:
        return "\n".join(escape(visible(line)) for line in str(text).split("\n"))
    return escape(visible(text))


# Text none of markdown()'s substitutions would change: no character of _INVISIBLE (which holds
# \r and \n) or _MARKDOWN_SYNTAX, no `//` an autolink scheme needs and no `www.`. Most report
# values (rule ids, titles, statuses) are such text, and one search is ~5 times cheaper than the
# five substitutions (a Markdown report: ~1,500 values).
_MARKDOWN_WORK = re.compile("[" + _INVISIBLE.pattern[1:-1] + _MARKDOWN_SYNTAX.pattern[2:-2] + "]|//|(?i:www)\\.")


def markdown(text: object) -> str:
    """`text` as one inert piece of a Markdown line or table cell: controls spelled out (newlines
    become spaces), and every character that could open HTML, a link, an image, a code span or a
    cell backslash-escaped, so it reads the same in a renderer and stays readable as plain text."""
    plain = str(text)
    if _MARKDOWN_WORK.search(plain) is None:
        return plain
    flat = re.sub(r"[\r\n]+", " ", plain)
    inert = _MARKDOWN_SYNTAX.sub(r"\\\1", visible(flat))
    return _AUTOLINK_WWW.sub(r"\1\\\2", _AUTOLINK_SCHEME.sub(r"\1\\\2", inert))
