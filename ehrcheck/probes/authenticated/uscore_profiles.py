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


Wanted = tuple[tuple[tuple[str, Any], ...], ...]  # per pattern coding: its (key, value) pairs


def _wanted(pattern: dict[str, Any]) -> Wanted:
    """A CodeableConcept pattern reduced to what matching reads: each coding's system and code."""
    return tuple(
        tuple((k, v) for k, v in want.items() if k in ("system", "code"))
        for want in pattern.get("coding") or []
        if isinstance(want, dict)
    )


def _matches(item: Any, wanted: Wanted) -> bool:
    """A CodeableConcept `item` carries a coding for every wanted one (same system and code)."""
    if not isinstance(item, dict):
        return False
    codings = item.get("coding")
    if not isinstance(codings, list):
        codings = ()
    # Plain loops, no generators: this runs for every category of every Bulk line.
    for want in wanted:
        for c in codings:
            if isinstance(c, dict):
                for k, v in want:
                    if c.get(k) != v:
                        break
                else:
                    break  # this coding has the wanted system and code
        else:
            return False
    return True


def _kids(
    node: Any, name: str, slice_name: str, prefix: str | None, ext_url: Any = None, wanted: Wanted | None = None
) -> list[Any]:
    """The values under `node` for one parsed path step, lists flattened; a slice step keeps only
    the values its extension URL or pattern picks out (when the element gives one)."""
    if not isinstance(node, dict):
        return []
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
    if slice_name:
        if ext_url:
            flat = [v for v in flat if isinstance(v, dict) and v.get("url") == ext_url]
        elif wanted is not None:
            flat = [v for v in flat if _matches(v, wanted)]
    return flat


def value_count(value: Any) -> int:
    """How many values a top-level element holds; empty strings, lists and objects hold none."""
    if value is None or (type(value) in (str, list, dict) and not value):
        return 0
    return len(value) if isinstance(value, list) else 1


class ElementPath:
    """One element's path parsed once, so judging a resource walks it without re-parsing the id
    or re-reading the element (the Bulk probe judges every NDJSON line with these)."""

    __slots__ = ("id", "min", "steps", "ext_url", "wanted", "top")

    def __init__(self, element: dict[str, Any]):
        self.id: str = element["id"]
        self.min = int(element.get("min") or 0)
        self.steps = tuple(_step(s) for s in _steps(self.id))
        self.ext_url = element.get("extension_url")
        pattern = element.get("pattern")
        self.wanted = _wanted(pattern) if pattern and isinstance(pattern, dict) else None
        # A plain top-level element (no slice, no choice type): read with one dict lookup.
        only = self.steps[0] if len(self.steps) == 1 else None
        self.top: str | None = only[0] if only is not None and not only[1] and only[2] is None else None

    def values(self, resource: dict[str, Any]) -> list[Any]:
        """Every value the path reaches (what `nodes` returns for the element); read only."""
        if self.top is not None and isinstance(resource, dict):
            value = resource.get(self.top)
            return [] if value is None else value if isinstance(value, list) else [value]
        current: list[Any] = [resource]
        last = len(self.steps) - 1
        for i, (name, slice_name, prefix) in enumerate(self.steps):
            if i == last:
                current = [c for node in current for c in _kids(node, name, slice_name, prefix, self.ext_url, self.wanted)]
            else:
                current = [c for node in current for c in _kids(node, name, slice_name, prefix)]
            if not current:
                return []
        return current

    def missing(self, resource: dict[str, Any]) -> bool:
        """What `mandatory_missing` says for the element."""
        if self.min < 1:
            return False
        if self.top is not None:
            return value_count(resource.get(self.top) if isinstance(resource, dict) else None) < self.min
        if len(self.steps) == 1:  # a top-level slice or choice: its parent is the resource
            return len(_kids(resource, *self.steps[0], self.ext_url, self.wanted)) < self.min
        parents: list[Any] = [resource]
        for name, slice_name, prefix in self.steps[:-1]:
            parents = [c for node in parents for c in _kids(node, name, slice_name, prefix)]
        name, slice_name, prefix = self.steps[-1]
        return any(len(_kids(p, name, slice_name, prefix, self.ext_url, self.wanted)) < self.min for p in parents)


def nodes(resource: dict[str, Any], element: dict[str, Any]) -> list[Any]:
    """Every value the element's path reaches in the resource."""
    return ElementPath(element).values(resource)


def mandatory_missing(resource: dict[str, Any], element: dict[str, Any]) -> bool:
    """A min>=1 element is missing under a parent that is present (a required child of an
    optional parent is only required when the parent is there)."""
    return ElementPath(element).missing(resource)


def must_support_elements(profile: dict[str, Any]) -> list[dict[str, Any]]:
    """Must-support (and USCDI-requirement) elements a server is expected to show somewhere.
    dataAbsentReason is left out: it stands in for a missing value, so complete data never has it."""
    return [e for e in profile["elements"] if (e.get("must_support") or e.get("uscdi")) and "dataAbsentReason" not in e["id"]]


def _depth(profile: dict[str, Any]) -> int:
    return int(profile.get("depth") or 0)


class ProfileChooser:
    """Picks the US Core profile a resource is meant to meet among one type's candidates: the one
    it claims in meta.profile, else the most specific whose fixed codes (category, code) it
    carries. The candidates' order and selectors are worked out once, not once per resource."""

    def __init__(self, candidates: list[dict[str, Any]]):
        # sorted() is stable, so among equals the first candidate wins, as max() would pick it.
        by_claim = sorted(candidates, key=lambda p: (_depth(p), len(p.get("selectors") or {})), reverse=True)
        self.rank: dict[str, tuple[int, dict[str, Any]]] = {}  # url -> (preference, profile); 0 is best
        for i, p in enumerate(by_claim):
            self.rank.setdefault(p["url"], (i, p))
        by_codes = sorted(candidates, key=lambda p: (len(p.get("selectors") or {}), _depth(p)), reverse=True)
        self.by_codes = [(p, *self._selector(p)) for p in by_codes]

    @staticmethod
    def _selector(profile: dict[str, Any]) -> tuple[Wanted | None, list[Wanted] | None]:
        sel = profile.get("selectors") or {}
        code = _wanted({"coding": sel["code"]}) if "code" in sel else None
        category = [_wanted({"coding": [want]}) for want in sel["category"]] if "category" in sel else None
        return code, category

    def choose(self, resource: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
        """(profile, how): how is meta.profile, codes, or none."""
        meta = resource.get("meta")
        listed = meta.get("profile") if isinstance(meta, dict) else None
        if listed:
            best = None
            for u in listed:
                if isinstance(u, str):
                    found = self.rank.get(u.split("|", 1)[0])
                    if found is not None and (best is None or found[0] < best[0]):
                        best = found
            if best is not None:
                return best[1], "meta.profile"
        cats: Any = None
        for p, code, category in self.by_codes:
            if code is not None and not _matches(resource.get("code"), code):
                continue
            if category is not None:
                if cats is None:
                    cats = resource.get("category")
                    cats = cats if isinstance(cats, list) else [cats]
                if not any(_matches(c, want) for c in cats for want in category):
                    continue
            return p, "codes"
        return None, "none"


def assign_profile(resource: dict[str, Any], candidates: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str]:
    """The US Core profile a resource is meant to meet (see ProfileChooser). Returns (profile, how)."""
    return ProfileChooser(candidates).choose(resource)
