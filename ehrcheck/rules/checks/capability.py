"""Checks over the CapabilityStatement: FHIR version, resources, US Core, searches, operations.

See `ehrcheck.rules.checks` for the contract every check follows.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from pydantic import Field

from ehrcheck.evidence.anonymous import CapabilityData
from ehrcheck.evidence.view import View, need
from ehrcheck.rules.checks.common import (
    NO_CAPABILITY,
    US_CORE,
    US_CORE_PROFILE,
    USCDI_VERSIONS,
    CheckArgs,
    NoArgs,
    Outcome,
    _cap,
    _date,
    _expired,
    _listing,
    _sentence,
    _strings,
    _strip_version,
    _version_tuple,
    check,
)
from ehrcheck.rules.shapes import export_declared

# A version -> the date it stopped counting (YAML may give the date unquoted).
Expiries = dict[str, dt.date | str]


@check()
def fhir_r4(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The endpoint speaks FHIR R4 (4.0.1), the version 45 CFR 170.215(a)(1) adopts."""
    cap = need(view.capability, "capability")
    if not cap.found:
        return Outcome("fail", None, "No CapabilityStatement was returned.")
    version = cap.fhir_version
    release = cap.fhir_release
    if version == "4.0.1":
        return Outcome("pass", version)
    return Outcome("fail", version, f"The server declares FHIR {version} ({release}).")


@lru_cache(maxsize=len(USCDI_VERSIONS))
def uscdi_profiles(version: str = USCDI_VERSIONS[0]) -> tuple[dict[str, Any], ...]:
    """The profiles of a US Core version the ONC (g)(10) test kit requires, loaded lazily from
    package data (derived from that version's us-core-server CapabilityStatement)."""
    name = f"us_core_{version.replace('.', '_')}_uscdi_profiles.json"
    text = resources.files("ehrcheck.rules").joinpath("data", name).read_text(encoding="utf-8")
    return tuple(json.loads(text)["profiles"])


def uscdi_resources(version: str = USCDI_VERSIONS[0]) -> list[str]:
    return sorted({p["resource"] for p in uscdi_profiles(version) if p.get("required", True)})


def uscdi_version(cap: CapabilityData) -> tuple[str, str]:
    """The US Core version whose USCDI profiles a server is held to, and why: the newest kept
    version it declares explicitly (`|x.y.z` on instantiates, implementationGuide or a
    supportedProfile), else 7.0.0 when it lists profiles only 7.0.0 has, else 6.1.0. The same
    order as the US Core data probe's choice, so both judge a server by one version."""
    explicit, era = us_core_versions(cap)
    kept = [v for v in explicit if v in USCDI_VERSIONS]
    if kept:
        return max(kept, key=_version_tuple), "declared"
    if era == "7.0.0+":
        return "7.0.0", "lists profiles only US Core 7.0.0 has"
    return USCDI_VERSIONS[0], "declares no newer version" if era else "declares no version"


class ResourcesDeclaredArgs(CheckArgs):
    resources: list[str] = Field(default_factory=list)
    interaction: str = "read"


@check(args=ResourcesDeclaredArgs)
def resources_declared(view: View, args: ResourcesDeclaredArgs, as_of: dt.date) -> Outcome:
    """Every resource type that carries USCDI data is declared with a read interaction.

    (g)(10) expects an API that serves all USCDI data classes; a type missing from the
    CapabilityStatement cannot be discovered by an app. The default list is the resource types of
    the US Core profiles the (g)(10) test kit requires, in the version the server declares
    (`uscdi_version`); `args.resources` overrides it.
    """
    cap = _cap(view)
    if cap is None:
        return NO_CAPABILITY
    wanted = list(args.resources or uscdi_resources(uscdi_version(cap)[0]))
    interaction = args.interaction
    declared = cap.resources or {}
    missing = [r for r in wanted if r not in declared]
    no_read = [r for r in wanted if r in declared and interaction not in _strings(declared[r].interactions)]
    observed = {"missing": missing, f"without_{interaction}": no_read}
    if not missing and not no_read:
        return Outcome("pass", observed, f"All {len(wanted)} resource types are declared.")
    parts = []
    if missing:
        parts.append(f"missing: {_listing(missing)}")
    if no_read:
        parts.append(f"declared without '{interaction}': {_listing(no_read)}")
    return Outcome("fail", observed, "; ".join(parts) + ".")


