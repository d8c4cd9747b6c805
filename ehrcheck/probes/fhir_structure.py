"""Structural validation of FHIR R4 resources with fhir.resources' R4B models (which serve R4).

Only where an error is and its kind are kept (`Observation.valueQuantity.value: value_error`):
validator messages can quote the offending value, and values here are patient data.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


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
    model = _model(rtype)
    if model is None:
        return [f"resourceType: '{rtype[:40]}' is not an R4 resource type"]
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        return [f"{rtype}." + ".".join(str(p) for p in e.get("loc", ())) + f": {e.get('type')}" for e in exc.errors()[:limit]]
    except Exception as exc:  # noqa: BLE001 - a model quirk is a finding about the data, not a crash
        return [f"{rtype}: {exc.__class__.__name__}"]
    return []
