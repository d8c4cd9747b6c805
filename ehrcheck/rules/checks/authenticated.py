"""Check functions over the authenticated tier's evidence: token, scopes, uscore, bulk.

Same contract as the other areas (see `ehrcheck.rules.checks`). A fact the probe could not establish (no token was issued, so there is no token
response to judge) is `not_observed`, never pass or fail.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Literal

from ehrcheck.evidence.view import View, need
from ehrcheck.rules.auth_labels import NEGATIVE_LABEL
from ehrcheck.rules.checks.common import CheckArgs, NoArgs, Outcome, _listing, check

if TYPE_CHECKING:
    from ehrcheck.evidence.authenticated import (
        BindingResult,
        BulkData,
        Export,
        ExportStatus,
        Manifest,
        ProfileResult,
        TokenResponse,
        UsCoreData,
    )


def _status(code: Any) -> str:
    return f"HTTP {code}" if code is not None else "no answer"


# --- token endpoint --------------------------------------------------------------------------


@check()
def token_issued(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """A correct client_credentials request gets an access token."""
    from ehrcheck.evidence.authenticated import TokenResponse

    token = need(view.token, "token")
    if token.token_endpoint and token.token_endpoint.refused:  # nothing was asked: HIP-313 says why
        return Outcome("not_observed", None, f"No token was requested: {token.token_endpoint.refused}.")
    valid = token.valid or TokenResponse()
    if valid.accepted:
        return Outcome("pass", {"http_status": valid.http_status})
    err = f" ({valid.error})" if valid.error else ""
    return Outcome(
        "fail",
        {"http_status": valid.http_status, "error": valid.error},
        f"The token endpoint answered {_status(valid.http_status)}{err}.",
    )


def _valid_token(view: View) -> tuple[TokenResponse | None, Outcome | None]:
    valid = need(view.token, "token").valid
    if valid is None or not valid.accepted:
        return None, Outcome("not_observed", None, "No access token was issued, so there is no token response to judge.")
    return valid, None


@check()
def token_response_fields(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The token response has access_token, token_type bearer, a numeric expires_in and scope."""
    valid, early = _valid_token(view)
    if valid is None:
        return early or Outcome("not_observed")
    problems = [f"missing {f}" for f in valid.fields_missing or []]
    ttype = valid.token_type
    if ttype is not None and str(ttype).lower() != "bearer":
        problems.append(f"token_type is '{ttype}', not bearer")
    if "expires_in" not in (valid.fields_missing or []) and valid.expires_in is None:
        problems.append("expires_in is not a number")
    observed = {"fields_present": valid.fields_present, "token_type": valid.token_type, "expires_in": valid.expires_in}
    if problems:
        return Outcome("fail", observed, "; ".join(problems) + ".")
    return Outcome("pass", observed)


