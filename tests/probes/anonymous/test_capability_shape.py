"""The CapabilityStatement walk (`capability_shape`) answers as fhir.resources' R4B model does.

The audit validates an R4 statement with the model only when the walk cannot certify it, so the walk
must never certify a statement the model rejects: checked on every real and demo statement the
tests hold, on sekmet's, and on thousands of mutations of them (values of every JSON type and the
forms primitives get wrong, elements removed, unknown or duplicate-choice elements added).
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest

from ehrcheck.probes.anonymous.capability import model_validation, validate_r4
from ehrcheck.probes.anonymous.capability_shape import SHAPES, certainly_valid, derive_shapes
from tests.paths import FIXTURES, REAL, ROOT

STATEMENTS = [
    REAL / "azure-api-for-fhir-r4.metadata.json",
    FIXTURES / "us-core-6.1.0" / "CapabilityStatement-us-core-server.json",
    FIXTURES / "us-core-7.0.0" / "CapabilityStatement-us-core-server.json",
    *sorted((ROOT / "examples" / "vendors").glob("*/metadata.json")),
]

# Values a server may send where the walk or the model looks: every JSON type, and the forms of the
# primitives (dates, codes, ids, text) near the edges of what FHIR and the model accept.
VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    1.5,
    10**20,
    "",
    " ",
    "\t",
    "\n",
    "a",
    " a ",
    "a b",
    "a  b",
    "a\tb",
    "a\nb",
    "\u00a0",
    "a\u00a0b",
    "\u2003",
    "é",
    "x" * 64,
    "x" * 65,
    "a_b",
    "a.b-C",
    "urn:x",
    "http://x y",
    "http://127.0.0.1/fhir",
    "true",
    "false",
    "1",
    "2024",
    "0000",
    "1000",
    "1900",
    "2024-13",
    "2024-00",
    "2024-02",
    "2024-02-29",
    "2023-02-29",
    "2024-02-30",
    "2024-1-01",
    "2024-01-01T10:00:00",
    "2024-01-01T10:00Z",
    "2024-01-01T24:00:00Z",
    "2024-01-01T10:00:60Z",
    "2024-01-01T10:00:00Z",
    "2024-01-01T10:00:00.5+14:00",
    "2024-01-01T10:00:00+14:30",
    "2024-01-01T10:00:00-13:59",
    "2024-01-01T10:00:00.1234567Z",
    "2024-01-01T10:00:00.123456789Z",
    "2024-01-01T10:00:00.1234567891234Z",
    "2024-01-01 10:00:00Z",
    "9999-12-31T23:59:59.999999-00:00",
    [],
    [None],
    ["a"],
    [{}],
    {},
    {"url": "urn:x"},
    {"url": "urn:x", "valueString": "v"},
    {"system": "urn:x", "code": "c"},
    {"resourceType": "Patient"},
]
KEYS = ["valueString", "valueUri", "valueCode", "extension", "_date", "resourceType", "text", "unknown", "id"]


def _plain(value: Any) -> Any:
    """Without narrative, contained resources, meta and primitives' `_extension` siblings."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not k.startswith("_") and k not in ("text", "contained", "meta")}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _small(doc: dict[str, Any]) -> dict[str, Any]:
    """The statement with at most four resources per `rest`: every kind of element, a tenth of the
    model's time per mutation."""
    doc = copy.deepcopy(doc)
    for rest in doc.get("rest", []):
        rest["resource"] = rest.get("resource", [])[:4]
    return doc


def _model_valid(doc: dict[str, Any]) -> bool:
    return bool(model_validation(copy.deepcopy(doc))["valid"])


