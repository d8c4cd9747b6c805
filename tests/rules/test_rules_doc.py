"""docs/rules.md is generated from the packs and must not go stale."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from tests.paths import ROOT

SCRIPT = ROOT / "scripts" / "gen_rules_doc.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_rules_doc", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rules_doc_is_current() -> None:
    gen = _generator()
    doc = ROOT / "docs" / "rules.md"
    current = doc.read_text(encoding="utf-8") if doc.exists() else ""
    assert current == gen.render(), (
        "docs/rules.md is stale: regenerate it with `.venv/bin/python scripts/gen_rules_doc.py` and commit the result"
    )


def test_rules_doc_lists_every_rule() -> None:
    from ehrcheck.rules.schema import all_rules

    text = _generator().render()
    for rule in all_rules():
        assert f"### {rule.id}:" in text


def test_check_flag_exits_1_when_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gen = _generator()
    doc = tmp_path / "rules.md"
    monkeypatch.setattr(gen, "DOC", doc)
    doc.write_text("# stale\n", encoding="utf-8")
    assert gen.main(["--check"]) == 1
    assert gen.main([]) == 0
    assert gen.main(["--check"]) == 0
