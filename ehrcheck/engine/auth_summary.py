"""The report's authenticated section, from the evidence: token endpoint checks, scope
enforcement, per-profile US Core results and the bulk export. Pure; counts only, no patient data."""

from __future__ import annotations

from typing import Any

from ehrcheck.evidence.ids import AUTHENTICATED, ProbeId
from ehrcheck.models import AttemptStatus, Evidence
from ehrcheck.rules.auth_labels import NEGATIVE_LABEL

AUTH_PROBES = AUTHENTICATED


def _not_run(evidence: Evidence, probe: str) -> str | None:
    attempt = evidence.probes.get(probe)
    if attempt is None:
        return "not run"
    if attempt.status != AttemptStatus.completed:
        return f"{attempt.status.value}: {attempt.reason or 'no reason given'}"
    return None


def _token(data: dict[str, Any]) -> dict[str, Any]:
    valid = data.get("valid") or {}
    if valid.get("accepted"):
        outcome = f"HTTP {valid.get('http_status')}: {valid.get('token_type')} token, expires_in {valid.get('expires_in')}, scope '{valid.get('scope_granted')}'"
    else:
        outcome = f"no token: HTTP {valid.get('http_status')}" + (f" ({valid['error']})" if valid.get("error") else "")
    checks = []
    for case, result in (data.get("negative") or {}).items():
        status = result.get("http_status")
        verdict = (
            "refused"
            if result.get("rejected")
            else "ACCEPTED"
            if result.get("token_issued")
            else "wrong status"
            if status
            else "no answer"
        )
        checks.append(
            {"check": NEGATIVE_LABEL.get(case, case), "http_status": status, "error": result.get("error"), "result": verdict}
        )
    return {
        "endpoint": (data.get("token_endpoint") or {}).get("url"),
        "method": (data.get("credentials") or {}).get("method"),
        "valid": outcome,
        "cache_control": valid.get("cache_control"),
        "checks": checks,
    }


def _uscore(data: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for pid, p in sorted((data.get("profiles") or {}).items()):
        ms = p.get("must_support") or {}
        rows.append(
            {
                "profile": pid,
                "resource": p.get("resource"),
                "resources": p.get("resources", 0),
                "invalid": p.get("structure_invalid", 0),
                "missing_mandatory": p.get("resources_missing_mandatory", 0),
                "must_support": f"{ms.get('covered', 0)}/{ms.get('total', 0)}" if p.get("resources") else "–",
            }
        )
    rows.sort(key=lambda r: (r["resources"] == 0, r["profile"]))
    totals = data.get("totals") or {}
    refs = data.get("references") or {}
    # Per profile with data, the must-support elements no search or read ever showed.
    never_seen = [
        {"profile": pid, "elements": [e.split(".", 1)[-1] for e in (p.get("must_support") or {}).get("missing") or []]}
        for pid, p in sorted((data.get("profiles") or {}).items())
        if p.get("resources") and (p.get("must_support") or {}).get("missing")
    ]
    variants = [t for tallies in (data.get("searches") or {}).values() for t in tallies.values() if t.get("variant")]
    tx = (data.get("terminology") or {}).get("tx_server") or {}
    tx_text = "offline only"
    if tx:
        state = "unavailable (not observed)" if tx.get("unavailable") else f"{tx.get('answered', 0)} codes answered"
        tx_text = f"offline, then {tx.get('server')}: {state}"
    basis = data.get("version_basis") or "default"
    return {
        "version": data.get("us_core_version") or "6.1.0",
        "version_basis": basis,
        "never_seen": never_seen,
        "depth": f"{sum(t.get('requests', 0) for t in variants)} comparator, system-less, POST and _revinclude searches; "
        f"{sum((r or {}).get('requests', 0) for r in (data.get('reads') or {}).values())} reads by id",
        "terminology": f"{totals.get('codes_checked', 0)} coded values checked, {totals.get('codes_failed', 0)} outside their "
        f"value set, {totals.get('codes_not_checked', 0)} not checked ({tx_text})",
        "selection": data.get("selection"),
        "patients": (data.get("patients") or {}).get("tested"),
        "patients_from": (data.get("patients") or {}).get("source"),
        "profiles": rows,
        "searches": totals.get("searches", 0),
        "search_errors": totals.get("search_errors", 0),
        "mismatched": totals.get("mismatched", 0),
        "references": f"{refs.get('resolved', 0)} of {refs.get('checked', 0)} resolved",
    }


def _export(part: dict[str, Any] | None) -> str:
    if not part:
        return "not run"
    if "kickoff" not in part:
        return part.get("note") or "not run"
    kick = part["kickoff"]
    if not kick.get("accepted"):
        return f"kick-off refused: HTTP {kick.get('http_status')}"
    status = part.get("status") or {}
    text = f"{status.get('state', 'not polled')} after {status.get('polls', 0)} status requests"
    manifest = part.get("manifest")
    if manifest:
        text += f"; {manifest.get('output_count', 0)} files ({', '.join(manifest.get('output_types') or [])})"
    files = part.get("files") or []
    if files:
        text += f"; {sum(f.get('lines', 0) for f in files)} NDJSON lines read"
    return text


def _bulk_us_core(data: dict[str, Any]) -> str:
    # The files read: the certified Group export's, else the Patient export's (bulk.py).
    read = next((part for part in (data.get("group"), data.get("patient")) if (part or {}).get("files")), None) or {}
    files = [f.get("us_core") for f in read.get("files") or [] if f.get("us_core")]
    checked = sum(u.get("checked", 0) for u in files)
    if not checked:
        return "no line of a US Core type read"
    return f"{checked} lines checked against US Core {files[0].get('version')}, {sum(u.get('failed', 0) for u in files)} failed"


def _bulk_params(data: dict[str, Any]) -> str:
    params = data.get("kickoff_parameters")
    if not params:
        return "not tried"
    parts = []
    for name, key in (("_outputFormat", "output_format"), ("_type", "type"), ("_since", "since")):
        part = params.get(key) or {}
        if part.get("kickoff_status") is not None:
            parts.append(f"{name} HTTP {part['kickoff_status']} ({part.get('state') or 'not polled'})")
    return ", ".join(parts) or "not tried"


def _bulk(data: dict[str, Any]) -> dict[str, Any]:
    cancel = data.get("cancel") or {}
    anon = data.get("kickoff_without_token") or {}
    return {
        "us_core": _bulk_us_core(data),
        "parameters": _bulk_params(data),
        "patient": _export(data.get("patient")),
        "group": _export(data.get("group")),
        "cancel": f"DELETE HTTP {cancel.get('delete_status')}, then HTTP {cancel.get('after_delete_status')}"
        if "delete_status" in cancel
        else "not run",
        "without_token": f"HTTP {anon.get('http_status')}" if anon else "not run",
    }


def auth_summary(evidence: Evidence) -> dict[str, Any] | None:
    if not any(p in evidence.probes for p in AUTH_PROBES):
        return None
    out: dict[str, Any] = {}
    # Every section has `not_run` (None when it ran): the templates are strict about missing keys.
    for probe, build in ((ProbeId.token, _token), (ProbeId.uscore, _uscore), (ProbeId.bulk, _bulk), (ProbeId.scopes, _scopes)):
        problem = _not_run(evidence, probe)
        out[probe] = {"not_run": problem} if problem else {"not_run": None, **build(evidence.probes[probe].data)}
    return out


def _scopes(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "summary": f"a {data.get('scope_requested')} token: Patient HTTP {data.get('patient_status')}, "
        f"Observation HTTP {data.get('observation_status')}"
    }
