"""Claims labels for the claims table, read from the per-user cache instead of the claims models:
the same text as the claims models' field titles for every path, cold, warm, damaged or without a cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from ehrcheck.claims import schema, table

PATHS = [
    *(f"claims.{section}.{name}" for section, model in schema.SECTIONS.items() for name in model.model_fields),
    *(f"{section}.{name}" for section, model in schema.SECTIONS.items() for name in model.model_fields),
    "claims.product",
    "claims.nowhere.at_all",
    "claims.claims.product",
    "hipaa.not_a_field",
    "claims.hipaa.baa_offered.extra",
    "",
]


def _from_the_models(path: str) -> str:
    info = schema.field_info(path)
    return info.title if info is not None and info.title else path.removeprefix("claims.")


def _all_alike() -> None:
    table._labels.cache_clear()
    assert [table.label(p) for p in PATHS] == [_from_the_models(p) for p in PATHS]


def test_labels_match_the_schema_cold_warm_and_damaged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EHRCHECK_CACHE_DIR", str(tmp_path / "cache"))
    _all_alike()  # cold: built from the models and stored
    (entry,) = (tmp_path / "cache" / "claims").iterdir()
    assert any(v == "SMART App Launch" for v in table._labels().values())
    _all_alike()  # warm: read back
    entry.write_text('{"hipaa.baa_offered": 1}')  # not text: never trusted
    _all_alike()
    entry.write_bytes(b"\xff not json")
    _all_alike()
    monkeypatch.setenv("EHRCHECK_CACHE_DIR", "off")
    _all_alike()
    table._labels.cache_clear()


def test_a_changed_schema_is_another_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EHRCHECK_CACHE_DIR", str(tmp_path / "cache"))
    table._labels.cache_clear()
    table._labels()
    copy = tmp_path / "schema.py"
    copy.write_text(table.SCHEMA.read_text() + "\n# changed\n")
    monkeypatch.setattr(table, "SCHEMA", copy)
    table._labels.cache_clear()
    table._labels()
    assert len(list((tmp_path / "cache" / "claims").iterdir())) == 2
    table._labels.cache_clear()
