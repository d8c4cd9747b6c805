"""Evidence files written by an earlier ehrcheck still load and score to the findings that ehrcheck
gave them.

`evidence_v1/` holds files written before evidence was typed (schema_version 1): the three demo
vendors, sekmet audited with SMART Backend Services credentials (token, scopes, uscore, bulk), and
sekmet with a CHPL file, a service-base-URL Bundle and a claims file. `digests.json.gz` records what
`ehrcheck score` of that same version said about each (tests/golden/digest.py's digest).

Rules added since (the user-launch rules, for one) need evidence an old file cannot hold: each
must say not_observed, and they may move only the not_observed counts and the score ranges they
widen; every other part of the digest must be exactly as it was.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.golden.digest import digest
from tests.support.cli import run

OLD = Path(__file__).parent / "evidence_v1"
NAMES = sorted(p.name.removesuffix(".json.gz") for p in OLD.glob("*.json.gz") if p.name != "digests.json.gz")


def test_the_old_files_are_all_there() -> None:
    assert NAMES == ["demo-meadowlark-chart", "demo-riverbend-ehr", "demo-summit-health-cloud", "sekmet-auth", "sekmet-open-chpl"]


@pytest.mark.parametrize("name", NAMES)
def test_old_evidence_scores_as_it_did(name: str, tmp_path: Path) -> None:
    evidence = tmp_path / f"{name}.json"
    evidence.write_bytes(gzip.decompress((OLD / f"{name}.json.gz").read_bytes()))
    assert json.loads(evidence.read_text())["schema_version"] == 1
    result = run("score", str(evidence), "-q", "-o", str(tmp_path / "report.json"), "--format", "json")
    assert result.exit_code == 0, result.output
    want = json.loads(gzip.decompress((OLD / "digests.json.gz").read_bytes()))[name]
    report = json.loads((tmp_path / "report.json").read_text())
    got = digest(report)
    added = {f["rule_id"]: f["pack"] for f in report["findings"] if f["rule_id"] not in want["findings"]}
    assert {rid: got["findings"][rid][0] for rid in added} == dict.fromkeys(added, "not_observed")
    assert _without(got, added) == _without(want, {})


def _without(d: dict, added: dict[str, str]) -> dict:
    """The digest minus the added rules' findings, their not_observed counts and the score ranges."""
    out = {**d, "findings": {rid: v for rid, v in d["findings"].items() if rid not in added}}

    def score(s: dict) -> dict:
        mine = sum(1 for pack in added.values() if s["pack"] in (pack, "overall"))
        counts = {**s["counts"], "not_observed": s["counts"]["not_observed"] - mine}
        return {k: v for k, v in {**s, "counts": counts}.items() if k not in ("low", "high")}

    out["overall"] = score(d["overall"])
    out["packs"] = [score(p) for p in d["packs"]]
    return out
