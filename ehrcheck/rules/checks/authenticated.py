"""Check functions over the authenticated tier's evidence: token, scopes, uscore, bulk.

Same contract as `checks.py` (pure, `(view, args, as_of) -> Outcome`); merged into its `CHECKS`
registry there. A fact the probe could not establish (no token was issued, so there is no token
response to judge) is `not_observed`, never pass or fail.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ehrcheck.rules.auth_labels import NEGATIVE_LABEL
from ehrcheck.rules.checks.common import Outcome, _listing, check


def _status(code: Any) -> str:
    return f"HTTP {code}" if code is not None else "no answer"


# --- token endpoint --------------------------------------------------------------------------


@check
def token_issued(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """A correct client_credentials request gets an access token."""
    valid = view["token"].get("valid") or {}
    if valid.get("accepted"):
        return Outcome("pass", {"http_status": valid.get("http_status")})
    err = f" ({valid['error']})" if valid.get("error") else ""
    return Outcome(
        "fail",
        {"http_status": valid.get("http_status"), "error": valid.get("error")},
        f"The token endpoint answered {_status(valid.get('http_status'))}{err}.",
    )


def _valid_token(view: dict[str, Any]) -> tuple[dict[str, Any] | None, Outcome | None]:
    valid = view["token"].get("valid") or {}
    if not valid.get("accepted"):
        return None, Outcome("not_observed", None, "No access token was issued, so there is no token response to judge.")
    return valid, None


@check
def token_response_fields(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The token response has access_token, token_type bearer, a numeric expires_in and scope."""
    valid, early = _valid_token(view)
    if early:
        return early
    problems = [f"missing {f}" for f in valid.get("fields_missing") or []]  # type: ignore[union-attr]
    ttype = valid.get("token_type")  # type: ignore[union-attr]
    if ttype is not None and str(ttype).lower() != "bearer":
        problems.append(f"token_type is '{ttype}', not bearer")
    if "expires_in" not in (valid.get("fields_missing") or []) and valid.get("expires_in") is None:  # type: ignore[union-attr]
        problems.append("expires_in is not a number")
    observed = {k: valid.get(k) for k in ("fields_present", "token_type", "expires_in")}  # type: ignore[union-attr]
    if problems:
        return Outcome("fail", observed, "; ".join(problems) + ".")
    return Outcome("pass", observed)


