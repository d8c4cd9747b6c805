"""The built-in packs as last validated, kept between runs in the per-user cache.

Parsing 130 KB of pack YAML and validating every rule and every check's arguments is the same
work on every run while the packs and their schema are unchanged: the entry is keyed by a hash
of the pack files, the code that defines what they are validated against (this folder's modules,
the check functions and their argument models, ehrcheck/models.py, the evidence ids), pydantic's
version and Python's. Any change there, and the packs are loaded and validated afresh.
"""

from __future__ import annotations

import pickle
import sys
from collections.abc import Callable
from pathlib import Path

RULES = Path(__file__).resolve().parent
PACKAGE = RULES.parent


def _sources(pack_files: list[Path]) -> list[Path]:
    return sorted(
        [
            *pack_files,
            *RULES.glob("*.py"),
            *RULES.glob("checks/*.py"),
            PACKAGE / "models.py",
            PACKAGE / "evidence" / "ids.py",
        ]
    )


def _key(pack_files: list[Path]) -> str:
    import pydantic

    from ehrcheck.files.cache import fingerprint

    parts: list[bytes | str] = [sys.version, pydantic.VERSION]
    for path in _sources(pack_files):
        parts += [path.name, path.read_bytes()]
    return fingerprint(*parts)


def load_or_build(build: Callable[[], tuple], pack_files: list[Path], pack_type: type) -> tuple:
    """The packs `build()` makes from `pack_files`: from the cache when nothing they are made from
    changed, else built (and stored). Each must be a `pack_type`."""
    from ehrcheck.files.cache import cache_dir, write_atomically

    folder = cache_dir("packs")
    if folder is None:
        return build()
    entry = folder / f"{_key(pack_files)}.pickle"
    try:
        packs = pickle.loads(entry.read_bytes())  # noqa: S301 - our own 0700 folder, keyed by content
        if isinstance(packs, tuple) and packs and all(isinstance(p, pack_type) for p in packs):
            return packs
    except FileNotFoundError:
        pass
    except Exception:  # noqa: BLE001, S110 - a damaged entry is rebuilt below
        pass
    packs = build()
    try:
        write_atomically(entry, pickle.dumps(packs, protocol=pickle.HIGHEST_PROTOCOL))
    except OSError:
        pass  # no room or no folder: this run validated them; the next will again
    return packs
