"""Named check functions for rules that a single operator cannot express.

Each function is pure: `(view, args, as_of) -> Outcome`. `view` maps evidence sources
("capability", "smart", ...) to the data their probes recorded; sources that were not observed are
absent (the engine has already turned those into `not_observed`). The registry at the bottom is
explicit so that nothing registers itself at import time.

Conventions the functions share:

- A failing outcome's `detail` names what is missing or wrong ("missing: launch-ehr, context-style"),
  because the finding message is what a practice manager forwards to the vendor.
- Anything date-dependent is computed against `as_of`, never the clock, so re-scoring old evidence
  gives the same findings.
- A fact the probe could not establish (a TLS handshake that failed, a request that errored) is
  `not_observed`, never pass or fail.
- A vendor claim that no probe can confirm is at best `unverified`: claimed, not observed.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class Outcome:
    status: str  # pass | fail | warn | not_applicable | not_observed | unverified
    observed: Any = None
    detail: str | None = None


CheckFn = Callable[[dict[str, Any], dict[str, Any], dt.date], Outcome]

US_CORE = "http://hl7.org/fhir/us/core/"
US_CORE_PROFILE = US_CORE + "StructureDefinition/"
USCDI_PROFILES_FILE = "us_core_6_1_0_uscdi_profiles.json"


# --- helpers ---------------------------------------------------------------------------------


def _get(view: Any, *path: str, default: Any = None) -> Any:
    cur: Any = view
    for part in path:
        if not isinstance(cur, dict) or part not in cur:
            return default
        cur = cur[part]
    return cur


def _dotted(view: dict[str, Any], path: str) -> Any:
    return _get(view, *path.split("."))


def _strings(value: Any) -> list[str]:
    """A list of strings from a list (or a single string); anything else is empty."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str | int | float)]
    return []


