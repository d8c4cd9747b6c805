"""CHPL product numbers are checked before any lookup, with the faulty part named."""

from __future__ import annotations

import datetime as dt

import pytest

from ehrcheck.probes.certification.chpl_number import parse_product_number


@pytest.mark.parametrize(
    "text",
    [
        "15.04.04.1932.WebC.84.01.0.221117",  # ONC's own example
        "15.04.04.2916.smar.07.01.1.190328",  # lower-case product code, additional software
        "14.04.04.2916.Smar.61.01.0.170411",  # a 2014 Edition listing
        "15.99.99.XXXX.A_0_.v1.00.0.240229",  # leap day, XXXX developer, _ in codes
    ],
)
def test_valid_numbers(text: str) -> None:
    number = parse_product_number(f"  {text} ")
    assert str(number) == text and not number.legacy


def test_parts_are_read() -> None:
    number = parse_product_number("15.04.04.1932.WebC.84.01.0.221117")
    assert number.edition == "2015" and number.certification_date == dt.date(2022, 11, 17)


def test_legacy_numbers() -> None:
    number = parse_product_number("chp-028979")
    assert str(number) == "CHP-028979" and number.legacy
    assert number.edition is None and number.certification_date is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty"),
        ("15.04.04.1932.WebC.84.01.0", "has 8 dot-separated parts, a CHPL product number has 9"),
        ("15.04.04.1932.WebC.84.01.0.221117.1", "has 10 dot-separated parts"),
        ("2015.04.04.1932.WebC.84.01.0.221117", "part 1 (edition) is '2015', it must be 2 digits"),
        ("15.04.04.193.WebC.84.01.0.221117", "part 4 (developer code) is '193'"),
        ("15.04.04.1932.Web-.84.01.0.221117", "part 5 (product code)"),
        ("15.04.04.1932.WebC.840.01.0.221117", "part 6 (version code)"),
        ("15.04.04.1932.WebC.84.1.0.221117", "part 7 (inherited-certification code)"),
        ("15.04.04.1932.WebC.84.01.2.221117", "part 8 (additional-software flag) is '2', it must be 0 or 1"),
        ("15.04.04.1932.WebC.84.01.0.22111", "part 9 (certification date)"),
        ("15.04.04.1932.WebC.84.01.0.221317", "'221317' is not a real YYMMDD date"),
        ("CHP-12345", "has 1 dot-separated part,"),
    ],
)
def test_invalid_numbers_name_the_part(text: str, expected: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_product_number(text)
    assert expected in str(info.value)
