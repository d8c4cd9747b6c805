"""Resources judged against their US Core profiles as they arrive, in memory bounded by the
number of profiles (never by the number of resources): structure, mandatory elements,
must-support coverage, terminology. Pure; used by the US Core probe (every search and read) and
the Bulk probe (every NDJSON line).

Each profile is compiled once per version into a ProfilePlan (parsed element paths, value sets as
sets, the candidate order for choosing a profile), so the per-resource work is only the walk over
the resource itself: the Bulk probe judges every line of a file with it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ehrcheck.probes.authenticated.uscore_profiles import (
    ElementPath,
    ProfileChooser,
    conformance,
    must_support_elements,
    nodes,
    value_count,
)
from ehrcheck.probes.authenticated.uscore_terminology import (
    BindingPlan,
    ValueSetCodes,
    binding_plans,
    judge_resource,
    tx_candidates,
)
from ehrcheck.probes.fhir_structure import structure_problems

DAR = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
MAX_BAD_CODES = 3
MAX_TX_CANDIDATES = 200
ROW = {
    "pass": "passed",
    "fail": "failed",
    "system_ok": "system_ok",
    "system_mismatch": "system_mismatch",
    "not_checked": "not_checked",
}


def _real(value: Any) -> bool:
    """A value that is more than a data-absent-reason stand-in (which never counts as seen)."""
    if isinstance(value, dict):
        rest = {k: v for k, v in value.items() if k not in ("extension", "id")}
        if not rest and any(isinstance(x, dict) and x.get("url") == DAR for x in value.get("extension") or []):
            return False
    return value not in (None, "", [], {})


@lru_cache(maxsize=4)
def _value_set_codes(version: str) -> dict[str, ValueSetCodes]:
    return {url: ValueSetCodes(vs) for url, vs in (conformance(version).get("value_sets") or {}).items()}


class ProfilePlan:
    """One profile compiled once: its mandatory element paths, must-support elements and binding
    plans, so each resource is judged without re-reading the profile data."""

    def __init__(self, profile: dict[str, Any], value_sets: dict[str, ValueSetCodes]):
        self.profile = profile
        self.mandatory = [ElementPath(e) for e in profile["elements"] if int(e.get("min") or 0) >= 1]
        self.must_support = must_support_elements(profile)
        self.bindings = list(profile.get("bindings") or [])
        self.binding_plans: list[BindingPlan] = binding_plans(self.bindings, value_sets)


@lru_cache(maxsize=256)
def _plan(version: str, profile_id: str) -> ProfilePlan:
    """The plan of a profile from the version's own data (profile ids are unique per version)."""
    profile = next(p for p in conformance(version)["profiles"] if p["id"] == profile_id)
    return ProfilePlan(profile, _value_set_codes(version))


def plan_for(version: str, profile: dict[str, Any]) -> ProfilePlan:
    """A cached plan when `profile` is the version's own; a fresh one for any other dict."""
    if any(p is profile for p in conformance(version)["profiles"]):
        return _plan(version, profile["id"])
    return ProfilePlan(profile, _value_set_codes(version))


