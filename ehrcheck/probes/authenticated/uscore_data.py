"""US Core 6.1.0 data behind the token: the SHALL searches per patient, and every resource checked.

Discovery documents can say anything; this probe looks at the data a practice will depend on.
For each resource type with a profile in scope it runs the US Core server's SHALL searches for
each sampled patient (values for parameters other than `patient` come from the resources the first
search returned, as the ONC test kit does), follows paging to a bound, and checks each resource:

- structure (fhir.resources R4B models, which serve R4),
- the profile's mandatory elements, and which must-support elements appear at all,
- that results match the search that returned them,
- that literal references resolve,
- that errors come back as OperationOutcome.

Profiles in scope: those the CapabilityStatement lists in supportedProfile; when it lists none,
the USCDI profiles of the resource types it declares; with `--us-core all`, every USCDI profile.
Evidence keeps counts, element paths and coverage. No resource content, no ids, no names.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from ehrcheck.http.client import FetchError, Recorder
from ehrcheck.probes.authenticated.token import AuthSession, session_of
from ehrcheck.probes.authenticated.uscore_profiles import (
    assign_profile,
    conformance,
    mandatory_missing,
    must_support_elements,
    nodes,
)
from ehrcheck.probes.base import ProbeContext, ProbeError, parse_json
from ehrcheck.probes.fhir_structure import structure_problems
from ehrcheck.probes.phi import ScrubbingRecorder
from ehrcheck.probes.progress import progress_of

ACCEPT = {"Accept": "application/fhir+json"}
DEFAULT_SAMPLE = 3
DEFAULT_MAX_PAGES = 5
CONCURRENCY = 4
# Values for token parameters the first search needs but no resource can supply yet: every code
# of the (required) value set, OR-ed, which also exercises multipleOr.
ALL_CODES = {
    ("MedicationRequest", "intent"): "proposal,plan,order,original-order,reflex-order,filler-order,instance-order,option",
    ("CareTeam", "status"): "proposed,active,suspended,inactive,entered-in-error",
}
PATIENT_PARAM = "patient"


@dataclass
class TypeRun:
    """What one resource type's searches found: resources by id, and per-search tallies."""

    resource_type: str
    cap: int
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    searches: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_patient: dict[str, list[str]] = field(default_factory=dict)

    def tally(self, key: str) -> dict[str, Any]:
        return self.searches.setdefault(
            key,
            {
                "requests": 0,
                "ok": 0,
                "http_errors": 0,
                "errors_with_operation_outcome": 0,
                "results": 0,
                "mismatched": 0,
                "pages": 0,
                "seed_found": None,
                "statuses": {},
            },
        )

    def keep(self, resource: dict[str, Any]) -> None:
        rid = resource.get("id")
        if isinstance(rid, str) and (rid in self.resources or len(self.resources) < self.cap):
            self.resources[rid] = resource


