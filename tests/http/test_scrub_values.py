"""Query values in recorded URLs: kept only when they are FHIR's or US Core's own words, so a code
taken from a patient's record, or a server's text in a parameter ehrcheck trusts, never reaches
evidence (issue 14, round 8's LIMIT: code-valued parameters kept whatever they held)."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from ehrcheck.http.redact import REDACTED, VALUE_SYSTEMS, VALUE_WORDS, scrub_url
from ehrcheck.probes.authenticated.uscore_data import ALL_CODES

BASE = "https://ehr.example.test/fhir"


@pytest.mark.parametrize(
    ("query", "kept", "gone"),
    [
        ("category=Smith", [], ["Smith"]),
        ("category=http://evil.test/sys|laboratory", [], ["evil.test"]),
        ("code=http://snomed.info/sct|44054006", [], ["44054006", "snomed"]),  # a diagnosis from a record
        ("code=http://loinc.org|8867-4", [], ["8867-4"]),
        ("status=final,JohnDoe", [], ["JohnDoe", "final"]),
        ("category:text=Jane", [], ["Jane"]),
        ("_count=1e5", [], ["1e5"]),
        ("_count=1234567890123", [], ["1234567890123"]),
        ("_elements=name,birthDate", [], ["birthDate"]),
        ("_type=Patient,Observation", ["_type=Patient,Observation"], []),
        ("status=final,amended", ["status=final,amended"], []),
        ("_count=50", ["_count=50"], []),
    ],
)
def test_only_vocabulary_values_are_kept(query: str, kept: list[str], gone: list[str]):
    out = scrub_url(f"{BASE}/Observation?patient=123&{query}", BASE)
    assert "patient=" + REDACTED in out
    for text in kept:
        assert text in out, out
    for text in gone:
        assert text not in out, out


def test_every_value_ehrcheck_itself_sends_is_kept():
    """The first searches' categories (from the shipped US Core selectors) and OR-ed codes stay
    legible in evidence: a new US Core version adding a category must add it to VALUE_WORDS."""
    sent: set[str] = set()
    for name in ("us_core_6_1_0_conformance.json", "us_core_7_0_0_conformance.json"):
        data = json.loads(resources.files("ehrcheck.rules.data").joinpath(name).read_text(encoding="utf-8"))

        def walk(node: object) -> None:
            if isinstance(node, dict):
                for c in (node.get("selectors") or {}).get("category", []) if isinstance(node.get("selectors"), dict) else []:
                    sent.add(f"{c['system']}|{c['code']}" if c.get("system") else c["code"])
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(data)
    assert len(sent) >= 9
    sent |= set(ALL_CODES.values())
    for value in sorted(sent):
        for item in value.split(","):
            system, _, word = item.rpartition("|")
            assert word in VALUE_WORDS, word
            assert not system or system in VALUE_SYSTEMS, system
        param = "category" if "|" in value else "intent"
        assert f"{param}={value}" in scrub_url(f"{BASE}/X?{param}={value}", BASE)
