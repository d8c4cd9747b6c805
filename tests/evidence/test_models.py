"""The evidence models: one per probe, the rule cases' evidence fits them, and evidence that does
not fit is refused when it is loaded (one message naming the file and the field, exit 2), while a
bug inside a check surfaces as the exception it is."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from ehrcheck.engine.evaluate import evaluate
from ehrcheck.evidence.ids import EVIDENCE_SOURCES, ProbeId
from ehrcheck.evidence.registry import DATA_MODELS, EvidenceDataError, parse_data
from ehrcheck.rules import checks
from ehrcheck.rules.checks.common import CheckSpec, NoArgs, Outcome
from ehrcheck.rules.schema import FnCheck, all_rules
from tests.rules.test_rule_cases import build_evidence
from tests.support.cli import run

CASES = Path(__file__).parents[1] / "rules" / "cases"
OLD = Path(__file__).parents[1] / "files" / "evidence_v1" / "sekmet-auth.json.gz"


def test_every_probe_has_a_model_and_every_source_is_a_probe_or_the_claims() -> None:
    assert set(DATA_MODELS) == set(ProbeId)
    assert set(EVIDENCE_SOURCES) == {p.value for p in ProbeId} | {"claims"}


def _case_evidence() -> list[Any]:
    params = []
    for path in sorted(CASES.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for case in doc["cases"]:
            for source, data in (case.get("evidence") or {}).items():
                params.append(pytest.param(source, data or {}, id=f"{path.stem}: {case['name']}: {source}"))
    return params


@pytest.mark.parametrize(("source", "data"), _case_evidence())
def test_rule_case_evidence_fits_the_models(source: str, data: dict[str, Any]) -> None:
    """A case's evidence is what a probe would record: a key the probe never writes (a typo that
    used to read as "not observed") fails here, naming the case and the field."""
    try:
        parse_data(source, data)
    except EvidenceDataError as exc:
        pytest.fail(f"{exc.where}: {exc.message}")


def test_a_misspelled_key_does_not_fit() -> None:
    with pytest.raises(EvidenceDataError) as err:
        parse_data("bulk", {"patient": {"kickof": {"http_status": 202}}})
    assert err.value.where == "probes.bulk.data.patient.kickof"
    with pytest.raises(EvidenceDataError) as err:
        parse_data("access", {"patient_search": {"http_status": "401"}})
    assert err.value.where == "probes.access.data.patient_search.http_status"


def test_server_values_are_kept_as_sent() -> None:
    """What a server sent verbatim (a SMART field of the wrong type) is a fact to judge, not a bad file."""
    smart = parse_data("smart", {"found": True, "document": {"capabilities": "launch-ehr", "issuer": 7}})
    assert smart.document is not None and smart.document.capabilities == "launch-ehr"


def _edited(tmp_path: Path, edit: Any) -> Path:
    data = json.loads(gzip.decompress(OLD.read_bytes()))
    edit(data)
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d["probes"]["bulk"]["data"]["patient"].update(kickof={}), "probes.bulk.data.patient.kickof"),
        (
            lambda d: d["probes"]["token"]["data"]["valid"].update(expires_in="3600"),
            "probes.token.data.valid.expires_in",
        ),
        (lambda d: d["probes"].update(tokn=d["probes"]["token"]), "probes.tokn"),
    ],
    ids=["misspelled key", "number as text", "unknown probe"],
)
def test_score_on_hand_edited_evidence_names_file_and_field(tmp_path: Path, edit: Any, field: str) -> None:
    path = _edited(tmp_path, edit)
    result = run("score", str(path), "-q", "-o", str(tmp_path / "out.json"))
    assert result.exit_code == 2
    assert f"{path}: field '{field}'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out.json").exists()


def test_a_bug_in_a_check_surfaces(monkeypatch: pytest.MonkeyPatch) -> None:
    """evaluate() no longer turns an exception inside a check into "the evidence is malformed"."""

    def broken(view: Any, args: NoArgs, as_of: dt.date) -> Outcome:
        return {}["typo"]  # the kind of bug the old handler hid

    rule = next(r for r in all_rules() if isinstance(r.check, FnCheck) and r.check.fn == "fhir_r4")
    assert isinstance(rule.check, FnCheck)
    monkeypatch.setitem(checks.CHECKS, rule.check.fn, CheckSpec(rule.check.fn, broken, NoArgs))
    evidence = build_evidence({"evidence": {"capability": {"found": True, "fhir_version": "4.0.1"}}})
    with pytest.raises(KeyError, match="typo"):
        evaluate(evidence, [rule], dt.date(2026, 6, 1))


def test_a_check_reading_a_source_its_rule_does_not_need_is_named() -> None:
    """A custom pack may pair a check with the wrong `needs`: not a traceback, a finding that says so."""
    base = next(r for r in all_rules() if isinstance(r.check, FnCheck) and r.check.fn == "fhir_r4")
    rule = base.model_copy(update={"needs": ["capability"], "check": FnCheck(fn="token_issued")})
    evidence = build_evidence({"evidence": {"capability": {"found": True}}})
    finding = evaluate(evidence, [rule], dt.date(2026, 6, 1))[0]
    assert finding.status.value == "not_observed"
    assert finding.message == "The check reads token evidence, which its rule does not list in needs; add it to the rule's needs."
