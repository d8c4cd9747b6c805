"""The per-user cache folder: used when it is the user's own, refused when others could plant code in it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ehrcheck.files.cache import cache_dir, fingerprint, write_atomically


def test_made_private_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EHRCHECK_CACHE_DIR", str(tmp_path / "c"))
    folder = cache_dir("templates")
    assert folder == tmp_path / "c" / "templates"
    assert folder.stat().st_mode & 0o777 == 0o700
    assert folder.parent.stat().st_mode & 0o777 == 0o700
    assert cache_dir("templates") == folder


def test_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EHRCHECK_CACHE_DIR", "off")
    assert cache_dir("templates") is None


def test_refused_when_others_can_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "c"
    (root / "templates").mkdir(parents=True)
    os.chmod(root, 0o777)  # noqa: S103 - the unsafe folder under test
    monkeypatch.setenv("EHRCHECK_CACHE_DIR", str(root))
    assert cache_dir("templates") is None
    assert cache_dir("packs") is None
    assert not (root / "packs").exists()  # nothing made inside a folder others can write


def test_refused_through_a_symlink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = tmp_path / "real"
    (real / "packs").mkdir(parents=True, mode=0o700)
    os.chmod(real, 0o700)
    (tmp_path / "c").mkdir(mode=0o700)
    (tmp_path / "c" / "packs").symlink_to(real / "packs")
    monkeypatch.setenv("EHRCHECK_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir("packs") is None


def test_unwritable_place_means_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("EHRCHECK_CACHE_DIR", str(tmp_path / "file" / "below"))
    assert cache_dir("templates") is None


def test_fingerprint_separates_parts() -> None:
    assert fingerprint("ab", "c") != fingerprint("a", "bc")
    assert fingerprint(b"x") == fingerprint("x")


def test_write_atomically_replaces(tmp_path: Path) -> None:
    target = tmp_path / "entry"
    write_atomically(target, b"one")
    write_atomically(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]