class ClinicalDataArgs(CheckArgs):
    minimum: int = 3


@check(args=ClinicalDataArgs)
def clinical_data_exposed(view: View, args: ClinicalDataArgs, as_of: dt.date) -> Outcome:
    """The API exposes patient chart data at all: Patient, or at least `args.minimum` (default 3)
    USCDI resource types, readable or searchable.

    This is the verdict's "does it share the chart?" gate. It is deliberately looser than INT-006
    and INT-007, which judge completeness: an API serving conditions and allergies but declaring no
    Patient shares data badly, not never.
    """
    cap = _cap(view)
    if cap is None:
        return NO_CAPABILITY
    minimum = args.minimum
    declared = cap.resources or {}
    usable = sorted(
        r
        for r in uscdi_resources(uscdi_version(cap)[0])
        if r in declared and {"read", "search-type"} & set(_strings(declared[r].interactions))
    )
    if "Patient" in usable or len(usable) >= minimum:
        return Outcome("pass", usable, f"Chart data types offered: {_listing(usable)}.")
    return Outcome("fail", usable, f"Only {len(usable)} USCDI data type(s) can be read: {_listing(usable) or 'none'}.")


@check()
def uscdi_profiles_declared(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """Every US Core profile that (g)(10) certification requires is listed in supportedProfile.

    The ONC (g)(10) test kit fails a server that does not state support for every USCDI profile of
    the US Core version it tests (42 in 6.1.0; 45 in 7.0.0, which adds average blood pressure and
    the care-experience and treatment-intervention preferences). The list is that of the version
    the server declares (`uscdi_version`). Canonicals are compared without their `|version`.
    """
    cap = _cap(view)
    if cap is None:
        return NO_CAPABILITY
    version, why = uscdi_version(cap)
    have = {_strip_version(p) for p in _strings(cap.supported_profiles)}
    required = [p for p in uscdi_profiles(version) if p.get("required", True)]
    missing = [p["url"].rsplit("/", 1)[-1] for p in required if p["url"] not in have]
    observed = {
        "us_core_version": version,
        "required": len(required),
        "declared": len(required) - len(missing),
        "missing": missing,
    }
    held = f"US Core {version}" + ("" if why == "declared" else f" (the server {why})")
    if not missing:
        return Outcome("pass", observed, f"All {len(required)} USCDI profiles of {held} are declared.")
    return Outcome("fail", observed, f"{len(missing)} of {len(required)} USCDI profiles of {held} missing: {_listing(missing)}.")


# Profiles that first appeared in US Core 6.0.0 / 7.0.0: their presence dates a server's US Core.
US_CORE_6_MARKERS = (
    "us-core-observation-clinical-result",
    "us-core-coverage",
    "us-core-medicationdispense",
    "us-core-specimen",
    "us-core-observation-screening-assessment",
)
US_CORE_7_MARKERS = (
    "us-core-average-blood-pressure",
    "us-core-care-experience-preference",
    "us-core-treatment-intervention-preference",
)


def us_core_versions(cap: CapabilityData) -> tuple[list[str], str | None]:
    """(explicit versions, inferred era) of the US Core a CapabilityStatement declares.

    Explicit versions come from `|x.y.z` suffixes on US Core canonicals in instantiates,
    implementationGuide or supportedProfile. Without one, the era is inferred from profiles that only
    exist from a given release on: "7.0.0+", "6.0.0+", or "pre-6.0.0" (3.1.1 to 5.0.1);
    "unversioned" when US Core is only named (instantiates without a version, no profiles).
    """
    urls = _strings(cap.instantiates) + _strings(cap.implementation_guides) + _strings(cap.supported_profiles)
    explicit = sorted({u.split("|", 1)[1] for u in urls if u.startswith(US_CORE) and "|" in u})
    names = {_strip_version(u)[len(US_CORE_PROFILE) :] for u in urls if u.startswith(US_CORE_PROFILE)}
    if not names and not explicit:
        return [], "unversioned" if any(u.startswith(US_CORE) for u in urls) else None
    if any(m in names for m in US_CORE_7_MARKERS):
        return explicit, "7.0.0+"
    if any(m in names for m in US_CORE_6_MARKERS):
        return explicit, "6.0.0+"
    return explicit, "pre-6.0.0" if names else None


class UsCoreVersionArgs(CheckArgs):
    minimum: str = "6.1.0"
    # Each version that counts, with its source; when given, only these count (not "6.1.0 or later").
    accepted: dict[str, str] | None = None
    expires: Expiries | None = None


@check(args=UsCoreVersionArgs)
def us_core_version(view: View, args: UsCoreVersionArgs, as_of: dt.date) -> Outcome:
    """The server declares a US Core version that (g)(10) accepts on the as-of date.

    45 CFR 170.215(b)(1)(ii) adopts US Core 6.1.0 (7.0.0 is an approved SVAP version); US Core
    3.1.1 (170.215(b)(1)(i)) expired on 2026-01-01. `args.accepted` maps each version that counts
    to its source (only those count, not "6.1.0 or later"); without it, `args.minimum` is the
    oldest current version. `args.expires` maps older versions to the date they stopped counting.
    """
    cap = _cap(view)
    if cap is None:
        return NO_CAPABILITY
    minimum = _version_tuple(args.minimum)
    accepted = dict(args.accepted or {})
    expires: dict[str, Any] = dict(args.expires or {})
    explicit, era = us_core_versions(cap)
    observed: dict[str, Any] = {"versions": explicit, "inferred": era}
    if accepted:
        observed["accepted"] = accepted
    if explicit:
        if accepted:
            current = [v for v in explicit if v in accepted]
            if current:
                return Outcome("pass", observed, "Declares " + ", ".join(f"US Core {v} ({accepted[v]})" for v in current) + ".")
            newer = [v for v in explicit if _version_tuple(v) > max(_version_tuple(a) for a in accepted)]
            if newer:
                return Outcome(
                    "fail",
                    observed,
                    f"Declares US Core {', '.join(newer)}, which is not a version (g)(10) accepts "
                    f"({', '.join(f'{k}: {v}' for k, v in accepted.items())}).",
                )
        current = [v for v in explicit if _version_tuple(v) >= minimum] if not accepted else []
        if current:
            return Outcome("pass", observed, f"Declares US Core {', '.join(current)}.")
        legacy = [v for v in explicit if _until(expires, v) is not None]
        still = [v for v in legacy if _expired(expires, v, as_of) is None]
        if still:
            return Outcome("pass", observed, f"Declares US Core {still[0]}, accepted until {_until(expires, still[0])}.")
        if legacy:
            return Outcome(
                "fail",
                observed,
                f"Declares only US Core {', '.join(legacy)}, which expired for certification on {_until(expires, legacy[0])}.",
            )
        return Outcome("fail", observed, f"Declares US Core {', '.join(explicit)}, older than the required versions.")
    if era is None:
        return Outcome("fail", observed, "No US Core profile or US Core version is declared.")
    if era == "unversioned":
        return Outcome("fail", observed, "US Core is named without a version and no US Core profile is listed.")
    if era in ("7.0.0+", "6.0.0+"):
        if accepted:
            return Outcome(
                "warn",
                observed,
                f"Lists US Core profiles introduced in US Core {era[:-1]} or later, without a version; only "
                f"{' or '.join(accepted)} count, so ask which version they are.",
            )
        return Outcome("pass", observed, f"Declares US Core profiles introduced in US Core {era[:-1]} or later.")
    ends = [d for d in (_date(u) for u in expires.values()) if d is not None]
    if ends and as_of < max(ends):
        return Outcome("pass", observed, f"Declares pre-6.0 US Core profiles (3.1.1-era), accepted until {max(ends)}.")
    when = f" on {max(ends)}" if ends else ""
    return Outcome(
        "fail",
        observed,
        f"Declares only pre-6.0 US Core profiles (likely 3.1.1), which expired for certification{when}.",
    )


def _until(expires: dict[str, Any], version: str) -> dt.date | None:
    """The expiry date `expires` gives for a version (matched on major.minor), if listed."""
    for listed, until in expires.items():
        if _version_tuple(version)[:2] == _version_tuple(str(listed))[:2]:
            return _date(until)
    return None


class InstantiatesArgs(CheckArgs):
    canonical: str
    expires: Expiries | None = None


@check(args=InstantiatesArgs)
def instantiates(view: View, args: InstantiatesArgs, as_of: dt.date) -> Outcome:
    """`instantiates` names a canonical CapabilityStatement (a `|version` suffix is accepted).

    Testers (Inferno) accept any version suffix; a version listed in `args.expires` no longer counts
    once `as_of` reaches its date.
    """
    cap = _cap(view)
    if cap is None:
        return NO_CAPABILITY
    canonical = args.canonical
    have = _strings(cap.instantiates)
    matches = [u for u in have if _strip_version(u) == canonical]
    if not matches:
        return Outcome("fail", have, f"instantiates does not list {canonical}.")
    expires: dict[str, Any] = dict(args.expires or {})
    live = [u for u in matches if "|" not in u or _expired(expires, u.split("|", 1)[1], as_of) is None]
    if live:
        return Outcome("pass", matches)
    return Outcome("fail", matches, f"Only an expired version is instantiated: {', '.join(matches)}.")


class SearchParamsArgs(CheckArgs):
    resource: str
    params: list[str] = Field(default_factory=list)


@check(args=SearchParamsArgs)
def search_params_declared(view: View, args: SearchParamsArgs, as_of: dt.date) -> Outcome:
    """A resource declares the search-type interaction and the listed search parameters.

    US Core makes these searches SHALL; apps (and other practices' systems) rely on them to find a
    patient's record.
    """
    cap = _cap(view)
    if cap is None:
        return NO_CAPABILITY
    resource = args.resource
    res = (cap.resources or {}).get(resource)
    if res is None:
        return Outcome("fail", None, f"{resource} is not declared at all.")
    params = _strings(res.search_params)
    missing = [p for p in args.params if p not in params]
    if "search-type" not in _strings(res.interactions):
        missing.insert(0, "search-type interaction")
    if missing:
        return Outcome("fail", params, f"{resource} is missing: {', '.join(missing)}.")
    return Outcome("pass", params)


class ClinicalResourcesArgs(CheckArgs):
    resources: list[str] = Field(default_factory=list)


@check(args=ClinicalResourcesArgs)
def patient_search_on_clinical_resources(view: View, args: ClinicalResourcesArgs, as_of: dt.date) -> Outcome:
    """Each clinical resource the server declares can be searched by patient.

    US Core makes `patient` (alone or combined) a SHALL search on every patient-compartment
    profile; without it an app cannot pull one patient's allergies, problems or medications.
    Resources the server does not declare are judged by the 'resources declared' rule instead.
    Only the `patient` search parameter is required: US Core 6.1.0 itself marks the search-type
    interaction MAY on ServiceRequest and Specimen while making their `patient` search SHALL.
    """
    cap = _cap(view)
    if cap is None:
        return NO_CAPABILITY
    declared = cap.resources or {}
    wanted = [r for r in args.resources if r in declared]
    if not wanted:
        return Outcome("fail", [], "None of the clinical resource types is declared.")
    lacking = [r for r in wanted if "patient" not in _strings(declared[r].search_params)]
    if lacking:
        return Outcome("fail", lacking, f"not searchable by patient: {_listing(lacking)}.")
    return Outcome("pass", wanted, f"{len(wanted)} clinical resource types are searchable by patient.")


def _op_names(values: Any) -> set[str]:
    return {v.lstrip("$").lower() for v in _strings(values)}


ExportLevel = Literal["group", "patient", "system"]


class ExportLevelsArgs(CheckArgs):
    levels: list[ExportLevel] = Field(default_factory=list)


@check(args=ExportLevelsArgs)
def bulk_export_declared(view: View, args: ExportLevelsArgs, as_of: dt.date) -> Outcome:
    """The Bulk Data `$export` operation is declared at the given level (group, patient, system).

    Bulk Data 1.0.1 declares the operation as `export` on Group (group level), on Patient
    (patient level) or on rest.operation (system level). An operation whose definition is that
    level's standard OperationDefinition (`.../OperationDefinition/group-export`) counts whatever
    its name, as the ONC Bulk Data test kit's does. Some servers instead name the
    OperationDefinitions (`group-export`, `patient-export`) at system level; those count too.
    `args.levels` lists the levels that must all be present.
    """
    cap = _cap(view)
    if cap is None:
        return NO_CAPABILITY
    res = cap.resources or {}
    system = _op_names(cap.system_operations)
    group, patient = res.get("Group"), res.get("Patient")
    ops = cap.bulk_operations
    found = {
        "group": "export" in _op_names(group.operations if group else None)
        or "group-export" in system
        or export_declared(ops, "Group"),
        "patient": "export" in _op_names(patient.operations if patient else None)
        or "patient-export" in system
        or export_declared(ops, "Patient"),
        "system": "export" in system or export_declared(ops, "system"),
    }
    levels: list[str] = list(args.levels) or ["group"]
    missing = [lvl for lvl in levels if not found.get(lvl)]
    observed = {lvl: found.get(lvl, False) for lvl in levels}
    if missing:
        return Outcome("fail", observed, f"$export is not declared at: {', '.join(missing)} level.")
    return Outcome("pass", observed)


# --- what the statement says about the server itself (issue 19) ------------------------------

# For rules comparing what a statement says with what the server does: with no statement there is
# nothing to compare (INT-001 reports the missing statement).
NO_STATEMENT = Outcome("not_applicable", None, "No CapabilityStatement was returned (see INT-001).")


@check()
def instance_implementation(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """A statement of kind `instance` describes its implementation (FHIR R4 invariant cpb-14), and
    `implementation.url`, when given, is the base URL that was audited.

    `implementation.url` is "an absolute base URL for the implementation": a statement naming
    another base was written for another deployment (or a template), so what it lists may not be
    what this endpoint serves. Not applicable to statements of kind capability or requirements
    (INT-004 judges the kind).
    """
    cap = _cap(view)
    if cap is None:
        return NO_STATEMENT
    if cap.kind != "instance":
        return Outcome("not_applicable", cap.kind, f"The statement's kind is {cap.kind or 'not given'}, not instance.")
    impl = cap.implementation
    if impl is None or not (impl.description or impl.url):
        return Outcome("fail", None, "kind is instance but there is no implementation element (invariant cpb-14).")
    if cap.implementation_url_is_base is False:
        return Outcome("fail", impl.url, f"implementation.url is {impl.url}, not the base URL audited.")
    if cap.implementation_url_is_base is None:
        why = "it gives no url to compare" if not impl.url else "its url was not compared with the base (older evidence)"
        return Outcome("pass", impl.description, f"The implementation is described; {why}.")
    return Outcome("pass", impl.url, "implementation.url is the base URL audited.")


@check()
def cors_declaration_matches(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """`rest.security.cors` says what the server does: true when `GET [base]/metadata`, requested
    with an Origin, comes back with Access-Control-Allow-Origin; not true when it does not.

    FHIR R4 CapabilityStatement.rest.security.cors: "Server adds CORS headers when responding to
    requests - this enables Javascript applications to use the server". A true flag without the
    headers sends browser apps to a server that will not answer them; headers without the flag
    hide the support from apps that read it. Not applicable when the flag is absent and no CORS
    header is sent (INT-037 reports the missing CORS); not observed when the Origin request failed.
    """
    cap = _cap(view)
    if cap is None:
        return NO_STATEMENT
    declared = cap.security.cors if cap.security else None
    cors = cap.cors
    if cors is None or cors.error or cors.http_status is None:
        return Outcome("not_observed", declared, "The metadata request with an Origin header got no answer.")
    sent = bool(cors.allow_origin)
    observed = {"declared": declared, "allow_origin_sent": sent}
    if declared is True and sent:
        return Outcome("pass", observed, "rest.security.cors is true and the headers are sent.")
    if declared is True:
        return Outcome(
            "fail",
            observed,
            "rest.security.cors is true, but GET [base]/metadata with an Origin got no Access-Control-Allow-Origin.",
        )
    if sent:
        flag = "false" if declared is False else "absent"
        return Outcome("fail", observed, f"The server sends CORS headers, but rest.security.cors is {flag}.")
    if declared is False:
        return Outcome("pass", observed, "rest.security.cors is false and no CORS header is sent.")
    return Outcome("not_applicable", observed, "rest.security.cors is absent and no CORS header is sent.")


FHIR_JSON = "application/fhir+json"


@check()
def fhir_json_content_type(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """Asked for `application/fhir+json`, the server answers with that Content-Type: the metadata
    request, and the anonymous Patient search when it returned a FHIR body.

    FHIR R4 §Content Types: the correct MIME type SHALL be used by clients and servers
    (application/fhir+json for JSON). A statement that only came back to another Accept header
    fails too: a client sending the standard header got nothing it could read.
    """
    cap = _cap(view)
    if cap is None:
        return NO_STATEMENT
    if cap.accept_used != FHIR_JSON:
        return Outcome(
            "fail", cap.accept_used, f"GET [base]/metadata answered only to Accept: {cap.accept_used}, not {FHIR_JSON}."
        )
    seen = {"GET [base]/metadata": cap.content_type}
    search = view.access.patient_search if view.access else None
    if search is not None and search.http_status == 200 and isinstance(search.body_resource_type, str):
        seen["GET [base]/Patient?_count=1"] = search.content_type
    wrong = [f"{what} came back as {ctype or 'no Content-Type'}" for what, ctype in seen.items() if ctype != FHIR_JSON]
    if wrong:
        return Outcome("fail", seen, _sentence(wrong))
    return Outcome("pass", seen, f"Observed on {len(seen)} response(s): {', '.join(seen)}.")


@check()
def format_param_honoured(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """`GET [base]/metadata?_format=json` sent with `Accept: application/fhir+xml` returns a JSON
    CapabilityStatement: FHIR R4 says servers SHOULD support `_format`, which overrides the Accept
    header, and SHALL read `json` as the JSON format. Asked only of servers that declare XML (where
    the two can be told apart): for a JSON-only server the rule does not apply."""
    cap = _cap(view)
    if cap is None:
        return NO_STATEMENT
    fmt = cap.format_param
    if fmt is None:
        if not any("xml" in f.lower() for f in _strings(cap.formats)):
            return Outcome("not_applicable", cap.formats, "The statement declares JSON only: _format has nothing to choose.")
        return Outcome("not_observed", None, "No _format request was made.")
    if fmt.error or fmt.http_status is None:
        return Outcome("not_observed", None, f"The _format request got no answer: {fmt.error}.")
    if fmt.http_status == 200 and fmt.json_statement:
        return Outcome("pass", fmt.content_type, f"Observed: JSON despite Accept: {fmt.accept} ({fmt.content_type}).")
    return Outcome(
        "fail",
        {"http_status": fmt.http_status, "content_type": fmt.content_type},
        f"Observed: HTTP {fmt.http_status}, {fmt.content_type or 'no Content-Type'}, not a JSON CapabilityStatement.",
    )