class ProfileTally:
    """What one profile's resources showed, accumulated one resource at a time."""

    def __init__(self, plan: ProfilePlan, collect_tx: bool = True):
        self.profile = plan.profile
        self.collect_tx = collect_tx
        self.mandatory = plan.mandatory
        self.must_support = plan.must_support
        self.unseen = {e["id"]: e for e in self.must_support}
        self.bindings = plan.bindings
        self.binding_plans = plan.binding_plans
        self.resources = 0
        self.structure_invalid = 0
        self.structure_problems: list[str] = []
        self.violations: dict[str, int] = {}
        self.missing_mandatory = 0
        self.terminology: dict[str, dict[str, Any]] = {}
        self.tx: dict[tuple[str, str, str], str] = {}  # (value set, system, code) -> binding id

    def add(self, resource: dict[str, Any], structure: bool = True, must_support: bool = True) -> bool:
        """Judge one resource; True when it meets the mandatory elements and required bindings."""
        self.resources += 1
        if structure:
            found = structure_problems(resource, limit=3)
            if found:
                self.structure_invalid += 1
                self.structure_problems.extend(p for p in found if p not in self.structure_problems)
                del self.structure_problems[5:]
        ok = True
        for path in self.mandatory:
            # The common case, a plain top-level element, inline: this runs for every Bulk line.
            if (value_count(resource.get(path.top)) < path.min) if path.top is not None else path.missing(resource):
                self.violations[path.id] = self.violations.get(path.id, 0) + 1
                ok = False
        if not ok:
            self.missing_mandatory += 1
        if must_support and self.unseen:
            for eid in [eid for eid, e in self.unseen.items() if any(_real(v) for v in nodes(resource, e))]:
                del self.unseen[eid]
        for binding_id, outcome, code in judge_resource(resource, self.binding_plans):
            row = self.terminology.get(binding_id)
            if row is None:
                binding = next(b for b in self.bindings if b["id"] == binding_id)
                row = self.terminology[binding_id] = {
                    "strength": binding["strength"],
                    "value_set": binding["value_set"],
                    **{ROW[o]: 0 for o in ROW},
                    "bad_codes": [],
                }
            row[ROW[outcome]] += 1
            if outcome == "fail":
                ok = False
            if code and code not in row["bad_codes"] and len(row["bad_codes"]) < MAX_BAD_CODES:
                row["bad_codes"].append(code)
            if self.collect_tx and outcome in ("not_checked", "system_ok") and len(self.tx) < MAX_TX_CANDIDATES:
                for value in nodes(
                    resource, {"id": binding_id.rsplit(":", 1)[0] if ":" in binding_id.rsplit(".", 1)[-1] else binding_id}
                ):
                    for system, c in tx_candidates(value):
                        self.tx.setdefault((row["value_set"], system, c), binding_id)
        return ok

    def result(self, with_must_support: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "resource": self.profile["resource"],
            "uscdi_required": self.profile["uscdi_required"],
            "resources": self.resources,
            "structure_invalid": self.structure_invalid,
            "structure_problems": self.structure_problems[:5],
            "mandatory_checked": len(self.mandatory),
            "mandatory_violations": dict(sorted(self.violations.items())),
            "resources_missing_mandatory": self.missing_mandatory,
            "terminology": {k: {**v} for k, v in sorted(self.terminology.items())},
        }
        if with_must_support:
            seen = len(self.must_support) - len(self.unseen)
            out["must_support"] = {
                "total": len(self.must_support),
                "covered": seen if self.resources else 0,
                "missing": [e["id"] for e in self.must_support if e["id"] in self.unseen] if self.resources else [],
            }
        return out


class Judge:
    """Assigns each resource to a profile in scope and feeds that profile's tally; a resource
    seen twice (by two searches, a search and a read) is judged once."""

    def __init__(self, version: str, profiles: list[dict[str, Any]], dedupe: bool = True, collect_tx: bool = True):
        self.version = version
        by_type: dict[str, list[dict[str, Any]]] = {}
        for p in profiles:
            by_type.setdefault(p["resource"], []).append(p)
        self.by_type = {rtype: ProfileChooser(candidates) for rtype, candidates in by_type.items()}
        self.tallies = {p["id"]: ProfileTally(plan_for(version, p), collect_tx) for p in profiles}
        self.unassigned: dict[str, int] = {}
        self.seen: set[tuple[str, str]] | None = set() if dedupe else None
        self.judged = 0
        self.failed = 0  # judged resources missing a mandatory element or a required code

    def add(self, resource: dict[str, Any], structure: bool = True, must_support: bool = True) -> bool | None:
        """Judge one resource: True/False as it meets its profile, None when not judged (another
        type, no profile fits, or already seen)."""
        rtype = resource.get("resourceType")
        chooser = self.by_type.get(rtype) if isinstance(rtype, str) else None
        if chooser is None:
            return None
        if self.seen is not None:
            key = (str(rtype), str(resource.get("id")))
            if resource.get("id") is not None and key in self.seen:
                return None
            self.seen.add(key)
        profile, _how = chooser.choose(resource)
        if profile is None:
            self.unassigned[str(rtype)] = self.unassigned.get(str(rtype), 0) + 1
            return None
        ok = self.tallies[profile["id"]].add(resource, structure=structure, must_support=must_support)
        self.judged += 1
        self.failed += not ok
        return ok

    def tx_candidates(self) -> dict[tuple[str, str, str], tuple[str, str]]:
        """(value set, system, code) -> (profile id, binding id), for a terminology server."""
        out: dict[tuple[str, str, str], tuple[str, str]] = {}
        for pid, tally in self.tallies.items():
            for key, binding_id in tally.tx.items():
                out.setdefault(key, (pid, binding_id))
        return out
