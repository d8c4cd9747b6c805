"""CHPL product numbers: parse and validate before anything is looked up.

A current CHPL product number has nine dot-separated parts,
`YY.ATL.ACB.DEVL.PROD.VV.IC.A.YYMMDD` (e.g. `15.04.04.1932.WebC.84.01.0.221117`): edition, testing
lab, certification body, developer code, product code, version code, inherited-certification
code, additional-software flag and certification date. Listings from before 2015 may carry a
legacy number `CHP-######`. The part rules follow ONC's CHPL service (ChplProductNumberUtil), so a
number this module accepts is one CHPL can answer for; a typo fails here, with the part named,
instead of as an opaque HTTP 400 from CHPL.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

LEGACY = re.compile(r"^CHP-\d{6}$", re.ASCII)

# (name, pattern, what it must be) for each of the nine parts, in order.
PARTS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("edition", re.compile(r"^\d{2}$", re.ASCII), "2 digits (15 for the 2015 Edition)"),
    ("testing lab", re.compile(r"^\d{2}$", re.ASCII), "2 digits"),
    ("certification body", re.compile(r"^\d{2}$", re.ASCII), "2 digits"),
    ("developer code", re.compile(r"^(\d{4}|XXXX)$", re.ASCII), "4 digits"),
    ("product code", re.compile(r"^[A-Za-z0-9_]{4}$"), "4 letters, digits or _"),
    ("version code", re.compile(r"^[A-Za-z0-9_]{2}$"), "2 letters, digits or _"),
    ("inherited-certification code", re.compile(r"^\d{2}$", re.ASCII), "2 digits"),
    ("additional-software flag", re.compile(r"^[01]$"), "0 or 1"),
    ("certification date", re.compile(r"^\d{6}$", re.ASCII), "a date as YYMMDD"),
)
EXAMPLE = "15.04.04.1932.WebC.84.01.0.221117"


@dataclass(frozen=True)
class ProductNumber:
    text: str
    legacy: bool = False

    @property
    def edition(self) -> str | None:
        """'2015' for `15.…`; None for a legacy number (CHPL holds the edition in the listing)."""
        return None if self.legacy else "20" + self.text.split(".", 1)[0]

    @property
    def certification_date(self) -> dt.date | None:
        return None if self.legacy else _yymmdd(self.text.rsplit(".", 1)[1])

    def __str__(self) -> str:
        return self.text


def _yymmdd(text: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(text, "%y%m%d").date()
    except ValueError:
        return None


def parse_product_number(value: str) -> ProductNumber:
    """A validated product number, or ValueError saying which part is wrong and how."""
    text = str(value).strip()
    if not text:
        raise ValueError("a CHPL product number is empty")
    if LEGACY.match(text.upper()):
        return ProductNumber(text.upper(), legacy=True)
    parts = text.split(".")
    if len(parts) != len(PARTS):
        raise ValueError(
            f"'{text}' is not a CHPL product number: it has {len(parts)} dot-separated part"
            f"{'' if len(parts) == 1 else 's'}, a CHPL product number has 9 (like {EXAMPLE}) "
            "or is a legacy CHP-###### number"
        )
    for i, (part, (name, pattern, what)) in enumerate(zip(parts, PARTS, strict=True), start=1):
        if not pattern.fullmatch(part):  # `$` alone also matches before a final newline
            raise ValueError(f"'{text}' is not a CHPL product number: part {i} ({name}) is '{part}', it must be {what}")
    if _yymmdd(parts[-1]) is None:
        raise ValueError(
            f"'{text}' is not a CHPL product number: part 9 (certification date) '{parts[-1]}' is not a real YYMMDD date"
        )
    return ProductNumber(text)