@check
def token_no_store(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The token response is sent with Cache-Control: no-store (RFC 6749 §5.1)."""
    valid, early = _valid_token(view)
    if early:
        return early
    observed = {"cache_control": valid.get("cache_control"), "pragma_no_cache": valid.get("pragma_no_cache")}  # type: ignore[union-attr]
    if valid.get("no_store"):  # type: ignore[union-attr]
        return Outcome("pass", observed)
    return Outcome("fail", observed, f"Cache-Control was '{valid.get('cache_control') or 'absent'}'.")  # type: ignore[union-attr]


@check
def token_lifetime(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """Access tokens are short-lived: expires_in at most `args.max_seconds`."""
    valid, early = _valid_token(view)
    if early:
        return early
    limit = float(args.get("max_seconds", 300))
    lifetime = valid.get("expires_in")  # type: ignore[union-attr]
    if lifetime is None:
        return Outcome("not_observed", None, "The token response gives no expires_in.")
    if float(lifetime) <= limit:
        return Outcome("pass", lifetime, f"Tokens live {lifetime:g} s.")
    return Outcome("fail", lifetime, f"Tokens live {lifetime:g} s (recommended: at most {limit:g} s).")


@check
def scopes_not_exceeded(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The token grants no scope beyond those requested (minimum necessary)."""
    valid, early = _valid_token(view)
    if early:
        return early
    scopes = view["token"].get("scopes") or {}
    if scopes.get("granted") is None:
        return Outcome("not_observed", None, "The token response does not say which scopes it grants.")
    extra = scopes.get("beyond_requested") or []
    observed = {"requested": scopes.get("requested"), "granted": scopes.get("granted")}
    if extra:
        return Outcome("fail", observed, f"Granted beyond the request: {_listing(extra)}.")
    detail = ""
    if scopes.get("not_granted"):
        detail = f"Narrower than requested (not granted: {_listing(scopes['not_granted'])})."
    return Outcome("pass", observed, detail or None)


@check
def assertion_rejected(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The token endpoint refuses one kind of broken request (`args.case`) with 400 or 401."""
    case = args["case"]
    result = (view["token"].get("negative") or {}).get(case)
    label = NEGATIVE_LABEL.get(case, case)
    if result is None:
        return Outcome("not_applicable", None, f"Not tested with this kind of credentials ({label}).")
    if result.get("http_status") is None:
        return Outcome("not_observed", None, f"The request with {label} got no answer: {result.get('fetch_error')}.")
    observed = {"http_status": result["http_status"], "error": result.get("error")}
    if case == "replayed_jti" and result.get("first_use_status") != 200:
        return Outcome(
            "not_observed",
            observed,
            f"The first use of the assertion was refused too ({_status(result.get('first_use_status'))}), so replay could not be tested.",
        )
    if result.get("token_issued"):
        return Outcome(
            "fail", observed, f"A request with {label} was ACCEPTED: HTTP {result['http_status']} with an access token."
        )
    if result.get("rejected"):
        return Outcome(
            "pass",
            observed,
            f"Refused with HTTP {result['http_status']}" + (f" ({result['error']})." if result.get("error") else "."),
        )
    return Outcome("fail", observed, f"A request with {label} answered HTTP {result['http_status']}, not 400 or 401.")


# --- scope enforcement -------------------------------------------------------------------------


@check
def scope_enforced(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """A token granted only Patient access is refused on Observation."""
    s = view["scopes"]
    observed = {k: s.get(k) for k in ("scope_requested", "patient_status", "observation_status")}
    if s.get("observation_refused"):
        return Outcome(
            "pass", observed, f"Observation answered HTTP {s.get('observation_status')} to a {s.get('scope_requested')} token."
        )
    if s.get("patient_status") != 200:
        return Outcome(
            "not_observed",
            observed,
            f"The Patient-only token could not read Patient either ({_status(s.get('patient_status'))}), so enforcement could not be told from a broken token.",
        )
    return Outcome(
        "fail",
        observed,
        f"A {s.get('scope_requested')} token read Observation: HTTP {s.get('observation_status')}, {s.get('observation_entries', 0)} Observation(s) returned.",
    )


# --- US Core data ------------------------------------------------------------------------------


def _uscore(view: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    data = view["uscore"]
    return data, {pid: p for pid, p in (data.get("profiles") or {}).items() if p.get("resources")}


NO_DATA = Outcome("not_observed", None, "No US Core resources came back for the sampled patients.")


@check
def uscore_structure_valid(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """Every resource returned is structurally valid FHIR R4."""
    data, with_data = _uscore(view)
    if not with_data:
        return NO_DATA
    bad = {pid: p for pid, p in with_data.items() if p.get("structure_invalid")}
    total = sum(p["resources"] for p in with_data.values())
    if not bad:
        return Outcome("pass", {"resources": total}, f"{total} resources in {len(with_data)} profiles checked.")
    parts = [
        f"{pid}: {p['structure_invalid']} of {p['resources']} ({'; '.join(p.get('structure_problems') or [])[:160]})"
        for pid, p in sorted(bad.items())
    ]
    return Outcome("fail", {pid: p["structure_invalid"] for pid, p in bad.items()}, "Invalid: " + _listing(parts, 5) + ".")


@check
def uscore_mandatory(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """Every resource carries its US Core profile's mandatory (min 1) elements."""
    data, with_data = _uscore(view)
    if not with_data:
        return NO_DATA
    bad = {pid: p for pid, p in with_data.items() if p.get("resources_missing_mandatory")}
    if not bad:
        return Outcome("pass", None, f"{sum(p['resources'] for p in with_data.values())} resources checked.")
    parts = [f"{pid}: {_listing(sorted(p['mandatory_violations']), 3)}" for pid, p in sorted(bad.items())]
    return Outcome("fail", {pid: p["mandatory_violations"] for pid, p in bad.items()}, "Missing: " + _listing(parts, 5) + ".")


@check
def uscore_must_support(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """Each profile with data shows every must-support element in at least one resource."""
    data, with_data = _uscore(view)
    if not with_data:
        return NO_DATA
    gaps = {pid: p["must_support"]["missing"] for pid, p in with_data.items() if p["must_support"]["missing"]}
    covered = sum(p["must_support"]["covered"] for p in with_data.values())
    total = sum(p["must_support"]["total"] for p in with_data.values())
    observed = {"covered": covered, "total": total}
    if not gaps:
        return Outcome("pass", observed, f"All {total} must-support elements seen.")
    parts = [f"{pid} ({len(m)}: {_listing([e.split('.', 1)[1] for e in m], 3)})" for pid, m in sorted(gaps.items())]
    return Outcome(
        "fail", observed, f"{covered} of {total} must-support elements seen; never seen in " + _listing(parts, 4) + "."
    )


@check
def uscore_profiles_have_data(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """Every USCDI profile in scope returned data for at least one sampled patient."""
    data = view["uscore"]
    profiles = data.get("profiles") or {}
    wanted = {pid: p for pid, p in profiles.items() if p.get("uscdi_required")}
    if not wanted:
        return Outcome("not_observed", None, "No USCDI profile was in scope.")
    empty = sorted(pid for pid, p in wanted.items() if not p.get("resources"))
    observed = {"with_data": len(wanted) - len(empty), "in_scope": len(wanted)}
    if not empty:
        return Outcome("pass", observed, f"All {len(wanted)} USCDI profiles returned data.")
    return Outcome(
        "fail",
        observed,
        f"{len(wanted) - len(empty)} of {len(wanted)} USCDI profiles returned data; none for {_listing(empty, 6)}.",
    )


@check
def uscore_searches_succeed(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """Every US Core SHALL search that was run answered 200 with a Bundle."""
    data = view["uscore"]
    failed = [
        f"{rtype} {key} ({', '.join(f'HTTP {s}' for s in t.get('statuses', {}) if s != '200')})"
        for rtype, tallies in sorted((data.get("searches") or {}).items())
        for key, t in sorted(tallies.items())
        if t.get("http_errors")
    ]
    total = (data.get("totals") or {}).get("searches", 0)
    if not total:
        return Outcome("not_observed", None, "No US Core search was run.")
    if failed:
        return Outcome("fail", {"failed": len(failed), "searches": total}, "Failed: " + _listing(failed, 5) + ".")
    return Outcome("pass", {"searches": total}, f"{total} searches answered.")


@check
def uscore_search_results_match(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """Search results match their parameters, and a search by a resource's own values finds it."""
    data = view["uscore"]
    problems = []
    for rtype, tallies in sorted((data.get("searches") or {}).items()):
        for key, t in sorted(tallies.items()):
            if t.get("mismatched"):
                problems.append(f"{rtype} {key}: {t['mismatched']} of {t['results']} results do not match")
            if t.get("seed_found") is False:
                problems.append(f"{rtype} {key}: did not return the resource whose values it searched for")
    if not (data.get("totals") or {}).get("resources"):
        return NO_DATA
    if problems:
        return Outcome("fail", len(problems), _listing(problems, 4) + ".")
    return Outcome("pass", None)


@check
def uscore_references_resolve(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """Literal references in the returned resources can be read."""
    refs = view["uscore"].get("references") or {}
    if not refs.get("checked"):
        return Outcome("not_observed", None, "No references were found to check.")
    observed = {k: refs.get(k) for k in ("checked", "resolved", "unresolved")}
    if not refs.get("unresolved"):
        return Outcome("pass", observed, f"{refs['resolved']} of {refs['checked']} references resolved.")
    by_type = ", ".join(f"{t} {n}" for t, n in (refs.get("unresolved_by_type") or {}).items())
    return Outcome("fail", observed, f"{refs['unresolved']} of {refs['checked']} references did not resolve ({by_type}).")


@check
def uscore_errors_operation_outcome(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """An invalid search is refused with an OperationOutcome, and so is every failed search."""
    data = view["uscore"]
    bad = data.get("invalid_search") or {}
    totals = data.get("totals") or {}
    problems = []
    if bad.get("http_status") is not None and not bad.get("refused"):
        problems.append(f"an invalid date search was accepted (HTTP {bad['http_status']})")
    elif bad.get("refused") and not bad.get("operation_outcome"):
        problems.append(f"an invalid search was refused (HTTP {bad['http_status']}) without an OperationOutcome")
    plain = totals.get("search_errors", 0) - totals.get("search_errors_with_operation_outcome", 0)
    if plain:
        problems.append(f"{plain} failed searches came back without an OperationOutcome")
    if problems:
        return Outcome("fail", bad, "; ".join(problems).capitalize() + ".")
    return Outcome("pass", bad)


# --- portal: a patient's chart through the API -------------------------------------------------


@check
def patient_record_retrievable(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """A patient can be read by id, and their chart has data in at least `args.min_types` other
    US Core resource types."""
    data = view["uscore"]
    reads = data.get("patient_reads") or {}
    types = sorted(
        {p["resource"] for p in (data.get("profiles") or {}).values() if p.get("resources") and p["resource"] != "Patient"}
    )
    need = int(args.get("min_types", 3))
    observed = {"patient_reads_ok": reads.get("ok"), "types_with_data": types}
    if not reads.get("requests"):
        return Outcome("not_observed", observed, "The Patient profile was not in scope, so no patient was read.")
    if not reads.get("ok") or reads.get("id_matches") != reads.get("ok"):
        return Outcome(
            "fail", observed, f"Reading Patient by id worked for {reads.get('ok', 0)} of {reads.get('requests')} patients."
        )
    if len(types) < need:
        return Outcome("fail", observed, f"Only {len(types)} other resource types returned data ({_listing(types) or 'none'}).")
    return Outcome("pass", observed, f"Chart data in {len(types)} resource types: {_listing(types)}.")


# --- Bulk Data ---------------------------------------------------------------------------------


@check
def bulk_kickoff(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """`args.level` (patient or group) $export answers 202 with Content-Location."""
    level = args["level"]
    part = view["bulk"].get(level) or {}
    if level == "group" and not part.get("found_by"):
        return Outcome("not_observed", None, f"No Group to export: {part.get('note', 'none found')}.")
    kick = part.get("kickoff") or {}
    observed = {k: kick.get(k) for k in ("http_status", "content_location")}
    if kick.get("accepted") and kick.get("content_location"):
        return Outcome("pass", observed)
    if kick.get("accepted"):
        return Outcome("fail", observed, "HTTP 202 but no Content-Location to poll.")
    return Outcome("fail", observed, f"The kick-off answered {_status(kick.get('http_status'))}.")


@check
def bulk_completes(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The Patient export finishes (polling honouring Retry-After) within the time bound."""
    bulk = view["bulk"]
    status = (bulk.get("patient") or {}).get("status")
    if status is None:
        return Outcome("not_observed", None, "The export was not started, so it could not complete.")
    observed = {k: status.get(k) for k in ("state", "polls", "retry_after_hints")}
    if status.get("state") == "complete":
        return Outcome("pass", observed, f"Complete after {status['polls']} status requests.")
    if status.get("state") == "timed_out":
        return Outcome(
            "fail", observed, f"Not complete after {bulk.get('timeout_s', 0):g} s ({status['polls']} status requests)."
        )
    return Outcome("fail", observed, f"The status request answered HTTP {status.get('http_status')}.")


@check
def bulk_manifest(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """The completion manifest has transactionTime, request, requiresAccessToken and typed outputs."""
    manifest = (view["bulk"].get("patient") or {}).get("manifest")
    if manifest is None:
        return Outcome("not_observed", None, "No completed export, so no manifest to check.")
    problems = []
    if manifest.get("fields_missing"):
        problems.append("missing " + ", ".join(manifest["fields_missing"]))
    if "transactionTime" not in manifest.get("fields_missing", []) and not manifest.get("transaction_time_valid"):
        problems.append("transactionTime is not an instant")
    if manifest.get("outputs_without_type_or_url"):
        problems.append(f"{manifest['outputs_without_type_or_url']} outputs lack type or url")
    if "request" not in manifest.get("fields_missing", []) and not manifest.get("request_matches"):
        problems.append("request is not the kick-off URL")
    observed = {k: manifest.get(k) for k in ("output_count", "output_types", "requires_access_token")}
    if problems:
        return Outcome("fail", observed, "; ".join(problems) + ".")
    return Outcome("pass", observed, f"{manifest['output_count']} files: {_listing(manifest.get('output_types') or [])}.")


@check
def bulk_files_valid(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """Every NDJSON file downloads, and every line is a resource of the file's declared type."""
    files = (view["bulk"].get("patient") or {}).get("files")
    if not files:
        return Outcome("not_observed", None, "No export files were listed, so none could be read.")
    problems = []
    for f in files:
        name = f.get("type") or "?"
        if f.get("error") or f.get("http_status") != 200:
            problems.append(f"{name}: {f.get('error') or _status(f.get('http_status'))}")
            continue
        bits = [
            f"{f[k]} {label}"
            for k, label in (
                ("invalid_json", "lines not JSON"),
                ("wrong_type", "lines of another type"),
                ("structure_invalid", "invalid resources"),
                ("overlong_lines", "overlong lines"),
            )
            if f.get(k)
        ]
        if not f.get("ndjson_content_type"):
            bits.append(f"served as {f.get('content_type') or 'no content type'}")
        if f.get("count_matches") is False:
            bits.append(f"{f['lines']} lines but the manifest says {f['manifest_count']}")
        if bits:
            problems.append(f"{name}: " + ", ".join(bits))
    lines = sum(f.get("lines", 0) for f in files)
    if problems:
        return Outcome("fail", {"files": len(files), "lines": lines}, _listing(problems, 5) + ".")
    return Outcome("pass", {"files": len(files), "lines": lines}, f"{lines} resources in {len(files)} files.")


@check
def bulk_cancel(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """DELETE on a status URL answers 202, and the status URL then answers 404."""
    cancel = view["bulk"].get("cancel")
    if not cancel or "delete_status" not in cancel:
        return Outcome("not_observed", None, "No export could be started to cancel.")
    observed = {k: cancel.get(k) for k in ("delete_status", "after_delete_status")}
    if cancel.get("cancelled"):
        return Outcome("pass", observed)
    return Outcome(
        "fail",
        observed,
        f"DELETE answered {_status(cancel.get('delete_status'))}; the status URL then answered {_status(cancel.get('after_delete_status'))}.",
    )


@check
def bulk_requires_token(view: dict[str, Any], args: dict[str, Any], as_of: dt.date) -> Outcome:
    """Kick-off without a token is refused, and so are files the manifest says need one."""
    bulk = view["bulk"]
    anon = bulk.get("kickoff_without_token") or {}
    files = (bulk.get("patient") or {}).get("file_without_token")
    manifest = (bulk.get("patient") or {}).get("manifest") or {}
    problems = []
    if not anon.get("refused"):
        problems.append(f"a kick-off without a token answered {_status(anon.get('http_status'))}")
    if manifest.get("requires_access_token") is False:
        problems.append("the manifest says its files need no token")
    if files is not None and files.get("refused") is False:
        problems.append(f"a file was served without a token ({_status(files.get('http_status'))})")
    observed = {"kickoff": anon.get("http_status"), "file": (files or {}).get("http_status")}
    if problems:
        return Outcome("fail", observed, "; ".join(problems).capitalize() + ".")
    return Outcome("pass", observed)