class Audit:
    def __init__(self, ctx: ProbeContext, session: AuthSession, rec: Recorder, sample: int, max_pages: int):
        self.ctx, self.session, self.rec = ctx, session, rec
        self.sample, self.max_pages = sample, max_pages
        self.sem = asyncio.Semaphore(CONCURRENCY)
        self.origin = urlsplit(ctx.base_url)[:2]

    async def get(self, url: str) -> tuple[int, Any]:
        async with self.sem:
            headers = {**ACCEPT, **await self.session.auth_header(self.ctx, self.rec)}
            resp = await self.ctx.fetcher.get(url, self.rec, headers=headers)
        doc, _ = parse_json(resp)
        return resp.status, doc

    async def search(self, run: TypeRun, key: str, params: dict[str, str], paged: bool) -> list[dict[str, Any]]:
        """Run one search (following `next` links when `paged`); tally it; return its resources."""
        tally = run.tally(key)
        url: str | None = self.ctx.url(run.resource_type) + "?" + urlencode(params, safe=",|:")
        found: list[dict[str, Any]] = []
        pages = 0
        while url and pages < (self.max_pages if paged else 1):
            status, doc = await self.get(url)
            pages += 1
            tally["requests"] += 1
            tally["statuses"][str(status)] = tally["statuses"].get(str(status), 0) + 1
            if status != 200 or not isinstance(doc, dict) or doc.get("resourceType") != "Bundle":
                tally["http_errors"] += 1
                if isinstance(doc, dict) and doc.get("resourceType") == "OperationOutcome":
                    tally["errors_with_operation_outcome"] += 1
                break
            tally["ok"] += 1
            for entry in doc.get("entry") or []:
                res = entry.get("resource") if isinstance(entry, dict) else None
                mode = ((entry.get("search") or {}).get("mode")) if isinstance(entry, dict) else None
                if isinstance(res, dict) and res.get("resourceType") == run.resource_type and mode != "include":
                    found.append(res)
            url = next(
                (link.get("url") for link in doc.get("link") or [] if isinstance(link, dict) and link.get("relation") == "next"),
                None,
            )
            # The token goes only to the FHIR server's own origin, never to a link elsewhere.
            if url and urlsplit(url)[:2] != self.origin:
                tally["offsite_next_link"] = True
                url = None
            if len(found) >= run.cap:
                break
        tally["pages"] += pages
        tally["results"] += len(found)
        tally["mismatched"] += sum(1 for r in found if not matches(r, params, run.resource_type))
        return found


# --- does a resource match the search that returned it? ----------------------------------------


def _values(resource: dict[str, Any], path: str) -> list[Any]:
    """Values at a simple search path ('subject', 'effective', 'category'), choice types expanded."""
    out: list[Any] = []
    keys = [k for k in resource if k == path or (k.startswith(path) and k[len(path) :][:1].isupper())]
    for k in keys:
        v = resource[k]
        out.extend(v if isinstance(v, list) else [v])
    return out


def _token_hit(value: Any, wanted: str) -> bool:
    system, _, code = wanted.rpartition("|") if "|" in wanted else ("", "", wanted)
    if isinstance(value, str):
        return value == code
    if isinstance(value, dict):
        codings = value.get("coding") if "coding" in value else [value]
        for c in codings or []:
            if isinstance(c, dict):
                if (c.get("code") == code or c.get("value") == code) and (not system or c.get("system") == system):
                    return True
    return False


