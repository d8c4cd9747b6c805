"""`too_deep` (level by level) answers as the stack walk it replaced did, and a results.jsonl line
skips the surrogate walk only when it cannot hold a lone surrogate."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from typing import Any

import pytest

from ehrcheck.files.limits import MAX_DEPTH, too_deep
from ehrcheck.scan.results import load_line


def _stack_walk(value: Any, limit: int = MAX_DEPTH) -> bool:
    """The implementation before: every value pushed on a stack with its depth."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        children: Iterable[Any]
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


def _nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for i in range(depth):
        value = {"k": value, "s": "x"} if i % 2 else [1, value, "y"]
    return value


def _random_tree(rng: random.Random, budget: int) -> Any:
    roll = rng.random()
    if budget <= 0 or roll < 0.3:
        return rng.choice([None, 1, "a", 2.5, True, [], {}])
    if roll < 0.65:
        return [_random_tree(rng, budget - 1) for _ in range(rng.randint(0, 3))]
    return {f"k{i}": _random_tree(rng, budget - 1) for i in range(rng.randint(0, 3))}


@pytest.mark.parametrize("depth", [0, 1, 2, 5, 6, 7, 12, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 3 * MAX_DEPTH])
@pytest.mark.parametrize("leaf", ["x", [], {}, [[]]])
def test_depth_at_and_around_the_limit_as_before(depth: int, leaf: Any):
    value = _nested(depth, leaf)
    for limit in (1, 3, 6, MAX_DEPTH):
        assert too_deep(value, limit) == _stack_walk(value, limit)
    assert too_deep(value) == _stack_walk(value)


def test_random_trees_as_before():
    rng = random.Random(19)  # noqa: S311 - a reproducible test, no secret
    answers = set()
    for _ in range(3000):
        value = _random_tree(rng, rng.randint(0, 9))
        limit = rng.randint(1, 8)
        assert too_deep(value, limit) == _stack_walk(value, limit)
        answers.add(too_deep(value, limit))
    assert answers == {True, False}


def test_a_scalar_is_never_too_deep():
    for value in (None, 1, "x", 2.5):
        assert too_deep(value, 0) is False and _stack_walk(value, 0) is False


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": "\\ud800", "b": ["\\uDFFF x"]}',  # escapes, ASCII bytes
        '{"a": "\\ud800"}',  # escapes, text
        b'{"a": "\xed\xa0\x80"}',  # a surrogate encoded as UTF-8 bytes: json decodes it with surrogatepass
        '{"a": "\ud800"}',  # a lone surrogate already in the text
    ],
)
def test_lone_surrogates_are_still_replaced(raw: bytes | str):
    value = load_line(raw)
    assert "\ufffd" in json.dumps(value, ensure_ascii=False)
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in json.dumps(value, ensure_ascii=False))


def test_a_plain_line_is_returned_as_parsed():
    raw = b'{"url": "http://127.0.0.1:1/fhir", "score": 87.5, "tags": ["a", {"b": null}], "big": 12345678901234567890}'
    assert load_line(raw) == json.loads(raw)
    assert load_line('{"name": "Caf\u00e9"}') == {"name": "Caf\u00e9"}
