"""`--chpl-file` with a CHPL document that is missing what the rules need: one message naming
the file and the place in it, exit 2, no request made and no output file written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.faults.audit import CAP
from tests.paths import FIXTURES
from tests.support.cli import run
from tests.support.loopback import Reply, serve

DETAILS = json.loads((FIXTURES / "chpl/details-99001-active-full.json").read_text(encoding="utf-8"))
NUMBER = DETAILS["chplProductNumber"]
PAGE = json.loads((FIXTURES / "real/chpl-search-page.json").read_text(encoding="utf-8"))
ROW = PAGE["results"][0]


def without(doc: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in keys}


CASES = [
    (
        "no status",
        without(DETAILS, "currentStatus", "certificationEvents"),
        f"listing {NUMBER} has no certification status (currentStatus, certificationEvents or certificationStatus)",
    ),
    (
        "no criteria",
        without(DETAILS, "certificationResults"),
        f"listing {NUMBER} has no criteria (certificationResults or criteriaMet)",
    ),
    (
        "search row without criteria",
        {"results": [ROW, without(ROW, "criteriaMet") | {"chplProductNumber": NUMBER}]},
        f"results[1]: listing {NUMBER} has no criteria",
    ),
    (
        "search row without a status",
        {"results": [without(ROW, "certificationStatus") | {"chplProductNumber": NUMBER}]},
        f"results[0]: listing {NUMBER} has no certification status",
    ),
    (
        "search row without its number",
        {"results": [ROW, without(ROW, "chplProductNumber")]},
        "not a CHPL listing document (results[1]: an object with neither chplProductNumber nor results[]",
    ),
    (
        "number not a string",
        DETAILS | {"chplProductNumber": 99001},
        "not a CHPL listing document (chplProductNumber is not a CHPL product number string",
    ),
    (
        "status of the wrong type",
        without(DETAILS, "certificationEvents") | {"currentStatus": "Active"},
        f"listing {NUMBER} has no certification status",
    ),
]


@pytest.fixture(scope="module")
def vendor():
    with serve({"/fhir/metadata": Reply(200, CAP)}) as lb:
        yield lb


@pytest.mark.parametrize("command", ["audit", "probe"])
@pytest.mark.parametrize(("name", "doc", "expected"), CASES, ids=[c[0] for c in CASES])
def test_chpl_file_missing_fields_exits_2_naming_the_place(vendor, tmp_path: Path, command, name, doc, expected):
    chpl_file = tmp_path / "listing.json"
    chpl_file.write_text(json.dumps(doc), encoding="utf-8")
    out = tmp_path / ("reports" if command == "audit" else "evidence.json")
    before = len(vendor.requests)
    res = run(command, vendor.base, "--chpl-file", str(chpl_file), "--chpl-id", NUMBER, "-o", str(out), env={"CHPL_API_KEY": ""})
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit)
    text = " ".join(res.output.split())
    assert f"--chpl-file {chpl_file}: " in text and expected in text, text
    assert "Traceback" not in res.output
    assert not out.exists(), "a refused run left output behind"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["listing.json"]
    assert len(vendor.requests) == before, "the vendor was contacted before the input was checked"


def test_a_complete_listing_still_audits(vendor, tmp_path: Path):
    chpl_file = tmp_path / "listing.json"
    # Its links point at the loopback vendor: the probe checks them, and no request leaves 127.0.0.1.
    chpl_file.write_text(json.dumps(DETAILS).replace("{{ORIGIN}}", vendor.origin), encoding="utf-8")
    args = ["probe", vendor.base, "--chpl-file", str(chpl_file), "--chpl-id", NUMBER, "-o", str(tmp_path / "evidence.json")]
    res = run(*args, "--timeout", "2", env={"CHPL_API_KEY": ""})
    assert res.exit_code in (0, 1), res.output
    listing = json.loads((tmp_path / "evidence.json").read_text())["probes"]["chpl"]["data"]["listings"][0]
    assert listing["found"] is True and listing["status"] == "Active"
    assert any(path.startswith("/developers/fhir-api") for _m, path, _h in vendor.requests)
