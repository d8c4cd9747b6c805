"""The two kinds of model probe data is made of.

`Facts`: an object ehrcheck writes. Every key is declared (an unknown key is an error, so a
typo in hand-edited evidence is named rather than ignored), values are typed strictly (no "200"
for 200), and every field is optional because a rule case or an old file gives only what it has.
A field absent from the file reads as None, as `dict.get` did.

Values that come verbatim from a server (a SMART document's fields, a Bundle's `type`) are typed
`Any` inside these models: the server may send anything, and the checks judge it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Facts(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)

    def raw(self) -> dict[str, Any]:
        """The object as the evidence file holds it (only the keys it had), for a finding's `observed`."""
        return self.model_dump(mode="json", exclude_unset=True)


class OpenFacts(Facts):
    """Facts whose keys come from outside (a CHPL listing as CHPL publishes it): unknown keys are kept."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True, defer_build=True)
