"""US Core data behind the token (6.1.0 or 7.0.0): the SHALL searches per patient, as deep as the
ONC test kit, and every resource judged against its profile.

Discovery documents can say anything; this probe looks at the data a practice will depend on.
The US Core version is the one the server declares (see uscore_version), or `--us-core-version`.
For each resource type with a profile in scope it runs the US Core server's SHALL searches for
each sampled patient (values for parameters other than `patient` come from the resources the first
search returned, as the ONC test kit does, never from `UNK`/unknown/data-absent codes), and then:

- the SHALL date comparators (`gt`, `ge`, `lt`, `le`) on date parameters, a token search with and
  without its system, and `POST [type]/_search`, which must count what the GET found;
- `_revinclude=Provenance:target` where the IG declares it;
- paging followed to 20 pages, bounded in resources and kept on the FHIR server's origin;
- a read by `_id` of resources the searches returned.

Every resource returned by every search and read, for every sampled patient, is judged (once) by
uscore_judge: structure (fhir.resources R4B models, which serve R4), mandatory elements,
must-support coverage, terminology bindings (offline; `--tx-server` for the rest). Results must
match the search that returned them; literal references must resolve; errors must come back as
OperationOutcome.

Profiles in scope: those the CapabilityStatement lists in supportedProfile; when it lists none,
the USCDI profiles of the resource types it declares; with `--us-core all`, every USCDI profile.
Evidence keeps counts, element paths, codes that failed a binding and coverage. No resource
content, no ids, no names.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from ehrcheck.http.client import FetchError, Recorder, gather_recorded
from ehrcheck.probes.authenticated.token import AuthSession, session_of
from ehrcheck.probes.authenticated.uscore_judge import Judge
from ehrcheck.probes.authenticated.uscore_profiles import DEFAULT_VERSION, conformance
from ehrcheck.probes.authenticated.uscore_terminology import shown_code
from ehrcheck.probes.authenticated.uscore_tx import validate_codes
from ehrcheck.probes.authenticated.uscore_version import choose_version
from ehrcheck.probes.base import ProbeContext, ProbeError, parse_json
from ehrcheck.probes.phi import ScrubbingRecorder
from ehrcheck.probes.progress import progress_of

ACCEPT = {"Accept": "application/fhir+json"}
DEFAULT_SAMPLE = 3
DEFAULT_MAX_PAGES = 20  # the ONC test kit follows up to 20 pages
CONCURRENCY = 4
READS_PER_TYPE = 2
# Values for token parameters the first search needs but no resource can supply yet: every code
# of the (required) value set, OR-ed, which also exercises multipleOr.
ALL_CODES = {
    ("MedicationRequest", "intent"): "proposal,plan,order,original-order,reflex-order,filler-order,instance-order,option",
    ("CareTeam", "status"): "proposed,active,suspended,inactive,entered-in-error",
}
PATIENT_PARAM = "patient"
PROVENANCE = "Provenance:target"
# Codes that say a value is missing: never used as a search value (the kit's users asked for it).
NULL_SYSTEMS = frozenset(
    {"http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "http://terminology.hl7.org/CodeSystem/data-absent-reason"}
)
NULL_CODES = frozenset(
    {"UNK", "ASKU", "NAV", "NASK", "NI", "NA", "MSK", "OTH", "unknown", "asked-unknown", "temp-unknown", "not-asked"}
    | {"asked-declined", "masked", "not-applicable", "unsupported", "as-text", "error", "not-performed", "not-permitted"}
)
DAR = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"


@dataclass
class TypeRun:
    """What one resource type's searches found: resources by id (a bounded set, for search
    values and references), and per-search tallies."""

    resource_type: str
    cap: int
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    searches: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_patient: dict[str, list[str]] = field(default_factory=dict)
    reads: dict[str, int] = field(default_factory=lambda: {"requests": 0, "ok": 0, "id_matches": 0})
    revinclude: dict[str, Any] | None = None

    def tally(self, key: str, variant: str | None = None) -> dict[str, Any]:
        t = self.searches.setdefault(
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
        if variant:
            t["variant"] = variant
        return t

    def keep(self, resource: dict[str, Any]) -> None:
        rid = resource.get("id")
        if isinstance(rid, str) and (rid in self.resources or len(self.resources) < self.cap):
            self.resources[rid] = resource


class Audit:
    def __init__(
        self,
        ctx: ProbeContext,
        session: AuthSession,
        rec: Recorder,
        sample: int,
        max_pages: int,
        version: str = DEFAULT_VERSION,
        judge: Judge | None = None,
    ):
        self.ctx, self.session, self.rec = ctx, session, rec
        self.sample, self.max_pages = sample, max_pages
        self.version, self.judge = version, judge
        self.sem = asyncio.Semaphore(CONCURRENCY)
        self.origin = urlsplit(ctx.base_url)[:2]

    def recording(self, rec: Recorder) -> Audit:
        """This audit (its semaphore, judge and settings shared) recording into `rec`: each of
        the concurrent per-type runs gets its own, so their requests are recorded type by type."""
        other = copy.copy(self)
        other.rec = rec
        return other

    def spec(self, rtype: str) -> dict[str, Any]:
        return conformance(self.version)["searches"].get(rtype, {})

    async def get(self, url: str) -> tuple[int, Any]:
        async with self.sem:
            headers = {**ACCEPT, **await self.session.auth_header(self.ctx, self.rec)}
            resp = await self.ctx.fetcher.get(url, self.rec, headers=headers)
        doc, _ = parse_json(resp)
        return resp.status, doc

    async def post_search(self, rtype: str, params: dict[str, str]) -> tuple[int, Any]:
        """`POST [type]/_search` with the parameters as a form body (FHIR R4 §3.1.0.1.2)."""
        async with self.sem:
            headers = {**ACCEPT, **await self.session.auth_header(self.ctx, self.rec)}
            resp = await self.ctx.fetcher.request(
                "POST", self.ctx.url(f"{rtype}/_search"), self.rec, headers=headers, form=params
            )
        doc, _ = parse_json(resp)
        return resp.status, doc

    def judged(self, resources: list[dict[str, Any]]) -> None:
        if self.judge is not None:
            for r in resources:
                self.judge.add(r)

    async def search(
        self,
        run: TypeRun,
        key: str,
        params: dict[str, str],
        paged: bool,
        variant: str | None = None,
        included: list[dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """Run one search (following `next` links when `paged`); tally it; judge and return its
        resources. Resources the server adds with search mode `include` go to `included`."""
        tally = run.tally(key, variant)
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
                if not isinstance(res, dict):
                    continue
                if res.get("resourceType") == run.resource_type and mode != "include":
                    found.append(res)
                elif included is not None and mode == "include":
                    included.append(res)
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
        tally["mismatched"] += sum(1 for r in found if not matches(r, params, run.resource_type, self.version))
        self.judged(found)
        return found


# --- does a resource match the search that returned it? ----------------------------------------


def _values(resource: dict[str, Any], path: str) -> list[Any]:
    """Values at a search path ('subject', 'effective', 'code.coding', 'name'), choice types
    expanded, lists flattened."""
    current: list[Any] = [resource]
    for step in path.split("."):
        nxt: list[Any] = []
        for node in current:
            if not isinstance(node, dict):
                continue
            for k in node:
                if k == step or (k.startswith(step) and k[len(step) :][:1].isupper()):
                    v = node[k]
                    nxt.extend(v if isinstance(v, list) else [v])
        current = nxt
    return current


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


def _date_ok(values: list[Any], wanted: str) -> bool:
    """Day precision, a day's slack either way (a server may compare in another time zone)."""
    prefix, day = (wanted[:2], wanted[2:]) if wanted[:2] in ("ge", "le", "gt", "lt", "eq") else ("eq", wanted)
    dates = [d[:10] for v in values for d in _dates(v)]
    open_ended = any(isinstance(v, dict) and "end" not in v for v in values)
    day = day[:10]
    if prefix in ("ge", "gt"):
        return any(d >= day for d in dates) or open_ended or (prefix == "gt" and any(d >= _shift(day, -1) for d in dates))
    if prefix in ("le", "lt"):
        return any(d <= day for d in dates)
    return any(d.startswith(day) or day.startswith(d) for d in dates)


