"""Where shipped data lives: inside the wheel (`ehrcheck/_data/`) or, in a source checkout, at the
top of the repository (`reports/templates/`, `examples/vendors/`, `examples/claims/`), as the design
card lays it out."""

from __future__ import annotations

from pathlib import Path

_SOURCE_LAYOUT = {
    "templates": ("reports", "templates"),
    "vendors": ("examples", "vendors"),
    "claims": ("examples", "claims"),
}


def data_dir(name: str) -> Path:
    packaged = Path(__file__).resolve().parent / "_data" / name
    if packaged.is_dir():
        return packaged
    source = Path(__file__).resolve().parent.parent.joinpath(*_SOURCE_LAYOUT[name])
    if source.is_dir():
        return source
    raise FileNotFoundError(f"ehrcheck's {name} are missing from this installation ({packaged})")
