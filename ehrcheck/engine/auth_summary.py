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
    return {
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


def _bulk(data: dict[str, Any]) -> dict[str, Any]:
    cancel = data.get("cancel") or {}
    anon = data.get("kickoff_without_token") or {}
    return {
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
