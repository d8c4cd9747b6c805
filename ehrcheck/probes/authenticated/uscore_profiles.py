"""US Core profiles (6.1.0 and 7.0.0) as data, and the pure checks of one resource against one profile.

The data (`ehrcheck/rules/data/us_core_<version>_conformance.json`) is made by
scripts/gen_us_core_data.py from each IG's StructureDefinitions, server CapabilityStatement,
SearchParameters and value sets. Each profile lists elements with `min`, `must_support`, `uscdi`
(the "Additional USCDI Requirements", which ONC testing treats as must-support), for slices the
`pattern` or `extension_url` that picks them out, and its terminology `bindings`.

Limits, on purpose: slices other than extensions and `value[x]` types are judged by their pattern
only (their children are not walked), and a data-absent-reason does not count as presence.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

VERSIONS = ("6.1.0", "7.0.0")
DEFAULT_VERSION = "6.1.0"  # the version 45 CFR 170.215(b)(1)(ii) names; 7.0.0 is the SVAP alternative


def data_file(version: str) -> str:
    return f"us_core_{version.replace('.', '_')}_conformance.json"


@lru_cache(maxsize=len(VERSIONS))
def conformance(version: str = DEFAULT_VERSION) -> dict[str, Any]:
    if version not in VERSIONS:
        raise ValueError(f"US Core {version} is not one of {', '.join(VERSIONS)}")
    text = resources.files("ehrcheck.rules").joinpath("data", data_file(version)).read_text(encoding="utf-8")
    return json.loads(text)


@lru_cache(maxsize=len(VERSIONS))
def profiles_by_id(version: str = DEFAULT_VERSION) -> dict[str, dict[str, Any]]:
    return {p["id"]: p for p in conformance(version)["profiles"]}


@lru_cache(maxsize=4096)
def _steps(element_id: str) -> tuple[str, ...]:
    return tuple(element_id.split(".")[1:])


def steps(element_id: str) -> list[str]:
    """'Observation.component.value[x]' -> ['component', 'value[x]']; a slice keeps its ':name'."""
    return list(_steps(element_id))


@lru_cache(maxsize=4096)
def _step(step: str) -> tuple[str, str, str | None]:
    """(name, slice name, choice prefix): parsed once per step, not once per resource."""
    name, _, slice_name = step.partition(":")
    return name, slice_name, name[:-3] if name.endswith("[x]") else None


def _coding_matches(item: Any, pattern: dict[str, Any]) -> bool:
    """A CodeableConcept `item` carries every coding the pattern names (system and code)."""
    if not isinstance(item, dict):
        return False
    codings = [c for c in item.get("coding") or [] if isinstance(c, dict)]
    for want in pattern.get("coding") or []:
        if not any(all(c.get(k) == v for k, v in want.items() if k in ("system", "code")) for c in codings):
            return False
    return True


def _children(node: Any, step: str, element: dict[str, Any] | None) -> list[Any]:
    """The values under `node` for one path step, lists flattened."""
    if not isinstance(node, dict):
        return []
    name, slice_name, prefix = _step(step)
    if prefix is not None:
        if slice_name:  # value[x]:valueQuantity -> exactly that type
            values = [node[slice_name]] if slice_name in node else []
        else:
            values = [v for k, v in node.items() if k.startswith(prefix) and k[len(prefix) :][:1].isupper()]
    else:
        values = [node[name]] if name in node else []
    flat: list[Any] = []
    for v in values:
        flat.extend(v if isinstance(v, list) else [v])
    if slice_name and element is not None:
        if element.get("extension_url"):
            flat = [v for v in flat if isinstance(v, dict) and v.get("url") == element["extension_url"]]
        elif element.get("pattern") and isinstance(element["pattern"], dict):
            flat = [v for v in flat if _coding_matches(v, element["pattern"])]
    return flat


def nodes(resource: dict[str, Any], element: dict[str, Any]) -> list[Any]:
    """Every value the element's path reaches in the resource."""
    path = _steps(element["id"])
    current: list[Any] = [resource]
    for i, step in enumerate(path):
        last = i == len(path) - 1
        current = [child for node in current for child in _children(node, step, element if last else None)]
        if not current:
            return []
    return current


def mandatory_missing(resource: dict[str, Any], element: dict[str, Any]) -> bool:
    """A min>=1 element is missing under a parent that is present (a required child of an
    optional parent is only required when the parent is there)."""
    minimum = int(element.get("min") or 0)
    if minimum < 1:
        return False
    path = _steps(element["id"])
    if len(path) == 1:
        name, slice_name, prefix = _step(path[0])
        if not slice_name and prefix is None:  # the common case, a top-level element: no walk
            value = resource.get(name) if isinstance(resource, dict) else None
            count = 0 if value in (None, "", [], {}) else len(value) if isinstance(value, list) else 1
            return count < minimum
    parents: list[Any] = [resource]
    for step in path[:-1]:
        parents = [child for node in parents for child in _children(node, step, None)]
    return any(len(_children(parent, path[-1], element)) < minimum for parent in parents)


def must_support_elements(profile: dict[str, Any]) -> list[dict[str, Any]]:
    """Must-support (and USCDI-requirement) elements a server is expected to show somewhere.
    dataAbsentReason is left out: it stands in for a missing value, so complete data never has it."""
    return [e for e in profile["elements"] if (e.get("must_support") or e.get("uscdi")) and "dataAbsentReason" not in e["id"]]


def _selector_matches(resource: dict[str, Any], profile: dict[str, Any]) -> bool:
    sel = profile.get("selectors") or {}
    if "code" in sel and not _coding_matches(resource.get("code"), {"coding": sel["code"]}):
        return False
    if "category" in sel:
        cats = resource.get("category")
        cats = cats if isinstance(cats, list) else [cats]
        if not any(_coding_matches(c, {"coding": [want]}) for c in cats for want in sel["category"]):
            return False
    return True


def _depth(profile: dict[str, Any]) -> int:
    return int(profile.get("depth") or 0)


def assign_profile(resource: dict[str, Any], candidates: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str]:
    """The US Core profile a resource is meant to meet: the one it claims in meta.profile, else
    the most specific whose fixed codes (category, code) it carries. Returns (profile, how)."""
    claimed = {str(u).split("|", 1)[0] for u in ((resource.get("meta") or {}).get("profile") or []) if isinstance(u, str)}
    by_claim = [p for p in candidates if p["url"] in claimed]
    if by_claim:
        return max(by_claim, key=lambda p: (_depth(p), len(p.get("selectors") or {}))), "meta.profile"
    by_codes = [p for p in candidates if _selector_matches(resource, p)]
    if by_codes:
        return max(by_codes, key=lambda p: (len(p.get("selectors") or {}), _depth(p))), "codes"
    return None, "none"