@check()
def token_no_store(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The token response is sent with Cache-Control: no-store (RFC 6749 §5.1)."""
    valid, early = _valid_token(view)
    if valid is None:
        return early or Outcome("not_observed")
    observed = {"cache_control": valid.cache_control, "pragma_no_cache": valid.pragma_no_cache}
    if valid.no_store:
        return Outcome("pass", observed)
    return Outcome("fail", observed, f"Cache-Control was '{valid.cache_control or 'absent'}'.")


@check()
def token_pragma_no_cache(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The token response is sent with Pragma: no-cache (RFC 6749 §5.1, for HTTP/1.0 caches)."""
    valid, early = _valid_token(view)
    if valid is None:
        return early or Outcome("not_observed")
    if valid.pragma_no_cache is None:
        return Outcome("not_observed", None, "The evidence does not record the Pragma header.")
    if valid.pragma_no_cache:
        return Outcome("pass", True)
    return Outcome("fail", False, "Pragma: no-cache was not sent.")


class LifetimeArgs(CheckArgs):
    max_seconds: float = 300


@check(args=LifetimeArgs)
def token_lifetime(view: View, args: LifetimeArgs, as_of: dt.date) -> Outcome:
    """Access tokens are short-lived: expires_in at most `args.max_seconds`."""
    valid, early = _valid_token(view)
    if valid is None:
        return early or Outcome("not_observed")
    limit = args.max_seconds
    lifetime = valid.expires_in
    if lifetime is None:
        return Outcome("not_observed", None, "The token response gives no expires_in.")
    if float(lifetime) <= limit:
        return Outcome("pass", lifetime, f"Tokens live {lifetime:g} s.")
    return Outcome("fail", lifetime, f"Tokens live {lifetime:g} s (recommended: at most {limit:g} s).")


@check()
def scopes_not_exceeded(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The token grants no scope beyond those requested (minimum necessary)."""
    from ehrcheck.evidence.authenticated import GrantedScopes

    valid, early = _valid_token(view)
    if valid is None:
        return early or Outcome("not_observed")
    scopes = need(view.token, "token").scopes or GrantedScopes()
    if scopes.granted is None:
        return Outcome("not_observed", None, "The token response does not say which scopes it grants.")
    extra = scopes.beyond_requested or []
    observed = {"requested": scopes.requested, "granted": scopes.granted}
    if extra:
        return Outcome("fail", observed, f"Granted beyond the request: {_listing(extra)}.")
    detail = ""
    if scopes.not_granted:
        detail = f"Narrower than requested (not granted: {_listing(scopes.not_granted)})."
    return Outcome("pass", observed, detail or None)


NegativeCase = Literal[
    "bad_signature",
    "wrong_aud",
    "expired_exp",
    "replayed_jti",
    "wrong_client_assertion_type",
    "wrong_grant_type",
    "wrong_secret",
    "no_client_auth",
]


class NegativeCaseArgs(CheckArgs):
    case: NegativeCase


@check(args=NegativeCaseArgs)
def assertion_rejected(view: View, args: NegativeCaseArgs, as_of: dt.date) -> Outcome:
    """The token endpoint refuses one kind of broken request (`args.case`) with 400 or 401."""
    case = args.case
    result = (need(view.token, "token").negative or {}).get(case)
    label = NEGATIVE_LABEL.get(case, case)
    if result is None:
        return Outcome("not_applicable", None, f"Not tested with this kind of credentials ({label}).")
    if result.http_status is None:
        return Outcome("not_observed", None, f"The request with {label} got no answer: {result.fetch_error}.")
    observed = {"http_status": result.http_status, "error": result.error}
    if case == "replayed_jti" and result.first_use_status != 200:
        return Outcome(
            "not_observed",
            observed,
            f"The first use of the assertion was refused too ({_status(result.first_use_status)}), so replay could not be tested.",
        )
    if result.token_issued:
        return Outcome("fail", observed, f"A request with {label} was ACCEPTED: HTTP {result.http_status} with an access token.")
    if result.rejected:
        return Outcome(
            "pass",
            observed,
            f"Refused with HTTP {result.http_status}" + (f" ({result.error})." if result.error else "."),
        )
    return Outcome("fail", observed, f"A request with {label} answered HTTP {result.http_status}, not 400 or 401.")


# --- scope enforcement -------------------------------------------------------------------------


@check()
def scope_enforced(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """A token granted only Patient access is refused on Observation."""
    s = need(view.scopes, "scopes")
    observed = {
        "scope_requested": s.scope_requested,
        "patient_status": s.patient_status,
        "observation_status": s.observation_status,
    }
    if s.observation_refused:
        return Outcome("pass", observed, f"Observation answered HTTP {s.observation_status} to a {s.scope_requested} token.")
    if s.patient_status != 200:
        return Outcome(
            "not_observed",
            observed,
            f"The Patient-only token could not read Patient either ({_status(s.patient_status)}), so enforcement could not be told from a broken token.",
        )
    entries = s.observation_entries if "observation_entries" in s.model_fields_set else 0
    return Outcome(
        "fail",
        observed,
        f"A {s.scope_requested} token read Observation: HTTP {s.observation_status}, {entries} Observation(s) returned.",
    )


# --- US Core data ------------------------------------------------------------------------------


def _uscore(view: View) -> tuple[UsCoreData, dict[str, ProfileResult]]:
    data = need(view.uscore, "uscore")
    return data, {pid: p for pid, p in (data.profiles or {}).items() if p.resources}


NO_DATA = Outcome("not_observed", None, "No US Core resources came back for the sampled patients.")


@check()
def uscore_structure_valid(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """Every resource returned is structurally valid FHIR R4."""
    _data, with_data = _uscore(view)
    if not with_data:
        return NO_DATA
    bad = {pid: p for pid, p in with_data.items() if p.structure_invalid}
    total = sum(p.resources or 0 for p in with_data.values())
    if not bad:
        return Outcome("pass", {"resources": total}, f"{total} resources in {len(with_data)} profiles checked.")
    parts = [
        f"{pid}: {p.structure_invalid} of {p.resources} ({'; '.join(p.structure_problems or [])[:160]})"
        for pid, p in sorted(bad.items())
    ]
    return Outcome("fail", {pid: p.structure_invalid for pid, p in bad.items()}, "Invalid: " + _listing(parts, 5) + ".")


# How the probe chose the US Core version it judged the data by (UsCoreData.version_basis).
VERSION_BASIS = {
    "--us-core-version": "as asked with --us-core-version",
    "instantiates": "the version the CapabilityStatement instantiates",
    "supportedProfile": "the version of the profiles the CapabilityStatement supports",
    "meta.profile": "the version the resources name in meta.profile",
    "default": "the version 45 CFR 170.215(b)(1)(ii) names; the server declares none",
}


def _judged_by(data: UsCoreData) -> tuple[str, str]:
    """(version, why): evidence from before 7.0.0 was checked was judged by 6.1.0."""
    version = data.us_core_version or "6.1.0"
    return version, VERSION_BASIS.get(data.version_basis or "default", "as declared")


@check()
def uscore_mandatory(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """Every resource carries the mandatory (min 1) elements of its profile in the US Core version
    the data was judged by: the one the server declares, or `--us-core-version` (7.0.0 makes more
    elements mandatory than 6.1.0 in some profiles). The version is named in the message."""
    data, with_data = _uscore(view)
    if not with_data:
        return NO_DATA
    version, why = _judged_by(data)
    bad = {pid: p for pid, p in with_data.items() if p.resources_missing_mandatory}
    total = sum(p.resources or 0 for p in with_data.values())
    if not bad:
        return Outcome("pass", {"us_core_version": version}, f"{total} resources checked against US Core {version} ({why}).")
    parts = [f"{pid}: {_listing(sorted(p.mandatory_violations or {}), 3)}" for pid, p in sorted(bad.items())]
    observed = {"us_core_version": version, "violations": {pid: p.mandatory_violations for pid, p in bad.items()}}
    return Outcome("fail", observed, f"Judged by US Core {version} ({why}). Missing: " + _listing(parts, 5) + ".")


@check()
def uscore_must_support(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """Each profile with data shows every must-support element in at least one resource."""
    _data, with_data = _uscore(view)
    if not with_data:
        return NO_DATA
    support = {pid: need(p.must_support, "uscore.profiles.must_support") for pid, p in with_data.items()}
    gaps = {pid: ms.missing for pid, ms in support.items() if ms.missing}
    covered = sum(need(ms.covered, "must_support.covered") for ms in support.values())
    total = sum(need(ms.total, "must_support.total") for ms in support.values())
    observed = {"covered": covered, "total": total}
    if not gaps:
        return Outcome("pass", observed, f"All {total} must-support elements seen.")
    parts = [f"{pid} ({len(m)}: {_listing([e.split('.', 1)[1] for e in m], 3)})" for pid, m in sorted(gaps.items())]
    return Outcome(
        "fail", observed, f"{covered} of {total} must-support elements seen; never seen in " + _listing(parts, 4) + "."
    )


@check()
def uscore_profiles_have_data(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """Every USCDI profile in scope returned data for at least one sampled patient."""
    data = need(view.uscore, "uscore")
    profiles = data.profiles or {}
    wanted = {pid: p for pid, p in profiles.items() if p.uscdi_required}
    if not wanted:
        return Outcome("not_observed", None, "No USCDI profile was in scope.")
    empty = sorted(pid for pid, p in wanted.items() if not p.resources)
    observed = {"with_data": len(wanted) - len(empty), "in_scope": len(wanted)}
    if not empty:
        return Outcome("pass", observed, f"All {len(wanted)} USCDI profiles returned data.")
    return Outcome(
        "fail",
        observed,
        f"{len(wanted) - len(empty)} of {len(wanted)} USCDI profiles returned data; none for {_listing(empty, 6)}.",
    )


class SearchesArgs(CheckArgs):
    # Types certification asks only to `read` (the US Core 6.1.0 server CapabilityStatement's SHALL
    # interaction for Organization and Practitioner): their failed searches are named, not failed.
    read_only: tuple[str, ...] = ()


@check(args=SearchesArgs)
def uscore_searches_succeed(view: View, args: SearchesArgs, as_of: dt.date) -> Outcome:
    """Every US Core SHALL search that was run answered 200 with a Bundle; for the `args.read_only`
    types (Organization, Practitioner) a failed search is named but does not fail the rule."""
    from ehrcheck.evidence.authenticated import UsCoreTotals

    data = need(view.uscore, "uscore")
    failed: list[str] = []
    aside_failed: list[str] = []
    for rtype, tallies in sorted((data.searches or {}).items()):
        for key, t in sorted(tallies.items()):
            if t.http_errors and not t.variant:  # the deeper forms are judged by uscore_search_variants
                text = f"{rtype} {key} ({', '.join(f'HTTP {s}' for s in t.statuses or {} if s != '200')})"
                (aside_failed if rtype in args.read_only else failed).append(text)
    total = (data.totals or UsCoreTotals()).searches or 0
    if not total:
        return Outcome("not_observed", None, "No US Core search was run.")
    aside = f" Not counted (certification asks only to read these): {_listing(aside_failed, 5)}." if aside_failed else ""
    not_counted = {"read_only_failed": len(aside_failed)} if aside_failed else {}
    if failed:
        return Outcome(
            "fail", {"failed": len(failed), "searches": total, **not_counted}, f"Failed: {_listing(failed, 5)}.{aside}"
        )
    return Outcome("pass", {"searches": total, **not_counted}, f"{total} searches answered.{aside}")


@check()
def uscore_search_results_match(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """Search results match their parameters, and a search by a resource's own values finds it."""
    from ehrcheck.evidence.authenticated import UsCoreTotals

    data = need(view.uscore, "uscore")
    problems = []
    for rtype, tallies in sorted((data.searches or {}).items()):
        for key, t in sorted(tallies.items()):
            if t.mismatched:
                problems.append(f"{rtype} {key}: {t.mismatched} of {t.results} results do not match")
            if t.seed_found is False and not t.variant:
                problems.append(f"{rtype} {key}: did not return the resource whose values it searched for")
    if not (data.totals or UsCoreTotals()).resources:
        return NO_DATA
    if problems:
        return Outcome("fail", len(problems), _listing(problems, 4) + ".")
    return Outcome("pass", None)


@check()
def uscore_references_resolve(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """Literal references in the returned resources can be read."""
    from ehrcheck.evidence.authenticated import References

    refs = need(view.uscore, "uscore").references or References()
    if not refs.checked:
        return Outcome("not_observed", None, "No references were found to check.")
    observed = {"checked": refs.checked, "resolved": refs.resolved, "unresolved": refs.unresolved}
    if not refs.unresolved:
        return Outcome("pass", observed, f"{refs.resolved} of {refs.checked} references resolved.")
    by_type = ", ".join(f"{t} {n}" for t, n in (refs.unresolved_by_type or {}).items())
    return Outcome("fail", observed, f"{refs.unresolved} of {refs.checked} references did not resolve ({by_type}).")


@check()
def uscore_errors_operation_outcome(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """An invalid search is refused with an OperationOutcome, and so is every failed search."""
    from ehrcheck.evidence.authenticated import UsCoreTotals

    data = need(view.uscore, "uscore")
    bad = data.invalid_search
    totals = data.totals or UsCoreTotals()
    problems = []
    if bad is not None and bad.http_status is not None and not bad.refused:
        problems.append(f"an invalid date search was accepted (HTTP {bad.http_status})")
    elif bad is not None and bad.refused and not bad.operation_outcome:
        problems.append(f"an invalid search was refused (HTTP {bad.http_status}) without an OperationOutcome")
    plain = (totals.search_errors or 0) - (totals.search_errors_with_operation_outcome or 0)
    if plain:
        problems.append(f"{plain} failed searches came back without an OperationOutcome")
    observed = bad.raw() if bad else {}
    if problems:
        return Outcome("fail", observed, "; ".join(problems).capitalize() + ".")
    return Outcome("pass", observed)


def _binding_rows(view: View) -> list[tuple[str, str, BindingResult]]:
    """(profile, element, binding result) over the profiles that returned data."""
    _data, with_data = _uscore(view)
    return [(pid, eid, row) for pid, p in sorted(with_data.items()) for eid, row in sorted((p.terminology or {}).items())]


def _n(value: int | None) -> int:
    return value or 0


@check()
def uscore_required_codes(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """Coded elements with a required binding use a code of the bound value set, where the IG or
    FHIR R4 enumerates its codes (or a terminology server was asked)."""
    rows = [(pid, eid, r) for pid, eid, r in _binding_rows(view) if r.strength == "required"]
    checked = sum(_n(r.passed) + _n(r.failed) + _n(r.tx_valid) + _n(r.tx_invalid) for _, _, r in rows)
    unchecked = sum(_n(r.not_checked) + _n(r.system_ok) - _n(r.tx_valid) - _n(r.tx_invalid) for _, _, r in rows)
    bad = [(pid, eid, r) for pid, eid, r in rows if _n(r.failed) + _n(r.tx_invalid)]
    observed = {
        "checked": checked,
        "failed": sum(_n(r.failed) + _n(r.tx_invalid) for _, _, r in bad),
        "not_checked": max(0, unchecked),
    }
    if not checked and not bad:
        return Outcome("not_observed", observed, "No coded value with a required binding could be checked offline.")
    note = f" {observed['not_checked']} more could not be checked offline." if unchecked > 0 else ""
    if bad:
        parts = [
            f"{pid} {eid.split('.', 1)[1]}: {_n(r.failed) + _n(r.tx_invalid)} ({_listing(r.bad_codes or [], 2) or 'no coding'})"
            for pid, eid, r in bad
        ]
        return Outcome("fail", observed, "Codes outside their required value set: " + _listing(parts, 4) + "." + note)
    return Outcome("pass", observed, f"{checked} coded values were in their required value sets." + note)


@check()
def uscore_bound_systems(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """Coded elements bound to LOINC, SNOMED CT, RxNorm and other external value sets use a coding
    from the bound code system (the codes themselves need the code system: not checked offline)."""
    rows = _binding_rows(view)
    ok = sum(_n(r.system_ok) for _, _, r in rows)
    bad = [(pid, eid, r) for pid, eid, r in rows if r.system_mismatch]
    wrong = sum(_n(r.system_mismatch) for _, _, r in bad)
    observed = {"bound_system": ok, "other_system": wrong}
    if not ok and not wrong:
        return Outcome("not_observed", observed, "No value bound to an external code system came back.")
    if bad:
        parts = [f"{pid} {eid.split('.', 1)[1]}: {r.system_mismatch} ({_listing(r.bad_codes or [], 2)})" for pid, eid, r in bad]
        return Outcome("fail", observed, f"{wrong} values use another code system: " + _listing(parts, 4) + ".")
    return Outcome("pass", observed, f"{ok} values use their bound code system (codes not checked offline).")


@check()
def uscore_search_variants(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The deeper forms of the SHALL searches work: date comparators (gt, ge, lt, le), a token
    without its system, and POST [type]/_search counting what the GET found."""
    data = need(view.uscore, "uscore")
    problems, run = [], 0
    for rtype, tallies in sorted((data.searches or {}).items()):
        for key, t in sorted(tallies.items()):
            if not t.variant or t.variant == "_revinclude":
                continue
            run += t.requests or 0
            if t.http_errors:
                problems.append(f"{rtype} {key}: " + ", ".join(f"HTTP {s}" for s in t.statuses or {} if s != "200"))
            elif t.seed_found is False:
                problems.append(f"{rtype} {key}: did not return the resource its values came from")
            elif t.count_matches_get is False:
                problems.append(f"{rtype} {key}: found a different number of resources than the GET")
    if not run:
        return Outcome("not_observed", None, "No search returned a resource to build the deeper searches from.")
    if problems:
        return Outcome("fail", {"requests": run, "problems": len(problems)}, _listing(problems, 4) + ".")
    return Outcome("pass", {"requests": run}, f"{run} comparator, system-less and POST searches answered as the GET did.")


@check()
def uscore_provenance_revinclude(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """Searches accept `_revinclude=Provenance:target`, and the Provenance they add targets the results."""
    revs = need(view.uscore, "uscore").revinclude or {}
    if not revs:
        return Outcome("not_observed", None, "No resource type in scope declares _revinclude=Provenance:target.")
    failed = [
        f"{t} ({', '.join(f'HTTP {s}' for s in r.statuses or {} if s != '200')})"
        for t, r in sorted(revs.items())
        if _n(r.ok) < _n(r.requests)
    ]
    stray = [t for t, r in sorted(revs.items()) if r.provenance_without_target]
    provenance = sum(_n(r.provenance) for r in revs.values())
    observed = {"types": len(revs), "provenance": provenance}
    if failed or stray:
        bits = []
        if failed:
            bits.append("refused for " + _listing(failed, 4))
        if stray:
            bits.append("Provenance not targeting the results for " + _listing(stray, 4))
        return Outcome("fail", observed, "; ".join(bits).capitalize() + ".")
    detail = (
        f"{provenance} Provenance resources included."
        if provenance
        else "accepted; the sampled data had no Provenance to include."
    )
    return Outcome("pass", observed, f"{len(revs)} resource types: " + detail)


@check()
def uscore_reads_by_id(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """Resources the searches returned can be read by id (`GET [type]/[id]`), with that id."""
    from ehrcheck.evidence.authenticated import ReadTally

    data = need(view.uscore, "uscore")
    if data.reads is None:
        return Outcome("not_observed", None, "The evidence predates reads by id.")
    reads = dict(data.reads)
    if data.patient_reads and data.patient_reads.requests:
        reads["Patient"] = ReadTally(**data.patient_reads.raw())
    if not reads:
        return Outcome("not_observed", None, "No search returned a resource to read.")
    bad = [f"{t} ({_n(r.id_matches)} of {_n(r.requests)})" for t, r in sorted(reads.items()) if _n(r.id_matches) < _n(r.requests)]
    total = sum(_n(r.requests) for r in reads.values())
    if bad:
        return Outcome(
            "fail", {"reads": total, "failed": len(bad)}, "Reads that failed or answered another id: " + _listing(bad, 5) + "."
        )
    return Outcome("pass", {"reads": total}, f"{total} reads in {len(reads)} resource types.")


# --- portal: a patient's chart through the API -------------------------------------------------


class RecordArgs(CheckArgs):
    min_types: int = 3


@check(args=RecordArgs)
def patient_record_retrievable(view: View, args: RecordArgs, as_of: dt.date) -> Outcome:
    """A patient can be read by id, and their chart has data in at least `args.min_types` other
    US Core resource types."""
    data = need(view.uscore, "uscore")
    reads = data.patient_reads
    types = sorted({str(p.resource) for p in (data.profiles or {}).values() if p.resources and p.resource != "Patient"})
    wanted = args.min_types
    ok = reads.ok if reads else None
    observed = {"patient_reads_ok": ok, "types_with_data": types}
    if not (reads and reads.requests):
        return Outcome("not_observed", observed, "The Patient profile was not in scope, so no patient was read.")
    if not ok or reads.id_matches != ok:
        shown_ok = ok if "ok" in reads.model_fields_set else 0
        return Outcome("fail", observed, f"Reading Patient by id worked for {shown_ok} of {reads.requests} patients.")
    if len(types) < wanted:
        return Outcome("fail", observed, f"Only {len(types)} other resource types returned data ({_listing(types) or 'none'}).")
    return Outcome("pass", observed, f"Chart data in {len(types)} resource types: {_listing(types)}.")


# --- Bulk Data ---------------------------------------------------------------------------------


class KickoffArgs(CheckArgs):
    level: Literal["patient", "group"]


def _certified_export(bulk: BulkData) -> tuple[Export | None, str]:
    """The export the checks follow: Group/[id]/$export, the path (g)(10) certifies, when a group
    export was started; Patient/$export (optional in certification) only when none was."""
    group = bulk.group
    if group is not None and group.found_by and group.status is not None:
        return group, "Group"
    return bulk.patient, "Patient"


@check(args=KickoffArgs)
def bulk_kickoff(view: View, args: KickoffArgs, as_of: dt.date) -> Outcome:
    """`args.level` (patient or group) $export answers 202 with Content-Location."""
    from ehrcheck.evidence.authenticated import Export

    level = args.level
    bulk = need(view.bulk, "bulk")
    part = (bulk.patient if level == "patient" else bulk.group) or Export()
    if level == "group" and not part.found_by:
        note = part.note if "note" in part.model_fields_set else "none found"
        return Outcome("not_observed", None, f"No Group to export: {note}.")
    kick = part.kickoff
    observed = {"http_status": kick.http_status if kick else None, "content_location": kick.content_location if kick else None}
    if kick and kick.accepted and kick.content_location:
        return Outcome("pass", observed)
    if kick and kick.accepted:
        return Outcome("fail", observed, "HTTP 202 but no Content-Location to poll.")
    return Outcome("fail", observed, f"The kick-off answered {_status(kick.http_status if kick else None)}.")


@check()
def bulk_completes(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The export finishes (polling honouring Retry-After) within the time bound: the Group export
    when there is one (the certified path), else the Patient export."""
    bulk = need(view.bulk, "bulk")
    export, level = _certified_export(bulk)
    status: ExportStatus | None = export.status if export else None
    if status is None:
        return Outcome("not_observed", None, "The export was not started, so it could not complete.")
    observed = {"level": level, "state": status.state, "polls": status.polls, "retry_after_hints": status.retry_after_hints}
    if status.state == "complete":
        return Outcome("pass", observed, f"{level} export complete after {status.polls} status requests.")
    if status.state == "timed_out":
        return Outcome("fail", observed, f"Not complete after {bulk.timeout_s or 0:g} s ({status.polls} status requests).")
    return Outcome("fail", observed, f"The status request answered HTTP {status.http_status}.")


@check()
def bulk_manifest(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The completion manifest (of the Group export when there is one) has transactionTime,
    request, requiresAccessToken and typed outputs."""
    bulk = need(view.bulk, "bulk")
    export, _level = _certified_export(bulk)
    manifest: Manifest | None = export.manifest if export else None
    if manifest is None:
        return Outcome("not_observed", None, "No completed export, so no manifest to check.")
    problems = []
    missing = manifest.fields_missing or []
    if missing:
        problems.append("missing " + ", ".join(missing))
    if "transactionTime" not in missing and not manifest.transaction_time_valid:
        problems.append("transactionTime is not an instant")
    if manifest.outputs_without_type_or_url:
        problems.append(f"{manifest.outputs_without_type_or_url} outputs lack type or url")
    if "request" not in missing and not manifest.request_matches:
        problems.append("request is not the kick-off URL")
    observed = {
        "output_count": manifest.output_count,
        "output_types": manifest.output_types,
        "requires_access_token": manifest.requires_access_token,
    }
    if problems:
        return Outcome("fail", observed, "; ".join(problems) + ".")
    return Outcome("pass", observed, f"{manifest.output_count} files: {_listing(manifest.output_types or [])}.")


@check()
def bulk_files_valid(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """Every NDJSON file (of the Group export when there is one) downloads, and every line is a
    resource of the file's declared type."""
    bulk = need(view.bulk, "bulk")
    export, _level = _certified_export(bulk)
    files = export.files if export else None
    if not files:
        return Outcome("not_observed", None, "No export files were listed, so none could be read.")
    problems = []
    for f in files:
        name = f.type or "?"
        if f.error or f.http_status != 200:
            problems.append(f"{name}: {f.error or _status(f.http_status)}")
            continue
        bits = [
            f"{count} {label}"
            for count, label in (
                (f.invalid_json, "lines not JSON"),
                (f.wrong_type, "lines of another type"),
                (f.structure_invalid, "invalid resources"),
                (f.overlong_lines, "overlong lines"),
            )
            if count
        ]
        if not f.ndjson_content_type:
            bits.append(f"served as {f.content_type or 'no content type'}")
        if f.count_matches is False:
            bits.append(f"{f.lines} lines but the manifest says {f.manifest_count}")
        if bits:
            problems.append(f"{name}: " + ", ".join(bits))
    lines = sum(f.lines or 0 for f in files)
    if problems:
        return Outcome("fail", {"files": len(files), "lines": lines}, _listing(problems, 5) + ".")
    return Outcome("pass", {"files": len(files), "lines": lines}, f"{lines} resources in {len(files)} files.")


@check()
def bulk_us_core_profiles(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """Every NDJSON line of a US Core type carries its profile's mandatory elements and codes
    from its required value sets."""
    bulk = need(view.bulk, "bulk")
    export, _level = _certified_export(bulk)
    files = [f for f in (export.files if export else None) or [] if f.us_core is not None]
    checked = sum(_n(f.us_core.checked) for f in files if f.us_core)
    if not checked:
        return Outcome("not_observed", None, "No export line of a US Core type was read.")
    problems = []
    for f in files:
        uc = f.us_core
        if uc is None or not uc.failed:
            continue
        for pid, p in sorted((uc.profiles or {}).items()):
            bits = list(p.mandatory_violations or {})[:2] + [f"{e} code" for e in (p.codes_failed or {})][:2]
            if p.resources_missing_mandatory or p.codes_failed:
                problems.append(f"{f.type} {pid}: {_listing([b.split('.', 1)[-1] for b in bits], 3)}")
    failed = sum(_n(f.us_core.failed) for f in files if f.us_core)
    version = next((f.us_core.version for f in files if f.us_core and f.us_core.version), None)
    observed = {"checked": checked, "failed": failed, "us_core_version": version}
    if failed:
        return Outcome(
            "fail", observed, f"{failed} of {checked} lines fail their US Core {version} profile: " + _listing(problems, 4) + "."
        )
    return Outcome("pass", observed, f"{checked} lines checked against US Core {version}.")


@check()
def bulk_kickoff_parameters(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """Kick-offs with `_outputFormat=application/fhir+ndjson`, `_type` and `_since` complete, and
    the files hold only the types asked for and nothing last updated before `_since`."""
    params = need(view.bulk, "bulk").kickoff_parameters
    if params is None:
        return Outcome("not_observed", None, "The plain export did not finish, so the kick-off parameters were not tried.")
    problems = []
    for name, part in (("_outputFormat", params.output_format), ("_type", params.type), ("_since", params.since)):
        if part is None or (name == "_type" and not part.requested):
            continue
        if not part.accepted:
            problems.append(f"{name} refused ({_status(part.kickoff_status)})")
        elif part.state != "complete":
            problems.append(f"{name} export {part.state or 'did not complete'}")
    if params.type and params.type.unexpected_types:
        problems.append(f"_type={','.join(params.type.requested or [])} also sent {_listing(params.type.unexpected_types)}")
    if params.since and params.since.updated_before_since:
        problems.append(f"_since sent {params.since.updated_before_since} resources last updated before it")
    observed = {
        "output_format": params.output_format.kickoff_status if params.output_format else None,
        "type": params.type.kickoff_status if params.type else None,
        "since": params.since.kickoff_status if params.since else None,
    }
    if problems:
        return Outcome("fail", observed, "; ".join(problems).capitalize() + ".")
    return Outcome("pass", observed, "_outputFormat, _type and _since were honoured.")


@check()
def bulk_cancel(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """DELETE on a status URL answers 202, and the status URL then answers 404."""
    cancel = need(view.bulk, "bulk").cancel
    if cancel is None or "delete_status" not in cancel.model_fields_set:
        return Outcome("not_observed", None, "No export could be started to cancel.")
    observed = {"delete_status": cancel.delete_status, "after_delete_status": cancel.after_delete_status}
    if cancel.cancelled:
        return Outcome("pass", observed)
    return Outcome(
        "fail",
        observed,
        f"DELETE answered {_status(cancel.delete_status)}; the status URL then answered {_status(cancel.after_delete_status)}.",
    )


@check()
def bulk_requires_token(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """Kick-off without a token is refused, and so are files the manifest says need one. A manifest
    with requiresAccessToken false (capability URLs) is allowed by the (g)(10)(v)(B) guide; its
    files are then not expected to need the token."""
    from ehrcheck.evidence.authenticated import Manifest, TokenlessRequest

    bulk: BulkData = need(view.bulk, "bulk")
    anon = bulk.kickoff_without_token or TokenlessRequest()
    export, _level = _certified_export(bulk)
    files = export.file_without_token if export else None
    manifest = (export.manifest if export else None) or Manifest()
    problems = []
    if not anon.refused:
        problems.append(f"a kick-off without a token answered {_status(anon.http_status)}")
    if files is not None and files.refused is False and manifest.requires_access_token is not False:
        problems.append(f"a file was served without a token ({_status(files.http_status)})")
    observed = {"kickoff": anon.http_status, "file": files.http_status if files else None}
    if problems:
        return Outcome("fail", observed, "; ".join(problems).capitalize() + ".")
    return Outcome("pass", observed)
