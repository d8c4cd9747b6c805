"""Pure rule evaluation: (evidence, rules, as-of date) -> findings.

No I/O and no clock: the same evidence and date always give the same findings, which is what
lets `probe` + `score` reproduce `audit`, and consultants re-score old evidence offline.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ehrcheck.evidence.ids import AUTHENTICATED, CLAIMS, ProbeId
from ehrcheck.evidence.registry import typed_data
from ehrcheck.evidence.view import SourceMissing, View
from ehrcheck.models import AttemptStatus, ClaimCheck, Evidence, Finding, Status
from ehrcheck.rules.checks import CHECKS, Outcome
from ehrcheck.rules.schema import REGEX_SUBJECT_CHARS, FnCheck, OpCheck, Rule

MISSING = object()

NOT_OBSERVED_HINTS: dict[str, str] = {
    # The authenticated tier runs only with credentials (see docs/authenticated.md).
    **{source: "no credentials were given (use --credentials FILE or EHRCHECK_CLIENT_ID etc.)" for source in AUTHENTICATED},
    ProbeId.launch: "no user launch was run (use ehrcheck launch URL, or --launch standalone|ehr with an app registration; docs/launch.md)",
    CLAIMS: "no vendor claims file was given (use --claims FILE)",
    ProbeId.chpl: "no CHPL listing was looked up: give --chpl-id NUMBER with CHPL_API_KEY set, or --chpl-file FILE",
    ProbeId.endpoints: "no service-base-URL Bundle was checked: it comes from the CHPL listing (--chpl-id or --chpl-file) or --endpoints-bundle URL|FILE",
}


def build_view(evidence: Evidence) -> tuple[dict[str, Any], View, dict[str, str]]:
    """The data rules see, keyed by source: as JSON for the operator checks' paths and as the
    typed view for check functions; and the reason each unusable source is missing.

    Probe data that does not match its model raises here: evidence from a file was checked when
    it was loaded (files/store.py), so only a probe that wrote a bad field gets this far."""
    view: dict[str, Any] = {}
    missing: dict[str, str] = {}
    typed = typed_data(evidence)
    observed: dict[str, Any] = {}
    for probe_id, attempt in evidence.probes.items():
        if attempt.status == AttemptStatus.completed:
            view[probe_id] = attempt.data
            observed[probe_id] = typed[ProbeId(probe_id)]
        else:
            missing[probe_id] = f"the {probe_id} probe {attempt.status.value}: {attempt.reason or 'no reason given'}"
    if evidence.claims is not None:
        view[CLAIMS] = evidence.claims
    for source, hint in NOT_OBSERVED_HINTS.items():
        if source not in view:
            missing.setdefault(source, hint)
    return view, View(**observed, claims=evidence.claims), missing


def resolve(view: Any, path: str) -> Any:
    """Follow a dotted path through dicts (and list indexes); MISSING when absent."""
    cur = view
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isascii() and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return MISSING
    return cur


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def apply_op(check: OpCheck, view: dict[str, Any]) -> tuple[bool, Any]:
    """Evaluate one operator check; returns (holds, observed value)."""
    if check.all is not None:
        results = [apply_op(c, view) for c in check.all]
        return all(r[0] for r in results), [r[1] for r in results]
    if check.any is not None:
        results = [apply_op(c, view) for c in check.any]
        return any(r[0] for r in results), [r[1] for r in results]
    value = resolve(view, check.path or "")
    observed = None if value is MISSING else value
    op, want = check.op, check.value
    if op == "exists":
        return value is not MISSING and value is not None, observed
    if value is MISSING or value is None:
        return op in ("not_equals", "not_in", "excludes"), observed
    if op == "truthy":
        return bool(value), observed
    if op == "equals":
        return value == want, observed
    if op == "not_equals":
        return value != want, observed
    if op == "in":
        return value in _as_list(want), observed
    if op == "not_in":
        return value not in _as_list(want), observed
    if op == "includes":
        have = value if isinstance(value, list | dict) else [value]
        return all(w in have for w in _as_list(want)), observed
    if op == "excludes":
        have = value if isinstance(value, list | dict) else [value]
        return not any(w in have for w in _as_list(want)), observed
    if op == "regex":
        # the pattern passed regex_problem when the pack was loaded; the text is bounded too
        return isinstance(value, str) and re.search(str(want), value[:REGEX_SUBJECT_CHARS]) is not None, observed
    if op in ("gte", "lte"):
        try:
            return (float(value) >= float(want)) if op == "gte" else (float(value) <= float(want)), observed
        except (TypeError, ValueError):
            return False, observed
    raise ValueError(f"unknown operator {op}")  # unreachable: the schema forbids it


def _sources(check: OpCheck) -> set[str]:
    if check.path:
        return {check.path.split(".")[0]}
    return set().union(*(_sources(c) for c in (check.all or []) + (check.any or [])))


def _claims_paths_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.startswith("claims.") else []
    if isinstance(value, list):
        return [p for v in value for p in _claims_paths_in(v)]
    if isinstance(value, dict):
        return [p for v in value.values() for p in _claims_paths_in(v)]
    return []


def claim_paths(rule: Rule) -> list[str]:
    """The claims paths a rule judges: its declared `claim`, else every `claims.…` path among its
    check arguments. The claim counts as made when any of them is answered."""
    if rule.claim is not None:
        return [rule.claim]
    if "claims" in rule.needs and isinstance(rule.check, FnCheck):
        return _claims_paths_in(rule.check.args)
    return []


def _stated(value: Any) -> bool:
    """Whether a claims answer says anything: blank and an empty list do not."""
    return value is not MISSING and value is not None and value != []


def claimed_text(value: Any) -> str:
    """A claim as the vendor gave it, as short text for reports."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(claimed_text(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _out_of_force(rule: Rule, as_of: dt.date) -> str | None:
    if rule.effective is not None and as_of < rule.effective:
        return f"Not yet in force on {as_of}: this requirement applies from {rule.effective}."
    if rule.expires is not None and as_of >= rule.expires:
        return f"No longer in force on {as_of}: this requirement expired on {rule.expires}."
    return None


