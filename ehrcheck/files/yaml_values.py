"""The YAML loader for users' files: a value its tag does not fit is a located YAML error.

PyYAML's safe constructors trust an explicit tag: `!!bool CSa11` looks the text up in a table
(KeyError, the value in the traceback), `!!timestamp x` reads a regex match that is None
(AttributeError), `!!int x` calls int() (ValueError). Credentials, claims, waivers and packs are
all loaded with `UserLoader`, so any such failure becomes `BadValue`, a ConstructorError that
carries the node's position; callers report file:line, and quote the value only where they may.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

import yaml

# A key a file that may hold secrets can be named by: lower-case words in snake_case or camelCase,
# no digits (a secret glued to its key, `client_secret:Zq9x…`, or written as one, is not this).
_PLAIN_KEY = re.compile(r"[a-z]+(?:_[a-z]+)*|[a-z]+(?:[A-Z][a-z]+)*")
_NAME_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,40}")
UNSHOWN_KEY = "an unknown key (not shown)"


class BadValue(yaml.constructor.ConstructorError):
    """A constructor failed on one node. `text` is its scalar text (None for a collection): it
    is never part of the message, which a credentials file's reader prints as is."""

    def __init__(self, node: yaml.Node, tag: str):
        self.tag = tag
        self.mark: yaml.Mark = node.start_mark  # problem_mark, typed as always set
        self.text: str | None = node.value if isinstance(node, yaml.ScalarNode) else None
        super().__init__(None, None, f"a value tagged {tag} is not one", node.start_mark)


def short_tag(tag: str) -> str:
    """`!!bool` for `tag:yaml.org,2002:bool`; other tags as written."""
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag


class UserLoader(yaml.SafeLoader):
    """SafeLoader whose constructor failures are BadValue at the failing node (the innermost:
    outer nodes pass a YAMLError on unchanged)."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except Exception:  # noqa: BLE001 - whatever a constructor raises for a value its tag does not fit
            raise BadValue(node, short_tag(node.tag)) from None

    def construct_document(self, node: yaml.Node) -> Any:
        # Collections finish building after their first yield, outside construct_object.
        try:
            return super().construct_document(node)
        except yaml.YAMLError:
            raise
        except Exception:  # noqa: BLE001 - as above
            raise BadValue(node, short_tag(node.tag)) from None


def bad_value_problem(exc: BadValue, quote: bool) -> str:
    """What is wrong with the value, without its place; `quote=False` (a file that may hold
    secrets) never shows the value."""
    if quote and exc.text is not None:
        shown = f"'{exc.text[:60]}'"
    else:
        shown = "a value" + ("" if quote else " (not shown: this file may hold secrets)")
    return f"{shown} is not a valid {exc.tag}; write one, or drop the tag and quote the value to keep it as text"


def key_shown(key: object, known: Iterable[str] = ()) -> str:
    """An unknown key of a file that may hold secrets, as an error message may name it: quoted
    when it reads as a field name (plain lower-case words, or a near miss of a known field),
    else UNSHOWN_KEY."""
    text = str(key)
    if len(text) <= 40 and _PLAIN_KEY.fullmatch(text):
        return f"'{text}'"
    if _NAME_KEY.fullmatch(text) and difflib.get_close_matches(text.lower(), list(known), n=1, cutoff=0.85):
        return f"'{text}'"
    return UNSHOWN_KEY


def key_lines(text: str, section: str | None = None) -> dict[str, int]:
    """Line of each key of the top mapping of `text` (or of its mapping `section`), for messages
    that name a field's line instead of its value. Call on text that parsed already."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    if section is not None and isinstance(node, yaml.MappingNode):
        node = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == section), None)
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(k.value): k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