def _shift(day: str, days: int) -> str:
    try:
        return (dt.date.fromisoformat(day[:10]) + dt.timedelta(days=days)).isoformat()
    except ValueError:
        return day


def matches(resource: dict[str, Any], params: dict[str, str], rtype: str, version: str = DEFAULT_VERSION) -> bool:
    defs = conformance(version)["searches"].get(rtype, {}).get("params", {})
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
            if not _date_ok(values, wanted):
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


def _absent(value: Any) -> bool:
    """A value that stands for missing data: a data-absent-reason, or a NullFlavor-style code."""
    if isinstance(value, dict):
        if any(isinstance(x, dict) and x.get("url") == DAR for x in value.get("extension") or []):
            return True
        codings = value.get("coding") if "coding" in value else [value]
        real = [
            c
            for c in codings or []
            if isinstance(c, dict) and (c.get("code") or c.get("value")) and not _null_code(c.get("system"), c.get("code"))
        ]
        return bool(codings) and not real and ("coding" in value or "code" in value)
    return False


def _null_code(system: Any, code: Any) -> bool:
    return system in NULL_SYSTEMS or code in NULL_CODES


def value_for(
    resource: dict[str, Any], name: str, rtype: str, patient_id: str | None, version: str = DEFAULT_VERSION
) -> str | None:
    if name == PATIENT_PARAM:
        return patient_id
    if name == "_id":
        return resource.get("id") if isinstance(resource.get("id"), str) else None
    spec = conformance(version)["searches"].get(rtype, {}).get("params", {}).get(name)
    if spec is None:
        return None
    values = [v for p in spec["paths"] for v in _values(resource, p)]
    for v in values:
        if _absent(v):
            continue
        if spec["type"] == "token":
            if isinstance(v, str):
                if v not in NULL_CODES:
                    return v
            elif isinstance(v, dict):
                for c in (v.get("coding") if "coding" in v else [v]) or []:
                    if isinstance(c, dict) and (c.get("code") or c.get("value")):
                        code = c.get("code") or c.get("value")
                        if _null_code(c.get("system"), code):
                            continue
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