def _dates(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [v for k, v in value.items() if k in ("start", "end") and isinstance(v, str)]
    return []


def matches(resource: dict[str, Any], params: dict[str, str], rtype: str) -> bool:
    defs = conformance()["searches"].get(rtype, {}).get("params", {})
    for name, wanted in params.items():
        if name.startswith("_") and name != "_id":
            continue
        if name == "_id":
            if resource.get("id") not in wanted.split(","):
                return False
            continue
        spec = defs.get(name)
        if spec is None:
            continue
        values = [v for p in spec["paths"] for v in _values(resource, p)]
        kind = spec["type"]
        alternatives = wanted.split(",")
        if kind == "reference":
            refs = [v.get("reference", "") for v in values if isinstance(v, dict)]
            if not any(r == w or r.endswith("/" + w) for r in refs for w in alternatives):
                return False
        elif kind == "token":
            if not any(_token_hit(v, w) for v in values for w in alternatives):
                return False
        elif kind == "date":
            prefix, day = (wanted[:2], wanted[2:]) if wanted[:2] in ("ge", "le", "gt", "lt", "eq") else ("eq", wanted)
            dates = [d[:10] for v in values for d in _dates(v)]
            ok = {
                "ge": any(d >= day[:10] for d in dates) or any(isinstance(v, dict) and "end" not in v for v in values),
                "le": any(d <= day[:10] for d in dates),
                "gt": any(d >= day[:10] for d in dates),
                "lt": any(d <= day[:10] for d in dates),
                "eq": any(d.startswith(day) or day.startswith(d) for d in dates),
            }[prefix]
            if not ok:
                return False
        elif kind == "string":
            text = " ".join(_strings(values)).lower()
            if wanted.lower() not in text:
                return False
    return True


def _strings(values: list[Any]) -> list[str]:
    out: list[str] = []
    for v in values:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            out.extend(_strings(list(v.values())))
        elif isinstance(v, list):
            out.extend(_strings(v))
    return out


# --- parameter values taken from a resource (as the ONC kit does) -------------------------------


def value_for(resource: dict[str, Any], name: str, rtype: str, patient_id: str | None) -> str | None:
    if name == PATIENT_PARAM:
        return patient_id
    if name == "_id":
        return resource.get("id") if isinstance(resource.get("id"), str) else None
    spec = conformance()["searches"].get(rtype, {}).get("params", {}).get(name)
    if spec is None:
        return None
    values = [v for p in spec["paths"] for v in _values(resource, p)]
    for v in values:
        if spec["type"] == "token":
            if isinstance(v, str):
                return v
            if isinstance(v, dict):
                for c in (v.get("coding") if "coding" in v else [v]) or []:
                    if isinstance(c, dict) and (c.get("code") or c.get("value")):
                        code = c.get("code") or c.get("value")
                        return f"{c['system']}|{code}" if c.get("system") else str(code)
        elif spec["type"] == "date":
            for d in _dates(v):
                return "ge" + d[:10]
        elif spec["type"] == "string":
            if isinstance(v, dict):
                text = v.get("family") or (v.get("given") or [None])[0] or v.get("text") or v.get("city")
                if isinstance(text, str) and text:
                    return text
            elif isinstance(v, str) and v:
                return v
        elif spec["type"] == "reference" and isinstance(v, dict) and isinstance(v.get("reference"), str):
            return v["reference"]
    return None


# --- the probe ---------------------------------------------------------------------------------


def select_profiles(mode: str, capability: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    profiles = conformance()["profiles"]
    if mode == "all":
        return [p for p in profiles if p["uscdi_required"]], "all_uscdi"
    declared = {str(u).split("|", 1)[0] for u in capability.get("supported_profiles") or []}
    chosen = [p for p in profiles if p["url"] in declared]
    if chosen:
        return chosen, "supported_profiles"
    types = set((capability.get("resources") or {}).keys())
    return [p for p in profiles if p["uscdi_required"] and p["resource"] in types], "declared_resource_types"


async def find_patients(audit: Audit, given: list[str]) -> tuple[list[str], str]:
    if given:
        return list(dict.fromkeys(given))[: audit.sample], "given"
    status, doc = await audit.get(audit.ctx.url(f"Patient?_count={audit.sample}"))
    if status != 200 or not isinstance(doc, dict):
        raise ProbeError(f"no patient to test: Patient search answered HTTP {status}; give ids with --patient")
    ids = [
        e["resource"]["id"]
        for e in doc.get("entry") or []
        if isinstance(e, dict)
        and isinstance(e.get("resource"), dict)
        and isinstance(e["resource"].get("id"), str)
        and e["resource"].get("resourceType") == "Patient"
    ]
    return ids[: audit.sample], "search"


def seed_searches(rtype: str, shall: list[list[str]], categories: list[str]) -> list[tuple[str, list[dict[str, str]]]]:
    """The first search(es) per patient: (key, [params without the patient value])."""
    with_patient = sorted((c for c in shall if PATIENT_PARAM in c), key=len)
    for combo in with_patient:
        rest = [p for p in combo if p != PATIENT_PARAM]
        if not rest:
            return [("patient", [{}])]
        if rest == ["category"] and categories:
            return [("patient+category", [{"category": c} for c in categories])]
        if len(rest) == 1 and (rtype, rest[0]) in ALL_CODES:
            return [("+".join(combo), [{rest[0]: ALL_CODES[(rtype, rest[0])]}])]
    return []


async def run_patient_type(audit: Audit, run: TypeRun, patients: list[str], profiles: list[dict[str, Any]], tick) -> None:
    spec = conformance()["searches"].get(run.resource_type, {})
    shall = spec.get("shall", [])
    categories = sorted(
        {
            (f"{c['system']}|{c['code']}" if c.get("system") else c["code"])
            for p in profiles
            for c in (p.get("selectors") or {}).get("category", [])
        }
    )
    seeds = seed_searches(run.resource_type, shall, categories)
    if not seeds:
        return
    seed_key, variants = seeds[0]
    seed_combo = seed_key.split("+")
    for pid in patients:
        found: list[dict[str, Any]] = []
        for extra in variants:
            found += await audit.search(run, seed_key, {PATIENT_PARAM: pid, **extra}, paged=True)
        for res in found:
            run.keep(res)
        run.by_patient[pid] = [r["id"] for r in found if isinstance(r.get("id"), str)]
        # Every other SHALL search, with values from the first resource that has them all.
        for combo in shall:
            if combo == seed_combo or (PATIENT_PARAM not in combo and "_id" not in combo):
                continue
            for res in found:
                params = {n: value_for(res, n, run.resource_type, pid) for n in combo}
                if all(params.values()):
                    hits = await audit.search(run, "+".join(combo), params, paged=False)  # type: ignore[arg-type]
                    tally = run.tally("+".join(combo))
                    seen = any(h.get("id") == res.get("id") for h in hits)
                    tally["seed_found"] = seen if tally["seed_found"] in (None, True) else False
                    break
        tick()


async def run_patient_reads(audit: Audit, run: TypeRun, patients: list[str], tick) -> dict[str, Any]:
    """Patient: read each one, then the Patient SHALL searches with values from the resource."""
    reads = {"requests": 0, "ok": 0, "id_matches": 0}
    spec = conformance()["searches"].get("Patient", {})
    for pid in patients:
        status, doc = await audit.get(audit.ctx.url(f"Patient/{pid}"))
        reads["requests"] += 1
        if status == 200 and isinstance(doc, dict) and doc.get("resourceType") == "Patient":
            reads["ok"] += 1
            reads["id_matches"] += doc.get("id") == pid
            run.keep(doc)
            for combo in spec.get("shall", []):
                params = {n: value_for(doc, n, "Patient", pid) for n in combo}
                if all(params.values()):
                    hits = await audit.search(run, "+".join(combo), params, paged=False)  # type: ignore[arg-type]
                    tally = run.tally("+".join(combo))
                    seen = any(h.get("id") == pid for h in hits)
                    tally["seed_found"] = seen if tally["seed_found"] in (None, True) else False
        tick()
    return reads


def literal_references(resource: Any) -> list[str]:
    out: list[str] = []
    if isinstance(resource, dict):
        for k, v in resource.items():
            if k == "reference" and isinstance(v, str) and v.count("/") == 1 and not v.startswith(("#", "urn:")):
                out.append(v)
            elif k != "contained":
                out.extend(literal_references(v))
    elif isinstance(resource, list):
        for v in resource:
            out.extend(literal_references(v))
    return out


async def resolve_references(audit: Audit, runs: dict[str, TypeRun], limit: int, pool: dict[str, TypeRun]) -> dict[str, Any]:
    refs: list[str] = []
    for run in runs.values():
        for res in run.resources.values():
            for ref in literal_references(res):
                if ref not in refs:
                    refs.append(ref)
    checked = refs[:limit]
    resolved = 0
    unresolved_types: dict[str, int] = {}
    for ref in checked:
        rtype, rid = ref.split("/", 1)
        known = runs.get(rtype) or pool.get(rtype)
        if known is not None and rid in known.resources:
            resolved += 1
            continue
        try:
            status, doc = await audit.get(audit.ctx.url(ref))
        except FetchError:
            status, doc = None, None
        if status == 200 and isinstance(doc, dict) and doc.get("resourceType") == rtype and doc.get("id") == rid:
            resolved += 1
            if rtype in pool:
                pool[rtype].keep(doc)  # Practitioner, Organization...: checked against their profiles too
        else:
            unresolved_types[rtype] = unresolved_types.get(rtype, 0) + 1
    return {
        "found": len(refs),
        "checked": len(checked),
        "resolved": resolved,
        "unresolved": len(checked) - resolved,
        "unresolved_by_type": dict(sorted(unresolved_types.items())),
    }


def profile_results(profile: dict[str, Any], resources: list[dict[str, Any]]) -> dict[str, Any]:
    ms = must_support_elements(profile)
    covered = [e["id"] for e in ms if any(nodes(r, e) for r in resources)]
    mandatory = [e for e in profile["elements"] if int(e.get("min") or 0) >= 1]
    violations: dict[str, int] = {}
    invalid = 0
    problems: list[str] = []
    for r in resources:
        found = structure_problems(r, limit=3)
        if found:
            invalid += 1
            problems.extend(p for p in found if p not in problems)
        for e in mandatory:
            if mandatory_missing(r, e):
                violations[e["id"]] = violations.get(e["id"], 0) + 1
    return {
        "resource": profile["resource"],
        "uscdi_required": profile["uscdi_required"],
        "resources": len(resources),
        "structure_invalid": invalid,
        "structure_problems": problems[:5],
        "mandatory_checked": len(mandatory),
        "mandatory_violations": dict(sorted(violations.items())),
        "resources_missing_mandatory": sum(1 for r in resources if any(mandatory_missing(r, e) for e in mandatory)),
        "must_support": {
            "total": len(ms),
            "covered": len(covered) if resources else 0,
            "missing": [e["id"] for e in ms if e["id"] not in covered] if resources else [],
        },
    }


async def probe_uscore(ctx: ProbeContext, recorder: Recorder) -> dict[str, Any]:
    """With backend credentials, for sampled patients; after a user launch (`launch_tokens`, see
    probes/launch), for the launched patient with the patient's own token."""
    launched = ctx.settings.get("launch_tokens")
    if launched is None:
        return await uscore_data(ctx, recorder, session_of(ctx), list(ctx.settings.get("patients") or []), "backend")
    try:
        session, patients = await launched.for_uscore(ctx)
        return await uscore_data(ctx, recorder, session, patients, "launch")
    finally:
        launched.finished()  # the launch goes on to refresh and revoke this token


async def uscore_data(
    ctx: ProbeContext, recorder: Recorder, session: Any, given: list[str], authorized_by: str
) -> dict[str, Any]:
    rec = ScrubbingRecorder(recorder, ctx.base_url)
    sample = max(1, int(ctx.settings.get("sample") or DEFAULT_SAMPLE))
    max_pages = max(1, int(ctx.settings.get("max_pages") or DEFAULT_MAX_PAGES))
    mode = str(ctx.settings.get("us_core") or "declared")
    report = progress_of(ctx.settings)
    cap = await ctx.result("capability")
    profiles, basis = select_profiles(mode, cap.data if cap.status.value == "completed" else {})
    audit = Audit(ctx, session, rec, sample, max_pages)
    try:
        patients, patient_source = await find_patients(audit, given)
        if authorized_by == "launch":
            patient_source = "launch context"
    except FetchError as exc:
        raise ProbeError(f"the FHIR server could not be reached: {exc}") from None
    if not patients:
        raise ProbeError("no patient to test: the Patient search returned none; give ids with --patient")

    by_type: dict[str, list[dict[str, Any]]] = {}
    for p in profiles:
        by_type.setdefault(p["resource"], []).append(p)
    per_resource_cap = 20 * sample
    runs = {t: TypeRun(t, per_resource_cap) for t in by_type}
    searches = conformance()["searches"]
    patient_types = [t for t in runs if t != "Patient" and any(PATIENT_PARAM in c for c in searches.get(t, {}).get("shall", []))]
    other_types = [t for t in runs if t != "Patient" and t not in patient_types]
    total = len(patients) * (len(patient_types) + ("Patient" in runs)) + 1
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        report("uscore", done, total, "US Core searches")

    report("uscore", 0, total, "US Core searches")
    reads: dict[str, Any] = {}
    try:
        jobs = [run_patient_type(audit, runs[t], patients, by_type[t], tick) for t in patient_types]
        if "Patient" in runs:

            async def _patients() -> None:
                reads.update(await run_patient_reads(audit, runs["Patient"], patients, tick))

            jobs.append(_patients())
        await asyncio.gather(*jobs)
        pool = {t: runs[t] for t in other_types}
        references = await resolve_references(audit, {t: runs[t] for t in runs if t not in other_types}, 10 * sample, pool)
        # Types outside the patient compartment (Practitioner, Organization...) get their SHALL
        # searches with values from the instances the references led to.
        for t in other_types:
            for combo in searches.get(t, {}).get("shall", []):
                for res in list(runs[t].resources.values())[:1]:
                    params = {n: value_for(res, n, t, None) for n in combo}
                    if all(params.values()):
                        await audit.search(runs[t], "+".join(combo), params, paged=False)  # type: ignore[arg-type]
        status, doc = await audit.get(ctx.url("Patient?birthdate=not-a-date"))
        invalid_search = {
            "http_status": status,
            "refused": status >= 400,
            "operation_outcome": isinstance(doc, dict) and doc.get("resourceType") == "OperationOutcome",
        }
        tick()
    except FetchError as exc:
        raise ProbeError(f"the FHIR server stopped answering: {exc}") from None

    results: dict[str, Any] = {}
    unassigned: dict[str, int] = {}
    for rtype, run in runs.items():
        groups: dict[str, list[dict[str, Any]]] = {p["id"]: [] for p in by_type[rtype]}
        for res in run.resources.values():
            profile, _how = assign_profile(res, by_type[rtype])
            if profile is None:
                unassigned[rtype] = unassigned.get(rtype, 0) + 1
            else:
                groups[profile["id"]].append(res)
        for p in by_type[rtype]:
            results[p["id"]] = profile_results(p, groups[p["id"]])
    search_summary = {
        t: {k: {**v, "statuses": dict(sorted(v["statuses"].items()))} for k, v in sorted(runs[t].searches.items())}
        for t in sorted(runs)
    }
    all_tallies = [v for t in search_summary.values() for v in t.values()]
    expected = {t: ["+".join(c) for c in searches.get(t, {}).get("shall", [])] for t in sorted(runs)}
    return {
        "us_core_version": conformance()["us_core_version"],
        "authorized_by": authorized_by,
        "selection": basis,
        "patients": {"source": patient_source, "tested": len(patients)},
        "sample": sample,
        "max_pages": max_pages,
        "profiles": dict(sorted(results.items())),
        "unassigned_resources": dict(sorted(unassigned.items())),
        "patient_reads": reads or None,
        "searches": search_summary,
        "shall_searches_not_run": {
            t: sorted(set(keys) - set(search_summary.get(t, {})))
            for t, keys in expected.items()
            if set(keys) - set(search_summary.get(t, {}))
        },
        "references": references,
        "invalid_search": invalid_search,
        "totals": {
            "profiles": len(results),
            "profiles_with_data": sum(1 for r in results.values() if r["resources"]),
            "resources": sum(r["resources"] for r in results.values()),
            "searches": sum(v["requests"] for v in all_tallies),
            "search_errors": sum(v["http_errors"] for v in all_tallies),
            "search_errors_with_operation_outcome": sum(v["errors_with_operation_outcome"] for v in all_tallies),
            "mismatched": sum(v["mismatched"] for v in all_tallies),
            "structure_invalid": sum(r["structure_invalid"] for r in results.values()),
            "resources_missing_mandatory": sum(r["resources_missing_mandatory"] for r in results.values()),
        },
    }
