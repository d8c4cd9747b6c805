"""The built-in rule packs load, are complete, and a malformed pack fails loudly."""

from __future__ import annotations

from pathlib import Path

import pytest

from ehrcheck.rules import checks
from ehrcheck.rules.checks import capability
from ehrcheck.rules.schema import (
    FnCheck,
    PackError,
    all_rules,
    builtin_packs,
    check_args,
    load_pack_file,
)


def test_packs_load_in_order() -> None:
    # The order every report lists the packs in (PACK_ORDER drives the loader, so name them here).
    assert [p.pack for p in builtin_packs()] == ["interoperability", "portal", "certification", "hipaa", "hipaa-proposed"]


def test_pack_descriptions_are_written() -> None:
    for pack in builtin_packs():
        assert pack.description.strip() and pack.description.strip() != "placeholder", pack.pack


def test_rule_ids_unique_and_enough_rules() -> None:
    ids = [r.id for r in all_rules()]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 40


def test_every_rule_is_documented() -> None:
    for rule in all_rules():
        assert rule.references, f"{rule.id}: no references"
        assert all(ref.cite.strip() for ref in rule.references), f"{rule.id}: empty citation"
        assert rule.remediation.strip(), f"{rule.id}: no remediation"
        assert rule.vendor_question.strip().endswith("?"), f"{rule.id}: vendor_question should be a question"
        assert rule.pass_message.strip() and rule.fail_message.strip(), f"{rule.id}: messages"


def test_gates_are_where_the_verdict_expects_them() -> None:
    gates = {r.id: r.gate for r in all_rules() if r.gate}
    # Sharing the chart needs a FHIR API with patient records, whatever its version (engine/verdict.py).
    assert gates.get("INT-001") == gates.get("INT-006") == "shares"
    assert gates.get("INT-002") == "certified"  # R4 is a certification gate, not a sharing one
    # The safety blockers: data without a token, tokens over plain http, an invalid certificate.
    assert {"HIP-012", "HIP-013", "HIP-005", "HIP-006", "HIP-008"} <= {k for k, v in gates.items() if v == "safe"}
    assert set(gates.values()) == {"shares", "safe", "certified"}
    # Sparingly: gates are a minority of the rules.
    assert len(gates) <= len(all_rules()) // 4


def test_every_check_function_is_used_and_documented() -> None:
    used = {r.check.fn for r in all_rules() if isinstance(r.check, FnCheck)}
    assert used == set(checks.CHECKS), f"unused: {set(checks.CHECKS) - used}; unknown: {used - set(checks.CHECKS)}"
    for name, fn in checks.CHECKS.items():
        assert (fn.__doc__ or "").strip(), f"check {name} needs a docstring saying why"


def test_uscdi_profile_data_matches_g10() -> None:
    profiles = capability.uscdi_profiles()
    required = [p for p in profiles if p["required"]]
    assert len(required) == 42
    assert len(capability.uscdi_resources()) == 22
    assert all(p["url"].startswith("http://hl7.org/fhir/us/core/StructureDefinition/") for p in profiles)
    # 7.0.0 requires the same resource types and three more profiles.
    seven = {p["url"].rsplit("/", 1)[1] for p in capability.uscdi_profiles("7.0.0") if p["required"]}
    assert len(seven) == 45 and capability.uscdi_resources("7.0.0") == capability.uscdi_resources()
    assert seven - {p["url"].rsplit("/", 1)[1] for p in required} == {
        "us-core-average-blood-pressure",
        "us-core-care-experience-preference",
        "us-core-treatment-intervention-preference",
    }


MALFORMED = """\
pack: interoperability
title: Broken
description: a pack with one bad rule
rules:
  - id: INT-900
    title: Missing most fields
    severity: catastrophic
    weight: 3
    needs: [capability]
    check: {path: capability.found, op: equals, value: true}
"""


def test_malformed_pack_names_file_and_rule(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(MALFORMED, encoding="utf-8")
    with pytest.raises(PackError) as err:
        load_pack_file(path)
    text = str(err.value)
    assert str(path) in text
    assert "rule INT-900" in text
    assert "severity" in text


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("pack: x\nrules:\n  - id: [unclosed\n", encoding="utf-8")
    with pytest.raises(PackError) as err:
        load_pack_file(path)
    assert str(path) in str(err.value) and "not valid YAML" in str(err.value)


def test_a_bad_check_argument_in_a_builtin_pack_is_located(tmp_path: Path) -> None:
    """The built-in packs' check arguments are validated at load like a custom pack's: a typo in
    interoperability.yaml names the file and line."""
    original = (Path(checks.__file__).parents[1] / "packs" / "interoperability.yaml").read_text(encoding="utf-8")
    assert "args: {minimum: 3}" in original  # clinical_data_exposed's argument
    path = tmp_path / "interoperability.yaml"
    path.write_text(original.replace("args: {minimum: 3}", "args: {minimun: 3}", 1), encoding="utf-8")
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "minimun" in text)
    with pytest.raises(PackError) as err:
        check_args(path, load_pack_file(path))
    assert f"{path}:{line}: rule " in str(err.value)
    assert "check.args.minimun: unknown argument" in str(err.value)
    shipped = _copy(tmp_path, original)
    check_args(shipped, load_pack_file(shipped))  # the file as shipped passes


def _copy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "as-shipped.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_check_declares_its_arguments() -> None:
    for name, spec in checks.CHECKS.items():
        assert spec.args.model_config.get("extra") == "forbid", name