def _locations(value: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            out.append((value, key))
            _locations(item, out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.append((value, i))
            _locations(item, out)
    return out


def _mutant(doc: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    for _ in range(rng.choice((1, 1, 2))):
        container, key = rng.choice(_locations(doc, []))
        op = rng.random()
        if op < 0.7:
            container[key] = copy.deepcopy(rng.choice(VALUES))
        elif op < 0.85 and isinstance(container, dict):
            del container[key]
        else:
            target = container if isinstance(container, dict) else container[key]
            if isinstance(target, dict):
                target[rng.choice(KEYS)] = copy.deepcopy(rng.choice(VALUES))
    return doc


def test_shapes_are_what_the_installed_models_define():
    assert derive_shapes() == SHAPES


@pytest.mark.parametrize("path", STATEMENTS, ids=lambda p: p.parent.name + "/" + p.name)
def test_each_statement_gets_the_models_answer(path: Path):
    doc = json.loads(path.read_text())
    assert validate_r4(copy.deepcopy(doc)) == model_validation(copy.deepcopy(doc))


def test_plainly_written_statements_are_certified_without_the_model():
    certified = [p.name for p in STATEMENTS if certainly_valid(json.loads(p.read_text()))]
    assert len(certified) >= 3  # azure and the demo vendors: otherwise the walk spares nothing
    # the US Core statements carry narrative (`text`), which only the model judges
    assert not certainly_valid(json.loads(STATEMENTS[1].read_text()))


def _never_certifies_a_rejected(doc: dict[str, Any], rng: random.Random, rounds: int) -> tuple[int, int]:
    certified = rejected_by_walk = 0
    for _ in range(rounds):
        mutant = _mutant(doc, rng)
        if certainly_valid(mutant):
            certified += 1
            assert _model_valid(mutant), json.dumps(mutant)[:2000]
        else:
            rejected_by_walk += 1
    return certified, rejected_by_walk


@pytest.mark.parametrize("path", [p for p in STATEMENTS if p.parent.name != "us-core-6.1.0"], ids=lambda p: p.parent.name)
def test_mutations_are_never_certified_when_the_model_rejects_them(path: Path):
    doc = _small(json.loads(path.read_text()))
    if not certainly_valid(doc):  # a statement only the model judges: certify a reduced one
        doc = _plain(doc)
    assert certainly_valid(doc)
    certified, rejected = _never_certifies_a_rejected(doc, random.Random(path.name), 600)  # noqa: S311 - a reproducible test, no secret
    assert certified > 50 and rejected > 50  # both sides were exercised


def _element_paths(value: Any, model: str, path: tuple[Any, ...], out: dict[tuple[str, str], tuple[Any, ...]]) -> None:
    """The first place each element of each datatype occurs (an item of a repeating one)."""
    for key, item in value.items():
        field = SHAPES[model].get(key)
        if field is None:
            continue
        datatype, repeats, _required, _choice = field
        places = [((*path, key, i), element) for i, element in enumerate(item)] if repeats else [((*path, key), item)]
        out.setdefault((model, key), places[0][0])
        for here, element in places:
            if datatype in SHAPES:
                _element_paths(element, datatype, here, out)


@pytest.mark.parametrize("path", STATEMENTS[:1] + STATEMENTS[3:], ids=lambda p: p.parent.name)
def test_every_element_with_every_value_is_certified_only_when_the_model_accepts(path: Path):
    """Each element the statement has (the first of its kind), given each value of `VALUES`."""
    doc = _small(json.loads(path.read_text()))
    paths: dict[tuple[str, str], tuple[Any, ...]] = {}
    _element_paths(doc, "CapabilityStatement", (), paths)
    assert len(paths) > 15
    certified = 0
    for where in paths.values():
        parent: Any = doc
        for step in where[:-1]:
            parent = parent[step]
        kept = parent[where[-1]]
        for value in VALUES:
            parent[where[-1]] = value  # put back below: the walk changes nothing
            if certainly_valid(doc):
                certified += 1
                assert _model_valid(doc), (where, value)
        parent[where[-1]] = kept
    assert certified > len(paths)  # a value of the right form is certified where it belongs


def test_the_model_rejects_what_the_walk_would_also_refuse():
    """The mutations reach the model's errors too: the walk is not merely refusing everything."""
    doc = json.loads(STATEMENTS[0].read_text())
    bad = copy.deepcopy(doc)
    bad["date"] = "2024-02-30"
    assert not certainly_valid(bad)
    result = validate_r4(bad)
    assert result["valid"] is False and result["errors"] and result == model_validation(bad)
    bad = copy.deepcopy(doc)
    bad["rest"][0]["resource"][0]["interaction"].append({"code": "read", "valueString": "x"})
    assert not certainly_valid(bad) and validate_r4(bad)["valid"] is False


@pytest.mark.servers
def test_sekmets_statement_gets_the_models_answer(sekmet_open_url):
    doc = httpx.get(f"{sekmet_open_url}/metadata", headers={"Accept": "application/fhir+json"}, timeout=10).json()
    assert certainly_valid(doc)
    assert (
        validate_r4(copy.deepcopy(doc))
        == model_validation(copy.deepcopy(doc))
        == {
            "valid": True,
            "error_count": 0,
            "errors": [],
        }
    )
    certified, rejected = _never_certifies_a_rejected(doc, random.Random(7), 150)  # noqa: S311 - a reproducible test, no secret
    assert certified > 10 and rejected > 10


def test_a_string_element_is_text_with_a_non_space_and_no_lone_surrogate():
    """The walk's string check (a shortcut through `isspace` and `isascii`) says what its definition
    says, the patterns `\\S` and no `[\\ud800-\\udfff]`, for code points alone and beside text: all
    up to U+3000 (every space Unicode has is among them), every surrogate, and a sample above."""
    import re

    from ehrcheck.probes.anonymous.capability_shape import _text

    def defined(value: Any) -> bool:
        return type(value) is str and re.search(r"\S", value) is not None and re.search("[\ud800-\udfff]", value) is None

    differ = [
        (hex(cp), v)
        for cp in [*range(0x3001), *range(0xD800, 0xE000), *range(0x3001, 0x110000, 97)]
        for v in (chr(cp), chr(cp) + "a", " " + chr(cp))
        if _text(v) != defined(v)
    ]
    assert not differ, differ[:5]
    for other in ("", " \t\n", None, 1, True, ["a"], {"a": "b"}):
        assert _text(other) == defined(other)