def _claim_outcome(rule: Rule, status: Status) -> str | None:
    """verified / contradicted need an observation besides the claim; the vendor's own answer
    alone can only be unverified, or fall short. A reconciliation check that answers `warn` saw
    part of what the claim implies: partly verified (its detail names what is missing)."""
    observed = any(n != "claims" for n in rule.needs)
    if status == Status.passed:
        return "verified" if observed else "unverified"
    if status == Status.warn and observed:
        return "partly_verified"
    if status in (Status.fail, Status.warn):
        return "contradicted" if observed else "falls_short"
    if status in (Status.unverified, Status.not_observed):
        return "unverified"
    return None


class _Plan:
    """What evaluating a rule needs to know of the rule alone, worked out once per rule object
    instead of once per rule per endpoint (a scan evaluates every rule for every endpoint)."""

    __slots__ = ("rule", "paths", "applies_sources", "constant")

    def __init__(self, rule: Rule):
        self.rule = rule  # held, so the id() keying the plan cannot be reused by another object
        self.paths = claim_paths(rule)
        self.applies_sources = _sources(rule.applies_if) if rule.applies_if is not None else None
        # Findings that hold nothing of the endpoint (no observed value, no claim): the same
        # (status, message) gives an equal Finding every time, so one object serves them all.
        # Findings are never changed in place (every change is a model_copy), so sharing is safe.
        self.constant: dict[tuple[Status, str], Finding] = {}


_PLANS: dict[int, _Plan] = {}
MAX_PLANS = 4096  # the built-in packs hold ~200 rules
MAX_CONSTANT = 32  # per rule: messages quoting a probe's failure reason vary by endpoint


def _plan(rule: Rule) -> _Plan:
    plan = _PLANS.get(id(rule))
    if plan is None or plan.rule is not rule:
        if len(_PLANS) >= MAX_PLANS:  # packs loaded again and again by a long-lived caller
            _PLANS.clear()
        plan = _PLANS[id(rule)] = _Plan(rule)
    return plan


def _plain(plan: _Plan, status: Status, message: str) -> Finding:
    """`_finding(rule, status, message, None)`, built once per rule and message."""
    key = (status, message)
    found = plan.constant.get(key)
    if found is None:
        found = _finding(plan.rule, status, message, None)
        if len(plan.constant) < MAX_CONSTANT:
            plan.constant[key] = found
    return found


