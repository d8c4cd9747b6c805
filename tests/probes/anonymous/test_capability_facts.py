"""Facts the capability probe derives beyond the statement's own fields."""

from __future__ import annotations

import pytest

from ehrcheck.probes.anonymous.capability import same_base


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://EHR.example.test/fhir/", True),  # host case and a trailing slash do not matter
        ("https://ehr.example.test/fhir", True),
        ("https://ehr.example.test/FHIR", False),  # the path is case-sensitive
        ("http://ehr.example.test/fhir", False),
        ("https://ehr.example.test/fhir/r4", False),
        ("https://other.example.test/fhir", False),
        (None, None),
        ("", None),
    ],
)
def test_implementation_url_compared_with_the_audited_base(url: str | None, expected: bool | None) -> None:
    assert same_base(url, "https://ehr.example.test/fhir") is expected