def select_profiles(mode: str, capability: dict[str, Any], version: str = DEFAULT_VERSION) -> tuple[list[dict[str, Any]], str]:
    profiles = conformance(version)["profiles"]
    if mode == "all":
        return [p for p in profiles if p["uscdi_required"]], "all_uscdi"
    declared = {str(u).split("|", 1)[0] for u in capability.get("supported_profiles") or []}
    chosen = [p for p in profiles if p["url"] in declared]
    if chosen:
        return chosen, "supported_profiles"
    types = set((capability.get("resources") or {}).keys())
    return [p for p in profiles if p["uscdi_required"] and p["resource"] in types], "declared_resource_types"


async def find_patients(audit: Audit, given: list[str]) -> tuple[list[str], str, list[dict[str, Any]]]:
    """(ids, how found, the Patient resources a search returned: they tell the version)."""
    if given:
        return list(dict.fromkeys(given))[: audit.sample], "given", []
    status, doc = await audit.get(audit.ctx.url(f"Patient?_count={audit.sample}"))
    if status != 200 or not isinstance(doc, dict):
        raise ProbeError(f"no patient to test: Patient search answered HTTP {status}; give ids with --patient")
    found = [
        e["resource"]
        for e in doc.get("entry") or []
        if isinstance(e, dict)
        and isinstance(e.get("resource"), dict)
        and isinstance(e["resource"].get("id"), str)
        and e["resource"].get("resourceType") == "Patient"
    ]
    return [r["id"] for r in found][: audit.sample], "search", found


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