def _listing(items: Iterable[str], limit: int = 8) -> str:
    items = list(items)
    shown = ", ".join(items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def _date(value: Any) -> dt.date | None:
    """A date from a date, a datetime or an ISO-8601 string; None when unreadable."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and value.strip():
        text = value.strip().replace("Z", "+00:00")
        try:
            return dt.datetime.fromisoformat(text).date()
        except ValueError:
            try:
                return dt.date.fromisoformat(text[:10])
            except ValueError:
                return None
    return None


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _expired(expiries: dict[str, Any], version: str, as_of: dt.date) -> dt.date | None:
    """The date a listed version stopped being acceptable, if it has by `as_of`."""
    for listed, until in expiries.items():
        if _version_tuple(version)[:2] == _version_tuple(str(listed))[:2]:
            end = _date(until)
            if end is not None and as_of >= end:
                return end
    return None


def _smart(view: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The SMART configuration document, or None and a plain reason why there is none."""
    smart = view.get("smart") or {}
    if smart.get("found") and isinstance(smart.get("document"), dict):
        return smart["document"], ""
    problem = smart.get("problem") or "not found"
    return None, f"No SMART configuration was published at .well-known/smart-configuration ({problem})."


def _smart_capabilities(view: dict[str, Any]) -> list[str]:
    return _strings(_get(view, "smart", "capabilities")) or _strings(_get(view, "smart", "document", "capabilities"))


def _cap(view: dict[str, Any]) -> dict[str, Any] | None:
    cap = view.get("capability") or {}
    return cap if cap.get("found") else None


NO_CAPABILITY = Outcome("fail", None, "No CapabilityStatement was returned.")


def _strip_version(url: str) -> str:
    return url.split("|", 1)[0]


# --- CapabilityStatement ---------------------------------------------------------------------


def fhir_r4(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The endpoint speaks FHIR R4 (4.0.1), the version 45 CFR 170.215(a)(1) adopts."""
    cap = view["capability"]
    if not cap.get("found"):
        return Outcome("fail", None, "No CapabilityStatement was returned.")
    version = cap.get("fhir_version")
    release = cap.get("fhir_release")
    if version == "4.0.1":
        return Outcome("pass", version)
    return Outcome("fail", version, f"The server declares FHIR {version} ({release}).")


@lru_cache(maxsize=1)
def uscdi_profiles() -> tuple[dict[str, Any], ...]:
    """The US Core 6.1.0 profiles the ONC (g)(10) test kit requires, loaded lazily from package data."""
    text = resources.files("ehrcheck.rules").joinpath(USCDI_PROFILES_FILE).read_text(encoding="utf-8")
    return tuple(json.loads(text)["profiles"])


def uscdi_resources() -> list[str]:
    return sorted({p["resource"] for p in uscdi_profiles() if p.get("required", True)})


def resources_declared(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """Every resource type that carries USCDI data is declared with a read interaction.

    (g)(10) expects an API that serves all USCDI data classes; a type missing from the
    CapabilityStatement cannot be discovered by an app. The default list is the resource types of
    the US Core 6.1.0 profiles the (g)(10) test kit requires; `args.resources` overrides it.
    """
    cap = _cap(view)
    if cap is None:
        return NO_CAPABILITY
    wanted = list(args.get("resources") or uscdi_resources())
    interaction = args.get("interaction", "read")
    declared = cap.get("resources") or {}
    missing = [r for r in wanted if r not in declared]
    no_read = [r for r in wanted if r in declared and interaction not in _strings(declared[r].get("interactions"))]
    observed = {"missing": missing, f"without_{interaction}": no_read}
    if not missing and not no_read:
        return Outcome("pass", observed, f"All {len(wanted)} resource types are declared.")
    parts = []
    if missing:
        parts.append(f"missing: {_listing(missing)}")
    if no_read:
        parts.append(f"declared without '{interaction}': {_listing(no_read)}")
    return Outcome("fail", observed, "; ".join(parts) + ".")


def clinical_data_exposed(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The API exposes patient chart data at all: Patient, or at least `args.minimum` (default 3)
    USCDI resource types, readable or searchable.

    This is the verdict's "does it share the chart?" gate. It is deliberately looser than INT-006
    and INT-007, which judge completeness: an API serving conditions and allergies but declaring no
    Patient shares data badly, not never.
    """
    cap = _cap(view)
    if cap is None:
        return NO_CAPABILITY
    minimum = int(args.get("minimum", 3))
    declared = cap.get("resources") or {}
    usable = sorted(
        r
        for r in uscdi_resources()
        if r in declared and {"read", "search-type"} & set(_strings(declared[r].get("interactions")))
    )
    if "Patient" in usable or len(usable) >= minimum:
        return Outcome("pass", usable, f"Chart data types offered: {_listing(usable)}.")
    return Outcome("fail", usable, f"Only {len(usable)} USCDI data type(s) can be read: {_listing(usable) or 'none'}.")


def uscdi_profiles_declared(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """Every US Core profile that (g)(10) certification requires is listed in supportedProfile.

    The ONC (g)(10) test kit fails a server that does not state support for every USCDI profile
    (42 for US Core 6.1.0). Profile canonicals are compared without their `|version` suffix.
    """
    cap = _cap(view)
    if cap is None:
        return NO_CAPABILITY
    have = {_strip_version(p) for p in _strings(cap.get("supported_profiles"))}
    required = [p for p in uscdi_profiles() if p.get("required", True)]
    missing = [p["url"].rsplit("/", 1)[-1] for p in required if p["url"] not in have]
    observed = {"required": len(required), "declared": len(required) - len(missing), "missing": missing}
    if not missing:
        return Outcome("pass", observed, f"All {len(required)} USCDI profiles are declared.")
    return Outcome("fail", observed, f"{len(missing)} of {len(required)} missing: {_listing(missing)}.")


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


def us_core_versions(cap: dict[str, Any]) -> tuple[list[str], str | None]:
    """(explicit versions, inferred era) of the US Core a CapabilityStatement declares.

    Explicit versions come from `|x.y.z` suffixes on US Core canonicals in instantiates,
    implementationGuide or supportedProfile. Without one, the era is inferred from profiles that only
    exist from a given release on: "7.0.0+", "6.0.0+", or "pre-6.0.0" (3.1.1 to 5.0.1);
    "unversioned" when US Core is only named (instantiates without a version, no profiles).
    """
    urls = (
        _strings(cap.get("instantiates"))
        + _strings(cap.get("implementation_guides"))
        + _strings(cap.get("supported_profiles"))
    )
    explicit = sorted({u.split("|", 1)[1] for u in urls if u.startswith(US_CORE) and "|" in u})
    names = {_strip_version(u)[len(US_CORE_PROFILE) :] for u in urls if u.startswith(US_CORE_PROFILE)}
    if not names and not explicit:
        return [], "unversioned" if any(u.startswith(US_CORE) for u in urls) else None
    if any(m in names for m in US_CORE_7_MARKERS):
        return explicit, "7.0.0+"
    if any(m in names for m in US_CORE_6_MARKERS):
        return explicit, "6.0.0+"
    return explicit, "pre-6.0.0" if names else None


def us_core_version(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The server declares a US Core version that (g)(10) accepts on the as-of date.

    45 CFR 170.215(b)(1)(ii) adopts US Core 6.1.0 (7.0.0 is an approved SVAP version); US Core
    3.1.1 (170.215(b)(1)(i)) expired on 2026-01-01. `args.minimum` is the oldest current version,
    `args.expires` maps older versions to the date they stopped counting.
    """
    cap = _cap(view)
    if cap is None:
        return NO_CAPABILITY
    minimum = _version_tuple(str(args.get("minimum", "6.1.0")))
    expires: dict[str, Any] = args.get("expires") or {}
    explicit, era = us_core_versions(cap)
    observed = {"versions": explicit, "inferred": era}
    if explicit:
        current = [v for v in explicit if _version_tuple(v) >= minimum]
        if current:
            return Outcome("pass", observed, f"Declares US Core {', '.join(current)}.")
        legacy = [v for v in explicit if _until(expires, v) is not None]
        still = [v for v in legacy if _expired(expires, v, as_of) is None]
        if still:
            return Outcome(
                "pass", observed, f"Declares US Core {still[0]}, accepted until {_until(expires, still[0])}."
            )
        if legacy:
            return Outcome(
                "fail",
                observed,
                f"Declares only US Core {', '.join(legacy)}, which expired for certification on "
                f"{_until(expires, legacy[0])}.",
            )
        return Outcome("fail", observed, f"Declares US Core {', '.join(explicit)}, older than the required versions.")
    if era is None:
        return Outcome("fail", observed, "No US Core profile or US Core version is declared.")
    if era == "unversioned":
        return Outcome("fail", observed, "US Core is named without a version and no US Core profile is listed.")
    if era in ("7.0.0+", "6.0.0+"):
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


def instantiates(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """`instantiates` names a canonical CapabilityStatement (a `|version` suffix is accepted).

    Testers (Inferno) accept any version suffix; a version listed in `args.expires` no longer counts
    once `as_of` reaches its date.
    """
    cap = _cap(view)
    if cap is None:
        return NO_CAPABILITY
    canonical = str(args["canonical"])
    have = _strings(cap.get("instantiates"))
    matches = [u for u in have if _strip_version(u) == canonical]
    if not matches:
        return Outcome("fail", have, f"instantiates does not list {canonical}.")
    expires: dict[str, Any] = args.get("expires") or {}
    live = [u for u in matches if "|" not in u or _expired(expires, u.split("|", 1)[1], as_of) is None]
    if live:
        return Outcome("pass", matches)
    return Outcome("fail", matches, f"Only an expired version is instantiated: {', '.join(matches)}.")


def search_params_declared(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """A resource declares the search-type interaction and the listed search parameters.

    US Core makes these searches SHALL; apps (and other practices' systems) rely on them to find a
    patient's record.
    """
    cap = _cap(view)
    if cap is None:
        return NO_CAPABILITY
    resource = str(args["resource"])
    res = (cap.get("resources") or {}).get(resource)
    if res is None:
        return Outcome("fail", None, f"{resource} is not declared at all.")
    params = _strings(res.get("search_params"))
    missing = [p for p in _strings(args.get("params")) if p not in params]
    if "search-type" not in _strings(res.get("interactions")):
        missing.insert(0, "search-type interaction")
    if missing:
        return Outcome("fail", params, f"{resource} is missing: {', '.join(missing)}.")
    return Outcome("pass", params)


def patient_search_on_clinical_resources(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
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
    declared = cap.get("resources") or {}
    wanted = [r for r in _strings(args.get("resources")) if r in declared]
    if not wanted:
        return Outcome("fail", [], "None of the clinical resource types is declared.")
    lacking = [
        r
        for r in wanted
        if "patient" not in _strings(declared[r].get("search_params"))
    ]
    if lacking:
        return Outcome("fail", lacking, f"not searchable by patient: {_listing(lacking)}.")
    return Outcome("pass", wanted, f"{len(wanted)} clinical resource types are searchable by patient.")


def _op_names(values: Any) -> set[str]:
    return {v.lstrip("$").lower() for v in _strings(values)}


def bulk_export_declared(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The Bulk Data `$export` operation is declared at the given level (group, patient, system).

    Bulk Data 1.0.1 declares the operation as `export` on Group (group level), on Patient
    (patient level) or on rest.operation (system level). Some servers instead name the
    OperationDefinitions (`group-export`, `patient-export`) at system level; those count too.
    `args.levels` lists the levels that must all be present.
    """
    cap = _cap(view)
    if cap is None:
        return NO_CAPABILITY
    res = cap.get("resources") or {}
    system = _op_names(cap.get("system_operations"))
    found = {
        "group": "export" in _op_names(_get(res, "Group", "operations")) or "group-export" in system,
        "patient": "export" in _op_names(_get(res, "Patient", "operations")) or "patient-export" in system,
        "system": "export" in system,
    }
    levels = _strings(args.get("levels")) or ["group"]
    missing = [lvl for lvl in levels if not found.get(lvl)]
    observed = {lvl: found.get(lvl, False) for lvl in levels}
    if missing:
        return Outcome("fail", observed, f"$export is not declared at: {', '.join(missing)} level.")
    return Outcome("pass", observed)


def oauth_declared(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The API says it is protected by OAuth 2.0 (SMART on FHIR), in either discovery place.

    Evidence is the SMART configuration (SMART 2.0) or the CapabilityStatement's rest.security
    (a SMART-on-FHIR/OAuth service or the oauth-uris extension, the SMART 1.0 way). The SMART probe
    is read when present; when it is absent and the CapabilityStatement shows nothing, the answer is
    not_observed rather than fail.
    """
    cap = view.get("capability") or {}
    sec = cap.get("security") or {}
    services = _strings(sec.get("services"))
    smart_doc, _ = _smart(view)
    signals = []
    if smart_doc is not None:
        signals.append("SMART configuration")
    if any("smart-on-fhir" in s.lower() or "oauth" in s.lower() for s in services):
        signals.append("rest.security service " + ", ".join(services))
    if sec.get("oauth_uris"):
        signals.append("oauth-uris extension")
    if signals:
        return Outcome("pass", signals, f"Declared by: {'; '.join(signals)}.")
    if "smart" not in view:
        return Outcome(
            "not_observed", None, "The CapabilityStatement declares no OAuth security and the SMART probe did not run."
        )
    return Outcome("fail", services, "Neither a SMART configuration nor an OAuth security declaration was found.")


def security_matches_smart(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """rest.security carries the SMART-on-FHIR service code, and any oauth-uris agree with the well-known.

    SMART 2.0 deprecates the CapabilityStatement mechanism but apps written for SMART 1.0 still read
    it; two discovery documents that disagree send apps to the wrong authorization server.
    """
    cap = _cap(view)
    if cap is None:
        return NO_CAPABILITY
    sec = cap.get("security") or {}
    problems = []
    if "SMART-on-FHIR" not in _strings(sec.get("services")):
        problems.append("rest.security.service lacks the SMART-on-FHIR code")
    oauth = sec.get("oauth_uris") or {}
    doc, _ = _smart(view)
    if doc is not None:
        for ext, field in (("authorize", "authorization_endpoint"), ("token", "token_endpoint")):
            if oauth.get(ext) and doc.get(field) and oauth[ext].rstrip("/") != str(doc[field]).rstrip("/"):
                problems.append(f"oauth-uris '{ext}' ({oauth[ext]}) differs from {field} ({doc[field]})")
    if problems:
        return Outcome("fail", {"services": sec.get("services"), "oauth_uris": oauth}, "; ".join(problems) + ".")
    return Outcome("pass", {"services": sec.get("services"), "oauth_uris": oauth})


# --- SMART App Launch ------------------------------------------------------------------------


def smart_config_published(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """GET [base]/.well-known/smart-configuration returns a JSON object served as application/json."""
    smart = view["smart"]
    if not smart.get("found"):
        return Outcome("fail", smart.get("http_status"), f"Problem: {smart.get('problem') or 'not found'}.")
    if not smart.get("json_content_type"):
        return Outcome(
            "fail", smart.get("content_type"), f"It is served as '{smart.get('content_type')}', not application/json."
        )
    return Outcome("pass", smart.get("http_status"))


def smart_capabilities(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The SMART configuration lists every capability in `args.required`.

    `args.aliases` maps a required name to names that count for it (SMART 2.2's
    `context-passthrough-banner` for 2.0's `context-banner`). The detail names what is missing.
    """
    doc, why = _smart(view)
    if doc is None:
        return Outcome("fail", None, why)
    have = set(_smart_capabilities(view))
    aliases: dict[str, Any] = args.get("aliases") or {}
    required = _strings(args.get("required"))
    missing = [c for c in required if c not in have and not (set(_strings(aliases.get(c))) & have)]
    if missing:
        return Outcome("fail", sorted(have), f"missing: {', '.join(missing)}.")
    return Outcome("pass", sorted(have))


def smart_fields_present(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The SMART configuration carries a non-empty value for every field in `args.fields`."""
    doc, why = _smart(view)
    if doc is None:
        return Outcome("fail", None, why)
    fields = _strings(args.get("fields"))
    missing = [f for f in fields if not doc.get(f)]
    observed = {f: doc.get(f) for f in fields}
    if missing:
        return Outcome("fail", observed, f"missing: {', '.join(missing)}.")
    return Outcome("pass", observed)


def smart_field_includes(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """A list field of the SMART configuration contains the listed values (all, or `any: true`)."""
    doc, why = _smart(view)
    if doc is None:
        return Outcome("fail", None, why)
    field = str(args["field"])
    have = _strings(doc.get(field))
    wanted = _strings(args.get("values"))
    if args.get("any"):
        if set(wanted) & set(have):
            return Outcome("pass", have)
        return Outcome("fail", have, f"{field} lists none of: {', '.join(wanted)}.")
    missing = [v for v in wanted if v not in have]
    if missing:
        return Outcome("fail", have, f"{field} is missing: {', '.join(missing)}.")
    return Outcome("pass", have)


def pkce_s256(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """PKCE: `code_challenge_methods_supported` lists S256 and does not list `plain`.

    SMART 2.0 makes the field REQUIRED with S256 and forbids `plain`, which gives no protection
    against a stolen authorization code.
    """
    doc, why = _smart(view)
    if doc is None:
        return Outcome("fail", None, why)
    methods = _strings(doc.get("code_challenge_methods_supported"))
    problems = []
    if "S256" not in methods:
        problems.append("S256 is not listed" if methods else "code_challenge_methods_supported is missing")
    if "plain" in methods:
        problems.append("the insecure 'plain' method is offered")
    if problems:
        return Outcome("fail", methods, "; ".join(problems) + ".")
    return Outcome("pass", methods)


def patient_scopes(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """scopes_supported advertises patient-level scopes (`patient/...`), what patient apps request."""
    doc, why = _smart(view)
    if doc is None:
        return Outcome("fail", None, why)
    scopes = _strings(doc.get("scopes_supported"))
    if not scopes:
        return Outcome("fail", None, "scopes_supported is not published.")
    patient = [s for s in scopes if s.startswith("patient/")]
    if patient:
        return Outcome("pass", len(patient), f"{len(patient)} patient/ scopes are advertised.")
    return Outcome("fail", scopes[:10], "No patient/ scope is advertised.")


def backend_services(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """SMART Backend Services, the authorization Bulk Data 1.0.1 requires, is advertised.

    Needs the client-confidential-asymmetric capability, private_key_jwt in
    token_endpoint_auth_methods_supported, RS384 or ES384 in
    token_endpoint_auth_signing_alg_values_supported and the client_credentials grant.
    """
    doc, why = _smart(view)
    if doc is None:
        return Outcome("fail", None, why)
    missing = []
    if "client-confidential-asymmetric" not in _smart_capabilities(view):
        missing.append("capability client-confidential-asymmetric")
    if "private_key_jwt" not in _strings(doc.get("token_endpoint_auth_methods_supported")):
        missing.append("private_key_jwt authentication")
    if not {"RS384", "ES384"} & set(_strings(doc.get("token_endpoint_auth_signing_alg_values_supported"))):
        missing.append("RS384/ES384 signing")
    if "client_credentials" not in _strings(doc.get("grant_types_supported")):
        missing.append("client_credentials grant")
    observed = {
        k: doc.get(k)
        for k in ("token_endpoint_auth_methods_supported", "token_endpoint_auth_signing_alg_values_supported")
    }
    if missing:
        return Outcome("fail", observed, f"missing: {', '.join(missing)}.")
    return Outcome("pass", observed)


def _openid(view: dict[str, Any]) -> tuple[dict[str, Any] | None, Outcome | None]:
    """The OpenID discovery evidence, or the outcome to report when it is not there.

    The openid probe only runs when the SMART configuration names an issuer, so its absence means
    "no issuer to follow" (a fail) when the issuer is missing, and "not observed" otherwise.
    """
    openid = view.get("openid")
    if openid is not None:
        return openid, None
    doc, _ = _smart(view)
    issuer = (doc or {}).get("issuer")
    if not isinstance(issuer, str) or not issuer.startswith(("http://", "https://")):
        return None, Outcome(
            "fail", None, "The SMART configuration names no issuer, so OpenID discovery cannot be found."
        )
    return None, Outcome(
        "not_observed", None, "OpenID Connect discovery was not fetched (the openid probe did not complete)."
    )


def openid_discovery(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """[issuer]/.well-known/openid-configuration is published and its issuer equals SMART's issuer.

    OpenID Connect Discovery 1.0 §4.3: the issuer in the document must be identical to the one
    used to find it, or ID tokens cannot be validated.
    """
    openid, problem = _openid(view)
    if problem:
        return problem
    assert openid is not None
    if not openid.get("found"):
        return Outcome("fail", openid.get("http_status"), f"Problem: {openid.get('problem') or 'not found'}.")
    if not openid.get("issuer_matches"):
        got = _get(openid, "document", "issuer")
        return Outcome(
            "fail",
            got,
            f"The document's issuer ({got}) differs from SMART's issuer ({openid.get('issuer_requested')}).",
        )
    missing = [f for f in _strings(args.get("fields")) if not _get(openid, "document", f)]
    if missing:
        return Outcome("fail", openid.get("fields_present"), f"The discovery document lacks: {', '.join(missing)}.")
    return Outcome("pass", openid.get("issuer_requested"))


def openid_field_includes(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """A list field of the OpenID discovery document contains `args.value` (e.g. RS256)."""
    openid, problem = _openid(view)
    if problem:
        return problem
    assert openid is not None
    if not openid.get("found"):
        return Outcome("fail", None, "OpenID Connect discovery document was not found.")
    field, value = str(args["field"]), str(args["value"])
    have = _strings(_get(openid, "document", field))
    if value in have:
        return Outcome("pass", have)
    return Outcome("fail", have, f"{field} does not list {value}" + (f" (lists {', '.join(have)})." if have else "."))


# --- transport security ----------------------------------------------------------------------

TLS_ORDER = {"SSLv2": 0, "SSLv3": 1, "TLSv1": 2, "TLSv1.0": 2, "TLSv1.1": 3, "TLSv1.2": 4, "TLSv1.3": 5}


def _tls(view: dict[str, Any]) -> tuple[dict[str, Any] | None, Outcome | None]:
    tls = _get(view, "transport", "tls")
    if not isinstance(tls, dict):
        return None, Outcome("not_observed", None, "No TLS handshake was recorded.")
    if tls.get("error"):
        return None, Outcome("not_observed", None, f"The TLS survey could not complete: {tls['error']}")
    return tls, None


def tls_min_version(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The negotiated TLS version is at least `args.minimum` (TLS 1.2 for (g)(10) and (d)(9))."""
    tls, problem = _tls(view)
    if problem:
        return problem
    assert tls is not None
    version = tls.get("negotiated_version")
    minimum = str(args.get("minimum", "TLSv1.2"))
    if version not in TLS_ORDER:
        return Outcome("not_observed", version, f"The negotiated version '{version}' is not recognised.")
    if TLS_ORDER[version] >= TLS_ORDER[minimum]:
        return Outcome("pass", version, f"Negotiated {version}.")
    return Outcome("fail", version, f"Negotiated {version}, older than {minimum}.")


def legacy_tls_rejected(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """A handshake pinned to a legacy version (TLSv1.0 / TLSv1.1) is refused by the server.

    'untestable' means our own TLS library cannot offer that version, so nothing was observed.
    """
    tls, problem = _tls(view)
    if problem:
        return problem
    assert tls is not None
    version = str(args["version"])
    result = _get(tls, "legacy", version)
    if result == "rejected":
        return Outcome("pass", result)
    if result == "accepted":
        return Outcome("fail", result, f"The server still accepts {version}.")
    if result == "untestable":
        return Outcome(
            "not_observed", result, f"{version} could not be tested: this machine's TLS library cannot offer it."
        )
    return Outcome("not_observed", result, f"No {version} handshake result was recorded.")


def tls_cipher_strength(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The negotiated cipher uses at least `args.min_bits` bits of symmetric key."""
    tls, problem = _tls(view)
    if problem:
        return problem
    assert tls is not None
    bits, cipher = tls.get("cipher_bits"), tls.get("cipher")
    if not isinstance(bits, int):
        return Outcome("not_observed", cipher, "The cipher strength was not recorded.")
    if bits >= int(args.get("min_bits", 128)):
        return Outcome("pass", cipher, f"{cipher} ({bits}-bit).")
    return Outcome("fail", cipher, f"{cipher} uses only {bits}-bit keys.")


def certificate_trusted(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The certificate chain verifies against the trusted roots (no self-signed or unknown issuer)."""
    tls, problem = _tls(view)
    if problem:
        return problem
    assert tls is not None
    if tls.get("verified") is True:
        return Outcome("pass", _get(tls, "certificate", "issuer"))
    if tls.get("verified") is False:
        return Outcome("fail", tls.get("verify_error"), f"Verification failed: {tls.get('verify_error')}.")
    return Outcome("not_observed", None, "Certificate verification was not recorded.")


def certificate_hostname_match(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The certificate's subject alternative names cover the host name the practice connects to."""
    tls, problem = _tls(view)
    if problem:
        return problem
    assert tls is not None
    cert = tls.get("certificate") or {}
    match = cert.get("hostname_match")
    names = _strings(cert.get("san_dns")) + _strings(cert.get("san_ip"))
    if match is True:
        return Outcome("pass", names)
    if match is False:
        host = _get(view, "transport", "host")
        return Outcome("fail", names, f"The certificate names {_listing(names) or 'no hosts'}, not {host}.")
    return Outcome("not_observed", None, "No certificate was recorded.")


def certificate_validity(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The certificate is valid on the as-of date with at least `args.min_days` days left.

    Computed from `not_after` against `as_of` (never the probe's own days_left), so re-scoring old
    evidence on another day is reproducible. min_days 0 is the 'not expired' rule.
    """
    tls, problem = _tls(view)
    if problem:
        return problem
    assert tls is not None
    cert = tls.get("certificate") or {}
    not_after = _date(cert.get("not_after"))
    if not_after is None:
        return Outcome("not_observed", cert.get("not_after"), "The certificate's expiry date was not recorded.")
    not_before = _date(cert.get("not_before"))
    days = (not_after - as_of).days
    min_days = int(args.get("min_days", 0))
    if days < 0:
        return Outcome("fail", str(not_after), f"The certificate expired on {not_after}.")
    if not_before is not None and as_of < not_before:
        return Outcome("fail", str(not_before), f"The certificate is not valid until {not_before}.")
    if days < min_days:
        return Outcome("fail", str(not_after), f"The certificate expires on {not_after}, {days} days after {as_of}.")
    return Outcome("pass", str(not_after), f"Valid until {not_after} ({days} days after {as_of}).")


def http_redirects_to_https(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """Plain http:// on port 80 either redirects to https:// or is closed; it never serves content."""
    redirect = _get(view, "transport", "http_redirect")
    if not isinstance(redirect, dict):
        return Outcome("not_observed", None, "The http:// variant of the URL was not tried.")
    if redirect.get("untested"):
        return Outcome("not_observed", None, f"The http:// variant was not tried: {redirect['untested']}.")
    if redirect.get("redirects_to_https"):
        return Outcome("pass", redirect.get("status"), f"http:// answers HTTP {redirect.get('status')} to https://.")
    if redirect.get("http_closed"):
        return Outcome("pass", None, "http:// is closed.")
    if redirect.get("serves_content"):
        return Outcome("fail", redirect.get("status"), "http:// serves the API in clear text.")
    return Outcome(
        "fail", redirect.get("status"), f"http:// answers HTTP {redirect.get('status')} without moving to https://."
    )


# --- unauthenticated access ------------------------------------------------------------------


def unauthenticated_patient_search(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """GET Patient without a token is refused (401/403; US Core also allows 404).

    Patient entries in a 200 response are a disclosure of PHI to anyone on the internet; a 200
    without entries still means the API does not ask who is calling. A 5xx is not_observed: the
    server broke before showing whether it enforces authentication.
    """
    search = _get(view, "access", "patient_search")
    if not isinstance(search, dict) or search.get("error"):
        return Outcome("not_observed", None, f"The Patient search got no answer: {(search or {}).get('error')}.")
    status = search.get("http_status")
    if not isinstance(status, int):
        return Outcome("not_observed", None, "The Patient search status was not recorded.")
    if search.get("returned_patient_data"):
        return Outcome(
            "fail",
            status,
            f"HTTP {status} returned {search.get('patient_entries')} Patient record(s) to an anonymous caller.",
        )
    if status in (401, 403):
        return Outcome("pass", status, f"HTTP {status}.")
    if status == 404:
        return Outcome("pass", status, "HTTP 404 (allowed by US Core; 401 is clearer to apps).")
    if status >= 500:
        return Outcome(
            "not_observed", status, f"The server failed with HTTP {status} before showing whether it requires a login."
        )
    if 200 <= status < 300:
        return Outcome("fail", status, f"HTTP {status}: the search was accepted without any credentials.")
    return Outcome("warn", status, f"HTTP {status}: refused, but not with 401/403 as apps expect.")


def unauthenticated_export(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """An anonymous Patient/$export kick-off is refused and starts no bulk job."""
    export = _get(view, "access", "bulk_export")
    if not isinstance(export, dict) or export.get("error"):
        return Outcome("not_observed", None, f"The $export kick-off got no answer: {(export or {}).get('error')}.")
    status = export.get("http_status")
    if not isinstance(status, int):
        return Outcome("not_observed", None, "The $export kick-off status was not recorded.")
    if export.get("started_without_auth") or status == 202:
        return Outcome("fail", status, "HTTP 202: a bulk export of patient data was started without credentials.")
    if 200 <= status < 300:
        return Outcome("fail", status, f"HTTP {status}: the kick-off was accepted without credentials.")
    if status >= 500:
        return Outcome("not_observed", status, f"The server failed with HTTP {status}.")
    return Outcome("pass", status, f"HTTP {status}: no export was started.")


# --- vendor claims ---------------------------------------------------------------------------


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


def claim(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """A vendor attestation that no probe can confirm: at best `unverified`, never pass.

    `args.path` is a dotted path from the view (e.g. `claims.hipaa.baa_offered`); the condition is
    one of `equals`, `in` (one of a list), `matches` (a case-insensitive regular expression),
    `gte`, `lte` or `within_months` (a date no older than N months before as-of).
    Unanswered -> not_observed; answered but short of the requirement -> fail.
    """
    path = str(args["path"])
    what = str(args.get("what") or path.rsplit(".", 1)[-1].replace("_", " "))
    value = _dotted(view, path)
    if value is None:
        return Outcome("not_observed", None, f"The vendor's claims do not answer: {what} ({path}).")
    met: bool
    if "equals" in args:
        met = value == args["equals"]
    elif "in" in args:
        met = value in _as_values(args["in"])
    elif "matches" in args:
        met = isinstance(value, str) and re.search(str(args["matches"]), value, re.IGNORECASE) is not None
    elif "gte" in args or "lte" in args:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return Outcome("fail", value, f"The vendor's answer for {what} is not a number: {value!r}.")
        met = number >= float(args["gte"]) if "gte" in args else number <= float(args["lte"])
    elif "within_months" in args:
        day = _date(value)
        if day is None:
            return Outcome("fail", value, f"The vendor's answer for {what} is not a date: {value!r}.")
        met = _months_before(as_of, int(args["within_months"])) <= day <= as_of
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


def _criterion(text: str) -> str:
    """'170.315 (g)(10)' / '170.315(g)(10)' / '(g)(10)' / 'g10' -> '(g)(10)'."""
    t = str(text).replace(" ", "").lower()
    if t.startswith("170.315"):
        t = t[len("170.315") :]
    short = re.fullmatch(r"([a-h])(\d+)", t)
    return f"({short.group(1)})({short.group(2)})" if short else t


def _chpl_listings(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [x for x in _get(view, "chpl", "listings", default=[]) or [] if isinstance(x, dict)]


def _active_listings(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        x for x in _chpl_listings(view)
        if x.get("found", True) and str(x.get("status", "")).strip().lower() == "active"
    ]


def _listing_state(x: dict[str, Any]) -> str:
    return str(x.get("status")) if x.get("found", True) else "not found on CHPL"


def chpl_listing_active(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """At least one CHPL listing of the product has the certification status 'Active'."""
    listings = _chpl_listings(view)
    if not listings:
        return Outcome("fail", [], "The product has no CHPL listing.")
    active = _active_listings(view)
    statuses = {str(x.get("chpl_product_number")): _listing_state(x) for x in listings}
    if active:
        return Outcome("pass", statuses, f"Active: {', '.join(str(x.get('chpl_product_number')) for x in active)}.")
    return Outcome("fail", statuses, f"No listing is Active: {_listing(f'{k} {v}' for k, v in statuses.items())}.")


def _certified(view: dict[str, Any]) -> set[str]:
    """Criteria met on Active listings, less any criterion ONC has since removed."""
    return {
        _criterion(c)
        for x in _active_listings(view)
        for c in set(_strings(x.get("criteria_met"))) - set(_strings(x.get("criteria_removed")))
    }


def chpl_criteria(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The product's Active CHPL listings together meet every criterion group in `args.groups`.

    A group is `{any: [criteria], label, from, until}`: one of `any` must be met; `from`/`until`
    make a group date-aware (e.g. (b)(11) replaced (a)(9) in the Base EHR definition on 2025-01-01).
    """
    met = _certified(view)
    missing = []
    for group in args.get("groups") or []:
        start, end = _date(group.get("from")), _date(group.get("until"))
        if (start and as_of < start) or (end and as_of >= end):
            continue
        options = [_criterion(c) for c in _strings(group.get("any"))]
        if not set(options) & met:
            missing.append(group.get("label") or " or ".join(options))
    if not _active_listings(view):
        return Outcome("fail", [], "No Active CHPL listing, so no criterion counts.")
    if missing:
        return Outcome("fail", sorted(met), f"not certified: {_listing(missing)}.")
    return Outcome("pass", sorted(met))


def _not_in_record(active: list[dict[str, Any]], field: str, what: str) -> Outcome | None:
    """A search-result record does not carry every field; that is not observed, not absent."""
    if active and all(x.get("record") == "search" and field not in x for x in active):
        return Outcome("not_observed", None, f"The CHPL record read (a search result) does not show {what}; the listing's details do.")
    return None


def chpl_listing_field(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """An Active listing publishes the named field (a documentation or results URL, a flag)."""
    field = str(args["field"])
    what = str(args.get("what") or field)
    active = _active_listings(view)
    if not active:
        return Outcome("fail", None, "No Active CHPL listing.")
    values = [x.get(field) for x in active if x.get(field)]
    if values:
        return Outcome("pass", values[0])
    return _not_in_record(active, field, what) or Outcome("fail", None, f"No Active listing publishes {what}.")


def chpl_public_link(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """An Active listing names the link in `args.field`, and it opened anonymously, without a
    login (the probe fetched it). A link that could not be fetched at all is not observed."""
    field = str(args["field"])
    what = str(args.get("what") or field)
    active = _active_listings(view)
    if not active:
        return Outcome("fail", None, "No Active CHPL listing.")
    urls = [str(x[field]) for x in active if x.get(field)]
    if not urls:
        return _not_in_record(active, field, what) or Outcome("fail", None, f"No Active listing links {what}.")
    links = _get(view, "chpl", "links", default={}) or {}
    checks = {u: links.get(u) for u in urls}
    good = [u for u, c in checks.items() if c and c.get("reachable") is True and not c.get("login_required")]
    if good:
        return Outcome("pass", good[0], f"{good[0]} opens without a login.")
    gated = [u for u, c in checks.items() if c and c.get("login_required")]
    if gated:
        signals = "; ".join(_strings((checks[gated[0]] or {}).get("login_signals")))
        return Outcome("fail", gated[0], f"{gated[0]} asks for a login ({signals}).")
    broken = [u for u, c in checks.items() if c and c.get("reachable") is False]
    if broken:
        c = checks[broken[0]] or {}
        why = f"HTTP {c['http_status']}" if c.get("http_status") else c.get("problem", "not reachable")
        return Outcome("fail", broken[0], f"{broken[0]} does not open ({why}).")
    problems = [str((c or {}).get("problem") or "not checked") for c in checks.values()]
    return Outcome("not_observed", urls[0], f"{urls[0]} could not be fetched: {problems[0]}.")


def chpl_nonconformities(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """No Active listing has open surveillance or direct-review non-conformities."""
    active = _active_listings(view)
    if not active:
        return Outcome("fail", None, "No Active CHPL listing.")
    counts = {str(x.get("chpl_product_number")): x.get("open_nonconformities") for x in active}
    if any(not isinstance(v, int) for v in counts.values()):
        return Outcome("not_observed", counts, "Open non-conformity counts were not recorded.")
    open_ = {k: v for k, v in counts.items() if v}
    if open_:
        return Outcome("fail", counts, f"Open non-conformities: {', '.join(f'{k}: {v}' for k, v in open_.items())}.")
    return Outcome("pass", counts)


def cms_certification_id(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The CMS EHR Certification ID the vendor gives is valid on CHPL and covers the audited listings."""
    claimed = _dotted(view, str(args.get("path", "claims.certification.cms_ehr_certification_id")))
    if not claimed:
        return Outcome("not_observed", None, "The vendor's claims give no CMS EHR Certification ID (certification.cms_ehr_certification_id).")
    record = _get(view, "chpl", "certification_id") or {}
    if record.get("id") and str(record["id"]).strip().upper() != str(claimed).strip().upper():
        return Outcome("fail", record.get("id"), f"CHPL checked {record.get('id')}, not the claimed {claimed}.")
    if record.get("valid") is False:
        why = f" ({record['reason']})" if record.get("reason") else ""
        return Outcome("fail", claimed, f"CHPL does not recognise {claimed} as a valid CMS EHR Certification ID{why}.")
    if record.get("valid") is not True:
        return Outcome("not_observed", claimed, str(record.get("reason") or "CHPL gave no answer for the CMS EHR Certification ID."))
    covered = set(_strings(record.get("products")))
    listed = {str(x.get("chpl_product_number")) for x in _active_listings(view)}
    if covered and listed and not covered & listed:
        return Outcome("fail", claimed, f"{claimed} is valid but covers {_listing(sorted(covered))}, none of the audited listings ({_listing(sorted(listed))}).")
    return Outcome("pass", claimed, f"Covers {_listing(sorted(covered))}." if covered else None)


def chpl_claims_contradictions(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """What the vendor claims about its certification against what CHPL shows.

    Compared: the criteria the claims say are certified (`args.criteria_paths`, first present),
    `certification.cures_update`, and the claimed CHPL product numbers (each must be on CHPL and
    Active). A claim CHPL contradicts is a fail; nothing comparable claimed is not observed.
    """
    compared: list[str] = []
    contradictions: list[str] = []
    certified = _certified(view)
    listings = {str(x.get("chpl_product_number")): x for x in _chpl_listings(view)}
    for path in _strings(args.get("criteria_paths")):
        claimed = _dotted(view, path)
        if claimed is None:
            continue
        wanted = sorted({_criterion(c) for c in _strings(claimed)})
        compared.append(f"{len(wanted)} claimed criteria")
        missing = [c for c in wanted if c not in certified]
        if missing:
            contradictions.append(f"claimed as certified but not on an Active listing: {_listing(missing)}")
        break
    cures = _dotted(view, str(args.get("cures_path", "claims.certification.cures_update")))
    if isinstance(cures, bool):
        compared.append("Cures Update")
        active = _active_listings(view)
        if cures and active and not any(x.get("cures_update") is True for x in active):
            contradictions.append("claimed Cures Update, but no Active listing is updated to it")
    numbers = _dotted(view, str(args.get("numbers_path", "claims.product.chpl_product_numbers")))
    for number in _strings(numbers):
        compared.append(number)
        x = next((v for k, v in listings.items() if k == number or number in _strings(v.get("requested_as"))), None)
        if x is None or not x.get("found", True):
            contradictions.append(f"claimed listing {number} is not on CHPL")
        elif str(x.get("status", "")).lower() != "active":
            contradictions.append(f"claimed listing {number} is {x.get('status')} on CHPL, not Active")
    if not compared:
        return Outcome("not_observed", None, "The claims state no certified criteria, Cures Update or CHPL numbers to compare.")
    if contradictions:
        return Outcome("fail", contradictions, "CHPL contradicts the claims: " + "; ".join(contradictions) + ".")
    return Outcome("pass", compared, f"CHPL agrees with the claims ({_listing(compared)}).")


# --- the service-base-URL Bundle (45 CFR 170.404(b)(2)) --------------------------------------


def _bundle(view: dict[str, Any]) -> tuple[dict[str, Any], Outcome | None]:
    """The assessed Bundle, or the outcome to give when there is none to judge."""
    data = _get(view, "endpoints", default={}) or {}
    if not data.get("fetched"):
        why = data.get("problem") or "it was not fetched"
        return data, Outcome("not_observed", None, f"The service-base-URL Bundle could not be read: {why}.")
    if data.get("problem"):
        return data, Outcome("fail", None, f"The service-base-URL list is {data['problem']}.")
    return data, None


def endpoints_public(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The Bundle was fetched anonymously with HTTP 200."""
    data = _get(view, "endpoints", default={}) or {}
    if data.get("source") == "file":
        return Outcome("not_observed", None, "The Bundle was read from a file, so whether it is public was not checked.")
    status = data.get("http_status")
    if data.get("public") is True:
        return Outcome("pass", data.get("url"), f"{data.get('url')} answered HTTP 200 without credentials.")
    if status is None:
        return Outcome("not_observed", data.get("url"), "The Bundle's address did not answer.")
    return Outcome("fail", status, f"{data.get('url')} answered HTTP {status}.")


def endpoints_bundle_valid(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """A non-empty `collection` Bundle, as the Inferno Service Base URL kit requires."""
    data, early = _bundle(view)
    if early:
        return early
    bundle = data.get("bundle") or {}
    problems = []
    if bundle.get("type") != "collection":
        problems.append(f"type is {bundle.get('type')!r}, not 'collection'")
    if not bundle.get("entries"):
        problems.append("it has no entries")
    if problems:
        return Outcome("fail", bundle, "The Bundle " + "; ".join(problems) + ".")
    extra = "; it also carries 'total', which a collection must not" if bundle.get("total_present") else ""
    return Outcome("pass", bundle, f"A collection of {bundle.get('entries')} entries{extra}.")


def endpoints_complete(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """Every Endpoint has status, connectionType and an http(s) address: what an app needs to connect."""
    data, early = _bundle(view)
    if early:
        return early
    eps = data.get("endpoints") or {}
    if not eps.get("count"):
        return Outcome("fail", eps, "The Bundle has no Endpoint entries.")
    gaps = {k: eps.get(k, 0) for k in ("missing_status", "missing_connection_type", "missing_address", "address_not_url")}
    bad = [f"{v} {k.replace('_', ' ')}" for k, v in gaps.items() if v]
    if bad:
        return Outcome("fail", eps, f"Of {eps['count']} Endpoints: {', '.join(bad)}.")
    return Outcome("pass", eps, f"{eps['count']} Endpoints, {eps.get('unique_addresses')} distinct addresses.")


def _contained_note(data: dict[str, Any]) -> str:
    c = data.get("contained_organizations") or {}
    if not c.get("organizations"):
        return ""
    return (
        f" {c['organizations']} Organizations are contained inside Endpoints instead "
        f"({c.get('with_address', 0)} with an address, {c.get('with_identifier', 0)} with an identifier)."
    )


def endpoints_linked(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """Organizations reference their Endpoints (or inherit them via partOf) and every Endpoint has one,
    so a patient can tell whose endpoint each address is."""
    data, early = _bundle(view)
    if early:
        return early
    eps, orgs = data.get("endpoints") or {}, data.get("organizations") or {}
    if not orgs.get("count"):
        return Outcome("fail", orgs, "The Bundle has no Organization entries, so no Endpoint is tied to an organisation." + _contained_note(data))
    bad = []
    if eps.get("not_referenced"):
        bad.append(f"{eps['not_referenced']} of {eps.get('count')} Endpoints are referenced by no Organization")
    if orgs.get("unresolved_endpoint_refs"):
        bad.append(f"{orgs['unresolved_endpoint_refs']} endpoint references do not resolve in the Bundle")
    if orgs.get("without_endpoints"):
        bad.append(f"{orgs['without_endpoints']} Organizations have no endpoint (nor a partOf parent with one)")
    if orgs.get("unresolved_part_of"):
        bad.append(f"{orgs['unresolved_part_of']} partOf references do not resolve")
    if bad:
        return Outcome("fail", {"endpoints": eps, "organizations": orgs}, "; ".join(bad) + ".")
    return Outcome("pass", None, f"Every Endpoint is referenced by one of {orgs['count']} Organizations, and every reference resolves.")


def endpoints_org_details(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """Every Organization carries the name, location and facility identifier HTI-1 names."""
    data, early = _bundle(view)
    if early:
        return early
    orgs = data.get("organizations") or {}
    if not orgs.get("count"):
        return Outcome("fail", orgs, "The Bundle has no Organization entries." + _contained_note(data))
    gaps = {"name": orgs.get("missing_name", 0), "address": orgs.get("missing_address", 0), "identifier": orgs.get("missing_identifier", 0)}
    bad = [f"{v} without {k}" for k, v in gaps.items() if v]
    if bad:
        return Outcome("fail", orgs, f"Of {orgs['count']} Organizations: {', '.join(bad)}.")
    return Outcome("pass", orgs, f"All {orgs['count']} Organizations have a name, an address and an identifier.")


def endpoints_sample_answer(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The sampled addresses answer `/metadata` with a CapabilityStatement: the list is live, not stale."""
    data, early = _bundle(view)
    if early:
        return early
    sample = data.get("sample") or {}
    if not sample.get("checked"):
        return Outcome("not_observed", None, "No listed address was asked for /metadata (--endpoints-sample 0, or no addresses).")
    failed = [r for r in sample.get("results") or [] if not r.get("ok")]
    observed = {"checked": sample["checked"], "ok": sample.get("ok"), "of": sample.get("available")}
    if failed:
        shown = _listing(f"{r.get('address')} ({r.get('problem')})" for r in failed)
        return Outcome("fail", observed, f"{len(failed)} of {sample['checked']} sampled addresses gave no CapabilityStatement: {shown}.")
    return Outcome("pass", observed, f"All {sample['checked']} sampled addresses (of {sample.get('available')}) answered with a CapabilityStatement.")


def endpoints_lists_target(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The audited base URL is in the published list, so patients' apps can find this practice."""
    data, early = _bundle(view)
    if early:
        return early
    target = data.get("target")
    if not isinstance(target, dict):
        return Outcome("not_observed", None, "The audited endpoint was not compared with the list.")
    if target.get("listed"):
        return Outcome("pass", target.get("address"), f"Listed as {target.get('address')}.")
    note = " (an address differs only in letter case)" if target.get("listed_ignoring_case") else ""
    return Outcome("fail", None, f"The audited endpoint is not among the list's {(data.get('endpoints') or {}).get('unique_addresses', 0)} addresses{note}.")


# --- combined, date-aware readiness ----------------------------------------------------------


def g10_standards(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """Anonymous signals that the API meets the (g)(10) standard versions in force on the as-of date.

    FHIR R4 4.0.1; a US Core version accepted on that date; SMART App Launch 2.0 (shown by the
    permission-v2 capability) once SMART 1.0 has expired (`args.smart_v1_until`); group-level Bulk
    $export. The detail lists every shortfall.
    """
    cap = _cap(view)
    if cap is None:
        return NO_CAPABILITY
    shortfalls: list[str] = []
    met: list[str] = []
    version = cap.get("fhir_version")
    (met if version == "4.0.1" else shortfalls).append(
        "FHIR R4 4.0.1" if version == "4.0.1" else f"FHIR {version} ({cap.get('fhir_release')}), not R4 4.0.1"
    )
    us_core_args = {"minimum": args.get("us_core_minimum", "6.1.0"), "expires": args.get("us_core_expires")}
    us_core = us_core_version(view, us_core_args, as_of)
    if us_core.status == "pass":
        met.append("US Core: " + (us_core.detail or ""))
    else:
        shortfalls.append("US Core: " + (us_core.detail or "not declared"))
    doc, _ = _smart(view)
    smart_v1_until = _date(args.get("smart_v1_until"))
    if doc is None:
        shortfalls.append("no SMART App Launch configuration")
    elif "permission-v2" in _smart_capabilities(view):
        met.append("SMART App Launch 2.0 (permission-v2)")
    elif smart_v1_until is not None and as_of < smart_v1_until:
        met.append(f"SMART App Launch 1.0 (accepted until {smart_v1_until})")
    else:
        shortfalls.append(
            "SMART App Launch 2.0 not shown (no permission-v2)"
            + (f"; SMART 1.0 expired on {smart_v1_until}" if smart_v1_until else "")
        )
    bulk = bulk_export_declared(view, {"levels": ["group"]}, as_of)
    (met if bulk.status == "pass" else shortfalls).append(
        "Bulk Data group $export" if bulk.status == "pass" else "no group-level Bulk $export"
    )
    if shortfalls:
        return Outcome("fail", {"met": met, "short": shortfalls}, "Short of: " + "; ".join(shortfalls) + ".")
    return Outcome("pass", {"met": met}, "Meets: " + "; ".join(met) + ".")


# --- vendor claims against what the probes observed ------------------------------------------
# Each function judges one claim (`args.path`, default shown) against the evidence: pass means the
# observation agrees (verified), fail that it contradicts the claim, not_observed that it cannot
# settle it (reported as unverified). A claim of `no` (not supported) has nothing to verify.


def _claimed(view: dict[str, Any], args: dict[str, Any], default: str) -> Any:
    return _dotted(view, str(args.get("path", default)))


def _same_version(claimed: str, seen: str, parts: int = 2) -> bool:
    return _version_tuple(claimed)[:parts] == _version_tuple(seen)[:parts]


NOT_SUPPORTED = "The vendor states it is not supported, so there is nothing to verify."


def claimed_fhir_version(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The FHIR version the vendor claims is the one its CapabilityStatement declares."""
    claimed = _claimed(view, args, "claims.standards.fhir_version")
    if claimed is False:
        return Outcome("not_applicable", None, NOT_SUPPORTED)
    cap = _cap(view)
    if cap is None:
        return Outcome("fail", None, "No CapabilityStatement was returned.")
    seen = str(cap.get("fhir_version"))
    if _same_version(str(claimed), seen, 3):
        return Outcome("pass", seen, f"Claimed FHIR {claimed}; the server declares {seen}.")
    return Outcome("fail", seen, f"The server declares FHIR {seen} ({cap.get('fhir_release')}); the claim is {claimed}.")


US_CORE_ERA_FLOOR = {"7.0.0+": (7, 0), "6.0.0+": (6, 0), "pre-6.0.0": (3, 1)}


def claimed_us_core(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
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
        return Outcome("not_observed", observed, "US Core is named without a version or profiles, so the claimed version cannot be seen.")
    wanted = _version_tuple(str(claimed))[:2]
    needed = (7, 0) if wanted >= (7, 0) else (6, 0) if wanted >= (6, 0) else (3, 1)
    if US_CORE_ERA_FLOOR[era] >= needed:
        return Outcome("pass", observed, f"Claimed US Core {claimed}; the declared profiles fit (US Core {era}).")
    return Outcome(
        "fail", observed, f"The declared profiles only go as far as US Core {era}; the claim is {claimed}."
    )


def claimed_smart_version(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """SMART App Launch 2.x shows as `permission-v2` in the SMART configuration; 1.x as a SMART
    configuration or the CapabilityStatement's oauth-uris extension."""
    claimed = _claimed(view, args, "claims.standards.smart_app_launch")
    if claimed is False:
        return Outcome("not_applicable", None, NOT_SUPPORTED)
    doc, why = _smart(view)
    caps = _smart_capabilities(view)
    if _version_tuple(str(claimed))[:1] >= (2,):
        if doc is None:
            return Outcome("fail", None, why)
        if "permission-v2" in caps:
            return Outcome("pass", sorted(caps), f"Claimed SMART App Launch {claimed}; permission-v2 is listed.")
        return Outcome(
            "fail", sorted(caps), "The SMART configuration does not list permission-v2."
        )
    oauth = _get(view, "capability", "security", "oauth_uris")
    if doc is not None or oauth:
        return Outcome("pass", sorted(caps), f"Claimed SMART App Launch {claimed}; SMART discovery is published.")
    return Outcome("fail", None, f"No SMART discovery was published: {why}")


def claimed_bulk_data(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """A claimed Bulk Data version needs a declared `$export` (group, patient or system level)."""
    claimed = _claimed(view, args, "claims.standards.bulk_data")
    if claimed is False:
        return Outcome("not_applicable", None, NOT_SUPPORTED)
    cap = _cap(view)
    if cap is None:
        return Outcome("fail", None, "No CapabilityStatement was returned.")
    levels = bulk_export_declared(view, {"levels": ["group", "patient", "system"]}, as_of).observed or {}
    found = [lvl for lvl, ok in levels.items() if ok]
    if found:
        note = "" if "group" in found else " (not at group level, which (g)(10) certification uses)"
        return Outcome("pass", levels, f"Claimed Bulk Data {claimed}; $export is declared at {', '.join(found)} level{note}.")
    return Outcome("fail", levels, "The CapabilityStatement declares no $export operation.")


def claimed_uscdi(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """USCDI v3 is served through the US Core 6.1.0 profiles (g)(10) requires; v4 and later through
    US Core 7.0.0; v1 and v2 through any US Core profiles."""
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
        profiles = uscdi_profiles_declared(view, {}, as_of)
        if profiles.status == "pass":
            return Outcome("pass", profiles.observed, f"Claimed USCDI {claimed}; {profiles.detail}")
        return Outcome("fail", profiles.observed, f"US Core 6.1.0 profiles are missing: {profiles.detail}")
    if era in (None, "unversioned"):
        return Outcome("fail", era, "The CapabilityStatement declares no US Core profile.")
    return Outcome("pass", era, f"Claimed USCDI {claimed}; US Core profiles are declared.")


def claimed_patient_app_access(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """Patients can connect their own apps when SMART advertises the standalone patient launch."""
    claimed = _claimed(view, args, "claims.portal.third_party_app_access")
    if claimed is False:
        return Outcome("not_applicable", None, "The vendor states patients cannot connect their own apps.")
    doc, why = _smart(view)
    if doc is None:
        return Outcome("fail", None, why)
    have = set(_smart_capabilities(view))
    required = _strings(args.get("required")) or ["launch-standalone", "context-standalone-patient", "permission-patient"]
    missing = [c for c in required if c not in have]
    if missing:
        return Outcome("fail", sorted(have), f"SMART lacks: {', '.join(missing)}.")
    return Outcome("pass", sorted(have), f"Advertised: {', '.join(required)}.")


def claimed_tls_minimum(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """No TLS version older than the claimed minimum is accepted, and the API is not plain HTTP."""
    claimed = str(_claimed(view, args, "claims.hipaa.tls_minimum"))
    if _get(view, "transport", "scheme") == "http":
        return Outcome("fail", "http", "The API is served over plain HTTP, without TLS.")
    tls, problem = _tls(view)
    if problem:
        return problem
    assert tls is not None
    floor = TLS_ORDER.get(f"TLSv{claimed}", TLS_ORDER["TLSv1.2"])
    legacy = tls.get("legacy") or {}
    accepted = [v for v, r in sorted(legacy.items()) if r == "accepted" and TLS_ORDER.get(v, 99) < floor]
    if accepted:
        return Outcome("fail", legacy, f"The server accepts {', '.join(accepted)}; the claimed minimum is TLS {claimed}.")
    negotiated = tls.get("negotiated_version")
    if negotiated in TLS_ORDER and TLS_ORDER[negotiated] < floor:
        return Outcome("fail", negotiated, f"The server negotiated {negotiated}; the claimed minimum is TLS {claimed}.")
    below = [v for v in ("TLSv1.0", "TLSv1.1", "TLSv1.2") if TLS_ORDER[v] < floor]
    unsettled = [v for v in below if legacy.get(v) != "rejected"]
    if unsettled:
        return Outcome(
            "not_observed", legacy, f"Whether the server refuses {', '.join(unsettled)} was not observed (only TLS 1.0 and 1.1 are tried, where this machine can)."
        )
    return Outcome("pass", legacy, f"Negotiated {negotiated}; {', '.join(below) or 'nothing older'} refused.")


def claimed_unique_access(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """A vendor that says every user reaches patient data under their own identity cannot serve
    patient records to an anonymous caller."""
    search = unauthenticated_patient_search(view, {}, as_of)
    if search.status == "fail":
        return Outcome("fail", search.observed, search.detail)
    if search.status in ("pass", "warn"):
        return Outcome("pass", search.observed, f"Anonymous requests for patient data are refused: {search.detail}")
    return search


def claimed_version_current(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The standard version the vendor claims is at least `args.minimum` (the rule's dates say when
    that minimum is in force). A claim is at best unverified; a claim below the minimum, or `no`,
    falls short by the vendor's own answer."""
    path = str(args["path"])
    what = str(args.get("what") or path.rsplit(".", 1)[-1])
    claimed = _dotted(view, path)
    if claimed is None:
        return Outcome("not_observed", None, f"The vendor's claims do not state the {what} version ({path}).")
    minimum = str(args["minimum"])
    if claimed is False:
        return Outcome("fail", False, f"The vendor states it does not support {what}; certification needs {minimum} or later.")
    if _version_tuple(str(claimed).lstrip("vV")) >= _version_tuple(minimum.lstrip("vV")):
        return Outcome(
            "unverified", claimed, f"The vendor states {what} {claimed}, which meets the {minimum} certification needs on {as_of}."
        )
    return Outcome("fail", claimed, f"The vendor states {what} {claimed}, older than the {minimum} certification needs on {as_of}.")


CHECKS: dict[str, CheckFn] = {
    "fhir_r4": fhir_r4,
    "resources_declared": resources_declared,
    "clinical_data_exposed": clinical_data_exposed,
    "uscdi_profiles_declared": uscdi_profiles_declared,
    "us_core_version": us_core_version,
    "instantiates": instantiates,
    "search_params_declared": search_params_declared,
    "patient_search_on_clinical_resources": patient_search_on_clinical_resources,
    "bulk_export_declared": bulk_export_declared,
    "oauth_declared": oauth_declared,
    "security_matches_smart": security_matches_smart,
    "smart_config_published": smart_config_published,
    "smart_capabilities": smart_capabilities,
    "smart_fields_present": smart_fields_present,
    "smart_field_includes": smart_field_includes,
    "pkce_s256": pkce_s256,
    "patient_scopes": patient_scopes,
    "backend_services": backend_services,
    "openid_discovery": openid_discovery,
    "openid_field_includes": openid_field_includes,
    "tls_min_version": tls_min_version,
    "legacy_tls_rejected": legacy_tls_rejected,
    "tls_cipher_strength": tls_cipher_strength,
    "certificate_trusted": certificate_trusted,
    "certificate_hostname_match": certificate_hostname_match,
    "certificate_validity": certificate_validity,
    "http_redirects_to_https": http_redirects_to_https,
    "unauthenticated_patient_search": unauthenticated_patient_search,
    "unauthenticated_export": unauthenticated_export,
    "claim": claim,
    "chpl_listing_active": chpl_listing_active,
    "chpl_criteria": chpl_criteria,
    "chpl_listing_field": chpl_listing_field,
    "chpl_nonconformities": chpl_nonconformities,
    "cms_certification_id": cms_certification_id,
    "chpl_public_link": chpl_public_link,
    "chpl_claims_contradictions": chpl_claims_contradictions,
    "endpoints_public": endpoints_public,
    "endpoints_bundle_valid": endpoints_bundle_valid,
    "endpoints_complete": endpoints_complete,
    "endpoints_linked": endpoints_linked,
    "endpoints_org_details": endpoints_org_details,
    "endpoints_sample_answer": endpoints_sample_answer,
    "endpoints_lists_target": endpoints_lists_target,
    "g10_standards": g10_standards,
    "claimed_fhir_version": claimed_fhir_version,
    "claimed_us_core": claimed_us_core,
    "claimed_smart_version": claimed_smart_version,
    "claimed_bulk_data": claimed_bulk_data,
    "claimed_uscdi": claimed_uscdi,
    "claimed_patient_app_access": claimed_patient_app_access,
    "claimed_tls_minimum": claimed_tls_minimum,
    "claimed_unique_access": claimed_unique_access,
    "claimed_version_current": claimed_version_current,
}

# The authenticated tier's checks live in their own module (it needs Outcome, defined above);
# merged here so CHECKS stays the one registry the engine and the pack loader consult.
from .checks_auth import AUTH_CHECKS  # noqa: E402

CHECKS.update(AUTH_CHECKS)
