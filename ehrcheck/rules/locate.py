"""Lines in a YAML pack file: where a problem found after parsing (by pydantic, or by a check's
argument model) is in the file the user edits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml


def node_line(node: yaml.Node | None, loc: Sequence[Any]) -> int | None:
    """The 1-based line of the YAML node at a pydantic error location, as deep as it resolves."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            match = node.value[part]
        else:
            match = None
        if match is None:
            break  # a missing field: the line of its parent is the best place to point at
        node = match
        line = node.start_mark.line + 1
    return line


def where(path: Any, line: int | None) -> str:
    return f"{path}:{line}" if line else str(path)


def args_location(index: int, loc: Sequence[Any]) -> list[Any]:
    """The path from a pack's root to a check argument: rules[index].check.args.<loc>. An unknown
    argument's location names the argument itself, so its own line is found."""
    return ["rules", index, "check", "args", *loc]


def args_field(loc: Sequence[Any]) -> str:
    return ".".join(["check", "args", *(str(p) for p in loc)])