def comparator_value(comparator: str, day: str) -> str:
    """The kit's values: a day either side for the strict comparators, so the resource the
    value came from must be found by all four."""
    shift = {"gt": -1, "lt": 1}.get(comparator, 0)
    return comparator + _shift(day, shift)


async def _found_seed(
    audit: Audit, run: TypeRun, key: str, params: dict[str, str], seed: dict[str, Any], variant: str | None
) -> None:
    hits = await audit.search(run, key, params, paged=False, variant=variant)
    tally = run.tally(key)
    seen = any(h.get("id") == seed.get("id") for h in hits)
    tally["seed_found"] = seen if tally["seed_found"] in (None, True) else False


async def deepen(audit: Audit, run: TypeRun, combo: list[str], params: dict[str, str], seed: dict[str, Any]) -> None:
    """The kit's extra forms of one SHALL search: SHALL date comparators, a token without its
    system, and the same search by POST. Each must find the resource its values came from."""
    key = "+".join(combo)
    defs = audit.spec(run.resource_type).get("params", {})
    for name in combo:
        spec = defs.get(name) or {}
        value = params.get(name, "")
        if spec.get("type") == "date" and value[:2] in ("ge", "le", "gt", "lt", "eq"):
            for comparator in spec.get("shall_comparators") or []:
                if comparator in ("gt", "ge", "lt", "le"):
                    variant_params = {**params, name: comparator_value(comparator, value[2:12])}
                    await _found_seed(audit, run, f"{key} [{comparator}]", variant_params, seed, f"date {comparator}")
        if spec.get("type") == "token" and "|" in value and name != PATIENT_PARAM:
            bare = {**params, name: value.split("|", 1)[1]}
            await _found_seed(audit, run, f"{key} [code without system]", bare, seed, "code without system")
    await post_search(audit, run, key, params)


async def post_search(audit: Audit, run: TypeRun, key: str, params: dict[str, str]) -> None:
    """`POST [type]/_search` must find what the GET found (first page: entries and total)."""
    get_tally = run.tally(key)
    tally = run.tally(f"{key} [POST]", "POST _search")
    status, doc = await audit.post_search(run.resource_type, params)
    tally["requests"] += 1
    tally["pages"] += 1
    tally["statuses"][str(status)] = tally["statuses"].get(str(status), 0) + 1
    if status != 200 or not isinstance(doc, dict) or doc.get("resourceType") != "Bundle":
        tally["http_errors"] += 1
        if isinstance(doc, dict) and doc.get("resourceType") == "OperationOutcome":
            tally["errors_with_operation_outcome"] += 1
        return
    tally["ok"] += 1
    found = [
        e["resource"]
        for e in doc.get("entry") or []
        if isinstance(e, dict)
        and isinstance(e.get("resource"), dict)
        and e["resource"].get("resourceType") == run.resource_type
        and (e.get("search") or {}).get("mode") != "include"
    ]
    tally["results"] += len(found)
    tally["mismatched"] += sum(1 for r in found if not matches(r, params, run.resource_type, audit.version))
    # The GET it mirrors ran unpaged with the same parameters just before: compare first pages.
    get_first_page = get_tally.get("last_page_count")
    if get_first_page is not None:
        same = len(found) == get_first_page
        tally["count_matches_get"] = same if tally.get("count_matches_get") in (None, True) else False
    audit.judged(found)


REVINCLUDE_KEY = "[_revinclude Provenance:target]"


