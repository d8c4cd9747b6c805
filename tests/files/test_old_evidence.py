"""Evidence files written by an earlier ehrcheck still load and score to the findings that ehrcheck
gave them.

`evidence_v1/` holds files written before evidence was typed (schema_version 1): the three demo
vendors, sekmet audited with SMART Backend Services credentials (token, scopes, uscore, bulk), and
sekmet with a CHPL file, a service-base-URL Bundle and a claims file. `digests.json.gz` records what
`ehrcheck score` of that same version said about each (tests/golden/digest.py's digest).

Rules added since (the user-launch rules, for one) need evidence an old file cannot hold: each
must say not_observed, and they may move only the not_observed counts and the score ranges they
widen; every other part of the digest must be exactly as it was.

Some later rules judge what the old files did keep: the discovery documents are stored as the
server sent them, and issue 20 reads them for type, format and agreement, issue 19 for what they
offer and what the statement, its response and the TLS survey show (`REJUDGED`). Their
findings on each old file are recorded in `rejudged.json`, and the scores of their packs (and the
overall score) are not compared; the verdict, the matrix, the claims and every other rule's finding
still are.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.golden.digest import _mask, digest
from tests.support.cli import run

OLD = Path(__file__).parent / "evidence_v1"
NAMES = sorted(p.name.removesuffix(".json.gz") for p in OLD.glob("*.json.gz") if p.name != "digests.json.gz")
# Issue 20: rules that read the discovery documents the old files kept verbatim (new ones, and old
# ones that now judge type and format, CORS, keys and agreement).
REJUDGED = ("INT-017", "INT-019", "INT-025", "INT-029", "PRT-006", "HIP-314", "PRT-014")
REJUDGED += tuple(f"INT-0{n}" for n in range(33, 41))
# Issue 19: rules that read what the old files kept of the SMART configuration, the statement, its
# response and the TLS survey (INT-051/052 need a request the old files never made: not_observed).
REJUDGED += tuple(f"INT-0{n}" for n in range(41, 51)) + tuple(f"HIP-02{n}" for n in range(5, 10))
# Rules whose message now names the US Core version they judged by (issue 16): same status, and
# the new message says which version; the old wording is not compared.
REWORDED = ("INT-010", "INT-104", "INT-303")


def test_the_old_files_are_all_there() -> None:
    assert NAMES == ["demo-meadowlark-chart", "demo-riverbend-ehr", "demo-summit-health-cloud", "sekmet-auth", "sekmet-open-chpl"]


@pytest.mark.parametrize("name", NAMES)
def test_old_evidence_scores_as_it_did(name: str, tmp_path: Path) -> None:
    evidence = tmp_path / f"{name}.json"
    evidence.write_bytes(gzip.decompress((OLD / f"{name}.json.gz").read_bytes()))
    assert json.loads(evidence.read_text())["schema_version"] == 1
    result = run("score", str(evidence), "-q", "-o", str(tmp_path / "report.json"), "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    # recorded before digests masked dates from the assessment day on: masked alike here
    want = _mask(json.loads(gzip.decompress((OLD / "digests.json.gz").read_bytes()))[name], report.get("as_of"))
    got = digest(report)
    packs = {f["rule_id"]: f["pack"] for f in report["findings"]}
    rejudged = json.loads((OLD / "rejudged.json").read_text())[name]
    assert {rid: got["findings"][rid][0] for rid in REJUDGED} == rejudged
    added = {rid: pack for rid, pack in packs.items() if rid not in want["findings"] and rid not in REJUDGED}
    assert {rid: got["findings"][rid][0] for rid in added} == dict.fromkeys(added, "not_observed")
    judged_again = {packs[rid] for rid in REJUDGED} | {"overall"}
    for rid in REWORDED:
        old_status, new_status = want["findings"][rid][0], got["findings"][rid][0]
        assert new_status == old_status, rid
        if new_status in ("pass", "fail", "warn"):
            assert "US Core" in got["findings"][rid][1], got["findings"][rid][1]
        want["findings"][rid] = got["findings"][rid] = [new_status]
    for d in (want, got):  # the claims table repeats a reworded finding's message as `observed`
        d["claims"] = [
            {k: v for k, v in c.items() if not (k == "observed" and c.get("key") in REWORDED)} for c in d["claims"] or []
        ]
    assert _without(got, added, judged_again) == _without(want, {}, judged_again)


def _without(d: dict, added: dict[str, str], judged_again: set[str]) -> dict:
    """The digest minus the added and rejudged rules' findings, the added rules' not_observed
    counts, the score ranges, and the scores of the packs rejudged rules belong to."""
    findings = {rid: v for rid, v in d["findings"].items() if rid not in added and rid not in REJUDGED}
    out = {**d, "findings": findings}

    def score(s: dict) -> dict:
        if s["pack"] in judged_again:
            return {"pack": s["pack"]}
        mine = sum(1 for pack in added.values() if s["pack"] in (pack, "overall"))
        counts = {**s["counts"], "not_observed": s["counts"]["not_observed"] - mine}
        return {k: v for k, v in {**s, "counts": counts}.items() if k not in ("low", "high")}

    out["overall"] = score(d["overall"])
    out["packs"] = [score(p) for p in d["packs"]]
    return out
