"""Checks that reconcile the vendor's claims file with what was observed.

See `ehrcheck.rules.checks` for the contract every check follows.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator

from ehrcheck.evidence.anonymous import SmartDocument
from ehrcheck.evidence.view import View
from ehrcheck.rules.checks.access import unauthenticated_patient_search
from ehrcheck.rules.checks.capability import (
    ExportLevelsArgs,
    bulk_export_declared,
    us_core_versions,
    uscdi_profiles_declared,
)
from ehrcheck.rules.checks.common import (
    CheckArgs,
    NoArgs,
    Outcome,
    _cap,
    _date,
    _smart,
    _smart_capabilities,
    _strings,
    _version_tuple,
    check,
)
from ehrcheck.rules.checks.transport import TLS_ORDER, _tls


def _claims_path(path: str) -> str:
    if not path.startswith("claims.") or not all(path.split(".")):
        raise ValueError(f"'{path}' is not a claims path (claims.section.field)")
    return path


ClaimsPath = Annotated[str, AfterValidator(_claims_path)]


def _months_before(day: dt.date, months: int) -> dt.date:
    year, month = divmod(day.month - 1 - months, 12)
    year += day.year
    month += 1
    for dd in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, dd)
        except ValueError:
            continue
    return dt.date(year, month, 28)


def _as_values(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


CONDITIONS = ("equals", "in", "matches", "gte", "lte", "within_months")


class ClaimArgs(CheckArgs):
    path: ClaimsPath
    what: str | None = None
    equals: Any = None
    in_: Any = None
    matches: str | None = None
    gte: float | None = None
    lte: float | None = None
    within_months: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _in(cls, data: Any) -> Any:
        # `in` is a Python keyword: the field is `in_`, the pack spells it `in`.
        if isinstance(data, dict) and "in" in data:
            data = {**{k: v for k, v in data.items() if k != "in"}, "in_": data["in"]}
        return data

    @model_validator(mode="after")
    def _one_condition(self) -> ClaimArgs:
        given = [c for c in CONDITIONS if ("in_" if c == "in" else c) in self.model_fields_set]
        if len(given) > 1:
            raise ValueError(f"give at most one condition, not {' and '.join(given)}")
        return self


@check(args=ClaimArgs)
def claim(view: View, args: ClaimArgs, as_of: dt.date) -> Outcome:
    """A vendor attestation that no probe can confirm: at best `unverified`, never pass.

    `args.path` is a dotted path from the view (e.g. `claims.hipaa.baa_offered`); the condition is
    one of `equals`, `in` (one of a list), `matches` (a case-insensitive regular expression),
    `gte`, `lte` or `within_months` (a date no older than N months before as-of).
    Unanswered -> not_observed; answered but short of the requirement -> fail.
    """
    path = args.path
    what = args.what or path.rsplit(".", 1)[-1].replace("_", " ")
    value = view.lookup(path)
    if value is None:
        return Outcome("not_observed", None, f"The vendor's claims do not answer: {what} ({path}).")
    given = args.model_fields_set
    met: bool
    if "equals" in given:
        met = value == args.equals
    elif "in_" in given:
        met = value in _as_values(args.in_)
    elif args.matches is not None:
        met = isinstance(value, str) and re.search(args.matches, value, re.IGNORECASE) is not None
    elif args.gte is not None or args.lte is not None:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return Outcome("fail", value, f"The vendor's answer for {what} is not a number: {value!r}.")
        met = number >= args.gte if args.gte is not None else args.lte is not None and number <= args.lte
    elif args.within_months is not None:
        day = _date(value)
        if day is None:
            return Outcome("fail", value, f"The vendor's answer for {what} is not a date: {value!r}.")
        met = _months_before(as_of, args.within_months) <= day <= as_of
    else:
        met = bool(value)
    shown = value.isoformat() if isinstance(value, dt.date) else value
    if isinstance(shown, bool):
        shown = "yes" if shown else "no"
    elif isinstance(shown, float) and shown.is_integer():
        shown = int(shown)
    if met:
        return Outcome(
            "unverified",
            shown,
            f"The vendor states {what}: {shown}. ehrcheck cannot confirm this remotely; ask for the evidence.",
        )
    return Outcome("fail", shown, f"The vendor's own answer for {what} is {shown}.")


# --- CHPL (ONC Certified Health IT Product List) ---------------------------------------------


class ClaimedArgs(CheckArgs):
    """The claims path to judge; each check has its own default."""

    path: ClaimsPath | None = None


def _claimed(view: View, args: ClaimedArgs, default: str) -> Any:
    return view.lookup(args.path or default)


def _same_version(claimed: str, seen: str, parts: int = 2) -> bool:
    return _version_tuple(claimed)[:parts] == _version_tuple(seen)[:parts]


NOT_SUPPORTED = "The vendor states it is not supported, so there is nothing to verify."


@check(args=ClaimedArgs)
def claimed_fhir_version(view: View, args: ClaimedArgs, as_of: dt.date) -> Outcome:
    """The FHIR version the vendor claims is the one its CapabilityStatement declares."""
    claimed = _claimed(view, args, "claims.standards.fhir_version")
    if claimed is False:
        return Outcome("not_applicable", None, NOT_SUPPORTED)
    cap = _cap(view)
    if cap is None:
        return Outcome("fail", None, "No CapabilityStatement was returned.")
    seen = str(cap.fhir_version)
    if _same_version(str(claimed), seen, 3):
        return Outcome("pass", seen, f"Claimed FHIR {claimed}; the server declares {seen}.")
    return Outcome("fail", seen, f"The server declares FHIR {seen} ({cap.fhir_release}); the claim is {claimed}.")


US_CORE_ERA_FLOOR = {"7.0.0+": (7, 0), "6.0.0+": (6, 0), "pre-6.0.0": (3, 1)}


@check(args=ClaimedArgs)
def claimed_us_core(view: View, args: ClaimedArgs, as_of: dt.date) -> Outcome:
    """The US Core version the vendor claims shows in the CapabilityStatement: declared with that
    `|version`, or (without versions) through profiles that exist only from that release on."""
    claimed = _claimed(view, args, "claims.standards.us_core")
    if claimed is False:
        return Outcome("not_applicable", None, NOT_SUPPORTED)
    cap = _cap(view)
    if cap is None:
        return Outcome("fail", None, "No CapabilityStatement was returned.")
    explicit, era = us_core_versions(cap)
    observed = {"versions": explicit, "inferred": era}
    if explicit:
        if any(_same_version(str(claimed), v) for v in explicit):
            return Outcome("pass", observed, f"Claimed US Core {claimed}; the server declares {', '.join(explicit)}.")
        return Outcome("fail", observed, f"The server declares US Core {', '.join(explicit)}; the claim is {claimed}.")
    if era is None:
        return Outcome("fail", observed, "The CapabilityStatement declares no US Core profile.")
    if era == "unversioned":
        return Outcome(
            "not_observed", observed, "US Core is named without a version or profiles, so the claimed version cannot be seen."
        )
    wanted = _version_tuple(str(claimed))[:2]
    needed = (7, 0) if wanted >= (7, 0) else (6, 0) if wanted >= (6, 0) else (3, 1)
    if US_CORE_ERA_FLOOR[era] >= needed:
        return Outcome("pass", observed, f"Claimed US Core {claimed}; the declared profiles fit (US Core {era}).")
    return Outcome("fail", observed, f"The declared profiles only go as far as US Core {era}; the claim is {claimed}.")


# What a "SMART App Launch 2.x" claim implies in discovery (SMART 2.0.0 Conformance): v2 scopes,
# a launch, the REQUIRED authorization-code grant and PKCE with S256, and where to log in.
SMART_2_IMPLIES = ("permission-v2", "launch-standalone or launch-ehr", "authorization_code grant", "PKCE S256")


def _smart_2_missing(doc: SmartDocument, caps: set[str]) -> list[str]:
    missing = []
    if "permission-v2" not in caps:
        missing.append("permission-v2")
    if not caps & {"launch-standalone", "launch-ehr"}:
        missing.append("launch-standalone or launch-ehr")
    if "authorization_code" not in _strings(doc.grant_types_supported):
        missing.append("authorization_code grant")
    methods = _strings(doc.code_challenge_methods_supported)
    if "S256" not in methods or "plain" in methods:
        missing.append("PKCE S256")
    missing += [f for f in ("authorization_endpoint", "token_endpoint") if not isinstance(getattr(doc, f), str)]
    return missing


@check(args=ClaimedArgs)
def claimed_smart_version(view: View, args: ClaimedArgs, as_of: dt.date) -> Outcome:
    """A claim of SMART App Launch 2.x is verified only when discovery shows everything it implies
    (permission-v2, a launch, the authorization-code grant, PKCE S256, the endpoints): with
    permission-v2 but not the rest it is partly verified (warn, naming what is missing); without
    permission-v2 it is contradicted. 1.x shows as a SMART configuration or oauth-uris."""
    claimed = _claimed(view, args, "claims.standards.smart_app_launch")
    if claimed is False:
        return Outcome("not_applicable", None, NOT_SUPPORTED)
    doc, why = _smart(view)
    caps = _smart_capabilities(view)
    if _version_tuple(str(claimed))[:1] >= (2,):
        if doc is None:
            return Outcome("fail", None, why)
        missing = _smart_2_missing(doc, set(caps))
        observed = {"capabilities": sorted(caps), "missing": missing}
        if "permission-v2" not in caps:
            also = ", ".join(missing[1:]) or "nothing else"
            return Outcome("fail", observed, f"The SMART configuration does not list permission-v2; also missing: {also}.")
        if missing:
            return Outcome("warn", observed, f"Partly shown: permission-v2 is listed, but missing: {', '.join(missing)}.")
        return Outcome("pass", observed, f"Claimed SMART App Launch {claimed}; {', '.join(SMART_2_IMPLIES)} are all shown.")
    security = view.capability.security if view.capability else None
    oauth = security.oauth_uris if security else None
    if doc is not None or oauth:
        return Outcome("pass", sorted(caps), f"Claimed SMART App Launch {claimed}; SMART discovery is published.")
    return Outcome("fail", None, f"No SMART discovery was published: {why}")


@check(args=ClaimedArgs)
def claimed_bulk_data(view: View, args: ClaimedArgs, as_of: dt.date) -> Outcome:
    """A claimed Bulk Data version needs a declared `$export` (group, patient or system level)."""
    claimed = _claimed(view, args, "claims.standards.bulk_data")
    if claimed is False:
        return Outcome("not_applicable", None, NOT_SUPPORTED)
    cap = _cap(view)
    if cap is None:
        return Outcome("fail", None, "No CapabilityStatement was returned.")
    levels = bulk_export_declared(view, ExportLevelsArgs(levels=["group", "patient", "system"]), as_of).observed or {}
    found = [lvl for lvl, ok in levels.items() if ok]
    if found:
        note = "" if "group" in found else " (not at group level, which (g)(10) certification uses)"
        return Outcome("pass", levels, f"Claimed Bulk Data {claimed}; $export is declared at {', '.join(found)} level{note}.")
    return Outcome("fail", levels, "The CapabilityStatement declares no $export operation.")


@check(args=ClaimedArgs)
def claimed_uscdi(view: View, args: ClaimedArgs, as_of: dt.date) -> Outcome:
    """USCDI v3 is served through the US Core 6.1.0 profiles (g)(10) requires (or 7.0.0's, a superset,
    when the server declares 7.0.0); v4 and later through US Core 7.0.0; v1 and v2 through any US
    Core profiles."""
    claimed = _claimed(view, args, "claims.standards.uscdi")
    if claimed is False:
        return Outcome("not_applicable", None, NOT_SUPPORTED)
    cap = _cap(view)
    if cap is None:
        return Outcome("fail", None, "No CapabilityStatement was returned.")
    wanted = _version_tuple(str(claimed).lstrip("vV"))[:1]
    explicit, era = us_core_versions(cap)
    if wanted >= (4,):
        if era == "7.0.0+" or any(_version_tuple(v)[:1] >= (7,) for v in explicit):
            return Outcome("pass", era, f"Claimed USCDI {claimed}; US Core 7.0.0 profiles are declared.")
        return Outcome("fail", era, "No US Core 7.0.0 profile (which carries it) is declared.")
    if wanted >= (3,):
        profiles = uscdi_profiles_declared(view, NoArgs(), as_of)
        if profiles.status == "pass":
            return Outcome("pass", profiles.observed, f"Claimed USCDI {claimed}; {profiles.detail}")
        return Outcome("fail", profiles.observed, profiles.detail)
    if era in (None, "unversioned"):
        return Outcome("fail", era, "The CapabilityStatement declares no US Core profile.")
    return Outcome("pass", era, f"Claimed USCDI {claimed}; US Core profiles are declared.")


class PatientAppArgs(ClaimedArgs):
    required: list[str] = Field(default_factory=list)


@check(args=PatientAppArgs)
def claimed_patient_app_access(view: View, args: PatientAppArgs, as_of: dt.date) -> Outcome:
    """Patients can connect their own apps when SMART advertises the standalone patient launch."""
    claimed = _claimed(view, args, "claims.portal.third_party_app_access")
    if claimed is False:
        return Outcome("not_applicable", None, "The vendor states patients cannot connect their own apps.")
    doc, why = _smart(view)
    if doc is None:
        return Outcome("fail", None, why)
    have = set(_smart_capabilities(view))
    required = args.required or ["launch-standalone", "context-standalone-patient", "permission-patient"]
    missing = [c for c in required if c not in have]
    if missing:
        return Outcome("fail", sorted(have), f"SMART lacks: {', '.join(missing)}.")
    return Outcome("pass", sorted(have), f"Advertised: {', '.join(required)}.")


@check(args=ClaimedArgs)
def claimed_tls_minimum(view: View, args: ClaimedArgs, as_of: dt.date) -> Outcome:
    """No TLS version older than the claimed minimum is accepted, and the API is not plain HTTP."""
    claimed = str(_claimed(view, args, "claims.hipaa.tls_minimum"))
    if view.transport is not None and view.transport.scheme == "http":
        return Outcome("fail", "http", "The API is served over plain HTTP, without TLS.")
    tls, problem = _tls(view)
    if tls is None:
        return problem or Outcome("not_observed")
    floor = TLS_ORDER.get(f"TLSv{claimed}", TLS_ORDER["TLSv1.2"])
    legacy = tls.legacy or {}
    accepted = [v for v, r in sorted(legacy.items()) if r == "accepted" and TLS_ORDER.get(v, 99) < floor]
    if accepted:
        return Outcome("fail", legacy, f"The server accepts {', '.join(accepted)}; the claimed minimum is TLS {claimed}.")
    negotiated = tls.negotiated_version
    if negotiated in TLS_ORDER and TLS_ORDER[negotiated] < floor:
        return Outcome("fail", negotiated, f"The server negotiated {negotiated}; the claimed minimum is TLS {claimed}.")
    below = [v for v in ("TLSv1.0", "TLSv1.1", "TLSv1.2") if TLS_ORDER[v] < floor]
    unsettled = [v for v in below if legacy.get(v) != "rejected"]
    if unsettled:
        return Outcome(
            "not_observed",
            legacy,
            f"Whether the server refuses {', '.join(unsettled)} was not observed (only TLS 1.0 and 1.1 are tried, where this machine can).",
        )
    return Outcome("pass", legacy, f"Negotiated {negotiated}; {', '.join(below) or 'nothing older'} refused.")


@check()
def claimed_unique_access(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """A vendor that says every user reaches patient data under their own identity cannot serve
    patient records to an anonymous caller."""
    search = unauthenticated_patient_search(view, NoArgs(), as_of)
    if search.status == "fail":
        return Outcome("fail", search.observed, search.detail)
    if search.status in ("pass", "warn"):
        return Outcome("pass", search.observed, f"Anonymous requests for patient data are refused: {search.detail}")
    return search


class VersionCurrentArgs(CheckArgs):
    path: ClaimsPath
    minimum: str
    what: str | None = None


@check(args=VersionCurrentArgs)
def claimed_version_current(view: View, args: VersionCurrentArgs, as_of: dt.date) -> Outcome:
    """The standard version the vendor claims is at least `args.minimum` (the rule's dates say when
    that minimum is in force). A claim is at best unverified; a claim below the minimum, or `no`,
    falls short by the vendor's own answer."""
    path = args.path
    what = args.what or path.rsplit(".", 1)[-1]
    claimed = view.lookup(path)
    if claimed is None:
        return Outcome("not_observed", None, f"The vendor's claims do not state the {what} version ({path}).")
    minimum = args.minimum
    if claimed is False:
        return Outcome("fail", False, f"The vendor states it does not support {what}; certification needs {minimum} or later.")
    if _version_tuple(str(claimed).lstrip("vV")) >= _version_tuple(minimum.lstrip("vV")):
        return Outcome(
            "unverified",
            claimed,
            f"The vendor states {what} {claimed}, which meets the {minimum} certification needs on {as_of}.",
        )
    return Outcome(
        "fail", claimed, f"The vendor states {what} {claimed}, older than the {minimum} certification needs on {as_of}."
    )
