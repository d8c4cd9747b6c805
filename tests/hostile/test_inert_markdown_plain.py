"""`markdown()` returns text none of its substitutions would change as it is, without running them:
the answer must be the same as running all five, for any text."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ehrcheck.inert import _AUTOLINK_SCHEME, _AUTOLINK_WWW, _MARKDOWN_SYNTAX, markdown, visible


def all_five(text: object) -> str:
    """markdown() as it was before the shortcut: every substitution, always."""
    flat = re.sub(r"[\r\n]+", " ", str(text))
    inert = _MARKDOWN_SYNTAX.sub(r"\\\1", visible(flat))
    return _AUTOLINK_WWW.sub(r"\1\\\2", _AUTOLINK_SCHEME.sub(r"\1\\\2", inert))


# Each character or piece any substitution acts on, and neighbours that decide whether it does.
PIECES = ["\r", "\n", "\x1b", "\x9b", "\u202e", "\u200b", "\ufeff", "\ud800", "\\", "[", "]", "<", ">", "|", "`"]
PIECES += ["http://", "HTTPS://", "ftp://", "https:", "//", "www.", "WWW.", "wWw.", "xwww.", ".www.", "/www.", "www"]
PIECES += ["a", " ", ".", ":", "/", "é", "0"]


@pytest.mark.parametrize("text", ["", "INT-013", "Patient read", "https://x.example/a", "see www.x.org", "a|b", "x\ny"])
def test_same_as_running_every_substitution(text):
    assert markdown(text) == all_five(text)


@pytest.mark.fuzz
@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(PIECES) | st.text(max_size=3), max_size=12).map("".join))
def test_same_as_running_every_substitution_on_any_text(text):
    assert markdown(text) == all_five(text)


@pytest.mark.parametrize("value", [3, 2.5, None, True])
def test_non_text_values_too(value):
    assert markdown(value) == all_five(value)