async def revinclude_provenance(audit: Audit, run: TypeRun, params: dict[str, str]) -> None:
    """The first search again with `_revinclude=Provenance:target`: it must answer, and every
    Provenance it adds must target a resource of the result."""
    info = run.revinclude = run.revinclude or {"provenance": 0, "provenance_without_target": 0}
    included: list[dict[str, Any]] = []
    hits = await audit.search(
        run, REVINCLUDE_KEY, {**params, "_revinclude": PROVENANCE}, paged=False, variant="_revinclude", included=included
    )
    ids = {f"{run.resource_type}/{h.get('id')}" for h in hits}
    provenance = [r for r in included if r.get("resourceType") == "Provenance"]
    for prov in provenance:
        info["provenance"] += 1
        targets = [t.get("reference", "") for t in prov.get("target") or [] if isinstance(t, dict)]
        if not any(t == i or t.endswith("/" + i) for t in targets for i in ids):
            info["provenance_without_target"] += 1
    audit.judged(provenance)


async def read_by_id(audit: Audit, run: TypeRun, ids: list[str]) -> None:
    """`GET [type]/[id]` for resources a search returned: 200, the same type and id."""
    for rid in ids[:READS_PER_TYPE]:
        status, doc = await audit.get(audit.ctx.url(f"{run.resource_type}/{rid}"))
        run.reads["requests"] += 1
        if status == 200 and isinstance(doc, dict) and doc.get("resourceType") == run.resource_type:
            run.reads["ok"] += 1
            run.reads["id_matches"] += doc.get("id") == rid
            audit.judged([doc])


async def run_patient_type(audit: Audit, run: TypeRun, patients: list[str], profiles: list[dict[str, Any]], tick) -> None:
    spec = audit.spec(run.resource_type)
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
        if PROVENANCE in spec.get("revinclude", []):
            await revinclude_provenance(audit, run, {PATIENT_PARAM: pid, **variants[0]})
        # Every other SHALL search, with values from the first resource that has them all.
        for combo in shall:
            if combo == seed_combo or (PATIENT_PARAM not in combo and "_id" not in combo):
                continue
            for res in found:
                params = {n: value_for(res, n, run.resource_type, pid, audit.version) for n in combo}
                if all(params.values()):
                    await _first_page(audit, run, "+".join(combo), params, res)  # type: ignore[arg-type]
                    await deepen(audit, run, combo, params, res)  # type: ignore[arg-type]
                    break
        await read_by_id(audit, run, run.by_patient[pid])
        tick()


async def _first_page(audit: Audit, run: TypeRun, key: str, params: dict[str, str], seed: dict[str, Any]) -> None:
    hits = await audit.search(run, key, params, paged=False)
    tally = run.tally(key)
    tally["last_page_count"] = len(hits)
    seen = any(h.get("id") == seed.get("id") for h in hits)
    tally["seed_found"] = seen if tally["seed_found"] in (None, True) else False


async def run_patient_reads(audit: Audit, run: TypeRun, patients: list[str], tick) -> dict[str, Any]:
    """Patient: read each one, then the Patient SHALL searches with values from the resource."""
    reads = {"requests": 0, "ok": 0, "id_matches": 0}
    spec = audit.spec("Patient")
    for pid in patients:
        status, doc = await audit.get(audit.ctx.url(f"Patient/{pid}"))
        reads["requests"] += 1
        if status == 200 and isinstance(doc, dict) and doc.get("resourceType") == "Patient":
            reads["ok"] += 1
            reads["id_matches"] += doc.get("id") == pid
            run.keep(doc)
            audit.judged([doc])
            for combo in spec.get("shall", []):
                params = {n: value_for(doc, n, "Patient", pid, audit.version) for n in combo}
                if all(params.values()):
                    await _first_page(audit, run, "+".join(combo), params, doc)  # type: ignore[arg-type]
                    await deepen(audit, run, combo, params, doc)  # type: ignore[arg-type]
            if PROVENANCE in spec.get("revinclude", []):
                await revinclude_provenance(audit, run, {"_id": pid})
        tick()
    run.reads = dict(reads)
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
                audit.judged([doc])
        else:
            unresolved_types[rtype] = unresolved_types.get(rtype, 0) + 1
    return {
        "found": len(refs),
        "checked": len(checked),
        "resolved": resolved,
        "unresolved": len(checked) - resolved,
        "unresolved_by_type": dict(sorted(unresolved_types.items())),
    }


