"""The built-in packs are parsed with libyaml's loader for speed (rules/schema.pack_loader); it
must read them exactly as PyYAML's pure-Python safe loader does."""

from __future__ import annotations

import yaml

from ehrcheck.rules.schema import PACK_ORDER, _packs_dir, load_pack_file, pack_loader


def test_builtin_packs_load_alike_with_either_loader() -> None:
    for name in PACK_ORDER:
        text = (_packs_dir() / f"{name}.yaml").read_text(encoding="utf-8")
        assert yaml.load(text, Loader=pack_loader()) == yaml.safe_load(text), name  # noqa: S506


def test_fast_loader_still_names_file_and_line(tmp_path) -> None:
    import pytest

    from ehrcheck.rules.schema import PackError

    path = tmp_path / "bad.yaml"
    path.write_text("pack: x\nrules:\n  - id: [unclosed\n", encoding="utf-8")
    with pytest.raises(PackError, match=r"bad\.yaml:\d+: not valid YAML"):
        load_pack_file(path)
