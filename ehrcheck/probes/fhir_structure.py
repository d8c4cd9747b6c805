"""Structural validation of FHIR R4 resources with fhir.resources' R4B models (which serve R4).

Only where an error is and its kind are kept (`Observation.valueQuantity.value: value_error`):
validator messages can quote the offending value, and values here are patient data. The place is
written in FHIR's words only: a key the model does not know is the server's text (a patient's
name, an MRN) and becomes UNKNOWN_ELEMENT; a resourceType FHIR does not define is UNKNOWN_TYPE.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from ehrcheck.http.resource_types import type_shown

UNKNOWN_ELEMENT = "[unknown element]"
# The shape of an element name the models declare (`birthDate`, `_birthDate`, `class_fhir`...);
# a step of any other shape is not reproduced, whatever the validator reports.
_ELEMENT_NAME = re.compile(r"_?[a-z][A-Za-z0-9_]{0,63}")


@lru_cache(maxsize=64)
def _model(resource_type: str) -> Any:
    import fhir.resources.R4B as r4b

    try:
        return r4b.get_fhir_model_class(resource_type)
    except (ValueError, KeyError, AttributeError):
        return None


def structure_problems(resource: dict[str, Any], limit: int = 5) -> list[str]:
    """[] when the resource is structurally valid R4; otherwise up to `limit` 'path: kind' notes."""
    from pydantic import ValidationError

    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        return ["resourceType: missing"]
    model = _model(rtype) if type_shown(rtype) == rtype else None
    if model is None:
        return [f"resourceType: {type_shown(rtype)} is not an R4 resource type"]
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        return [f"{rtype}.{place(e)}: {e.get('type')}" for e in exc.errors()[:limit]]
    except Exception as exc:  # noqa: BLE001 - a model quirk is a finding about the data, not a crash
        return [f"{rtype}: {exc.__class__.__name__}"]
    return []


def place(error: Any) -> str:
    """A validation error's dotted place: list indexes and declared element names; the key an
    `extra_forbidden` error names (the model has no such element) as UNKNOWN_ELEMENT."""
    steps = list(error.get("loc", ()))
    if error.get("type") == "extra_forbidden" and steps:
        steps[-1] = UNKNOWN_ELEMENT
    return ".".join(
        str(p) if isinstance(p, int) or p == UNKNOWN_ELEMENT or _ELEMENT_NAME.fullmatch(str(p)) else UNKNOWN_ELEMENT
        for p in steps
    )