def _request_counts(tally: dict[str, Any]) -> dict[str, Any]:
    return {"requests": tally["requests"], "ok": tally["ok"], "statuses": dict(sorted(tally["statuses"].items()))}


async def ask_terminology_server(ctx: ProbeContext, rec: Recorder, judge: Judge, tx_url: str) -> dict[str, Any]:
    """Codes the offline checks left unjudged, asked of `--tx-server`; verdicts folded into each
    binding's row (`tx_valid`, `tx_invalid`)."""
    candidates = judge.tx_candidates()
    verdicts, facts = await validate_codes(ctx, rec, tx_url, sorted(candidates))
    for triple, valid in verdicts.items():
        pid, binding_id = candidates[triple]
        row = judge.tallies[pid].terminology.get(binding_id)
        if row is None:
            continue
        field_name = "tx_valid" if valid else "tx_invalid"
        row[field_name] = row.get(field_name, 0) + 1
        if not valid:
            code = shown_code(triple[1], triple[2])
            if code not in row["bad_codes"] and len(row["bad_codes"]) < 3:
                row["bad_codes"].append(code)
    facts["candidates"] = len(candidates)
    return facts


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
    capability = cap.data if cap.status.value == "completed" else {}
    audit = Audit(ctx, session, rec, sample, max_pages)
    try:
        patients, patient_source, patient_docs = await find_patients(audit, given)
        if authorized_by == "launch":
            patient_source = "launch context"
    except FetchError as exc:
        raise ProbeError(f"the FHIR server could not be reached: {exc}") from None
    if not patients:
        raise ProbeError("no patient to test: the Patient search returned none; give ids with --patient")
    version, version_basis, declared = choose_version(ctx.settings.get("us_core_version"), capability, patient_docs)
    profiles, basis = select_profiles(mode, capability, version)
    judge = Judge(version, profiles)
    audit.version, audit.judge = version, judge

    by_type: dict[str, list[dict[str, Any]]] = {}
    for p in profiles:
        by_type.setdefault(p["resource"], []).append(p)
    per_resource_cap = 20 * sample
    runs = {t: TypeRun(t, per_resource_cap) for t in by_type}
    searches = conformance(version)["searches"]
    patient_types = [t for t in runs if t != "Patient" and any(PATIENT_PARAM in c for c in searches.get(t, {}).get("shall", []))]
    other_types = [t for t in runs if t != "Patient" and t not in patient_types]
    total = len(patients) * (len(patient_types) + ("Patient" in runs)) + 1
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        report("uscore", done, total, f"US Core {version} searches")

    report("uscore", 0, total, f"US Core {version} searches")
    reads: dict[str, Any] = {}
    try:

        def type_job(t: str) -> Callable[[Recorder], Awaitable[None]]:
            return lambda job_rec: run_patient_type(audit.recording(job_rec), runs[t], patients, by_type[t], tick)

        jobs = [type_job(t) for t in patient_types]
        if "Patient" in runs:

            async def _patients(job_rec: Recorder) -> None:
                reads.update(await run_patient_reads(audit.recording(job_rec), runs["Patient"], patients, tick))

            jobs.append(_patients)
        await gather_recorded(rec, jobs)
        pool = {t: runs[t] for t in other_types}
        references = await resolve_references(audit, {t: runs[t] for t in runs if t not in other_types}, 10 * sample, pool)
        # Types outside the patient compartment (Practitioner, Organization...) get their SHALL
        # searches with values from the instances the references led to.
        for t in other_types:
            for combo in searches.get(t, {}).get("shall", []):
                for res in list(runs[t].resources.values())[:1]:
                    params = {n: value_for(res, n, t, None, version) for n in combo}
                    if all(params.values()):
                        await _first_page(audit, runs[t], "+".join(combo), params, res)  # type: ignore[arg-type]
            await read_by_id(audit, runs[t], list(runs[t].resources)[:READS_PER_TYPE])
        status, doc = await audit.get(ctx.url("Patient?birthdate=not-a-date"))
        invalid_search = {
            "http_status": status,
            "refused": status >= 400,
            "operation_outcome": isinstance(doc, dict) and doc.get("resourceType") == "OperationOutcome",
        }
        tick()
    except FetchError as exc:
        raise ProbeError(f"the FHIR server stopped answering: {exc}") from None
    tx_url = ctx.settings.get("tx_server")
    terminology: dict[str, Any] = {"offline": True, "tx_server": None}
    if tx_url:
        terminology["tx_server"] = await ask_terminology_server(ctx, rec, judge, str(tx_url))

    results = {pid: tally.result() for pid, tally in judge.tallies.items()}
    search_summary = {
        t: {
            k: {**{f: x for f, x in v.items() if f != "last_page_count"}, "statuses": dict(sorted(v["statuses"].items()))}
            for k, v in sorted(runs[t].searches.items())
        }
        for t in sorted(runs)
    }
    # Totals are the SHALL searches as the IG lists them; their deeper forms (comparators, POST,
    # _revinclude) are judged on their own (uscore_search_variants) and counted apart.
    all_tallies = [v for t in search_summary.values() for v in t.values() if not v.get("variant")]
    variant_tallies = [v for t in search_summary.values() for v in t.values() if v.get("variant")]
    expected = {t: ["+".join(c) for c in searches.get(t, {}).get("shall", [])] for t in sorted(runs)}
    term_rows = [row for r in results.values() for row in (r.get("terminology") or {}).values()]
    return {
        "us_core_version": version,
        "version_basis": version_basis,
        "versions_declared": declared,
        "authorized_by": authorized_by,
        "selection": basis,
        "patients": {"source": patient_source, "tested": len(patients)},
        "sample": sample,
        "max_pages": max_pages,
        "profiles": dict(sorted(results.items())),
        "unassigned_resources": dict(sorted(judge.unassigned.items())),
        "patient_reads": reads or None,
        "reads": {t: dict(runs[t].reads) for t in sorted(runs) if t != "Patient" and runs[t].reads["requests"]},
        "revinclude": {
            t: {**(runs[t].revinclude or {}), **_request_counts(runs[t].searches[REVINCLUDE_KEY])}
            for t in sorted(runs)
            if REVINCLUDE_KEY in runs[t].searches
        },
        "searches": search_summary,
        "shall_searches_not_run": {
            t: sorted(set(keys) - set(search_summary.get(t, {})))
            for t, keys in expected.items()
            if set(keys) - set(search_summary.get(t, {}))
        },
        "references": references,
        "invalid_search": invalid_search,
        "terminology": terminology,
        "totals": {
            "profiles": len(results),
            "profiles_with_data": sum(1 for r in results.values() if r["resources"]),
            "resources": sum(r["resources"] for r in results.values()),
            "searches": sum(v["requests"] for v in all_tallies),
            "search_errors": sum(v["http_errors"] for v in all_tallies),
            "search_errors_with_operation_outcome": sum(v["errors_with_operation_outcome"] for v in all_tallies),
            "mismatched": sum(v["mismatched"] for v in all_tallies + variant_tallies),
            "variant_searches": sum(v["requests"] for v in variant_tallies),
            "variant_search_errors": sum(v["http_errors"] for v in variant_tallies),
            "structure_invalid": sum(r["structure_invalid"] for r in results.values()),
            "resources_missing_mandatory": sum(r["resources_missing_mandatory"] for r in results.values()),
            "codes_checked": sum(row["passed"] + row["failed"] for row in term_rows),
            "codes_failed": sum(row["failed"] for row in term_rows),
            "codes_not_checked": sum(row["not_checked"] for row in term_rows),
        },
    }
