"""Terminology bindings checked without a terminology server. Pure.

For each required or extensible binding a profile keeps (its own, or the FHIR R4 base resource's
required one), a value is judged against what the generated data knows of the value set:

- `pass`: the code is one the value set enumerates (the IG's own value sets and code systems, and
  the FHIR R4 core value sets);
- `fail`: a required binding, and no coding could be in the value set (its systems are all known
  and enumerated, and the code is not there; or a CodeableConcept with no coding at all);
- `system_ok`: the coding's system is one the value set takes by filter or whole (LOINC, SNOMED
  CT, or the system US Core names for a VSAC value set): the system is right, the code itself
  cannot be checked offline;
- `system_mismatch`: the value set's systems are known and no coding uses any of them;
- `not_checked`: the value set is not available offline (VSAC and other external sets). Never a pass.

Values carrying a data-absent-reason, and NullFlavor codes a value set does not list, are skipped
by the search-value chooser, not here: here they are judged like any other code.
"""

from __future__ import annotations

import re
from typing import Any

from ehrcheck.probes.authenticated.uscore_profiles import nodes, steps

OUTCOMES = ("pass", "fail", "system_ok", "system_mismatch", "not_checked")


def _codings(value: Any) -> list[tuple[str | None, str | None]] | None:
    """(system, code) pairs of a value: a code string, a Coding, a Quantity or a CodeableConcept.
    None when the value is not coded at all."""
    if isinstance(value, str):
        return [(None, value)]
    if not isinstance(value, dict):
        return None
    if "coding" in value or "text" in value:
        return [
            (
                c.get("system") if isinstance(c.get("system"), str) else None,
                c.get("code") if isinstance(c.get("code"), str) else None,
            )
            for c in value.get("coding") or []
            if isinstance(c, dict)
        ]
    if "code" in value or "system" in value:
        code = value.get("code")
        system = value.get("system")
        return [(system if isinstance(system, str) else None, code if isinstance(code, str) else None)]
    return None


def _one(system: str | None, code: str | None, vs: dict[str, Any]) -> str:
    codes: dict[str, list[str]] = vs.get("codes") or {}
    open_systems = vs.get("open_systems") or []
    if system is None:  # a bare `code` element: its system is implied by the binding
        if code is not None and any(code in listed for listed in codes.values()):
            return "pass"
        return "not_checked" if open_systems or vs.get("open_value_sets") else "out"
    if system in codes and code in codes[system]:
        return "pass"
    if system in open_systems:
        return "system_ok"
    if vs.get("open_value_sets"):
        return "unknown"
    return "out"


def judge_value(value: Any, binding: dict[str, Any], vs: dict[str, Any] | None) -> str | None:
    """One of OUTCOMES for one value under one binding; None when the value is not coded."""
    pairs = _codings(value)
    if pairs is None:
        return None
    if vs is None:
        return "not_checked"
    required = binding.get("strength") == "required"
    if not pairs:  # a CodeableConcept with only text
        return "fail" if required else "not_checked"
    results = [_one(s, c, vs) for s, c in pairs]
    for outcome in ("pass", "system_ok", "not_checked"):
        if outcome in results:
            return outcome
    if "unknown" in results:
        return "not_checked"
    if required:
        return "fail"
    systems = set(vs.get("codes") or {}) | set(vs.get("open_systems") or [])
    if systems and all(s not in systems for s, _ in pairs):
        return "system_mismatch"
    return "not_checked"  # extensible: a code outside the set is allowed when none fits


def judge_resource(
    resource: dict[str, Any], bindings: list[dict[str, Any]], value_sets: dict[str, Any]
) -> list[tuple[str, str, Any]]:
    """(binding id, outcome, offending coding or None) for each coded value the bindings reach.

    A binding on a slice (`Condition.category:us-core`) is met when any value of the sliced
    element is in the value set, and only judged when the slice is mandatory."""
    out: list[tuple[str, str, Any]] = []
    for binding in bindings:
        vs = value_sets.get(binding["value_set"])
        last = steps(binding["id"])[-1]
        if ":" in last and not last.startswith("value[x]:"):
            if int(binding.get("min") or 0) < 1:
                continue
            plain = binding["id"].rsplit(":", 1)[0]
            values = nodes(resource, {"id": plain})
            if not values:
                continue
            results = [judge_value(v, binding, vs) for v in values]
            results = [r for r in results if r]
            if not results:
                continue
            best = next((o for o in OUTCOMES if o in results), "not_checked")
            out.append((binding["id"], best, None if best != "fail" else _first_code(values)))
            continue
        for value in nodes(resource, {"id": binding["id"]}):
            outcome = judge_value(value, binding, vs)
            if outcome is not None:
                out.append((binding["id"], outcome, _first_code([value]) if outcome in ("fail", "system_mismatch") else None))
    return out


def _first_code(values: list[Any]) -> str | None:
    return next((shown_code(system, code) for v in values for system, code in _codings(v) or [] if code is not None), None)


def shown_code(system: str | None, code: str) -> str:
    """A code as reports show it: `code (system name)`, reduced to characters that cannot be
    markup, a link or an escape sequence (the server chose it: it is hostile text)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "", (system or "").rstrip("/").rsplit("/", 1)[-1])[:40]
    safe = re.sub(r"[^A-Za-z0-9._ -]", "?", code)[:40]
    return f"{safe} ({name})" if name else safe


def tx_candidates(value: Any) -> list[tuple[str, str]]:
    """(system, code) pairs a terminology server could judge."""
    return [(s, c) for s, c in _codings(value) or [] if s and c]
