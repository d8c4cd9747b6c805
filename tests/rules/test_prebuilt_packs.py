"""The built-in packs kept between runs (rules/prebuilt.py) are the packs the YAML gives, and any
change to what they are made from is loaded afresh."""

from __future__ import annotations

from pathlib import Path

import pytest

from ehrcheck.rules import prebuilt
from ehrcheck.rules.schema import PACK_ORDER, FnCheck, Pack, _load_builtin_packs, _packs_dir

FILES = [_packs_dir() / f"{name}.yaml" for name in PACK_ORDER]


def load_or_build(build):
    return prebuilt.load_or_build(build, FILES, Pack)


def _as_data(packs: tuple) -> list:
    out = []
    for pack in packs:
        rules = []
        for rule in pack.rules:
            args = rule.check.parsed_args() if isinstance(rule.check, FnCheck) else None
            rules.append((rule.model_dump(mode="json"), rule.pack, args.model_dump(mode="json") if args else None))
        out.append((pack.model_dump(mode="json", exclude={"rules"}), rules))
    return out


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EHRCHECK_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "packs"


def test_cached_packs_equal_the_yaml(cache: Path) -> None:
    calls = []

    def build() -> tuple:
        calls.append(1)
        return _load_builtin_packs()

    first = load_or_build(build)
    second = load_or_build(build)
    assert len(calls) == 1 and len(list(cache.iterdir())) == 1
    assert second is not first
    assert _as_data(second) == _as_data(first) == _as_data(_load_builtin_packs())


def test_a_changed_source_is_built_again(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = tmp_path / "extra.yaml"
    extra.write_text("one")
    sources = prebuilt._sources
    monkeypatch.setattr(prebuilt, "_sources", lambda files: [*sources(files), extra])
    calls = []

    def build() -> tuple:
        calls.append(1)
        return _load_builtin_packs()

    load_or_build(build)
    load_or_build(build)
    extra.write_text("two")
    load_or_build(build)
    assert len(calls) == 2


def test_a_damaged_entry_is_built_again(cache: Path) -> None:
    packs = load_or_build(_load_builtin_packs)
    (entry,) = cache.iterdir()
    entry.write_bytes(b"\x80\x05garbage")
    assert _as_data(load_or_build(_load_builtin_packs)) == _as_data(packs)
    assert load_or_build(lambda: pytest.fail("rebuilt a good entry")) is not None


def test_without_a_cache_every_run_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EHRCHECK_CACHE_DIR", "off")
    calls = []
    load_or_build(lambda: calls.append(1) or ())
    load_or_build(lambda: calls.append(1) or ())
    assert len(calls) == 2
