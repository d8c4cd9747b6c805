"""Limits on untrusted structured input: how deep it may nest, and no YAML aliases.

Claims files come back from vendors, evidence files travel by email, and servers answer whatever
they like. Python's JSON decoder and PyYAML's composer are recursive, so `[[[[...` a hundred
thousand deep ends in a RecursionError traceback; YAML aliases let a few lines expand into
billions of nodes ("billion laughs"). No ehrcheck input needs either, so both are refused with a
clear reason before the real parsing starts.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_DEPTH = 64  # deepest legitimate ehrcheck input (evidence, a FHIR document) is far shallower


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when JSON-like `value` nests more than `limit` containers deep (iterative: a value
    too deep for recursion is exactly what it must survive)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict):
            children = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def yaml_refusal(text: str, limit: int = MAX_DEPTH) -> tuple[int, str] | None:
    """(line, why) when `text` is refused (an alias, or nesting deeper than `limit`); None if it
    is acceptable or not valid YAML at all (the caller's parser reports syntax errors)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                return event.start_mark.line + 1, (
                    f"uses the YAML alias *{event.anchor}; write the value out in full (ehrcheck does not accept aliases)"
                )
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > limit:
                    return event.start_mark.line + 1, f"nests more than {limit} levels deep"
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return None
    return None


def refuse_hazardous_yaml(text: str, where: str) -> None:
    """Raise UserInputError `where:line: why` for YAML that `yaml_refusal` refuses."""
    from .files import UserInputError

    refusal = yaml_refusal(text)
    if refusal:
        raise UserInputError(f"{where}:{refusal[0]}: {refusal[1]}")
