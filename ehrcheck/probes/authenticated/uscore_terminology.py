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

from ehrcheck.probes.authenticated.uscore_profiles import ElementPath, steps

OUTCOMES = ("pass", "fail", "system_ok", "system_mismatch", "not_checked")


def _codings(value: Any) -> list[tuple[str | None, str | None]] | None:
    """(system, code) pairs of a value: a code string, a Coding, a Quantity or a CodeableConcept.
    None when the value is not coded at all."""
    if isinstance(value, str):
        return [(None, value)]
    if not isinstance(value, dict):
        return None
    if "coding" in value or "text" in value:
        codings = value.get("coding")
        return [
            (
                c.get("system") if isinstance(c.get("system"), str) else None,
                c.get("code") if isinstance(c.get("code"), str) else None,
            )
            for c in (codings if isinstance(codings, list) else ())
            if isinstance(c, dict)
        ]
    if "code" in value or "system" in value:
        code = value.get("code")
        system = value.get("system")
        return [(system if isinstance(system, str) else None, code if isinstance(code, str) else None)]
    return None


class ValueSetCodes:
    """What the generated data knows of one value set, as sets for membership tests (built once
    per judge, not once per coded value)."""

    __slots__ = ("codes", "listed", "open_systems", "open_value_sets", "systems")

    def __init__(self, vs: dict[str, Any]):
        codes: dict[str, list[str]] = vs.get("codes") or {}
        self.codes = {system: frozenset(listed) for system, listed in codes.items()}
        self.listed = frozenset(c for listed in codes.values() for c in listed)  # for a bare `code`
        self.open_systems = frozenset(vs.get("open_systems") or [])
        self.open_value_sets = bool(vs.get("open_value_sets"))
        self.systems = frozenset(self.codes) | self.open_systems


def _one(system: str | None, code: str | None, vs: ValueSetCodes) -> str:
    if system is None:  # a bare `code` element: its system is implied by the binding
        if code is not None and code in vs.listed:
            return "pass"
        return "not_checked" if vs.open_systems or vs.open_value_sets else "out"
    listed = vs.codes.get(system)
    if listed is not None and code in listed:
        return "pass"
    if system in vs.open_systems:
        return "system_ok"
    if vs.open_value_sets:
        return "unknown"
    return "out"


def _judge_pairs(pairs: list[tuple[str | None, str | None]] | None, required: bool, vs: ValueSetCodes | None) -> str | None:
    if pairs is None:
        return None
    if vs is None:
        return "not_checked"
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
    if vs.systems and all(s not in vs.systems for s, _ in pairs):
        return "system_mismatch"
    return "not_checked"  # extensible: a code outside the set is allowed when none fits


def judge_value(value: Any, binding: dict[str, Any], vs: dict[str, Any] | None) -> str | None:
    """One of OUTCOMES for one value under one binding; None when the value is not coded."""
    return _judge_pairs(_codings(value), binding.get("strength") == "required", None if vs is None else ValueSetCodes(vs))


class BindingPlan:
    """One binding, compiled: the path it reaches, whether it binds a slice, its value set."""

    __slots__ = ("id", "min", "path", "sliced", "required", "vs", "seen", "seen_codes")
    MAX_SEEN = 512  # outcomes remembered per binding: bounded, whatever codes a server sends

    def __init__(self, binding: dict[str, Any], vs: ValueSetCodes | None):
        self.id: str = binding["id"]
        self.min = int(binding.get("min") or 0)
        last = steps(self.id)[-1]
        self.sliced = ":" in last and not last.startswith("value[x]:")
        self.path = ElementPath({"id": self.id.rsplit(":", 1)[0] if self.sliced else self.id})
        self.required = binding.get("strength") == "required"
        self.vs = vs
        self.seen: dict[tuple[tuple[str | None, str | None], ...], str | None] = {}
        self.seen_codes: dict[str, str | None] = {}  # bare `code` values (statuses), by the code

    def judge(self, value: Any) -> str | None:
        """_judge for this binding; an outcome depends only on the value's (system, code) pairs,
        and a few codes (status, category) make up most values, so outcomes are remembered."""
        if type(value) is str:
            outcome = self.seen_codes.get(value, "")
            if outcome == "":
                outcome = _judge_pairs([(None, value)], self.required, self.vs)
                if len(self.seen_codes) < self.MAX_SEEN:
                    self.seen_codes[value] = outcome
            return outcome
        pairs = _codings(value)
        if pairs is None:
            return None
        key = tuple(pairs)
        outcome = self.seen.get(key, "")
        if outcome == "":
            outcome = _judge_pairs(pairs, self.required, self.vs)
            if len(self.seen) < self.MAX_SEEN:
                self.seen[key] = outcome
        return outcome


def binding_plans(bindings: list[dict[str, Any]], value_sets: dict[str, ValueSetCodes]) -> list[BindingPlan]:
    """The bindings a resource is judged by. A binding on a slice (`Condition.category:us-core`)
    is only judged when the slice is mandatory, and is then met by any value of the sliced element."""
    plans = [BindingPlan(b, value_sets.get(b["value_set"])) for b in bindings]
    return [plan for plan in plans if not plan.sliced or plan.min >= 1]


def judge_resource(resource: dict[str, Any], plans: list[BindingPlan]) -> list[tuple[str, str, Any]]:
    """(binding id, outcome, offending coding or None) for each coded value the bindings reach."""
    out: list[tuple[str, str, Any]] = []
    for plan in plans:
        values = plan.path.values(resource)
        if not values:
            continue
        if plan.sliced:
            results = [r for r in (plan.judge(v) for v in values) if r]
            if not results:
                continue
            best = next((o for o in OUTCOMES if o in results), "not_checked")
            out.append((plan.id, best, None if best != "fail" else _first_code(values)))
            continue
        for value in values:
            outcome = plan.judge(value)
            if outcome is not None:
                out.append((plan.id, outcome, _first_code([value]) if outcome in ("fail", "system_mismatch") else None))
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
