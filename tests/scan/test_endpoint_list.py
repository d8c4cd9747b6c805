"""Endpoint lists for `ehrcheck scan`: Bundles (HTI-1 and Epic's contained-Organization style),
CSV and text; URL normalisation, de-duplication and located warnings for junk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ehrcheck.errors import UserInputError
from ehrcheck.scan.endpoint_list import check_list, iter_endpoints, normalise_url
from tests.paths import REAL

EPIC = REAL / "epic-r4-endpoints.lantern-list.json"


def _load(path: Path) -> tuple[list, list[str]]:
    warnings: list[str] = []
    return list(iter_endpoints(path, warnings.append)), warnings


@pytest.mark.parametrize(
    "raw, want",
    [
        ("https://FHIR.Example.org:443/r4/", "https://fhir.example.org/r4"),
        ("https://fhir.example.org/r4/metadata", "https://fhir.example.org/r4"),
        ("http://fhir.example.org:80/R4#frag", "http://fhir.example.org/R4"),
        ("  https://fhir.example.org:8443/api/FHIR/R4  ", "https://fhir.example.org:8443/api/FHIR/R4"),
        ("https://[::1]:9000/fhir", "https://[::1]:9000/fhir"),
    ],
)
def test_normalise(raw: str, want: str):
    assert normalise_url(raw) == (want, "")


@pytest.mark.parametrize("raw", ["ftp://x/fhir", "fhir.example.org/r4", "https://", "https://exa mple.org", "https://x:99999/"])
def test_not_urls(raw: str):
    url, why = normalise_url(raw)
    assert url is None and why


def test_epic_bundle_with_contained_organizations():
    endpoints, warnings = _load(EPIC)
    raw = json.loads(EPIC.read_text())
    addresses = {normalise_url(e["resource"]["address"])[0] for e in raw["entry"]}
    assert len(raw["entry"]) == 265 and len(endpoints) == len(addresses) < 265  # the list repeats addresses
    assert len({e.url for e in endpoints}) == len(endpoints)
    first = endpoints[0]
    assert first.name == "Kaiser Permanente – Georgia"
    assert first.url == "https://fhir.kp.org/service/ptnt_care/EpicEdiFhirRoutingSvc/v2014/esb-envlbl/200/api/FHIR/R4"
    assert first.where == f"{EPIC}: entry 1"
    assert all(e.name for e in endpoints)
    assert warnings == []


def test_hti1_bundle_names_come_from_organizations(tmp_path: Path):
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": "https://dir.example/Endpoint/e1",
                "resource": {
                    "resourceType": "Endpoint",
                    "id": "e1",
                    "status": "active",
                    "connectionType": {"code": "hl7-fhir-rest"},
                    "address": "https://a.example/fhir/",
                },
            },
            {
                "resource": {
                    "resourceType": "Organization",
                    "id": "o1",
                    "name": "Alpha Clinic",
                    "endpoint": [{"reference": "Endpoint/e1"}],
                }
            },
            {
                "resource": {
                    "resourceType": "Endpoint",
                    "id": "e2",
                    "status": "off",
                    "connectionType": {"code": "hl7-fhir-rest"},
                    "address": "https://b.example/fhir",
                }
            },
            {
                "resource": {
                    "resourceType": "Endpoint",
                    "id": "e3",
                    "status": "active",
                    "connectionType": {"code": "direct-project"},
                    "address": "mailto:x@y",
                }
            },
            {
                "resource": {
                    "resourceType": "Endpoint",
                    "id": "e4",
                    "status": "active",
                    "connectionType": {"code": "hl7-fhir-rest"},
                    "address": "not a url",
                }
            },
        ],
    }
    path = tmp_path / "endpoints.json"
    path.write_text(json.dumps(bundle))
    endpoints, warnings = _load(path)
    assert [(e.url, e.name) for e in endpoints] == [("https://a.example/fhir", "Alpha Clinic")]
    assert any("entry 5" in w and "not a url" in w for w in warnings)
    assert any("1 Endpoint(s) with status off" in w for w in warnings)
    assert any("connectionType direct-project" in w for w in warnings)


def test_csv_with_header_junk_and_duplicates(tmp_path: Path):
    path = tmp_path / "list.csv"
    path.write_text(
        "Organization,FHIR URL\n"
        "Alpha,https://a.example/fhir\n"
        "\n"
        "Beta,not-a-url\n"
        "Alpha again,https://A.EXAMPLE/fhir/\n"
        "Gamma,https://g.example/fhir/metadata\n",
        encoding="utf-8",
    )
    endpoints, warnings = _load(path)
    assert [(e.url, e.name, e.where) for e in endpoints] == [
        ("https://a.example/fhir", "Alpha", f"{path}:2"),
        ("https://g.example/fhir", "Gamma", f"{path}:6"),
    ]
    assert warnings == [f"{path}:4: skipped 'not-a-url': not an http(s) URL"]


def test_text_list_with_comments(tmp_path: Path):
    path = tmp_path / "list.txt"
    path.write_text("# vendors\nhttps://a.example/fhir\n\nhttps://a.example/fhir/\nwww.b.example/fhir\nhttps://c.example/r4\n")
    endpoints, warnings = _load(path)
    assert [e.url for e in endpoints] == ["https://a.example/fhir", "https://c.example/r4"]
    assert warnings == [f"{path}:5: skipped 'www.b.example/fhir': not an http(s) URL"]
    assert check_list(path, lambda _m: None).endpoints == 2


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("empty.txt", "# nothing here\n\n", "no http(s) FHIR base URLs found"),
        ("junk.txt", "hello\nworld\n", "no http(s) FHIR base URLs found"),
        ("bad.json", '{"resourceType": "Bundle",\n "entry": [\n', "bad.json:3:"),
        ("patient.json", '{"resourceType": "Patient"}', "not a FHIR Bundle of Endpoint resources"),
    ],
)
def test_unusable_lists_are_errors(tmp_path: Path, name: str, text: str, message: str):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(UserInputError) as err:
        check_list(path, lambda _m: None)
    assert message in str(err.value) and str(path) in str(err.value)