def evaluate_rule(rule: Rule, view: dict[str, Any], typed: View, missing: dict[str, str], as_of: dt.date) -> Finding:
    plan = _plan(rule)
    not_in_force = _out_of_force(rule, as_of)
    if not_in_force:
        return _plain(plan, Status.not_applicable, not_in_force)
    # A rule that does not apply is not_applicable even when its own evidence is missing (an
    # OpenID rule on a server without sign-in, whose openid probe was therefore skipped).
    if plan.applies_sources is not None and plan.applies_sources <= view.keys():
        if not apply_op(rule.applies_if, view)[0]:  # type: ignore[arg-type]  # applies_sources implies applies_if
            return _plain(plan, Status.not_applicable, "does not apply to this target")
    paths = plan.paths
    check: ClaimCheck | None = None
    if paths:
        made = [(p, v) for p in paths for v in [resolve(view, p) if "claims" in view else MISSING] if _stated(v)]
        if made:
            check = ClaimCheck(path=made[0][0], claimed=claimed_text(made[0][1]), outcome="unverified")
        elif rule.claim is not None:  # paths merely found in the arguments may not be all it reads
            reason = (
                missing["claims"] if "claims" not in view else (f"The vendor's claims do not state this ({', '.join(paths)}).")
            )
            return _plain(plan, Status(rule.unclaimed), reason)
    absent = [n for n in rule.needs if n not in view]
    if absent:
        reasons = "; ".join(missing.get(n, f"no {n} evidence") for n in absent)
        if check is not None:  # the claim is made; what would confirm it was not observed
            return _finding(rule, Status.unverified, f"Claimed ({check.claimed}), not observed: {reasons}", None, check)
        return _plain(plan, Status.not_observed, reasons)
    if rule.applies_if is not None and not apply_op(rule.applies_if, view)[0]:
        return _plain(plan, Status.not_applicable, "does not apply to this target")
    if isinstance(rule.check, FnCheck):
        # The evidence was validated against its models when it was loaded, so an exception from a
        # check is a bug in the check and surfaces as one. The one exception caught is a pack that
        # pairs a check with `needs` lacking what it reads (a custom pack can): that is named.
        try:
            outcome: Outcome = CHECKS[rule.check.fn].fn(typed, rule.check.parsed_args(), as_of)
        except SourceMissing as exc:
            return _finding(rule, Status.not_observed, f"{str(exc).capitalize()}; add it to the rule's needs.", None)
    else:
        holds, observed = apply_op(rule.check, view)
        outcome = Outcome("pass" if holds else "fail", observed)
    status = Status(outcome.status)
    if status == Status.fail and rule.fail_status == "warn":
        status = Status.warn
    if check is not None:
        if status == Status.not_observed:
            status = Status.unverified  # claimed, and the probe could not settle it
        result = _claim_outcome(rule, status)
        implied = [str(m) for m in outcome.observed.get("missing") or []] if isinstance(outcome.observed, dict) else []
        update: dict[str, Any] = {"outcome": result, "missing": implied if result == "partly_verified" else []}
        check = check.model_copy(update=update) if result else None
    if status == Status.passed:
        message = rule.pass_message
    elif status in (Status.fail, Status.warn):
        message = rule.fail_message
    else:
        message = outcome.detail or ""
    if outcome.detail and status in (Status.passed, Status.fail, Status.warn):
        message = f"{message} {outcome.detail}".strip()
    if outcome.observed is None and check is None:
        return _plain(plan, status, message)
    return _finding(rule, status, message, outcome.observed, check)


def _finding(rule: Rule, status: Status, message: str, observed: Any, claim: ClaimCheck | None = None) -> Finding:
    return Finding(
        rule_id=rule.id,
        pack=rule.pack,
        title=rule.title,
        status=status,
        severity=rule.severity,
        weight=rule.weight,
        message=message,
        observed=observed,
        references=rule.references,
        remediation=rule.remediation,
        vendor_question=rule.vendor_question,
        probes=list(rule.needs),
        gate=rule.gate,
        claim=claim,
    )


def evaluate(evidence: Evidence, rules: list[Rule], as_of: dt.date, proposed: frozenset[str] = frozenset()) -> list[Finding]:
    """`proposed` names the packs of proposed rules: their findings are marked, never scored as law."""
    view, typed, missing = build_view(evidence)
    findings = [evaluate_rule(rule, view, typed, missing, as_of) for rule in rules]
    return [f.model_copy(update={"proposed": True}) if f.pack in proposed else f for f in findings]
