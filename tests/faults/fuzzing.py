"""Hypothesis strategies and settings shared by the fuzz tests (tests/test_fuzz_*.py).

Fixed seed (derandomize) and bounded example counts, so CI runs the same examples every time in
bounded time; EHRCHECK_FUZZ_EXAMPLES raises the count for a longer local hunt.
"""

from __future__ import annotations

import json
import os
from typing import Any

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("EHRCHECK_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    derandomize=True,
    max_examples=EXAMPLES,
    deadline=None,  # no timing assertions; pytest-timeout bounds the whole test
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=24)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=24,
)


def anything_like(good: Any) -> st.SearchStrategy[Any]:
    """Mostly `good`, sometimes a value of the right kind but odd content, sometimes any JSON."""
    return st.one_of(st.just(good), json_values, scalars)


@st.composite
def mutated_text(draw: st.DrawFn, base: str) -> str:
    """`base` with a few characters inserted, deleted or replaced: near-misses a parser meets."""
    text = list(base)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        if not text:
            break
        i = draw(st.integers(min_value=0, max_value=len(text) - 1))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        ch = draw(st.sampled_from(list("{}[]:,-'\"\n\t #&*!|>?%@`\\\x00é")))
        if op == "insert":
            text.insert(i, ch)
        elif op == "delete":
            del text[i]
        else:
            text[i] = ch
    return "".join(text)


@st.composite
def tampered(draw: st.DrawFn, doc: Any) -> Any:
    """`doc` with one subtree (chosen at random, at any depth) replaced by arbitrary JSON."""
    doc = json.loads(json.dumps(doc))
    paths: list[tuple[Any, ...]] = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(doc, ())]
    while stack:
        node, path = stack.pop()
        paths.append(path)
        if isinstance(node, dict):
            stack.extend((v, (*path, k)) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, (*path, i)) for i, v in enumerate(node))
    path = draw(st.sampled_from(sorted(paths, key=repr)))
    value = draw(json_values)
    if not path:
        return value
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return doc


def file_contents(*samples: Any) -> st.SearchStrategy[bytes]:
    """Bytes for a loader: noise, JSON/YAML of random values, and near-misses of real samples."""
    texts = [json.dumps(s, indent=1) for s in samples] + [yaml.safe_dump(s, sort_keys=False) for s in samples]
    strategies = [
        st.binary(max_size=200),
        st.text(max_size=300).map(str.encode),
        json_values.map(lambda v: json.dumps(v).encode()),
        json_values.map(lambda v: yaml.safe_dump(v).encode()),
    ]
    for sample in samples:
        strategies.append(tampered(sample).map(lambda v: json.dumps(v).encode()))
        strategies.append(tampered(sample).map(lambda v: yaml.safe_dump(v, sort_keys=False).encode()))
    for text in texts:
        strategies.append(mutated_text(text).map(lambda t: t.encode("utf-8", "surrogatepass")))
    return st.one_of(*strategies)


@st.composite
def retyped(draw: st.DrawFn, doc: Any, rate: int = 8) -> Any:
    """`doc` with about one value in `rate`, at every depth, replaced by arbitrary JSON (lists
    cut to three items): many fields of the wrong type at once, as a hand-edited or hostile file
    has them, where `tampered` changes only one."""

    def walk(node: Any) -> Any:
        if draw(st.integers(min_value=0, max_value=rate - 1)) == 0:
            return draw(json_values)
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node[:3]]
        return node

    return walk(json.loads(json.dumps(doc)))
